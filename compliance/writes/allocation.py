"""Allocation and shared-cost rules: saved and deleted as new allocation versions, audited.

Every change writes, in its one transaction, the rule, a new :class:`AllocationVersion` (the
number after the latest, with a snapshot of every rule of both kinds, so a past showback can be
explained by the rules it was computed with) and one ``allocation.changed`` audit row. A rule
with problems (:func:`compliance.reads.allocation.rule_problems`) is refused, audited, and
changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import AllocationRule, AllocationVersion, SharedCostRule
from compliance.permissions import Action
from compliance.permissions.accounts import Viewer, viewer_label
from compliance.reads.allocation import (
    Problems,
    allocation_snapshot,
    rule_fields,
    rule_problems,
    shared_rule_problems,
)
from compliance.writes.refusals import ActionError, refuse, require

ALLOCATION_RULE = "allocation rule"
SHARED_COST_RULE = "shared-cost rule"

AnyRule = AllocationRule | SharedCostRule


class AllocationRuleError(ActionError):
    """A rule that cannot be saved: ``problems`` maps each field to what is wrong with it."""

    def __init__(self, problems: Problems) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = problems


def do_save_allocation_rule(
    rule: AllocationRule, *, acting: Viewer, interface: str = "admin"
) -> AllocationVersion:
    """Add or change an allocation rule as it stands; the new allocation version."""
    return _save(rule, ALLOCATION_RULE, rule_problems(rule), acting=acting, interface=interface)


def do_delete_allocation_rule(
    rule_id: int, *, acting: Viewer, interface: str = "admin"
) -> AllocationVersion:
    """Delete an allocation rule; the new allocation version (the audit row keeps the rule)."""
    return _delete(AllocationRule, ALLOCATION_RULE, rule_id, acting=acting, interface=interface)


def do_save_shared_cost_rule(
    rule: SharedCostRule, *, acting: Viewer, interface: str = "admin"
) -> AllocationVersion:
    """Add or change a shared-cost rule as it stands; the new allocation version."""
    problems = shared_rule_problems(rule)
    return _save(rule, SHARED_COST_RULE, problems, acting=acting, interface=interface)


def do_delete_shared_cost_rule(
    rule_id: int, *, acting: Viewer, interface: str = "admin"
) -> AllocationVersion:
    """Delete a shared-cost rule; the new allocation version (the audit row keeps the rule)."""
    return _delete(SharedCostRule, SHARED_COST_RULE, rule_id, acting=acting, interface=interface)


def _save(
    rule: AnyRule, kind: str, problems: Problems, *, acting: Viewer, interface: str
) -> AllocationVersion:
    target = f"{kind} #{rule.pk}" if rule.pk else f"{kind} (new)"
    require(acting, Action.MANAGE_ALLOCATION, interface=interface, target=target)
    before = None
    if rule.pk is not None:
        before = type(rule).objects.filter(pk=rule.pk).first()
        if before is None:
            problems = {"id": f"{target} does not exist (deleted meanwhile?)", **problems}
    if problems:
        error = AllocationRuleError(problems)
        refuse(
            EventType.ALLOCATION_CHANGED,
            str(error),
            acting=acting,
            interface=interface,
            target=target,
            detail={"kind": kind, "name": rule.name, "tag_key": rule.tag_key},
        )
        raise error
    with transaction.atomic():
        _lock_versions()
        rule.updated_by = viewer_label(acting)
        rule.save()
        after = rule_fields(rule)
        if before is None:
            change: dict[str, Any] = {"change": "added"}
            words = "added"
        else:
            earlier = rule_fields(before)
            fields = [name for name, value in after.items() if earlier.get(name) != value]
            change = {
                "change": "changed",
                "fields": fields,
                "before": {name: earlier[name] for name in fields},
                "after": {name: after[name] for name in fields},
            }
            words = f"changed ({', '.join(fields) or 'no field'})"
        return _new_version(rule, kind, words, change, acting=acting, interface=interface)


def _delete(
    model: type[AnyRule], kind: str, rule_id: int, *, acting: Viewer, interface: str
) -> AllocationVersion:
    target = f"{kind} #{rule_id}"
    require(acting, Action.MANAGE_ALLOCATION, interface=interface, target=target)
    rule = model.objects.filter(pk=rule_id).first()
    if rule is None:
        raise refuse(
            EventType.ALLOCATION_CHANGED,
            f"{target} does not exist",
            acting=acting,
            interface=interface,
            target=target,
        )
    with transaction.atomic():
        _lock_versions()
        deleted = rule_fields(rule)
        model.objects.filter(pk=rule_id).delete()
        change = {"change": "deleted", "rule": deleted}
        return _new_version(rule, kind, "deleted", change, acting=acting, interface=interface)


def _lock_versions() -> None:
    """Serialise the changes: each waits for the latest version row, so the next one reads
    the rules and the latest number as the change before it left them. (The first version has
    no row to wait for; the unique version number refuses the second of two first writes.)"""
    list(AllocationVersion.objects.select_for_update().order_by("-version")[:1])


def _new_version(
    rule: AnyRule,
    kind: str,
    words: str,
    change: dict[str, Any],
    *,
    acting: Viewer,
    interface: str,
) -> AllocationVersion:
    latest = AllocationVersion.objects.aggregate(latest=Max("version"))["latest"] or 0
    version = AllocationVersion.objects.create(
        version=latest + 1,
        rules=allocation_snapshot(),
        change=f"{kind} #{rule.pk} {rule.name!r} ({rule.tag_key}) {words}"[:500],
        created_by=viewer_label(acting),
    )
    audit.record(
        EventType.ALLOCATION_CHANGED,
        acting=acting,
        target=f"{kind} #{rule.pk}",
        interface=interface,
        detail={
            "version": version.version,
            "kind": kind,
            "rule_id": rule.pk,
            "name": rule.name,
            "tag_key": rule.tag_key,
            **change,
        },
    )
    _refresh_showback()
    return version


def _refresh_showback() -> None:
    """Queue the refresh of showback's stored sums, in the caller's transaction (a worker sees
    it once the change is committed); until then showback is computed from the bill lines."""
    from compliance.tasks import refresh_showback_task  # that module imports the scans

    refresh_showback_task.enqueue()
