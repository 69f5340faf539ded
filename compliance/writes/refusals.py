"""What every write shares: the permission check, refusals and their audit rows, input checks.

Every state change goes through a ``do_<verb>_<noun>`` function in ``compliance.writes``. Each
checks the caller's permission itself (:func:`require`), runs in one transaction and records its
``AuditEvent`` in that same transaction, so there is no state change without its audit row. A
refusal (no permission, bad input) is audited in a transaction of its own and changes nothing
else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.db import transaction

from compliance import audit
from compliance.audit.events import EventType
from compliance.aws import RESOURCE_TYPES, known_regions
from compliance.core import names, policy
from compliance.core.policy.model import AWS_ORG
from compliance.models import AuditEvent
from compliance.permissions import Action, Viewer, may, refusal_message

REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


class ActionError(ValueError):
    """Bad input to an action: the message is safe to show to the person who asked."""


class NotPermitted(ActionError):
    """The caller's role or credential does not allow the action (already audited)."""

    def __init__(self, message: str, action: Action) -> None:
        super().__init__(message)
        self.action = action


def require(
    caller: Viewer,
    action: Action,
    *,
    interface: str = "cli",
    target: str = "",
    client_address: str | None = None,
    correlation_id: str = "",
) -> None:
    """Refuse, with its audit row, unless ``caller`` may do ``action``.

    Every face reaches here through the writes or its gate, so a refusal reads the same in
    the log whichever face was used: ``auth.permission_denied`` with the action.
    """
    if may(caller, action):
        return
    message = refusal_message(caller, action)
    refuse(
        EventType.PERMISSION_DENIED,
        message,
        acting=caller,
        target=target or action.value,
        interface=interface,
        client_address=client_address,
        correlation_id=correlation_id,
        detail={"action": action.value},
    )
    raise NotPermitted(message, action)


def refuse(
    event_type: EventType,
    message: str,
    *,
    acting: Viewer,
    target: str = "",
    interface: str = "cli",
    outcome: AuditEvent.Outcome = AuditEvent.Outcome.DENIED,
    client_address: str | None = None,
    correlation_id: str = "",
    detail: dict[str, object] | None = None,
) -> ActionError:
    """Audit a refused (or, with ``outcome=error``, failed) action, in a transaction of its own
    (a savepoint inside one already open); the error to raise."""
    with transaction.atomic():
        audit.record(
            event_type,
            acting=acting,
            target=target,
            outcome=outcome,
            interface=interface,
            client_address=client_address,
            correlation_id=correlation_id,
            detail={**(detail or {}), "error": message},
        )
    return ActionError(message)


def validate_regions(regions: Sequence[str]) -> list[str]:
    """``regions`` sorted and de-duplicated, each an AWS region that exists."""
    for region in regions:
        if not REGION_PATTERN.fullmatch(region):
            raise ActionError(f"regions: {region!r} is not an AWS region name (e.g. eu-west-1)")
    if (problem := names.unknown_names("region", regions, known_regions())) is not None:
        raise ActionError(f"regions: {problem}")
    return sorted(set(regions))


def validate_resource_types(types: Sequence[str]) -> list[str]:
    """``types`` sorted and de-duplicated, each a supported resource type."""
    if (problem := names.unknown_names("resource type", types, RESOURCE_TYPES)) is not None:
        raise ActionError(f"types: {problem}")
    return sorted(set(types))


def policy_type_problem(parsed: policy.Policy) -> str | None:
    """Why a parsed policy's ``applies_to`` cannot be used: a type no scan lists (a typo, most
    likely, answered with the closest names) or a ``service:*`` of no supported service.

    An AWS Organizations tag policy is taken as AWS accepted it: it may name types AWS knows
    and scans do not list (``ec2:dhcp-options``), which then simply match nothing.
    """
    if parsed.source_format == AWS_ORG:
        return None
    for index, rule in enumerate(parsed.required_tags):
        for resource_type in rule.applies_to or ():
            if resource_type in RESOURCE_TYPES or names.wildcard_known(
                resource_type, RESOURCE_TYPES
            ):
                continue
            problem = names.unknown_name("resource type", resource_type, RESOURCE_TYPES)
            return f"required tag {rule.name!r} (rule {index + 1}), applies_to: {problem}"
    return None
