"""Resources as the bill names them, with their tags on the bill.

A bill charges resources the inventory may not hold (not scanned, of a type not collected,
deleted before the last scan). Bills exported with resource tags say how those resources are
tagged, as far as the keys activated as cost allocation tags go, so they are judged against the
policy from the bill: stored with the import's cost lines, replaced with them, and judged again
whenever the stored costs are refreshed (``compliance.stored.costs``).
"""

from __future__ import annotations

from django.db import models

from compliance.models.costs import MONEY_DIGITS, MONEY_PLACES, BillingImport


class BilledResource(models.Model):
    """One resource one billing period charges in one account and region, and its verdict.

    ``in_inventory``, ``is_compliant`` and ``violations`` are the last judgement: a resource
    the inventory holds is judged by the scan, not here (``is_compliant`` ``None``), and so is
    one to which no required tag applies.
    """

    billing_import = models.ForeignKey(
        BillingImport, on_delete=models.CASCADE, related_name="billed_resources"
    )
    # Copied from the import so replacement and period queries need no join.
    source_format = models.CharField(max_length=8, choices=BillingImport.Format.choices)
    billing_period_start = models.DateTimeField()
    account_id = models.CharField(max_length=256, blank=True)
    region = models.CharField(max_length=64, blank=True)
    service = models.CharField(max_length=256, blank=True)
    resource_id = models.CharField(max_length=2048)
    #: ``service:type`` from an ARN, as scanned types are named; empty for a bare id.
    resource_type = models.CharField(max_length=128, blank=True)
    #: Tag key -> value as the bill carries them (user tags without their ``user:`` prefix).
    tags = models.JSONField(default=dict)
    in_inventory = models.BooleanField(default=False)
    is_compliant = models.BooleanField(null=True)
    #: ``[{"tag_key": ..., "violation_type": ...}]``, in policy order.
    violations = models.JSONField(default=list)
    #: The policy version of the judgement (``None``: not judged yet, or no policy).
    policy_version = models.PositiveIntegerField(null=True)
    effective_cost = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)

    class Meta:
        ordering = ["billing_period_start", "account_id", "resource_id"]
        indexes = [
            models.Index(fields=["billing_period_start", "account_id"]),
            models.Index(fields=["resource_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} {self.effective_cost}"
