"""Each resource's monthly cost and the cost attribution, computed once and stored.

Matching a bill to the inventory (:func:`compliance.core.costs.attribute`: by ARN, else by a bare id
within the charge's account, an ambiguous id settled by region or left unmatched) needs every
resource of the accounts concerned; done per request, that is the whole inventory read into
Python on every page. Resources, violations and money change only when a scan is finalised, a
bill imported or Cost Explorer fetched, so :func:`refresh_costs` does it then, once, and stores:

- ``Resource.monthly_cost``: each present resource's cost in its account's latest money;
- ``AttributedCost`` rows: the attribution of that money summed per account, region, service,
  resource type, charge category and import (``split``), the spend of resources violating each
  tag key, marked when they are without it (``untagged``: both per-key figures) and the cost
  of the resources breaking each rule (``at_stake``);
- ``CostAttributionState``: what all that was computed from.

An account's *latest money* is its latest billing period (every bill format imported for it),
or a later period only Cost Explorer covers. That is all a viewer's default figures need: their
period is the latest of their accounts', and each account charged in it has it as its latest.
The readers (:func:`attribution`, :func:`costs_of`, :func:`rule_costs`, :func:`costliest`,
:func:`listing_accounts`) give the exact figures of ``selectors`` from these rows, or ``None``
when the rows cannot answer exactly (an older period asked for, exemptions or accounts changed
since, a charge of one account naming by ARN a resource of an account the viewer does not
see), and the caller computes as before.

The refresh streams: bill lines matched in SQL (ARN keys worked out by the database), present
resources and their violations in id order, merged in chunks, so memory stays flat whatever the
estate's size. Amounts are summed in Python, exactly, from the values the ORM reads.
"""

from compliance.stored.costs.billed import (
    LISTED,
    BillJudgedResource,
    bill_judgement,
    judge_billed_resources,
)
from compliance.stored.costs.latest_money import AccountMoney
from compliance.stored.costs.matching import (
    ContestedLine,
    contested_lines,
    id_key_expressions,
)
from compliance.stored.costs.reading import (
    RuleCosts,
    Scope,
    Stored,
    StoredAttribution,
    attribution,
    costliest,
    costs_of,
    listing_accounts,
    rule_costs,
    top_costed,
)
from compliance.stored.costs.refresh import refresh_costs

__all__ = [
    "LISTED",
    "AccountMoney",
    "BillJudgedResource",
    "ContestedLine",
    "RuleCosts",
    "Scope",
    "Stored",
    "StoredAttribution",
    "attribution",
    "bill_judgement",
    "contested_lines",
    "costliest",
    "costs_of",
    "id_key_expressions",
    "judge_billed_resources",
    "listing_accounts",
    "refresh_costs",
    "rule_costs",
    "top_costed",
]
