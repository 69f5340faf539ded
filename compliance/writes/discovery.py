"""What account discovery does with an organisation's account list: which accounts it adds,
updates, leaves alone, skips and reports, before anything is written.

The plan is worked out in full first, so a dry run shows exactly what a real run would write, and
the real run writes the plan in one transaction with one audit row summarising it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from compliance.aws.organizations import OrganizationAccounts
from compliance.models import AwsAccount

#: IAM role names (64 characters at most), optionally under a path: ``TagReader`` or
#: ``finops/TagReader``. ASCII only, as IAM requires.
ROLE_NAME_PATTERN = re.compile(r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


@dataclass(frozen=True, slots=True)
class Registration:
    """How an account is to be registered: the fields discovery sets."""

    account_id: str
    name: str
    role_arn: str
    external_id: str
    regions: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "name": self.name,
            "role_arn": self.role_arn,
            "external_id_set": bool(self.external_id),
            "regions": list(self.regions),
        }


@dataclass(frozen=True, slots=True)
class Update:
    registration: Registration
    #: The fields that change, each as ``[before, after]`` (the external id only as set/unset).
    changes: dict[str, list[Any]]
    #: The registered row, as the plan read it.
    account: AwsAccount


@dataclass
class DiscoveryPlan:
    caller_account_id: str
    added: list[Registration] = field(default_factory=list)
    updated: list[Update] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: Accounts of the organisation that are not ACTIVE (suspended, closing, closed): neither
    #: registered nor changed, since nothing in them can be read.
    suspended_skipped: list[str] = field(default_factory=list)
    #: Registered accounts the organisation no longer lists: reported, never deleted (their
    #: history stays, and an admin may still scan them with their own role).
    not_in_organization: list[str] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return bool(self.added or self.updated)

    def summary(self) -> dict[str, Any]:
        """Counts and account ids, for the audit row and ``--json``."""
        return {
            "caller_account_id": self.caller_account_id,
            "counts": {
                "added": len(self.added),
                "updated": len(self.updated),
                "unchanged": len(self.unchanged),
                "suspended_skipped": len(self.suspended_skipped),
                "not_in_organization": len(self.not_in_organization),
            },
            "added": [r.as_dict() for r in self.added],
            "updated": [
                {"account_id": u.registration.account_id, "changes": u.changes}
                for u in self.updated
            ],
            "unchanged": self.unchanged,
            "suspended_skipped": self.suspended_skipped,
            "not_in_organization": self.not_in_organization,
        }


def plan_discovery(
    organization: OrganizationAccounts,
    *,
    role_name: str,
    external_id: str,
    regions: Sequence[str],
) -> DiscoveryPlan:
    """Compare the organisation's accounts with the registered ones.

    Every active account is reached by assuming ``role_name`` in it, except the account whose
    credentials ran the discovery (the management account, or the delegated administrator):
    its default credentials already reach it, and it may have no such role. ``regions`` apply
    to newly registered accounts; registered ones keep theirs, and their name follows the
    organisation's.
    """
    registered = {account.account_id: account for account in AwsAccount.objects.all()}
    plan = DiscoveryPlan(caller_account_id=organization.caller_account_id)
    for member in organization.accounts:
        if not member.is_active:
            plan.suspended_skipped.append(member.account_id)
            continue
        own = member.account_id == organization.caller_account_id
        existing = registered.get(member.account_id)
        wanted = Registration(
            account_id=member.account_id,
            name=member.name or member.account_id,
            role_arn="" if own else role_arn(organization.partition, member.account_id, role_name),
            external_id="" if own else external_id,
            regions=tuple(existing.regions if existing else regions),
        )
        if existing is None:
            plan.added.append(wanted)
        elif changes := _changes(existing, wanted):
            plan.updated.append(Update(wanted, changes, existing))
        else:
            plan.unchanged.append(member.account_id)
    listed = {member.account_id for member in organization.accounts}
    plan.not_in_organization = sorted(set(registered) - listed)
    return plan


def _changes(existing: AwsAccount, wanted: Registration) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    if existing.name != wanted.name:
        changes["name"] = [existing.name, wanted.name]
    if existing.role_arn != wanted.role_arn:
        changes["role_arn"] = [existing.role_arn, wanted.role_arn]
    if existing.external_id != wanted.external_id:
        # The external id is a shared secret of sorts: the audit log says only whether one is set.
        changes["external_id_set"] = [bool(existing.external_id), bool(wanted.external_id)]
    return changes


def registered_accounts(plan: DiscoveryPlan) -> list[AwsAccount]:
    """The account rows to save for ``plan``: new ones, and the updated ones changed (both to be
    validated by the caller)."""
    rows = [(r, AwsAccount(account_id=r.account_id)) for r in plan.added]
    rows += [(u.registration, u.account) for u in plan.updated]
    for registration, account in rows:
        account.name = registration.name
        account.role_arn = registration.role_arn
        account.external_id = registration.external_id
        account.regions = list(registration.regions)
    return [account for _, account in rows]
