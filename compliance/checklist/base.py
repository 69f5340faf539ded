"""What a checklist item is and what evaluating one yields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from compliance.aws.base import AccountTarget
from compliance.aws.session import Session
from compliance.models import ChecklistStatus

Status = ChecklistStatus


class Kind(StrEnum):
    #: Evaluated from the running system: settings, database, an in-process request.
    AUTOMATIC = "automatic"
    #: Evaluated with read-only AWS calls when configured; attested otherwise.
    AWS = "aws"
    #: Only a person can say; holds while an unexpired attestation exists.
    ATTESTED = "attested"


class Section(StrEnum):
    AUTHENTICATION = "Authentication"
    NETWORK = "Network"
    APPLICATION = "Application"
    CREDENTIALS = "Credentials"
    MONITORING = "Monitoring"
    FINOPS = "FinOps"
    INCIDENT_RESPONSE = "Incident response"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: ChecklistStatus
    evidence: str


#: Returns a session for an account (``None``: the server's own credentials).
SessionFactory = Callable[[AccountTarget | None], Session]


@dataclass(frozen=True, slots=True)
class Context:
    now: datetime
    session_for: SessionFactory


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    section: Section
    title: str
    #: A required item that fails, or whose attestation expired, fails the command (CI gate).
    required: bool
    kind: Kind
    #: What to do when it does not hold (shown beside the evidence).
    remedy: str
    #: ``None`` for attested items. For ``aws`` items, ``None`` from the check means "not
    #: configured here": the item falls back to its attestation.
    check: Callable[[Context], Outcome | None] | None = None
    #: Attestations of this item must link to the document they vouch for.
    link_required: bool = False

    @property
    def attestable(self) -> bool:
        return self.kind != Kind.AUTOMATIC
