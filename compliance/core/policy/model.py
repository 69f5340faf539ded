"""The tagging policy as data: its rules, the checks every rule must pass, and what a check finds.

Everything here is immutable and hashable, so a policy can key a cache, be shared between threads
and be pickled by a task queue. What evaluation needs at speed (the compiled regex, the allowed
values as a set, the rules per resource type) is derived once, when a rule or a policy is built,
into private fields left out of equality, hashing and repr: two policies with the same rules are
the same policy, wherever they were read from. ``evaluation.py`` in this package reads those
private fields; nothing outside the package should.

The ``check_*`` functions are the single definition of what a valid rule is. The document readers
call them with the path of the value in the document (``required_tags[2].validation_regex``) so an
error points at the line to fix; ``TagRule`` calls them again on itself so a rule built in code
obeys the same invariants.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from compliance.core.untrusted import without_hidden_characters

MISSING_REQUIRED_TAG = "missing_required_tag"
INVALID_VALUE = "invalid_value"
INVALID_FORMAT = "invalid_format"
#: What an empty or blank value was expected to be.
NON_EMPTY = "a non-empty value"
WRONG_KEY_CASE = "wrong_key_case"
#: The key reads as the required one on screen but holds hidden characters (``Own\u200ber``
#: for ``Owner``): to AWS and to cost allocation it is another key.
HIDDEN_CHARACTERS_IN_KEY = "hidden_characters_in_key"
VIOLATION_TYPES = (
    MISSING_REQUIRED_TAG,
    INVALID_VALUE,
    INVALID_FORMAT,
    WRONG_KEY_CASE,
    HIDDEN_CHARACTERS_IN_KEY,
)

NATIVE = "native"
MCP_JSON = "mcp_json"
AWS_ORG = "aws_org"
SOURCE_FORMATS = (NATIVE, MCP_JSON, AWS_ORG)

#: AWS limits on tag keys and values, in characters.
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
#: The policy name lands in a 200-character column; a version label is as short.
MAX_LABEL_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 4096
#: A validation regex longer than this is a mistake, not a rule.
MAX_REGEX_LENGTH = 1024
#: AWS tag policies allow one ``*`` in an allowed value, anywhere in it ("CC-*", "*@example.com").
WILDCARD = "*"
#: How many allowed values a finding's ``expected`` text lists before summarising.
_LISTED_VALUES = 10

# ``service:type`` as AWS tag policies name resource types; ``service:*`` means every type of
# the service. The service is lower case; the type keeps AWS's own case (``states:stateMachine``).
_RESOURCE_TYPE = re.compile(r"[a-z0-9][a-z0-9-]*:(?:\*|[A-Za-z0-9][A-Za-z0-9._-]*)")

NamingValue = str | int | float | bool | None


class PolicyError(ValueError):
    """A policy document that cannot be used: where (``field``) and why (``reason``).

    ``field`` is the path of the offending value in the document, dotted and indexed
    (``required_tags[2].validation_regex``, ``tags.costcenter.tag_value.@@assign[0]``), or
    ``policy`` for the document as a whole, so the admin form and ``import_policy`` can point
    at what to fix.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type[PolicyError], tuple[str, str]]:
        # The default reduction would call PolicyError(message) and fail: keep it picklable so
        # a task queue can carry it.
        return (PolicyError, (self.field, self.reason))


def describe(value: object) -> str:
    """Name a value's JSON/YAML kind for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int) and value.bit_length() > 64:
        return "a very large number"  # repr() of a huge int can itself fail
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    return f"a {type(value).__name__}"


def not_a_string(field: str, value: object, expected: str = "a string") -> PolicyError:
    """The error for a non-string where one is expected. YAML turns unquoted ``yes``, ``1.10``
    or ``2024-01-01`` into a boolean, a number or a date; say so, since the author wrote text."""
    hint = " (quote it in YAML)" if isinstance(value, bool | int | float | date) else ""
    return PolicyError(field, f"must be {expected}, got {describe(value)}{hint}")


def check_text(value: object, field: str, *, max_length: int = MAX_LABEL_LENGTH) -> str:
    """A free-text string (description, policy name); null reads as empty."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise not_a_string(field, value)
    if len(value) > max_length:
        raise PolicyError(field, f"longer than {max_length} characters ({len(value)})")
    return value


def check_version(value: object, field: str) -> str:
    """The document's own version label; a whole number is accepted and kept as its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > 64:
            raise PolicyError(field, "a whole number this large is not a version label")
        return str(value)
    if not isinstance(value, str):
        # YAML reads `version: 1.10` as the float 1.1: refuse rather than store the wrong label.
        raise PolicyError(
            field, f'must be a string, got {describe(value)} (write it quoted, e.g. "1.0")'
        )
    return check_text(value, field)


def check_tag_name(value: object, field: str) -> str:
    """A tag key as AWS accepts it, for a rule to require."""
    if not isinstance(value, str):
        raise not_a_string(field, value)
    if not value.strip():
        raise PolicyError(field, "must not be empty")
    if value != value.strip():
        # AWS would accept it, but a policy requiring "Owner " is a typo that nobody can satisfy
        # by reading the policy.
        raise PolicyError(field, f"{value!r} starts or ends with whitespace")
    if len(value) > MAX_KEY_LENGTH:
        raise PolicyError(
            field, f"longer than the AWS tag key limit of {MAX_KEY_LENGTH} characters"
        )
    if value.casefold().startswith("aws:"):
        raise PolicyError(field, f"{value!r} uses the prefix 'aws:', which AWS reserves")
    return value


def check_allowed_value(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise not_a_string(field, value)
    if not value:
        raise PolicyError(
            field, "an empty value can never be met: an empty tag value is always a violation"
        )
    if len(value) > MAX_VALUE_LENGTH:
        raise PolicyError(
            field, f"longer than the AWS tag value limit of {MAX_VALUE_LENGTH} characters"
        )
    if value.count(WILDCARD) > 1:
        raise PolicyError(
            field, f"{value!r} has more than one '*' (AWS allows one wildcard per value)"
        )
    return value


def check_allowed_values(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise PolicyError(field, f"must be a list of strings or null, got {describe(value)}")
    if not value:
        raise PolicyError(field, "is empty: no value could comply (use null to allow any value)")
    return tuple(check_allowed_value(item, f"{field}[{index}]") for index, item in enumerate(value))


def check_regex(value: object, field: str) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise not_a_string(field, value, "a string or null")
    if len(value) > MAX_REGEX_LENGTH:
        raise PolicyError(field, f"longer than {MAX_REGEX_LENGTH} characters")
    try:
        return re.compile(value)
    except re.error as exc:
        raise PolicyError(field, f"not a valid regular expression: {exc}") from None
    except (RecursionError, OverflowError):
        raise PolicyError(field, "not a valid regular expression: too complex") from None


def check_resource_type(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise not_a_string(field, value, "a string like 'ec2:instance'")
    service, _, kind = value.partition(":")
    if kind == "ALL_SUPPORTED":
        raise PolicyError(field, f"write '{service}:*' for every type of the service")
    if not _RESOURCE_TYPE.fullmatch(value):
        raise PolicyError(
            field,
            f"{value!r} is not a resource type of the form 'service:type' with a lower-case "
            "service (e.g. 'ec2:instance', 's3:bucket', 'ec2:*')",
        )
    return value


def check_resource_types(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise PolicyError(field, f"must be a list of resource types or null, got {describe(value)}")
    return tuple(check_resource_type(item, f"{field}[{index}]") for index, item in enumerate(value))


class NamingRules(Mapping[str, NamingValue]):
    """A read-only, hashable ``tag_naming_rules``.

    The naming rules of the tagging_policy.json format (``case_sensitivity``,
    ``max_key_length``...) are recorded and shown, never enforced: our semantics are fixed by
    the violation types. Values are JSON scalars only, so the mapping can be hashed.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, NamingValue] | None = None) -> None:
        self._items: dict[str, NamingValue] = dict(items or {})

    def __getitem__(self, key: str) -> NamingValue:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"NamingRules({self._items!r})"


def check_naming_rules(value: object, field: str) -> NamingRules:
    if value is None:
        return NamingRules()
    if not isinstance(value, Mapping):
        raise PolicyError(field, f"must be an object, got {describe(value)}")
    items: dict[str, NamingValue] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise PolicyError(f"{field}.{key}", "keys must be strings")
        if isinstance(item, float) and not math.isfinite(item):
            raise PolicyError(f"{field}.{key}", "must be a finite number")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise PolicyError(
                f"{field}.{key}",
                f"must be a string, number, boolean or null, got {describe(item)}",
            )
        items[key] = item
    return NamingRules(items)


@dataclass(frozen=True, slots=True)
class TagRule:
    """One tag of the policy: its key, the values it accepts, the resource types it covers.

    ``allowed_values`` entries may hold one ``*`` matching any run of characters, as in AWS tag
    policies. ``applies_to`` None (or empty) means every resource type; ``service:*`` means every
    type of that service. An empty ``validation_regex`` is read as none.
    """

    name: str
    description: str = ""
    allowed_values: tuple[str, ...] | None = None
    validation_regex: str | None = None
    applies_to: tuple[str, ...] | None = None
    # Derived state, see the module docstring.
    _folded_name: str = field(init=False, repr=False, compare=False)
    _visible_name: str = field(init=False, repr=False, compare=False)
    _exact_values: frozenset[str] | None = field(init=False, repr=False, compare=False)
    _wildcard_values: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _types: frozenset[str] = field(init=False, repr=False, compare=False)
    _services: frozenset[str] = field(init=False, repr=False, compare=False)
    _expected_key: str = field(init=False, repr=False, compare=False)
    _expected_values: str = field(init=False, repr=False, compare=False)
    _expected_format: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        assign = object.__setattr__
        check_tag_name(self.name, "name")
        assign(
            self,
            "description",
            check_text(self.description, "description", max_length=MAX_DESCRIPTION_LENGTH),
        )
        values = self.allowed_values
        if values is not None:
            # A value listed twice means nothing more: keep it once, so equal rules are equal
            # whichever format listed them (AWS's @@append may repeat an assigned value).
            values = tuple(dict.fromkeys(check_allowed_values(values, "allowed_values")))
        assign(self, "allowed_values", values)
        pattern = None
        if self.validation_regex == "":
            assign(self, "validation_regex", None)
        elif self.validation_regex is not None:
            pattern = check_regex(self.validation_regex, "validation_regex")
        types = self.applies_to
        if types is not None:
            # An empty list means "every type", like null: one spelling, so equal rules are equal.
            types = tuple(dict.fromkeys(check_resource_types(types, "applies_to"))) or None
        assign(self, "applies_to", types)

        assign(self, "_folded_name", self.name.casefold())
        assign(self, "_visible_name", without_hidden_characters(self.name).casefold())
        assign(self, "_pattern", pattern)
        exact = None if values is None else frozenset(v for v in values if WILDCARD not in v)
        assign(self, "_exact_values", exact)
        wildcards = tuple(_prefix_and_suffix(v) for v in values or () if WILDCARD in v)
        assign(self, "_wildcard_values", wildcards)
        assign(self, "_types", frozenset(t for t in types or () if not t.endswith(":*")))
        assign(self, "_services", frozenset(t[:-2] for t in types or () if t.endswith(":*")))
        assign(self, "_expected_key", f"key '{self.name}'")
        assign(self, "_expected_values", _expected_values(values or ()))
        assign(self, "_expected_format", f"matches {self.validation_regex}")

    def applies_to_type(self, resource_type: str) -> bool:
        """Whether a resource of this type must carry the tag (for a required rule)."""
        if self.applies_to is None:
            return True
        if resource_type in self._types:
            return True
        return resource_type.partition(":")[0] in self._services

    def value_violations(self, value: str) -> tuple[tuple[str, str], ...]:
        """What a present ``value`` violates under this rule: (violation type, what was
        expected) pairs in the order they are reported; empty when the value is valid.

        The one judgement of a value, for the policy's findings and for every figure that
        sorts values into valid and invalid (showback).
        """
        if not value or value.isspace():
            return ((INVALID_VALUE, NON_EMPTY),)
        found: list[tuple[str, str]] = []
        if not self.accepts_value(value):
            found.append((INVALID_VALUE, self._expected_values))
        if self._pattern is not None and self._pattern.fullmatch(value) is None:
            found.append((INVALID_FORMAT, self._expected_format))
        return tuple(found)

    def accepts_value(self, value: str) -> bool:
        """Whether ``value`` is one of ``allowed_values`` (exact or by wildcard); True if none."""
        if self._exact_values is None or value in self._exact_values:
            return True
        return any(
            len(value) >= len(prefix) + len(suffix)
            and value.startswith(prefix)
            and value.endswith(suffix)
            for prefix, suffix in self._wildcard_values
        )


def _prefix_and_suffix(wildcard_value: str) -> tuple[str, str]:
    prefix, _, suffix = wildcard_value.partition(WILDCARD)
    return prefix, suffix


def _expected_values(values: Sequence[str]) -> str:
    listed = ", ".join(values[:_LISTED_VALUES])
    if len(values) > _LISTED_VALUES:
        listed += f", and {len(values) - _LISTED_VALUES} more"
    return f"one of: {listed}"


@dataclass(frozen=True, slots=True)
class Policy:
    """A whole tagging policy. ``source_format`` records where it was read from, not identity."""

    version: str
    name: str
    required_tags: tuple[TagRule, ...]
    optional_tags: tuple[TagRule, ...] = ()
    tag_naming_rules: Mapping[str, NamingValue] = field(default_factory=NamingRules)
    source_format: str = field(default=NATIVE, compare=False)
    # Rules per resource type, filled by evaluation.rules_for_type as types are met.
    _rules_by_type: dict[str, tuple[TagRule, ...]] = field(init=False, repr=False, compare=False)
    # Every tag name of the policy, required or optional, as written.
    _tag_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        assign = object.__setattr__
        assign(self, "version", check_version(self.version, "version"))
        assign(self, "name", check_text(self.name, "name"))
        assign(self, "required_tags", tuple(self.required_tags))
        assign(self, "optional_tags", tuple(self.optional_tags))
        if not self.required_tags:
            raise PolicyError("required_tags", "is empty: a policy must require at least one tag")
        check_unique_names(
            [(rule.name, f"required_tags[{i}].name") for i, rule in enumerate(self.required_tags)]
            + [(rule.name, f"optional_tags[{i}].name") for i, rule in enumerate(self.optional_tags)]
        )
        if not isinstance(self.tag_naming_rules, NamingRules):
            assign(
                self,
                "tag_naming_rules",
                check_naming_rules(self.tag_naming_rules, "tag_naming_rules"),
            )
        if self.source_format not in SOURCE_FORMATS:
            raise PolicyError("source_format", f"must be one of {', '.join(SOURCE_FORMATS)}")
        assign(self, "_rules_by_type", {})
        assign(
            self,
            "_tag_names",
            frozenset(rule.name for rule in (*self.required_tags, *self.optional_tags)),
        )


def check_unique_names(names: Sequence[tuple[str, str]]) -> None:
    """Refuse a tag named twice, in any letter case: ``owner`` and ``Owner`` cannot both be the
    rule for a resource's key. The second occurrence is the one reported."""
    first: dict[str, str] = {}
    for name, field_path in names:
        folded = name.casefold()
        if folded in first:
            raise PolicyError(
                field_path,
                f"{name!r} is already defined at {first[folded]} "
                "(tag names are compared ignoring letter case)",
            )
        first[folded] = field_path


@dataclass(frozen=True, slots=True)
class Finding:
    """One violation of one required tag on one resource.

    ``expected`` is short text for people: "key 'Owner'", "key 'Owner' (found 'owner')",
    "one of: a, b", "matches ^...$", "a non-empty value".
    """

    violation_type: str
    tag_name: str
    current_value: str | None
    expected: str
