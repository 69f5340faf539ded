"""Judging one resource's tags against the policy, and the compliance score.

This runs once per resource per scan, so it is written for speed: the rules for a resource type
are computed once per policy and type, the regexes were compiled when the policy was read, and
the case-insensitive key index is only built for a resource that lacks a required key as
spelled (most resources never need it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from compliance.core.policy.model import (
    HIDDEN_CHARACTERS_IN_KEY,
    MISSING_REQUIRED_TAG,
    WRONG_KEY_CASE,
    Finding,
    Policy,
    TagRule,
)
from compliance.core.untrusted import (
    cut,
    has_hidden_characters,
    reveal,
    without_hidden_characters,
)

#: Beyond this many distinct resource types the per-policy cache stops growing (types come from
#: AWS, but a caller passing arbitrary strings must not grow memory without bound).
_MAX_CACHED_TYPES = 4096


def rules_for_type(policy: Policy, resource_type: str) -> tuple[TagRule, ...]:
    """The required tags a resource of this type must carry, in policy order."""
    cache = policy._rules_by_type
    rules = cache.get(resource_type)
    if rules is None:
        rules = tuple(rule for rule in policy.required_tags if rule.applies_to_type(resource_type))
        if len(cache) < _MAX_CACHED_TYPES:
            cache[resource_type] = rules
    return rules


def is_in_scope(policy: Policy, resource_type: str) -> bool:
    """Whether at least one required tag applies, i.e. the resource counts in the score."""
    return bool(rules_for_type(policy, resource_type))


def evaluate(policy: Policy, resource_type: str, tags: Mapping[str, str]) -> list[Finding]:
    """Every violation of the resource, empty when it complies (or is out of scope).

    Per required tag, in policy order: a key found only in another letter case is one
    ``wrong_key_case`` (its value is not judged: the fix is to rename the key, and reporting
    the value too would count one mistake twice); a key that reads as the required one only
    once its hidden characters are dropped (``Own\\u200ber``, in any letter case) is one
    ``hidden_characters_in_key``, for the same reason and because on a page it looks right; an
    absent key is ``missing_required_tag``; an empty or blank value is one ``invalid_value``
    (it attributes nothing); otherwise ``allowed_values`` then ``validation_regex`` are checked
    independently, so a value can break both.
    """
    findings: list[Finding] = []
    keys_by_folded_case: dict[str, str] | None = None
    keys_by_visible_form: dict[str, str] | None = None
    for rule in rules_for_type(policy, resource_type):
        value = tags.get(rule.name)
        if value is None:
            if keys_by_folded_case is None:
                keys_by_folded_case = _keys_by_folded_case(tags)
            found = keys_by_folded_case.get(rule._folded_name)
            if found is not None and found != rule.name:
                findings.append(
                    Finding(
                        WRONG_KEY_CASE,
                        rule.name,
                        tags[found],
                        f"{rule._expected_key} (found '{found}')",
                    )
                )
                continue
            if keys_by_visible_form is None:
                keys_by_visible_form = _keys_by_visible_form(tags, policy._tag_names)
            # A rule whose name is nothing but hidden characters reads as nothing: no key can
            # be mistaken for it.
            found = keys_by_visible_form.get(rule._visible_name) if rule._visible_name else None
            if found is None:
                findings.append(Finding(MISSING_REQUIRED_TAG, rule.name, None, rule._expected_key))
            else:
                # The key is shown with its hidden characters revealed: the finding is read by
                # people, and "found 'Owner'" would hide the very mistake it reports.
                findings.append(
                    Finding(
                        HIDDEN_CHARACTERS_IN_KEY,
                        rule.name,
                        tags[found],
                        f"{rule._expected_key} (found '{cut(reveal(found))}')",
                    )
                )
            continue
        findings += [
            Finding(kind, rule.name, value, expected)
            for kind, expected in rule.value_violations(value)
        ]
    return findings


def _keys_by_folded_case(tags: Mapping[str, str]) -> dict[str, str]:
    """Each key under its case-folded form; when several keys fold alike (``owner``, ``OWNER``)
    the one that sorts first is kept, so the finding does not depend on the tags' order."""
    index: dict[str, str] = {}
    for key in tags:
        folded = key.casefold()
        current = index.get(folded)
        if current is None or key < current:
            index[folded] = key
    return index


def _keys_by_visible_form(tags: Mapping[str, str], policy_keys: frozenset[str]) -> dict[str, str]:
    """Each key holding hidden characters under the case-folded form a person reads; the
    key that sorts first is kept when several read alike. A key the policy names itself is
    that tag, not a disguised one, and is left out."""
    index: dict[str, str] = {}
    for key in tags:
        if key in policy_keys or not has_hidden_characters(key):
            continue
        visible = without_hidden_characters(key).casefold()
        current = index.get(visible)
        if current is None or key < current:
            index[visible] = key
    return index


def is_compliant(in_scope: bool, counted_violations: int) -> bool | None:
    """Compliant: in scope and no violation that counts; ``None`` when out of scope (no
    required tag applies), so the resource is in no score.

    The one rule: the scan's verdict (:func:`judge`, before any exemption), each listed
    resource's status, and the counts in SQL (``compliance.reads.compliance_counts``, held
    equal to :func:`count_compliance` by ``tests/compliance/test_figure_properties.py``).
    """
    if not in_scope:
        return None
    return counted_violations == 0


def judge(
    policy: Policy, resource_type: str, tags: Mapping[str, str]
) -> tuple[bool | None, list[Finding]]:
    """A resource's verdict (:func:`is_compliant`, every finding counting) and its findings."""
    findings = evaluate(policy, resource_type, tags)
    return is_compliant(is_in_scope(policy, resource_type), len(findings)), findings


@dataclass(frozen=True, slots=True)
class ComplianceCounts:
    """The compliance figures of a set of resources: how many, in scope, compliant, and the
    violations that count."""

    total_resources: int = 0
    in_scope_resources: int = 0
    compliant_resources: int = 0
    violations: int = 0

    @property
    def compliance_score(self) -> float | None:
        return compliance_score(self.compliant_resources, self.in_scope_resources)


def count_compliance(resources: Iterable[tuple[bool, int]]) -> ComplianceCounts:
    """The figures of resources given as (in scope, violations that count), each judged by
    :func:`is_compliant`."""
    total = in_scope = compliant = violations = 0
    for scoped, counted in resources:
        verdict = is_compliant(scoped, counted)
        total += 1
        in_scope += verdict is not None
        compliant += verdict is True
        violations += counted
    return ComplianceCounts(total, in_scope, compliant, violations)


def compliance_score(compliant: int, in_scope: int) -> float | None:
    """Compliant resources over resources in scope, in [0, 1]; None when nothing is in scope
    (a score of 0 or 1 there would be a claim about resources that do not exist)."""
    if in_scope < 0 or compliant < 0 or compliant > in_scope:
        raise ValueError(f"need 0 <= compliant <= in_scope, got {compliant} and {in_scope}")
    if in_scope == 0:
        return None
    return compliant / in_scope
