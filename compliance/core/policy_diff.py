"""What changed between two versions of the tagging policy, tag by tag, in words.

Pure: two :class:`compliance.core.policy.Policy` values in, a list of changes out; no ORM. Tags are
matched by name ignoring letter case, as the policy itself compares them (``owner`` and
``Owner`` cannot both be rules), so renaming a key's case reads as a change of that tag rather
than one tag removed and another added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from compliance.core.policy import NamingRules, Policy, TagRule


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


REQUIRED = "required"
OPTIONAL = "optional"


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One statement of the diff: ``change`` says whether it adds, removes or changes."""

    change: Change
    text: str


@dataclass(frozen=True, slots=True)
class TagDiff:
    """Everything that changed about one tag between the two versions."""

    name: str
    change: Change
    #: ``required`` or ``optional`` in each version; ``None`` where the tag is absent.
    tier_before: str | None
    tier_after: str | None
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    tags: tuple[TagDiff, ...]
    #: Changes of the policy as a whole: its name and its tag naming rules.
    policy_lines: tuple[DiffLine, ...] = ()
    #: Tags present in both versions with nothing changed.
    unchanged: tuple[str, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not self.tags and not self.policy_lines


def _values(values: Sequence[str] | None) -> str:
    return "any value" if values is None else "only " + ", ".join(values)


def _types(types: Sequence[str] | None) -> str:
    return "every resource type" if types is None else ", ".join(types)


def describe_rule(rule: TagRule) -> list[str]:
    """A rule's constraints as short phrases, for a tag that was added or removed."""
    phrases = [f"allowed values: {_values(rule.allowed_values)}"]
    if rule.validation_regex is not None:
        phrases.append(f"validation regex: {rule.validation_regex}")
    phrases.append(f"applies to: {_types(rule.applies_to)}")
    return phrases


def _added_or_removed(rule: TagRule, tier: str, change: Change) -> TagDiff:
    verb = "added" if change == Change.ADDED else "removed"
    lines = [DiffLine(change, f"{tier.capitalize()} tag {verb}")]
    # Upper-case the first letter only: values and regexes keep their case.
    lines += [DiffLine(change, phrase[:1].upper() + phrase[1:]) for phrase in describe_rule(rule)]
    if rule.description:
        lines.append(DiffLine(change, f"Description: {rule.description}"))
    return TagDiff(
        name=rule.name,
        change=change,
        tier_before=tier if change == Change.REMOVED else None,
        tier_after=tier if change == Change.ADDED else None,
        lines=tuple(lines),
    )


def _allowed_values_lines(before: TagRule, after: TagRule) -> list[DiffLine]:
    old, new = before.allowed_values, after.allowed_values
    if old == new:
        return []
    if old is None or new is None:
        return [
            DiffLine(
                Change.CHANGED,
                f"Allowed values: {_values(old)} \N{RIGHTWARDS ARROW} {_values(new)}",
            )
        ]
    # Compared as sets (a value listed in another order is the same rule), listed in the order
    # of the version that has them.
    lines = [DiffLine(Change.ADDED, f"Allowed value added: {v}") for v in new if v not in old]
    lines += [DiffLine(Change.REMOVED, f"Allowed value removed: {v}") for v in old if v not in new]
    return lines


def _regex_lines(before: TagRule, after: TagRule) -> list[DiffLine]:
    old, new = before.validation_regex, after.validation_regex
    if old == new:
        return []
    if old is None:
        return [DiffLine(Change.ADDED, f"Validation regex added: {new}")]
    if new is None:
        return [DiffLine(Change.REMOVED, f"Validation regex removed: {old}")]
    return [DiffLine(Change.CHANGED, f"Validation regex changed: {old} \N{RIGHTWARDS ARROW} {new}")]


def _applies_to_lines(before: TagRule, after: TagRule) -> list[DiffLine]:
    old, new = before.applies_to, after.applies_to
    if old is None or new is None:
        if old == new:
            return []
        return [
            DiffLine(
                Change.CHANGED, f"Applies to: {_types(old)} \N{RIGHTWARDS ARROW} {_types(new)}"
            )
        ]
    lines = [DiffLine(Change.ADDED, f"Now applies to {t}") for t in new if t not in old]
    lines += [DiffLine(Change.REMOVED, f"No longer applies to {t}") for t in old if t not in new]
    return lines


def _description_lines(old: str, new: str) -> list[DiffLine]:
    if old == new:
        return []
    if not old:
        return [DiffLine(Change.ADDED, f"Description added: {new}")]
    if not new:
        return [DiffLine(Change.REMOVED, f"Description removed: {old}")]
    return [DiffLine(Change.CHANGED, f"Description changed to: {new}")]


def _changed(before: TagRule, tier_before: str, after: TagRule, tier_after: str) -> TagDiff | None:
    lines: list[DiffLine] = []
    if tier_before != tier_after:
        lines.append(DiffLine(Change.CHANGED, f"Was {tier_before}, now {tier_after}"))
    if before.name != after.name:
        lines.append(
            DiffLine(
                Change.CHANGED, f"Key renamed: {before.name} \N{RIGHTWARDS ARROW} {after.name}"
            )
        )
    lines += _allowed_values_lines(before, after)
    lines += _regex_lines(before, after)
    lines += _applies_to_lines(before, after)
    lines += _description_lines(before.description, after.description)
    if not lines:
        return None
    return TagDiff(after.name, Change.CHANGED, tier_before, tier_after, tuple(lines))


def _tiers(policy: Policy) -> dict[str, tuple[TagRule, str]]:
    tiers = {rule.name.casefold(): (rule, REQUIRED) for rule in policy.required_tags}
    tiers.update({rule.name.casefold(): (rule, OPTIONAL) for rule in policy.optional_tags})
    return tiers


def _naming_lines(
    before: Mapping[str, object] | NamingRules, after: Mapping[str, object] | NamingRules
) -> list[DiffLine]:
    lines = []
    for key in after:
        if key not in before:
            lines.append(DiffLine(Change.ADDED, f"Naming rule added: {key} = {after[key]}"))
        elif before[key] != after[key]:
            lines.append(
                DiffLine(
                    Change.CHANGED,
                    f"Naming rule {key}: {before[key]} \N{RIGHTWARDS ARROW} {after[key]}",
                )
            )
    lines += [
        DiffLine(Change.REMOVED, f"Naming rule removed: {key} = {before[key]}")
        for key in before
        if key not in after
    ]
    return lines


def diff_policies(before: Policy, after: Policy) -> PolicyDiff:
    """The changes from ``before`` to ``after``: tags in the order of ``after`` (required, then
    optional), then the tags ``after`` dropped, in the order ``before`` had them."""
    old, new = _tiers(before), _tiers(after)
    tags: list[TagDiff] = []
    unchanged: list[str] = []
    for folded, (rule, tier) in new.items():
        if folded not in old:
            tags.append(_added_or_removed(rule, tier, Change.ADDED))
            continue
        previous, previous_tier = old[folded]
        change = _changed(previous, previous_tier, rule, tier)
        if change is None:
            unchanged.append(rule.name)
        else:
            tags.append(change)
    tags += [
        _added_or_removed(rule, tier, Change.REMOVED)
        for folded, (rule, tier) in old.items()
        if folded not in new
    ]
    policy_lines: list[DiffLine] = []
    if before.name != after.name:
        policy_lines.append(
            DiffLine(
                Change.CHANGED,
                f"Name: {before.name or '(none)'} \N{RIGHTWARDS ARROW} {after.name or '(none)'}",
            )
        )
    policy_lines += _naming_lines(before.tag_naming_rules, after.tag_naming_rules)
    return PolicyDiff(tuple(tags), tuple(policy_lines), tuple(unchanged))
