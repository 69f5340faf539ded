"""The least-privilege IAM policy, generated from the code that calls AWS.

Each AWS module declares the actions it calls next to the calls; this module only gathers
them. ``docs/iam-policy.json`` is this output, and a test keeps the two equal.
"""

from __future__ import annotations

import json
from typing import Any

from compliance.aws.billing_source import BILLING_IAM_ACTIONS
from compliance.aws.checklist_checks import CHECKLIST_IAM_ACTIONS
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


def policy_document() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "FinOpsTagComplianceReadOnly",
                "Effect": "Allow",
                "Action": all_iam_actions(),
                "Resource": "*",
            }
        ],
    }


def policy_json() -> str:
    return json.dumps(policy_document(), indent=2) + "\n"
