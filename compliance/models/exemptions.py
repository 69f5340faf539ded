"""Exemptions: violations a named owner has accepted, for a reason, until a date.

Whether a violation is exempted is decided when it is read, never written onto the violation:
an exemption that expires stops applying at that instant, with no job to run and no row to
rewrite, and a scan's own rows stay exactly what the policy judged. Every figure (summary,
breakdowns, report, scan totals, snapshots) goes through :meth:`ViolationQuerySet.active` or
:meth:`ViolationQuerySet.exempted`, so an exempted violation is shown apart everywhere and
counted nowhere.

The exemptions table is small (tens to hundreds of rows, a few of them active), so the
per-violation ``EXISTS`` over it is cheap; and when no exemption is active, which is the common
case, the querysets skip it altogether.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.expressions import Combinable

if TYPE_CHECKING:
    from compliance.models.inventory import Violation  # noqa: F401 (a string annotation)

#: The longest an exemption may run: an exemption is a decision to revisit, not a way out.
MAX_EXEMPTION_LIFETIME = timedelta(days=365)


class ExemptionQuerySet(models.QuerySet["Exemption"]):
    def active(self, now: datetime) -> ExemptionQuerySet:
        return self.filter(expires_at__gt=now)

    def expired(self, now: datetime) -> ExemptionQuerySet:
        return self.filter(expires_at__lte=now)


class Exemption(models.Model):
    """Exempts the violations matching every matcher given (at least one is).

    Empty matchers (``""`` or no account) match anything, so an exemption by resource type
    alone covers that type in every account, and one by ARN and tag key covers that one tag of
    that one resource. An exemption by ARN always records the resource's account too, so
    access to it follows the account grants.
    """

    resource_arn = models.CharField(max_length=2048, blank=True)
    resource_type = models.CharField(max_length=64, blank=True)
    account = models.ForeignKey(
        "compliance.AwsAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="exemptions",
    )
    #: The required tag exempted, spelled as the policy spells it.
    tag_key = models.CharField(max_length=128, blank=True)
    reason = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_exemptions"
    )
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    objects = ExemptionQuerySet.as_manager()

    class Meta:
        ordering = ["expires_at", "id"]
        indexes = [models.Index(fields=["expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(resource_arn="")
                | ~Q(resource_type="")
                | Q(account__isnull=False)
                | ~Q(tag_key=""),
                name="exemption_has_a_matcher",
            )
        ]

    def __str__(self) -> str:
        return f"Exemption #{self.pk}: {self.scope_label}"

    @property
    def scope_label(self) -> str:
        parts = []
        if self.resource_arn:
            parts.append(self.resource_arn)
        elif self.account is not None:
            parts.append(f"account {self.account.account_id}")
        if self.resource_type:
            parts.append(self.resource_type)
        if self.tag_key:
            parts.append(f"tag {self.tag_key}")
        return ", ".join(parts)

    def is_active(self, now: datetime) -> bool:
        return self.expires_at > now


def covering_exemptions(
    now: datetime,
    *,
    arn: Combinable,
    resource_type: Combinable,
    account: Combinable,
    tag_name: Combinable,
) -> ExemptionQuerySet:
    """The active exemptions covering one violation, given expressions for its fields.

    The caller says where the fields are (``OuterRef("resource__arn")`` from a violation, one
    level further out from a subquery over a resource's violations), so the check never joins
    a table the outer query already has.
    """
    return Exemption.objects.active(now).filter(
        Q(resource_arn="") | Q(resource_arn=arn),
        Q(resource_type="") | Q(resource_type=resource_type),
        Q(account__isnull=True) | Q(account_id=account),
        Q(tag_key="") | Q(tag_key=tag_name),
    )


def _exempted(now: datetime) -> Exists:
    return Exists(
        covering_exemptions(
            now,
            arn=OuterRef("resource__arn"),
            resource_type=OuterRef("resource__resource_type"),
            account=OuterRef("resource__account_id"),
            tag_name=OuterRef("tag_name"),
        )
    )


def exemptions_apply(now: datetime) -> bool:
    """Whether any exemption is active: when none is, figures need no exemption check."""
    return Exemption.objects.active(now).exists()


class ViolationQuerySet(models.QuerySet["Violation"]):
    """Violations split by the exemptions active at ``now``."""

    def active(self, now: datetime) -> ViolationQuerySet:
        """The violations that count: those no active exemption covers."""
        if not exemptions_apply(now):
            return self
        return self.filter(~_exempted(now))

    def exempted(self, now: datetime) -> ViolationQuerySet:
        """The violations an active exemption covers, shown apart and not counted."""
        if not exemptions_apply(now):
            return self.none()
        return self.filter(_exempted(now))

    def with_exemption(self, now: datetime) -> ViolationQuerySet:
        """Annotate ``exemption_id``: the covering exemption that expires last (or None)."""
        covering = covering_exemptions(
            now,
            arn=OuterRef("resource__arn"),
            resource_type=OuterRef("resource__resource_type"),
            account=OuterRef("resource__account_id"),
            tag_name=OuterRef("tag_name"),
        ).order_by("-expires_at", "-id")
        return self.annotate(exemption_id=models.Subquery(covering.values("pk")[:1]))


def still_violating(now: datetime) -> Exists:
    """For a resource query: it has at least one violation no active exemption covers."""
    from compliance.models.inventory import Violation

    uncovered: Any = Violation.objects.filter(resource_id=OuterRef("pk")).filter(
        ~Exists(
            covering_exemptions(
                now,
                arn=OuterRef(OuterRef("arn")),
                resource_type=OuterRef(OuterRef("resource_type")),
                account=OuterRef(OuterRef("account_id")),
                tag_name=OuterRef("tag_name"),
            )
        )
    )
    return Exists(uncovered)
