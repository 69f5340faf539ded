"""Allocation: rules that give a tag value where tags cannot, and shared costs split over values.

Both are showback's, never compliance's: a resource given a value by a rule still violates the
policy. Rules are kept per tag key, ordered by ``position`` (then id); for each charge lacking a
valid value of the key, the first enabled rule that matches gives its value. Every change is
written through ``compliance.writes.allocation`` and recorded as a new
:class:`AllocationVersion` (a snapshot of every rule and shared-cost rule) with an audit row.
"""

from __future__ import annotations

from django.db import models

#: The longest tag key and value AWS accepts.
TAG_KEY_LENGTH = 128
TAG_VALUE_LENGTH = 256


class AllocationRule(models.Model):
    """Gives ``value`` (or the value of a related resource) of ``tag_key`` to the charges that
    match every matcher set; empty matchers match anything."""

    class Related(models.TextChoices):
        NONE = "", "No related resource: give the value above"
        STACK = "cloudformation_stack", "The value of another resource of the same stack"
        PARENT = "parent", "The value of the parent resource (a volume's instance, ...)"

    tag_key = models.CharField(max_length=TAG_KEY_LENGTH)
    #: Order within the key: the first enabled rule that matches wins (ties by id).
    position = models.PositiveIntegerField(default=100)
    name = models.CharField(max_length=200)
    #: The value given; empty when ``related`` names where the value comes from.
    value = models.CharField(max_length=TAG_VALUE_LENGTH, blank=True)
    accounts = models.JSONField(default=list, blank=True, help_text="Account ids; empty: any.")
    regions = models.JSONField(default=list, blank=True, help_text="Regions; empty: any.")
    services = models.JSONField(
        default=list, blank=True, help_text="Services as the bill names them; empty: any."
    )
    resource_types = models.JSONField(
        default=list, blank=True, help_text="Resource types (service:type); empty: any."
    )
    name_pattern = models.CharField(
        max_length=512, blank=True, help_text="Resource name pattern (* and ?), case-sensitive."
    )
    arn_pattern = models.CharField(
        max_length=2048, blank=True, help_text="ARN or bill resource id pattern (* and ?)."
    )
    related = models.CharField(max_length=32, choices=Related.choices, blank=True, default="")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["tag_key", "position", "id"]
        indexes = [models.Index(fields=["tag_key", "position"])]

    def __str__(self) -> str:
        return f"{self.tag_key} #{self.position}: {self.name}"


class SharedCostRule(models.Model):
    """Splits the unattributable charges it matches (by service and charge category; empty:
    any) over the values of ``tag_key``: proportionally to their allocated spend, evenly, or by
    fixed percentages. The first enabled rule of the key that matches a charge splits it."""

    class Mode(models.TextChoices):
        PROPORTIONAL = "proportional", "Proportionally to each value's allocated spend"
        EVEN = "even", "Evenly over the values with allocated spend"
        FIXED = "fixed", "By fixed percentages"

    tag_key = models.CharField(max_length=TAG_KEY_LENGTH)
    position = models.PositiveIntegerField(default=100)
    name = models.CharField(max_length=200)
    services = models.JSONField(
        default=list, blank=True, help_text="Services as the bill names them; empty: any."
    )
    charge_categories = models.JSONField(
        default=list, blank=True, help_text="Tax, Usage, Purchase, Credit, Adjustment; empty: any."
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.PROPORTIONAL)
    #: For ``fixed``: value -> percentage as a decimal string; they add up to exactly 100.
    percentages = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["tag_key", "position", "id"]

    def __str__(self) -> str:
        return f"{self.tag_key} shared #{self.position}: {self.name}"


class AllocationVersion(models.Model):
    """One state of every allocation and shared-cost rule, written with each change."""

    version = models.PositiveIntegerField(unique=True)
    #: ``{"allocation_rules": [...], "shared_cost_rules": [...]}``, each rule as its fields.
    rules = models.JSONField(default=dict)
    #: What changed, in words ("rule 4 'EBS follows its instance' added").
    change = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"allocation v{self.version}: {self.change}"


class ShowbackFigure(models.Model):
    """One stored sum of showback (``compliance.stored.showback``): the spend of the charges
    sharing every field below, or (``measure`` a count) how many resources share them.

    Written whole at each refresh (bill import, scan finalisation, policy import, allocation
    change) for the keys the policy governs and the keys with rules, so that showback over a
    large estate reads sums instead of matching every bill line to the inventory.
    """

    class Measure(models.TextChoices):
        #: ``amount``: the spend of the charges of this cell.
        SPEND = "spend"
        #: ``count``: resources of this account and type in the slot (``kind``, ``value``)
        #: as tagged.
        TAGGED = "tagged"
        #: ``count``: resources of this account and type with spend in the slot (``kind``,
        #: ``value``) as allocated.
        ALLOCATED = "allocated"

    period_start = models.DateTimeField()
    source_format = models.CharField(max_length=8)
    tag_key = models.CharField(max_length=TAG_KEY_LENGTH)
    measure = models.CharField(max_length=9, choices=Measure.choices)
    #: The charge's account for spend; the resource's for counts.
    account_id = models.CharField(max_length=256, blank=True)
    #: Kept only for spend left unattributable (the shared-cost rules choose by it).
    service = models.CharField(max_length=256, blank=True)
    resource_type = models.CharField(max_length=64, blank=True)
    charge_category = models.CharField(max_length=16, blank=True)
    #: The slot as tagged: value, invalid, untagged, unattributable or unmatched.
    kind = models.CharField(max_length=16, blank=True)
    value = models.CharField(max_length=1024, blank=True)
    #: The slot as allocated, and the rule that gave it (empty: none did).
    allocated_kind = models.CharField(max_length=16, blank=True)
    allocated_value = models.CharField(max_length=1024, blank=True)
    rule = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(max_digits=28, decimal_places=10, default=0)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["tag_key", "period_start", "source_format"])]

    def __str__(self) -> str:
        return f"{self.tag_key} {self.period_start:%Y-%m} {self.measure} {self.kind}"


class ShowbackState(models.Model):
    """What the stored showback figures were computed from; they answer only while it holds.
    One row."""

    computed_at = models.DateTimeField()
    #: The inputs' marks (stored costs' change counter, latest scan, active policy, allocation
    #: version, newest import) when computed.
    fingerprint = models.JSONField(default=dict)
    #: The tag keys stored.
    tag_keys = models.JSONField(default=list)
    #: (period, format) pairs with a charge matched by ARN to another account's resource:
    #: a viewer who does not see every account is answered by the live computation there.
    cross_account = models.JSONField(default=list)
    #: [period, account, import id, imported at, format, currency] of every bill account's
    #: imports, so the period and the format a viewer's figures use are chosen without
    #: reading the bill lines.
    imports = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"showback figures of {self.computed_at:%Y-%m-%d %H:%M}"
