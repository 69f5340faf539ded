"""The security checklist's history and attestations, and the MCP lockdown switch."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models


class ChecklistStatus(models.TextChoices):
    # A status, not a password:
    PASS = "pass"  # noqa: S105  # nosec B105
    FAIL = "fail"
    ATTENTION = "attention"
    ATTESTED = "attested"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class ChecklistRun(models.Model):
    """One evaluation of every checklist item; its results are kept, so the history shows when
    an item started or stopped holding.

    The dashboard queues a run for a task worker (its AWS items call AWS, which no web request
    waits on), so a run has a state; the command evaluates in one go and stores it finished.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"

    #: When the items were evaluated; until then, when the run was requested.
    checked_at = models.DateTimeField(db_index=True)
    requested_by = models.CharField(max_length=150, help_text="Username, 'cli' or 'system'.")
    interface = models.CharField(max_length=16, default="cli")
    #: Every run stored before runs were queued was evaluated in one go: finished.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FINISHED)
    items_done = models.PositiveIntegerField(default=0)
    items_total = models.PositiveIntegerField(default=0)
    #: The last sign of life of the worker evaluating it (its start, then each item evaluated).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    #: Why a failed run failed.
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        permissions = [("run_checklist", "Can run the security checklist (it calls AWS)")]

    def __str__(self) -> str:
        return f"checklist run #{self.pk} at {self.checked_at:%Y-%m-%d %H:%M:%S}"


class ChecklistResult(models.Model):
    """One item's status in one run, with the evidence that decided it."""

    run = models.ForeignKey(ChecklistRun, on_delete=models.CASCADE, related_name="results")
    item_id = models.CharField(max_length=64, db_index=True)
    section = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    required = models.BooleanField()
    kind = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=ChecklistStatus.choices)
    evidence = models.TextField(blank=True)
    checked_at = models.DateTimeField()
    #: The attestation an ``attested`` status rests on: it may expire after the run.
    attestation = models.ForeignKey(
        "Attestation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.status}"


class Attestation(models.Model):
    """Someone's signed statement that an item we cannot check holds, with its evidence and an
    expiry: once expired the item reads ``expired`` until attested again. Never edited; a new
    attestation supersedes the old one, so the history stays."""

    item_id = models.CharField(max_length=64, db_index=True)
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    attested_by_label = models.CharField(max_length=150)
    evidence = models.TextField()
    link = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.item_id} attested by {self.attested_by_label}"

    def is_current(self, now: datetime) -> bool:
        return self.expires_at > now


class LockdownState(models.Model):
    """The switch that refuses every MCP call (incident response); one row, ``pk=1``.

    The ``MCP_LOCKDOWN`` setting locks down as well, for when the database is the suspect.
    """

    enabled = models.BooleanField(default=False)
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return "lockdown on" if self.enabled else "lockdown off"
