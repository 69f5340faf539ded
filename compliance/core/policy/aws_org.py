"""AWS Organizations tag policies: reading one as our policy, and writing ours as one.

An AWS tag policy standardises tags: the letter case of a key, the values it may take, and with
``enforced_for`` AWS refuses non-compliant tagging operations on the listed types (the newer
``report_required_tag_for`` marks the key required on its types). Our policy is about which tags
a resource must carry, so every statement of the tag policy becomes a required tag, applying to
the types named by ``enforced_for`` and ``report_required_tag_for`` together (with the types
AWS's name covers, :data:`AWS_TYPE_COVERS`), or to every type when neither names any.

A single document is read as if it were the effective policy: ``@@assign`` and ``@@append``
both contribute values, ``@@remove`` takes values out, and
``@@operators_allowed_for_child_policies`` (which only limits what child policies may do) is
ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from compliance.core.policy.model import (
    AWS_ORG,
    Policy,
    PolicyError,
    TagRule,
    check_allowed_value,
    check_resource_type,
    check_tag_name,
    check_unique_names,
    describe,
    not_a_string,
)

ASSIGN = "@@assign"
APPEND = "@@append"
REMOVE = "@@remove"
CHILD_OPERATORS = "@@operators_allowed_for_child_policies"
_STATEMENT_KEYS = ("tag_key", "tag_value", "enforced_for", "report_required_tag_for")
_TYPE_FIELDS = ("enforced_for", "report_required_tag_for")
#: AWS's older spelling of ``service:*``.
_ALL_SUPPORTED = ":ALL_SUPPORTED"
#: Types a tag policy names by another type's name: AWS's ``rds:cluster`` covers DocumentDB and
#: Neptune clusters (one API, one ARN form), which our scans list as types of their own.
AWS_TYPE_COVERS: Mapping[str, tuple[str, ...]] = {
    "rds:cluster": ("docdb:cluster", "neptune:cluster"),
}


def read_aws_org(data: Mapping[object, object]) -> Policy:
    """Read ``{"tags": {policy_key: statement, ...}}``; version and name are left empty."""
    for key in data:
        if key != "tags":
            raise PolicyError(
                str(key), "unknown key in an AWS Organizations tag policy (expected only 'tags')"
            )
    statements = data["tags"]
    if not isinstance(statements, Mapping):
        raise PolicyError(
            "tags", f"must be an object of tag statements, got {describe(statements)}"
        )
    rules: list[TagRule] = []
    paths: list[tuple[str, str]] = []
    for policy_key, statement in statements.items():
        if policy_key == CHILD_OPERATORS:
            continue
        path = f"tags.{policy_key}"
        if not isinstance(policy_key, str):
            raise PolicyError(path, "policy keys must be strings")
        rule = _read_statement(policy_key, statement, path)
        rules.append(rule)
        paths.append((rule.name, path))
    if not rules:
        raise PolicyError("tags", "defines no tag: a policy must require at least one tag")
    check_unique_names(paths)
    return Policy(version="", name="", required_tags=tuple(rules), source_format=AWS_ORG)


def _read_statement(policy_key: str, statement: object, path: str) -> TagRule:
    if not isinstance(statement, Mapping):
        raise PolicyError(path, f"must be an object, got {describe(statement)}")
    for key in statement:
        if key not in _STATEMENT_KEYS and key != CHILD_OPERATORS:
            raise PolicyError(
                f"{path}.{key}",
                "unknown key in a tag policy statement "
                f"(expected one of: {', '.join(_STATEMENT_KEYS)})",
            )
    name = _read_tag_key(policy_key, statement.get("tag_key"), path)
    values = _read_operators(statement.get("tag_value"), f"{path}.tag_value", check_allowed_value)
    if values == ():
        raise PolicyError(
            f"{path}.tag_value",
            "allows no value, so every value would be a violation "
            "(leave tag_value out to allow any value)",
        )
    types: list[str] = []
    for field_name in _TYPE_FIELDS:
        listed = _read_operators(statement.get(field_name), f"{path}.{field_name}", _check_type)
        for resource_type in listed or ():
            types += (resource_type, *AWS_TYPE_COVERS.get(resource_type, ()))
    # TagRule keeps the first of repeated types, so the two fields read as their union.
    return TagRule(name=name, allowed_values=values, applies_to=tuple(types) or None)


def _read_tag_key(policy_key: str, setting: object, path: str) -> str:
    """The key in the case resources must use. AWS's rule: ``tag_key`` may only change the
    letter case of the policy key, and without it the key is the policy key in lower case."""
    if setting is None:
        return check_tag_name(policy_key.lower(), path)
    field_path = f"{path}.tag_key"
    if not isinstance(setting, Mapping):
        raise PolicyError(field_path, f'must be an object like {{"{ASSIGN}": "CostCenter"}}')
    for operator in setting:
        if operator not in (ASSIGN, CHILD_OPERATORS):
            raise PolicyError(f"{field_path}.{operator}", f"tag_key only takes {ASSIGN}")
    if ASSIGN not in setting:
        return check_tag_name(policy_key.lower(), path)
    name = check_tag_name(setting[ASSIGN], f"{field_path}.{ASSIGN}")
    if name.casefold() != policy_key.casefold():
        raise PolicyError(
            f"{field_path}.{ASSIGN}",
            f"{name!r} must be the policy key {policy_key!r} up to letter case (AWS requires it)",
        )
    return name


def _read_operators(
    setting: object, path: str, check_item: Callable[[object, str], str]
) -> tuple[str, ...] | None:
    """The list a field ends up with; None when nothing is assigned (no constraint)."""
    if setting is None:
        return None
    if not isinstance(setting, Mapping):
        raise PolicyError(
            path, f'must be an object like {{"{ASSIGN}": [...]}}, got {describe(setting)}'
        )
    assigned = False
    values: dict[str, None] = {}  # an ordered set: @@append may repeat an assigned value
    removed: set[str] = set()
    for operator, items in setting.items():
        if operator == CHILD_OPERATORS:
            continue
        where = f"{path}.{operator}"
        if operator not in (ASSIGN, APPEND, REMOVE):
            raise PolicyError(where, f"unknown operator (expected {ASSIGN}, {APPEND} or {REMOVE})")
        # AWS writes lists; a lone string is read as a list of one.
        listed = [(items, where)] if isinstance(items, str) else _indexed(items, where)
        if operator == REMOVE:
            for item, item_path in listed:
                if not isinstance(item, str):
                    raise not_a_string(item_path, item)
                removed.add(item)
            continue
        assigned = True
        for item, item_path in listed:
            values[check_item(item, item_path)] = None
    if not assigned:
        return None
    return tuple(value for value in values if value not in removed)


def _indexed(items: object, path: str) -> list[tuple[object, str]]:
    if not isinstance(items, list):
        raise PolicyError(path, f"must be a list of strings, got {describe(items)}")
    return [(item, f"{path}[{index}]") for index, item in enumerate(items)]


def _check_type(value: object, field: str) -> str:
    if isinstance(value, str) and value.endswith(_ALL_SUPPORTED):
        value = value.removesuffix(_ALL_SUPPORTED) + ":*"
    return check_resource_type(value, field)


def policy_to_aws_org(policy: Policy) -> dict[str, object]:
    """The required tags as an AWS Organizations tag policy.

    Lossy by nature: descriptions, validation regexes, optional tags, version and name have no
    place in a tag policy. ``applies_to`` becomes ``enforced_for``, with which AWS refuses
    non-compliant tagging operations on those types: review it before attaching (rename it
    ``report_required_tag_for`` to have AWS report rather than refuse). A type AWS only knows
    inside a wider one (``docdb:cluster`` is one kind of ``rds:cluster`` there) is left out
    unless the rule names the wider type too: enforcing on every RDS cluster what a rule asks of
    DocumentDB clusters only would refuse tagging that rule never meant to judge.
    """
    narrower = {t for covered in AWS_TYPE_COVERS.values() for t in covered}
    statements: dict[str, object] = {}
    for rule in policy.required_tags:
        statement: dict[str, object] = {"tag_key": {ASSIGN: rule.name}}
        if rule.allowed_values is not None:
            statement["tag_value"] = {ASSIGN: list(rule.allowed_values)}
        if rule.applies_to is not None:
            named = [t for t in rule.applies_to if t not in narrower]
            if named:
                statement["enforced_for"] = {ASSIGN: named}
        # AWS policy keys are the key in lower case; names are unique ignoring case, so these are.
        statements[rule.name.lower()] = statement
    return {"tags": statements}
