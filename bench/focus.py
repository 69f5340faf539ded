"""The FOCUS 1.0 columns the synthetic bills of the benchmarks write (no Django needed)."""

FOCUS_HEADER = [
    "BillingAccountId",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "SubAccountId",
    "RegionId",
    "ServiceName",
    "ResourceId",
    "ChargeCategory",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "ChargeDescription",
]
