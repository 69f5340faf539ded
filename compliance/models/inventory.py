"""Accounts, policies, scans, resources, violations and snapshots: the inventory side.

State that readers see (``Resource``, ``Violation``, ``ComplianceSnapshot``) changes only when a
scan is finalised, in one transaction; a running scan writes to ``ScanItem`` (staging) first, so
no half-written scan is ever visible.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q

from compliance.core.policy import compliance_score
from compliance.models.costs import MONEY_DIGITS, MONEY_PLACES
from compliance.models.exemptions import ViolationQuerySet

account_id_validator = RegexValidator(r"^\d{12}$", "An AWS account id is 12 digits.")
role_arn_validator = RegexValidator(
    r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$",
    "Expected an IAM role ARN such as arn:aws:iam::123456789012:role/TagComplianceReader.",
)

#: Resources as of the last finished scan (``gone_since`` is set once a scan no longer sees one).
_PRESENT = Q(gone_since__isnull=True)


def _present_index(*fields: str, name: str) -> models.Index:
    """An index of the resources list, over present resources only."""
    return models.Index(fields=list(fields), condition=_PRESENT, name=name)


def _amount() -> models.DecimalField[Decimal, Decimal]:
    """An exact amount of money, zero by default."""
    return models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=0)


class AwsAccount(models.Model):
    account_id = models.CharField(max_length=12, unique=True, validators=[account_id_validator])
    name = models.CharField(max_length=128)
    role_arn = models.CharField(
        max_length=2048,
        blank=True,
        validators=[role_arn_validator],
        help_text="Role assumed with STS to read this account; empty: default credentials.",
    )
    external_id = models.CharField(max_length=1224, blank=True)
    regions = models.JSONField(
        default=list,
        blank=True,
        help_text="Regions to scan; empty: every region enabled for the account.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account_id"]
        verbose_name = "AWS account"

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"


class TaggingPolicy(models.Model):
    """One version of the tagging policy; exactly one is active at a time."""

    class SourceFormat(models.TextChoices):
        NATIVE = "native", "Native JSON/YAML"
        MCP_JSON = "mcp_json", "tagging_policy.json"
        AWS_ORG = "aws_org", "AWS Organizations tag policy"

    version = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    source_format = models.CharField(max_length=16, choices=SourceFormat.choices)
    document = models.JSONField(help_text="The policy in native form.")
    source_text = models.TextField(help_text="The document as imported.")
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "tagging policies"
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_policy"
            )
        ]

    def __str__(self) -> str:
        label = f"v{self.version}"
        if self.name:
            label += f" {self.name}"
        return label + (" (active)" if self.is_active else "")


class Scan(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETE = "complete"
        PARTIAL = "partial"
        FAILED = "failed"

    FINISHED: ClassVar[tuple[str, ...]] = (Status.COMPLETE, Status.PARTIAL)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.CharField(max_length=150, blank=True)
    trigger = models.CharField(max_length=32, default="cli")
    account_ids = models.JSONField(default=list, blank=True, help_text="Empty: every account.")
    regions = models.JSONField(default=list, blank=True, help_text="Empty: account defaults.")
    resource_types = models.JSONField(default=list, blank=True, help_text="Empty: every type.")
    policy = models.ForeignKey(TaggingPolicy, null=True, on_delete=models.PROTECT)
    task_id = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    resources_seen = models.PositiveIntegerField(default=0)
    #: HTTP requests the scan sent to AWS (retries included), and how many AWS throttled.
    aws_requests = models.PositiveBigIntegerField(default=0)
    throttled_requests = models.PositiveBigIntegerField(default=0)

    #: One entry per account x region x resource type: status, count, error code and message.
    outcomes = models.JSONField(default=list, blank=True)
    #: What failed, in words, for partial and failed scans.
    errors = models.JSONField(default=list, blank=True)

    total_resources = models.PositiveIntegerField(null=True, blank=True)
    in_scope_resources = models.PositiveIntegerField(null=True, blank=True)
    compliant_resources = models.PositiveIntegerField(null=True, blank=True)
    violation_count = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-finished_at"])]

    def __str__(self) -> str:
        return f"Scan #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def data_quality(self) -> str | None:
        """``complete`` or ``partial`` once finished; ``None`` before (and for failed scans)."""
        if not self.is_finished:
            return None
        return "complete" if self.status == self.Status.COMPLETE else "partial"

    @property
    def compliance_score(self) -> float | None:
        return compliance_score(self.compliant_resources or 0, self.in_scope_resources or 0)


class ScanPartition(models.Model):
    """One account x region of a scan fanned out across task workers (``compliance.scans.fanout``).

    The row is what makes the fan-out safe: a partition task claims it (a retry after a crash
    takes a new ``attempt``, drops what the earlier attempt staged, and the earlier attempt's
    writes stop counting); its outcomes and counters are kept here as well as on the scan, so a
    retry can take back what the crashed attempt added; and the last partition to finish is the
    one that finds every other row ``done`` under the scan's row lock.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="partitions")
    account_id = models.CharField(max_length=12)
    #: A region, or ``global`` for the account's global resource types (S3's bucket list).
    region = models.CharField(max_length=32)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    #: Resource types listed here: the partition's share of ``Scan.progress_total``.
    jobs = models.PositiveIntegerField(default=0)
    jobs_done = models.PositiveIntegerField(default=0)
    resources_seen = models.PositiveIntegerField(default=0)
    #: Runs started so far; only the latest one's writes count.
    attempt = models.PositiveIntegerField(default=0)
    #: The outcomes of this partition's jobs, as in ``Scan.outcomes``.
    outcomes = models.JSONField(default=list, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    #: ``host:pid`` of the worker process that ran the latest attempt.
    worker = models.CharField(max_length=128, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["scan_id", "account_id", "region"]
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "account_id", "region"], name="scan_partition_unique"
            )
        ]
        indexes = [models.Index(fields=["scan", "status"])]

    def __str__(self) -> str:
        return f"{self.account_id} {self.region} of scan {self.scan_id} ({self.status})"


class ScanItem(models.Model):
    """Staging row: a resource as a running scan saw it, before finalisation makes it current."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="items")
    arn = models.CharField(max_length=2048)
    account_id = models.CharField(max_length=12)
    region = models.CharField(max_length=32)
    resource_type = models.CharField(max_length=64)
    name = models.CharField(max_length=512, blank=True)
    tags = models.JSONField(default=dict)
    attributes = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scan", "arn"], name="scan_item_unique_arn")]

    def __str__(self) -> str:
        return f"{self.arn} (scan {self.scan_id})"


class Resource(models.Model):
    """A resource as of the last finished scan that saw it; gone ones are kept, marked gone."""

    arn = models.CharField(max_length=2048, unique=True)
    account = models.ForeignKey(AwsAccount, on_delete=models.CASCADE, related_name="resources")
    region = models.CharField(max_length=32)
    resource_type = models.CharField(max_length=64)
    name = models.CharField(max_length=512, blank=True)
    tags = models.JSONField(default=dict)
    attributes = models.JSONField(default=dict)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    gone_since = models.DateTimeField(null=True, blank=True)
    last_seen_scan = models.ForeignKey(Scan, null=True, on_delete=models.SET_NULL, related_name="+")
    #: Judged by the policy at the last finalisation, before exemptions: True/False, or None
    #: when no required tag applies. Exemptions are applied when figures are read (see
    #: ``compliance.models.exemptions``), so a resource whose every violation is exempted is
    #: still False here and counts as compliant in every figure.
    is_compliant = models.BooleanField(null=True)
    #: Violations the policy found at the last finalisation, exempted ones included.
    violation_count = models.PositiveIntegerField(default=0)
    #: Its cost in its account's latest money (the latest bill, or a Cost Explorer estimate
    #: for a later period), exact, as ``compliance.core.costs.attribute`` matches the charges; zero
    #: when that money does not charge it, null when its account has none. Written by
    #: ``compliance.stored.costs.refresh_costs`` at every import, fetch and finalisation.
    monthly_cost = models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True
    )
    #: First day of the billing period ``monthly_cost`` belongs to.
    cost_period_start = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["arn"]
        indexes = [
            models.Index(fields=["account", "region", "resource_type"]),
            models.Index(fields=["resource_type"]),
            models.Index(fields=["gone_since", "is_compliant"]),
            # The resources list: its default order (highest cost first), each other order,
            # and the account filter, over present resources only.
            models.Index(
                F("monthly_cost").desc(),
                "arn",
                condition=_PRESENT,
                name="resource_present_cost",
            ),
            # The list's exact count, by account, region or type and compliance, from the
            # index alone (and few pages of it: no ARN in these).
            _present_index("account", "is_compliant", name="resource_present_acct"),
            _present_index("region", "is_compliant", "account", name="resource_present_region_n"),
            _present_index(
                "resource_type", "is_compliant", "account", name="resource_present_type_n"
            ),
            _present_index("resource_type", "arn", name="resource_present_type"),
            _present_index("region", "arn", name="resource_present_region"),
            _present_index("name", "arn", name="resource_present_name"),
            _present_index("-last_seen_at", "arn", name="resource_present_seen"),
        ]

    def __str__(self) -> str:
        return self.arn

    @property
    def is_gone(self) -> bool:
        return self.gone_since is not None


class TagChange(models.Model):
    """One key added, removed or changed on a resource between two scans (drift needs it)."""

    class Kind(models.TextChoices):
        ADDED = "added"
        REMOVED = "removed"
        CHANGED = "changed"

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="tag_changes")
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="tag_changes")
    observed_at = models.DateTimeField()
    key = models.CharField(max_length=128)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # None means "no such key", which differs from a key whose value is the empty string.
    old_value = models.CharField(max_length=256, null=True, blank=True)  # noqa: DJ001
    new_value = models.CharField(max_length=256, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["-observed_at", "key"]
        indexes = [models.Index(fields=["resource", "-observed_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} on {self.resource_id}"


class Violation(models.Model):
    """A current violation: replaced at every finalisation, judged by a given policy version."""

    class Type(models.TextChoices):
        MISSING_REQUIRED_TAG = "missing_required_tag"
        INVALID_VALUE = "invalid_value"
        INVALID_FORMAT = "invalid_format"
        WRONG_KEY_CASE = "wrong_key_case"
        HIDDEN_CHARACTERS_IN_KEY = "hidden_characters_in_key"

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="violations")
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="violations")
    policy = models.ForeignKey(TaggingPolicy, on_delete=models.PROTECT, related_name="+")
    violation_type = models.CharField(max_length=24, choices=Type.choices)
    tag_name = models.CharField(max_length=128)
    # None: the tag is absent; "": present with an empty value.
    current_value = models.CharField(max_length=256, null=True, blank=True)  # noqa: DJ001
    expected = models.CharField(max_length=1024, blank=True)
    #: When this same violation (resource, type, tag) was first found; kept across scans.
    first_detected_at = models.DateTimeField()

    objects = ViolationQuerySet.as_manager()

    class Meta:
        ordering = ["resource_id", "tag_name", "violation_type"]
        indexes = [
            models.Index(fields=["violation_type", "tag_name"]),
            models.Index(fields=["resource"]),
        ]

    def __str__(self) -> str:
        return f"{self.violation_type} {self.tag_name} on {self.resource_id}"


class ComplianceSnapshot(models.Model):
    """Aggregates of one finished scan along one dimension, kept for trends.

    Every row belongs to one account, so trends can be summed over the accounts a viewer may
    see. ``dimension`` is ``account`` (``key`` empty: the account's totals), ``region``,
    ``resource_type`` or ``tag_key``. For ``tag_key`` rows, ``in_scope`` counts resources the tag
    applies to and ``compliant`` those where it is right.

    ``account`` rows also keep the account's money in the latest billing period loaded when the
    scan was finalised (``billing_period_start``, ``cost_source`` as in
    ``selectors.cost_attribution``); all of it is null when no costs were loaded then, and on
    every other dimension.

    ``violation_type`` rows (written by :func:`compliance.stored.summary.store_figures`) keep
    ``violations`` per kind and, in ``exempted``, the violations an active exemption covered;
    ``key`` empty holds the account's totals over every kind and, on every account alike, which
    exemptions were active (``exemptions_active``, ``last_exemption_id``), so a reader can tell
    whether the stored figures still hold. Their resource counts are zero: they count violations.
    """

    class Dimension(models.TextChoices):
        ACCOUNT = "account"
        REGION = "region"
        RESOURCE_TYPE = "resource_type"
        TAG_KEY = "tag_key"
        VIOLATION_TYPE = "violation_type"

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="snapshots")
    taken_at = models.DateTimeField()
    account_id = models.CharField(max_length=12, blank=True)
    dimension = models.CharField(max_length=16, choices=Dimension.choices)
    key = models.CharField(max_length=128, blank=True)
    total_resources = models.PositiveIntegerField()
    in_scope = models.PositiveIntegerField()
    compliant = models.PositiveIntegerField()
    violations = models.PositiveIntegerField()
    billing_period_start = models.DateField(null=True, blank=True)
    cost_source = models.CharField(max_length=8, blank=True, default="")
    total_spend = models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True
    )
    attributable_spend = models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True
    )
    attribution_gap = models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True
    )
    unattributable_spend = models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True
    )
    unmatched_resource_spend = models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True
    )
    exempted = models.PositiveIntegerField(default=0)
    exemptions_active = models.PositiveIntegerField(null=True, blank=True)
    last_exemption_id = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["scan_id", "dimension", "account_id", "key"]
        indexes = [models.Index(fields=["dimension", "taken_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "account_id", "dimension", "key"], name="snapshot_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dimension}:{self.key} @ scan {self.scan_id}"


class RuleSnapshot(models.Model):
    """The violations of one rule (a required tag key and a kind of violation) in one account,
    as :func:`compliance.stored.summary.store_figures` counted them for a scan.

    ``tag_name`` or ``violation_type`` empty sums over every tag or kind, so ``resources`` (the
    resources with at least one such violation that counts, each once) can be read for any
    choice of the two: the row with both empty holds the account's affected resources, and one
    is written for every account with present resources, violations or not. ``exempted`` counts
    the violations an active exemption covered, which count in no other figure.

    Unlike the snapshot rows they are not history: they are counted again, as of ``taken_at``,
    whenever exemptions change (``compliance.tasks.refresh_stored_figures_task``), and hold
    while the exemptions active are those recorded (``exemptions_active``,
    ``last_exemption_id``, the same on every row of a scan).
    """

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="rule_snapshots")
    taken_at = models.DateTimeField()
    exemptions_active = models.PositiveIntegerField(default=0)
    last_exemption_id = models.PositiveBigIntegerField(default=0)
    account_id = models.CharField(max_length=12)
    tag_name = models.CharField(max_length=128, blank=True)
    violation_type = models.CharField(max_length=24, blank=True)
    violations = models.PositiveIntegerField(default=0)
    resources = models.PositiveIntegerField(default=0)
    exempted = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["scan_id", "account_id", "tag_name", "violation_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "account_id", "tag_name", "violation_type"],
                name="rule_snapshot_unique_rule",
            )
        ]

    def __str__(self) -> str:
        rule = f"{self.tag_name or '*'}/{self.violation_type or '*'}"
        return f"{rule} in {self.account_id} @ scan {self.scan_id}"


class AccountAccess(models.Model):
    """Grants a user or a group read access to one account; the read layer enforces it."""

    account = models.ForeignKey(AwsAccount, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="account_grants",
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="account_grants"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "account access grant"
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True))
                | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="grant_user_xor_group",
            ),
            models.UniqueConstraint(fields=["account", "user"], name="grant_unique_user"),
            models.UniqueConstraint(fields=["account", "group"], name="grant_unique_group"),
        ]
        permissions = [
            ("view_all_accounts", "Can see every AWS account"),
            ("export_data", "Can export resources, violations and policies"),
        ]

    def __str__(self) -> str:
        who = f"user {self.user}" if self.user_id else f"group {self.group}"
        return f"{who} -> {self.account}"


class AttributedCost(models.Model):
    """One cell of the cost attribution as last computed (``compliance.stored.costs``).

    Each account's latest money is attributed once, when a bill is imported, Cost Explorer is
    fetched or a scan is finalised, so a page sums a handful of these rows instead of matching
    the whole inventory against the bill. Three kinds of rows:

    - ``split``: the four buckets of the charges of one account (the bill's), region, service,
      resource type (or ``costs.NO_RESOURCE`` / ``costs.NOT_IN_INVENTORY``), charge category
      and import; every charge lands in one, so each breakdown is a sum of these;
    - ``untagged``: spend (``amount``) of resources violating ``tag_key``, per account, region,
      resource type and import; ``violation_type`` says whether the key is absent (non-empty:
      counted in ``costs.Attribution.untagged_spend``) or present with a bad value (empty:
      counted only in ``noncompliant_spend``);
    - ``at_stake``: monthly cost (``amount``) of the resources breaking a rule, per resource
      account, region and type; ``tag_key`` or ``violation_type`` empty stand for any, so the
      cost of the resources matching a narrowing is one row, each resource counted once.
    """

    class Kind(models.TextChoices):
        SPLIT = "split"
        UNTAGGED = "untagged"
        AT_STAKE = "at_stake"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    account_id = models.CharField(max_length=256, blank=True)
    period_start = models.DateTimeField()
    #: ``focus`` or ``cur`` (the import's format), or ``estimate`` (Cost Explorer).
    cost_source = models.CharField(max_length=8)
    billing_import = models.ForeignKey(
        "compliance.BillingImport",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    currency = models.CharField(max_length=8, blank=True)
    region = models.CharField(max_length=64, blank=True)
    service = models.CharField(max_length=256, blank=True)
    resource_type = models.CharField(max_length=64, blank=True)
    charge_category = models.CharField(max_length=16, blank=True)
    tag_key = models.CharField(max_length=128, blank=True)
    violation_type = models.CharField(max_length=24, blank=True)
    attributable = _amount()
    attribution_gap = _amount()
    unattributable = _amount()
    unmatched_resource = _amount()
    amount = _amount()

    class Meta:
        ordering = ["kind", "account_id", "id"]
        indexes = [models.Index(fields=["kind", "period_start", "account_id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.account_id} {self.period_start:%Y-%m} {self.cost_source}"


class CostAttributionState(models.Model):
    """What the stored attribution (``AttributedCost``, ``Resource.monthly_cost``) was computed
    from, so that a reader can tell whether it still holds. One row.

    Database triggers (migration 0013) add one to ``changes`` whenever a row it depends on is
    written: resources (created, deleted, gone, moved), violations, bill lines, Cost Explorer
    figures, accounts. A finalisation, an import and a fetch recompute in the same transaction,
    so ``changes`` moves past ``computed_changes`` only through writes outside them. Exemptions
    apply by the clock, so which were active is kept instead.
    """

    computed_at = models.DateTimeField()
    changes = models.BigIntegerField(default=0)
    computed_changes = models.BigIntegerField(default=0)
    exemptions_active = models.PositiveIntegerField(default=0)
    last_exemption_id = models.BigIntegerField(default=0)
    #: Account id (the bill's, registered or not) -> its latest money: ``bill`` [period start,
    #: format of its newest import then] or null, ``estimate`` period start or null.
    money = models.JSONField(default=dict)
    #: [bill account, resource account] of charges matched by ARN to another account's resource.
    cross_account = models.JSONField(default=list)
    #: False when the estimate could not be stored exactly (see ``compliance.stored.costs``).
    estimates_stored = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"cost attribution of {self.computed_at:%Y-%m-%d %H:%M}"
