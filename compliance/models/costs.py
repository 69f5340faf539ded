"""Imported bills: one ``BillingImport`` per file and billing period, and its cost aggregates.

A bill has one row per resource per hour (or day) per charge; attribution only needs the sum per
(billing period, account, region, service, resource id, charge category), which is exact and
orders of magnitude smaller. So the importer sums while it streams and stores only those sums as
``CostLine`` rows. The currency is one per import (the importer refuses a file that mixes them).
"""

from __future__ import annotations

from django.db import models

#: Money: up to 10 billion per aggregate, to a ten-billionth (bills carry up to 10 decimals).
MONEY_DIGITS = 20
MONEY_PLACES = 10


class BillingImport(models.Model):
    """One billing period of one imported file; the record of who loaded which money when."""

    class Format(models.TextChoices):
        FOCUS = "focus", "FOCUS"
        CUR = "cur", "AWS CUR 2.0"

    class Status(models.TextChoices):
        #: Its cost lines are the current figures for its period and accounts.
        ACTIVE = "active"
        #: A later import of the same format, period and accounts replaced all its lines.
        REPLACED = "replaced"

    source = models.CharField(max_length=2048, help_text="Local path or s3://bucket/key.")
    source_format = models.CharField(max_length=8, choices=Format.choices)
    billing_period_start = models.DateTimeField()
    billing_period_end = models.DateTimeField()
    account_ids = models.JSONField(default=list, help_text="Accounts the bill has rows for.")
    row_count = models.PositiveBigIntegerField(help_text="Bill rows read for this period.")
    line_count = models.PositiveIntegerField(help_text="Cost aggregates stored.")
    currency = models.CharField(max_length=8)
    #: Sum of the cost column the attribution uses (amortised; see docs/costs.md).
    effective_total = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    #: Sum of what was invoiced (FOCUS BilledCost, CUR line_item_unblended_cost).
    billed_total = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    #: Charge category -> effective cost, as decimal strings (JSON has no decimal type).
    totals_by_category = models.JSONField(default=dict)
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.CharField(max_length=150)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        ordering = ["-billing_period_start", "-id"]
        indexes = [models.Index(fields=["status", "-billing_period_start"])]

    def __str__(self) -> str:
        return f"{self.source_format} {self.billing_period_start:%Y-%m} ({self.status})"


class CostLine(models.Model):
    """The exact sum of every bill row sharing one (period, account, region, service, resource,
    charge category).

    ``resource_id`` is what the bill says: an ARN, a bare id (``i-0abc``, a bucket name) or
    empty for charges that belong to no resource (tax, support, fees, most credits).
    """

    class ChargeCategory(models.TextChoices):
        USAGE = "Usage"
        PURCHASE = "Purchase"
        TAX = "Tax"
        CREDIT = "Credit"
        ADJUSTMENT = "Adjustment"

    billing_import = models.ForeignKey(
        BillingImport, on_delete=models.CASCADE, related_name="lines"
    )
    # Copied from the import so replacement and period queries need no join.
    source_format = models.CharField(max_length=8, choices=BillingImport.Format.choices)
    billing_period_start = models.DateTimeField()
    account_id = models.CharField(max_length=256, blank=True)
    region = models.CharField(max_length=64, blank=True)
    service = models.CharField(max_length=256, blank=True)
    resource_id = models.CharField(max_length=2048, blank=True)
    charge_category = models.CharField(max_length=16, choices=ChargeCategory.choices)
    effective_cost = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    billed_cost = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    row_count = models.PositiveIntegerField()

    class Meta:
        ordering = ["billing_period_start", "account_id", "resource_id"]
        indexes = [
            models.Index(fields=["billing_period_start", "account_id"]),
            models.Index(fields=["resource_id"]),
            models.Index(fields=["source_format", "billing_period_start", "account_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id or self.charge_category} {self.effective_cost}"


class CostExplorerFigure(models.Model):
    """One monthly Cost Explorer amount of one account and region: a service's cost, or the
    cost carrying one value of a required tag key (``key`` empty: the key is absent).

    Cost Explorer has no per-resource figures (short of hourly resource-level data, which
    covers EC2 only and 14 days), so these back an estimate where no bill is loaded; see
    docs/costs.md.
    """

    class Dimension(models.TextChoices):
        SERVICE = "service"
        TAG = "tag"

    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    account_id = models.CharField(max_length=32)
    region = models.CharField(max_length=64, blank=True)
    dimension = models.CharField(max_length=8, choices=Dimension.choices)
    #: The tag key for ``tag`` figures; empty for ``service`` ones.
    tag_key = models.CharField(max_length=128, blank=True)
    #: The service name, or the tag value (empty: resources without the tag key).
    key = models.CharField(max_length=512, blank=True)
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(max_length=8)
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["period_start", "account_id", "dimension", "tag_key", "key", "region"]
        indexes = [models.Index(fields=["period_start", "account_id", "dimension"])]

    def __str__(self) -> str:
        label = f"{self.tag_key}={self.key}" if self.dimension == "tag" else self.key
        return f"{self.period_start:%Y-%m} {self.account_id} {label}: {self.amount}"
