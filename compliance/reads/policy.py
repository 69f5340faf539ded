"""The tagging policy: the active version and the history of versions.

Policy versions hold no account data (every signed-in viewer reads the same policy), so these
reads take no viewer; the export does, because it is recorded against the person.
"""

from __future__ import annotations

from compliance.core import policy
from compliance.models import TaggingPolicy

#: The history lists this many versions, newest first.
MAX_LISTED_VERSIONS = 100


class UnknownPolicyVersion(LookupError):
    """A version number that was never imported."""


def policy_versions(limit: int = MAX_LISTED_VERSIONS) -> list[TaggingPolicy]:
    """The newest versions first, without their documents (the history shows none of it)."""
    return list(TaggingPolicy.objects.defer("document", "source_text").order_by("-version")[:limit])


def policy_version(version: int) -> TaggingPolicy:
    found = TaggingPolicy.objects.filter(version=version).first()
    if found is None:
        raise UnknownPolicyVersion(f"policy version {version} does not exist")
    return found


def previous_version(of: TaggingPolicy) -> TaggingPolicy | None:
    """The version imported before ``of`` (by number), ``None`` for the first one."""
    return TaggingPolicy.objects.filter(version__lt=of.version).order_by("-version").first()


def read_policy(row: TaggingPolicy) -> policy.Policy:
    """The stored native document as a policy; it was validated when it was imported."""
    return policy.policy_from_dict(row.document)


def active_policy() -> TaggingPolicy | None:
    return TaggingPolicy.objects.filter(is_active=True).first()


def active_rule_for(tag_key: str) -> policy.TagRule | None:
    """The active policy's rule for exactly this key (required or optional), if any."""
    row = active_policy()
    if row is None:
        return None
    current = read_policy(row)
    for rule in (*current.required_tags, *current.optional_tags):
        if rule.name == tag_key:
            return rule
    return None
