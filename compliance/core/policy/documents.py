"""Reading a policy document in any accepted format, and writing the native form.

The format is told from the content, never from a file name:

- a top-level ``required_tags`` with a top-level ``name`` is the native format, read strictly
  (an unknown key is an error: in a file we define, it is a typo);
- a top-level ``required_tags`` without ``name`` is the tagging_policy.json format of the
  tag-compliance MCP servers, read leniently (their files carry extra keys such as
  ``last_updated`` or ``supported_resource_types``, which are ignored);
- a top-level ``tags`` is an AWS Organizations tag policy (see ``aws_org.py``).

JSON or YAML is also told from the content: JSON is tried first, YAML (``yaml.safe_load``) next.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import yaml

from compliance.core.policy.aws_org import read_aws_org
from compliance.core.policy.model import (
    MAX_DESCRIPTION_LENGTH,
    MCP_JSON,
    NATIVE,
    Policy,
    PolicyError,
    TagRule,
    check_allowed_values,
    check_naming_rules,
    check_regex,
    check_resource_types,
    check_tag_name,
    check_text,
    check_version,
    describe,
)

#: Checked before parsing, so a YAML alias bomb or a runaway file never reaches the parser.
MAX_DOCUMENT_BYTES = 1024 * 1024

_NATIVE_KEYS = ("version", "name", "required_tags", "optional_tags", "tag_naming_rules")
_TAG_KEYS = ("name", "description", "allowed_values", "validation_regex", "applies_to")


def parse_policy(text: str) -> Policy:
    """Read a policy document (JSON or YAML, any accepted format); PolicyError if unusable."""
    return policy_from_dict(_load(text))


def policy_from_dict(data: object) -> Policy:
    """Read an already-parsed document, e.g. the native form stored by ``policy_to_dict``."""
    if not isinstance(data, Mapping):
        raise PolicyError("policy", f"the top level must be an object, got {describe(data)}")
    if "required_tags" in data:
        return _read_tagging_policy(data, native="name" in data)
    if "tags" in data:
        return read_aws_org(data)
    raise PolicyError(
        "policy",
        "found neither 'required_tags' (native or tagging_policy.json format) "
        "nor 'tags' (AWS Organizations tag policy)",
    )


def policy_to_dict(policy: Policy) -> dict[str, object]:
    """The native form, JSON-serialisable; ``policy_from_dict`` reads it back to an equal policy."""
    return {
        "version": policy.version,
        "name": policy.name,
        "required_tags": [_rule_to_dict(rule) for rule in policy.required_tags],
        "optional_tags": [_rule_to_dict(rule) for rule in policy.optional_tags],
        "tag_naming_rules": dict(policy.tag_naming_rules),
    }


def _rule_to_dict(rule: TagRule) -> dict[str, object]:
    return {
        "name": rule.name,
        "description": rule.description,
        "allowed_values": None if rule.allowed_values is None else list(rule.allowed_values),
        "validation_regex": rule.validation_regex,
        "applies_to": None if rule.applies_to is None else list(rule.applies_to),
    }


def _refuse_nul(value: object, path: str, seen: set[int] | None = None) -> None:
    """A NUL character anywhere in the document (raw, or written ``\\u0000`` in JSON) is
    refused: no tag key or value can hold one, and PostgreSQL cannot store one in text or in
    the policy's JSON document, so it could only end as a failed save instead of a message.

    YAML aliases share one list or object between places (a 9-level alias bomb names 9**9
    strings through nine lists): each container is looked into once, so the walk stays as
    small as the document."""
    seen = set() if seen is None else seen
    if isinstance(value, str):
        if "\x00" in value:
            raise PolicyError(path or "policy", "contains a NUL character")
        return
    if not isinstance(value, dict | list) or id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, path, seen)
            inner = f"{path}.{key}" if path else str(key)
            _refuse_nul(item, inner if isinstance(key, str) else path, seen)
    else:
        for index, item in enumerate(value):
            _refuse_nul(item, f"{path}[{index}]", seen)


def _load(text: str) -> object:
    loaded = _parse(text)
    _refuse_nul(loaded, "")
    return loaded


def _parse(text: str) -> object:
    if not isinstance(text, str):
        raise PolicyError("policy", f"expected the document's text, got {describe(text)}")
    # len() bounds the UTF-8 size from below, so the cheap test catches most oversize documents.
    if len(text) > MAX_DOCUMENT_BYTES or len(text.encode("utf-8", "replace")) > MAX_DOCUMENT_BYTES:
        raise PolicyError("policy", f"larger than the limit of {MAX_DOCUMENT_BYTES} bytes (1 MiB)")
    if not text.strip():
        raise PolicyError("policy", "the document is empty")
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicate_json_keys)
    except PolicyError:
        raise
    except RecursionError:
        raise PolicyError("policy", "nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        json_error = exc
    try:
        _refuse_duplicate_yaml_keys(text)
        return yaml.safe_load(text)
    except PolicyError:
        raise
    except RecursionError:
        raise PolicyError("policy", "nested too deeply") from None
    except (yaml.YAMLError, ValueError, TypeError) as yaml_error:
        # Report the error of the syntax the author most likely meant.
        if text.lstrip().startswith(("{", "[")):
            where = _json_error_text(json_error)
        else:
            where = _yaml_error_text(yaml_error)
        raise PolicyError("policy", f"not valid JSON or YAML ({where})") from None


def _json_error_text(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"line {error.lineno} column {error.colno}: {error.msg}"
    return str(error)


def _yaml_error_text(error: Exception) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        problem = error.problem or error.context or "syntax error"
        return f"line {error.problem_mark.line + 1}: {problem}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _refuse_duplicate_json_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # json.loads keeps the last of two equal keys silently; a policy where a second
    # "allowed_values" quietly replaces the first is a policy nobody reviewed.
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise PolicyError("policy", f"duplicate key '{key}'")
        result[key] = value
    return result


def _refuse_duplicate_yaml_keys(text: str) -> None:
    """The YAML twin of ``_refuse_duplicate_json_keys``, on the node graph (before any object is
    built). Aliases make it a graph, so each node is visited once."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    pending: list[yaml.Node] = [root] if root is not None else []
    visited: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in node.value:
                if (
                    isinstance(key_node, yaml.ScalarNode)
                    and key_node.tag != "tag:yaml.org,2002:merge"
                ):
                    if key_node.value in keys:
                        line = key_node.start_mark.line + 1
                        raise PolicyError(
                            "policy", f"duplicate key '{key_node.value}' (line {line})"
                        )
                    keys.add(key_node.value)
                pending.extend((key_node, value_node))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)


def _read_tagging_policy(data: Mapping[object, object], *, native: bool) -> Policy:
    if native:
        _refuse_unknown_keys(data, _NATIVE_KEYS, "", "the native format")
    required = data["required_tags"]
    if not isinstance(required, list):
        raise PolicyError("required_tags", f"must be a list of tags, got {describe(required)}")
    optional = data.get("optional_tags")
    if optional is None:
        optional = []
    if not isinstance(optional, list):
        raise PolicyError("optional_tags", f"must be a list of tags, got {describe(optional)}")
    return Policy(
        version=check_version(data.get("version", ""), "version"),
        name=check_text(data.get("name"), "name"),
        required_tags=tuple(
            _read_tag(item, f"required_tags[{i}]", native=native) for i, item in enumerate(required)
        ),
        optional_tags=tuple(
            _read_tag(item, f"optional_tags[{i}]", native=native) for i, item in enumerate(optional)
        ),
        tag_naming_rules=check_naming_rules(data.get("tag_naming_rules"), "tag_naming_rules"),
        source_format=NATIVE if native else MCP_JSON,
    )


def _read_tag(item: object, path: str, *, native: bool) -> TagRule:
    if not isinstance(item, Mapping):
        raise PolicyError(path, f"must be an object with at least a 'name', got {describe(item)}")
    if native:
        _refuse_unknown_keys(item, _TAG_KEYS, f"{path}.", "a tag")
    if "name" not in item:
        raise PolicyError(f"{path}.name", "is missing")
    allowed = item.get("allowed_values")
    regex = item.get("validation_regex")
    applies_to = item.get("applies_to")
    return TagRule(
        name=check_tag_name(item["name"], f"{path}.name"),
        description=check_text(
            item.get("description"), f"{path}.description", max_length=MAX_DESCRIPTION_LENGTH
        ),
        allowed_values=(
            None if allowed is None else check_allowed_values(allowed, f"{path}.allowed_values")
        ),
        validation_regex=(
            None if regex is None else check_regex(regex, f"{path}.validation_regex").pattern
        ),
        applies_to=(
            None if applies_to is None else check_resource_types(applies_to, f"{path}.applies_to")
        ),
    )


def _refuse_unknown_keys(
    data: Mapping[object, object], known: tuple[str, ...], prefix: str, where: str
) -> None:
    for key in data:
        if key not in known:
            raise PolicyError(
                f"{prefix}{key}", f"unknown key in {where} (expected one of: {', '.join(known)})"
            )
