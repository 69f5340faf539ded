"""API keys for the MCP endpoint, and the database fallback for the guards' shared counters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from compliance.models import AwsAccount


class ApiKey(models.Model):
    """A bearer credential for an assistant, acting as its owner and never wider.

    Only an HMAC of the secret is stored (see :mod:`mcp_endpoint.keys`): the key is shown once
    at creation and cannot be recovered. ``prefix`` (``ftc_<id>``) is the visible part used to
    find the row, to name the key in logs and in the admin, and to revoke it.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read compliance data"
        SCAN = "scan", "Start scans"

    ALL_SCOPES: ClassVar[tuple[str, ...]] = (Scope.READ, Scope.SCAN)
    #: Keys expiring within this many days are flagged in the admin.
    NEAR_EXPIRY_DAYS: ClassVar[int] = 14

    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    name = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mcp_api_keys"
    )
    scopes = models.JSONField(default=list, help_text="Any of: read, scan.")
    accounts = models.ManyToManyField(
        AwsAccount,
        blank=True,
        related_name="+",
        help_text="Narrow the key to these accounts; empty: every account its user may see.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_from = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name})"

    def is_usable(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now

    def expires_soon(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.expires_at <= now + timedelta(days=self.NEAR_EXPIRY_DAYS)


class GuardCounter(models.Model):
    """One fixed-window counter of a guard (rate, budget, loop) when Redis is not configured.

    Incremented with a conditional ``UPDATE ... SET hits = hits + 1 WHERE hits < limit``, which
    the database applies atomically, so every web process shares one exact count.
    """

    key = models.CharField(max_length=200, unique=True)
    hits = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.hits}"
