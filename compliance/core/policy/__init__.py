"""The tagging-policy engine: read a policy, judge a resource's tags against it. Pure Python.

No ORM, no boto3: scans, selectors, the admin and the MCP tools all call these functions, so a
violation means the same thing everywhere. The formats and the meaning of each violation are
documented for users in docs/tagging-policy.md.

- ``model``: the policy, its rules and findings, and what makes a rule valid;
- ``documents``: reading any accepted format (JSON or YAML), writing the native form;
- ``aws_org``: the AWS Organizations tag policy format, both ways;
- ``evaluation``: judging tags, the resource types a rule covers, the compliance score.
"""

from __future__ import annotations

from compliance.core.policy.aws_org import policy_to_aws_org
from compliance.core.policy.documents import (
    MAX_DOCUMENT_BYTES,
    parse_policy,
    policy_from_dict,
    policy_to_dict,
)
from compliance.core.policy.evaluation import (
    ComplianceCounts,
    compliance_score,
    count_compliance,
    evaluate,
    is_compliant,
    is_in_scope,
    judge,
    rules_for_type,
)
from compliance.core.policy.model import (
    HIDDEN_CHARACTERS_IN_KEY,
    INVALID_FORMAT,
    INVALID_VALUE,
    MISSING_REQUIRED_TAG,
    VIOLATION_TYPES,
    WRONG_KEY_CASE,
    Finding,
    NamingRules,
    Policy,
    PolicyError,
    TagRule,
)

__all__ = [
    "HIDDEN_CHARACTERS_IN_KEY",
    "INVALID_FORMAT",
    "INVALID_VALUE",
    "MAX_DOCUMENT_BYTES",
    "MISSING_REQUIRED_TAG",
    "VIOLATION_TYPES",
    "WRONG_KEY_CASE",
    "ComplianceCounts",
    "Finding",
    "NamingRules",
    "Policy",
    "PolicyError",
    "TagRule",
    "compliance_score",
    "count_compliance",
    "evaluate",
    "is_compliant",
    "is_in_scope",
    "judge",
    "parse_policy",
    "policy_from_dict",
    "policy_to_aws_org",
    "policy_to_dict",
    "rules_for_type",
]
