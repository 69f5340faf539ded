"""The least-privilege IAM policy, generated from the code that calls AWS.

Each AWS module declares the actions it calls next to the calls; this module only gathers
them. ``docs/iam-policy.json`` is this output, and a test keeps the two equal.
"""

from __future__ import annotations

import json
from typing import Any

from compliance.aws.billing_source import BILLING_IAM_ACTIONS
from compliance.aws.checklist_checks import CHECKLIST_IAM_ACTIONS
from compliance.aws.collectors import COLLECTORS
from compliance.aws.collectors.core import TAGGING_API_ACTION
from compliance.aws.cost_explorer import COST_EXPLORER_IAM_ACTIONS
from compliance.aws.inventory import required_iam_actions
from compliance.aws.organizations import ORGANIZATIONS_IAM_ACTIONS


def all_iam_actions() -> list[str]:
    """Scans (session and collectors), bill import from S3, Cost Explorer, checklist checks,
    account discovery in an organisation."""
    return sorted(
        {
            *required_iam_actions(),
            *BILLING_IAM_ACTIONS,
            *COST_EXPLORER_IAM_ACTIONS,
            *CHECKLIST_IAM_ACTIONS,
            *ORGANIZATIONS_IAM_ACTIONS,
        }
    )


def scoped_iam_actions() -> dict[str, list[str]]:
    """The actions granted on named resources only (the type table's ``iam_resources``)."""
    scoped: dict[str, set[str]] = {}
    for collector in COLLECTORS.values():
        for action in collector.iam_actions if collector.iam_resources else ():
            if action != TAGGING_API_ACTION:
                scoped.setdefault(action, set()).update(collector.iam_resources)
    return {action: sorted(resources) for action, resources in sorted(scoped.items())}


def policy_document() -> dict[str, Any]:
    scoped = scoped_iam_actions()
    statements: list[dict[str, Any]] = [
        {
            "Sid": "FinOpsTagComplianceReadOnly",
            "Effect": "Allow",
            "Action": [a for a in all_iam_actions() if a not in scoped],
            "Resource": "*",
        }
    ]
    for index, (action, resources) in enumerate(scoped.items(), start=1):
        statements.append(
            {
                "Sid": f"FinOpsTagComplianceReadOnlyScoped{index}",
                "Effect": "Allow",
                "Action": [action],
                "Resource": resources,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def policy_json() -> str:
    return json.dumps(policy_document(), indent=2) + "\n"
