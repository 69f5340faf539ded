"""Tag suggestions with evidence: likely values for a resource's missing or invalid required tags.

No machine learning: each suggestion is a count over related resources the viewer may see, and
its confidence is a documented formula (docs/history-and-suggestions.md):

- ``parent`` (the instance an EBS volume is attached to, the instance an Elastic IP is
  associated with, an RDS instance's cluster): a direct relation, not a sample, so a fixed
  ``PARENT_CONFIDENCE``.
- ``stack``, ``name_pattern``, ``vpc``: among ``n`` sampled related resources, ``k`` carry the
  value: ``confidence = weight * (k / n) * (n / (n + PRIOR))``, i.e. the agreement ratio shrunk
  towards zero for small samples (1 of 1 gives a quarter of the weight, 9 of 9 three quarters).
  The weights rank how tightly each relation binds resources: a stack is deployed as one unit,
  a naming family usually by one team, a VPC is shared more widely.
- ``policy``: the values the policy allows, only when no related resource offered a valid one
  and only when the list is short: ``POLICY_WEIGHT / m`` for ``m`` allowed values.

A value is suggested only if the policy engine accepts it for that tag, and only values of
resources in accounts the viewer may see are ever counted. When several sources suggest the same
value, the highest confidence is kept (not combined: related resources are not independent
witnesses) and every source's evidence is listed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from compliance.core import policy
from compliance.models import Resource
from compliance.permissions.accounts import Viewer, visible_accounts
from compliance.reads.policy import active_policy
from compliance.reads.resources import resource_for

#: Related resources read per source: enough for a stable ratio, bounded per request.
SAMPLE_SIZE = 200
#: Values offered per tag and source, most agreed first.
MAX_VALUES_PER_SOURCE = 3
PRIOR = 3
PARENT_CONFIDENCE = 0.9
WEIGHTS = {"stack": 0.95, "name_pattern": 0.85, "vpc": 0.7}
POLICY_WEIGHT = 0.3
#: Beyond this many allowed values, listing them all is not a suggestion.
POLICY_MAX_VALUES = 5

#: CloudFormation sets the first on every resource it creates; teams without it often use the
#: second by convention.
STACK_TAGS = ("aws:cloudformation:stack-name", "Stack")

#: A name's trailing counter or id: ``-03``, ``7``, ``-0a1b2c3d`` (hex with at least one digit,
#: so a word like ``database`` is not taken for an id).
_TRAILING_ID = re.compile(r"(?:[0-9]+|(?=[0-9a-f]*[0-9])[0-9a-f]{8,})$")
#: Names that are bare AWS ids (EC2 falls back to ``i-0abc...`` when there is no Name tag):
#: they share a prefix by construction, not by anyone's convention. AWS ids carry 8 or 17 hex.
_AWS_ID = re.compile(r"[a-z]{1,12}-(?:[0-9a-f]{8}|[0-9a-f]{17})")


@dataclass(frozen=True, slots=True)
class TagSuggestion:
    tag_name: str
    value: str
    #: In [0, 1]; see the module docstring for the formula per source.
    confidence: float
    evidence: list[str] = field(default_factory=list)
    #: parent | stack | vpc | name_pattern | policy
    source: str = ""


def name_pattern(name: str) -> str | None:
    """The family prefix of a name (``web-prod-03`` -> ``web-prod-``), or None when the name
    has no trailing counter or id, is itself an AWS id, or leaves too short a prefix."""
    if not name or _AWS_ID.fullmatch(name):
        return None
    prefix = _TRAILING_ID.sub("", name)
    if prefix == name or len(prefix.strip("-_./ ")) < 3:
        return None
    return prefix


class _Judge:
    """Whether the active policy accepts a value for a tag on this resource type, asked of the
    policy engine itself (allowed values, wildcards, regex), cached per value."""

    def __init__(self, active: policy.Policy, resource_type: str) -> None:
        self._policy = active
        self._type = resource_type
        self._cache: dict[tuple[str, str], bool] = {}

    def accepts(self, tag_name: str, value: str) -> bool:
        key = (tag_name, value)
        verdict = self._cache.get(key)
        if verdict is None:
            findings = policy.evaluate(self._policy, self._type, {tag_name: value})
            verdict = not any(f.tag_name == tag_name for f in findings)
            self._cache[key] = verdict
        return verdict


def suggest_tags(viewer: Viewer, resource_arn: str) -> list[TagSuggestion]:
    """Candidate values for each required tag the resource lacks or gets wrong, best first
    within each tag, tags in policy order."""
    resource = resource_for(viewer, resource_arn)
    policy_row = active_policy()
    if policy_row is None or resource.gone_since is not None:
        return []
    active = policy.policy_from_dict(policy_row.document)
    failing = {f.tag_name for f in policy.evaluate(active, resource.resource_type, resource.tags)}
    rules = [r for r in policy.rules_for_type(active, resource.resource_type) if r.name in failing]
    if not rules:
        return []
    judge = _Judge(active, resource.resource_type)
    tag_names = [rule.name for rule in rules]
    related = Resource.objects.filter(
        account__in=visible_accounts(viewer), gone_since__isnull=True
    ).exclude(pk=resource.pk)

    found: list[TagSuggestion] = []
    found += _from_parent(resource, related, tag_names, judge)
    found += _from_stack(resource, related, tag_names, judge)
    found += _from_name_pattern(resource, related, tag_names, judge)
    found += _from_vpc(resource, related, tag_names, judge)
    suggested = {s.tag_name for s in found}
    for rule in rules:
        if rule.name not in suggested:
            found += _from_policy(rule, judge)
    return _merge(found, tag_names)


def _sample(related: QuerySet[Resource]) -> list[tuple[str, dict[str, str]]]:
    return list(related.order_by("pk").values_list("name", "tags")[:SAMPLE_SIZE])


def _counted(
    source: str,
    tags_of_sample: list[dict[str, str]],
    tag_names: list[str],
    judge: _Judge,
    says: Callable[[str, str, int, int], str],
) -> Iterable[TagSuggestion]:
    """Agreement over a sample: for each tag, the valid values and how many resources have them."""
    n = len(tags_of_sample)
    if not n:
        return
    for tag_name in tag_names:
        counts = Counter(
            tags[tag_name]
            for tags in tags_of_sample
            if tag_name in tags and judge.accepts(tag_name, tags[tag_name])
        )
        for value, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[
            :MAX_VALUES_PER_SOURCE
        ]:
            yield TagSuggestion(
                tag_name=tag_name,
                value=value,
                confidence=round(WEIGHTS[source] * (k / n) * (n / (n + PRIOR)), 3),
                evidence=[says(tag_name, value, k, n)],
                source=source,
            )


def _short_id(resource: Resource) -> str:
    return re.split(r"[/:]", resource.arn)[-1]


def _from_parent(
    resource: Resource, related: QuerySet[Resource], tag_names: list[str], judge: _Judge
) -> list[TagSuggestion]:
    parent_arn = resource.attributes.get("parent_arn")
    if not parent_arn:
        return []
    parent = related.filter(arn=parent_arn).first()
    if parent is None:  # not scanned, gone, or in an account the viewer may not see
        return []
    kind = parent.resource_type.partition(":")[2] or parent.resource_type
    return [
        TagSuggestion(
            tag_name=tag_name,
            value=parent.tags[tag_name],
            confidence=PARENT_CONFIDENCE,
            evidence=[f"parent {kind} {_short_id(parent)} has {tag_name}={parent.tags[tag_name]}"],
            source="parent",
        )
        for tag_name in tag_names
        if tag_name in parent.tags and judge.accepts(tag_name, parent.tags[tag_name])
    ]


def _from_stack(
    resource: Resource, related: QuerySet[Resource], tag_names: list[str], judge: _Judge
) -> list[TagSuggestion]:
    stack_tag = next((t for t in STACK_TAGS if resource.tags.get(t)), None)
    if stack_tag is None:
        return []
    stack = resource.tags[stack_tag]
    # A stack lives in one account and region: the (account, region, type) index bounds this.
    same_stack = Q()
    for tag in STACK_TAGS:
        same_stack |= Q(**{f"tags__{tag}": stack})
    siblings = related.filter(same_stack, account_id=resource.account_id, region=resource.region)
    sample = [tags for _, tags in _sample(siblings)]

    def says(tag_name: str, value: str, k: int, n: int) -> str:
        return f"{k} of {n} resources in CloudFormation stack {stack} have {tag_name}={value}"

    return list(_counted("stack", sample, tag_names, judge, says))


def _from_name_pattern(
    resource: Resource, related: QuerySet[Resource], tag_names: list[str], judge: _Judge
) -> list[TagSuggestion]:
    prefix = name_pattern(resource.name)
    if prefix is None:
        return []
    # Same type (indexed): a naming family is a set of like resources (web-prod-01..05).
    candidates = related.filter(resource_type=resource.resource_type, name__startswith=prefix)
    sample = [tags for name, tags in _sample(candidates) if name_pattern(name) == prefix]

    def says(tag_name: str, value: str, k: int, n: int) -> str:
        return (
            f"name '{resource.name}' matches '{prefix}*' whose resources have "
            f"{tag_name}={value} ({k} of {n})"
        )

    return list(_counted("name_pattern", sample, tag_names, judge, says))


def _from_vpc(
    resource: Resource, related: QuerySet[Resource], tag_names: list[str], judge: _Judge
) -> list[TagSuggestion]:
    vpc_id = resource.attributes.get("vpc_id")
    if not vpc_id:
        return []
    # A VPC is regional; shared VPCs span accounts, so any visible account, same region.
    siblings = related.filter(region=resource.region, attributes__vpc_id=vpc_id)
    sample = [tags for _, tags in _sample(siblings)]

    def says(tag_name: str, value: str, k: int, n: int) -> str:
        return f"{k} of {n} resources in {vpc_id} have {tag_name}={value}"

    return list(_counted("vpc", sample, tag_names, judge, says))


def _from_policy(rule: policy.TagRule, judge: _Judge) -> list[TagSuggestion]:
    values = [v for v in rule.allowed_values or () if "*" not in v and judge.accepts(rule.name, v)]
    if not values or len(values) > POLICY_MAX_VALUES:
        return []
    listed = ", ".join(values)
    return [
        TagSuggestion(
            tag_name=rule.name,
            value=value,
            confidence=round(POLICY_WEIGHT / len(values), 3),
            evidence=[
                f"the policy allows {len(values)} value(s) for {rule.name} ({listed}); "
                f"no related resource has a valid {rule.name}"
            ],
            source="policy",
        )
        for value in values
    ]


def _merge(found: list[TagSuggestion], tag_names: list[str]) -> list[TagSuggestion]:
    best: dict[tuple[str, str], TagSuggestion] = {}
    evidence: dict[tuple[str, str], list[str]] = {}
    for suggestion in sorted(found, key=lambda s: -s.confidence):
        key = (suggestion.tag_name, suggestion.value)
        best.setdefault(key, suggestion)
        evidence.setdefault(key, []).extend(suggestion.evidence)
    order = {name: index for index, name in enumerate(tag_names)}
    merged = [
        TagSuggestion(s.tag_name, s.value, s.confidence, evidence[key], s.source)
        for key, s in best.items()
    ]
    return sorted(merged, key=lambda s: (order[s.tag_name], -s.confidence, s.value))
