"""The member accounts of an AWS Organization, as its management account or a delegated
administrator sees them (``organizations:ListAccounts``, read-only).

Only those two may list an organisation's accounts: any other member gets
``AccessDeniedException``, and an account in no organisation gets
``AWSOrganizationsNotInUseException``. Both become an :class:`OrganizationsError` whose message
says what to do, so a discovery run from the wrong account fails before it registers anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from compliance.aws import session as aws_session

#: What account discovery calls (for the IAM policy); the caller's identity comes from
#: ``sts:GetCallerIdentity``, which the scanner already declares.
ORGANIZATIONS_IAM_ACTIONS = ("organizations:ListAccounts",)
ACTIVE = "ACTIVE"


class OrganizationsError(Exception):
    """Organizations refused or failed the listing; the message says which and why."""


@dataclass(frozen=True, slots=True)
class MemberAccount:
    account_id: str
    name: str
    #: ``ACTIVE``, ``SUSPENDED``, ``PENDING_CLOSURE``, ``CLOSED``, ``PENDING_ACTIVATION``.
    state: str

    @property
    def is_active(self) -> bool:
        return self.state == ACTIVE


@dataclass(frozen=True, slots=True)
class OrganizationAccounts:
    """Every account of the organisation, and the account whose credentials listed them."""

    caller_account_id: str
    #: ``aws``, ``aws-cn`` or ``aws-us-gov``: role ARNs are built in the caller's partition.
    partition: str
    accounts: tuple[MemberAccount, ...]


def list_member_accounts(*, session: boto3.session.Session | None = None) -> OrganizationAccounts:
    """Every account of the caller's organisation, following ``NextToken`` to the last page.

    Organizations is a global service: the session's region only says which partition's
    endpoint answers.
    """
    session = session or boto3.session.Session()
    region = session.region_name or aws_session.DEFAULT_REGION
    caller = "(unknown)"
    try:
        identity = aws_session.client(session, "sts", region).get_caller_identity()
        caller = identity["Account"]
        organizations = aws_session.client(session, "organizations", region)
        accounts = tuple(
            MemberAccount(
                account_id=account["Id"],
                name=account.get("Name", ""),
                # ``State`` replaces the deprecated ``Status``; older endpoints send only that.
                state=account.get("State") or account.get("Status", ""),
            )
            for page in organizations.get_paginator("list_accounts").paginate()
            for account in page["Accounts"]
        )
    except ClientError as exc:
        raise OrganizationsError(_explain(exc, caller)) from None
    except BotoCoreError as exc:
        raise OrganizationsError(f"Organizations: {exc}") from None
    return OrganizationAccounts(
        caller_account_id=caller,
        partition=identity["Arn"].split(":")[1],
        accounts=tuple(sorted(accounts, key=lambda a: a.account_id)),
    )


def _explain(exc: ClientError, caller: str) -> str:
    error = exc.response.get("Error", {})
    code = error.get("Code", "error")
    if code in ("AccessDenied", "AccessDeniedException"):
        return (
            f"Organizations refused ListAccounts to account {caller} ({code}): run discovery "
            "with the credentials of the organisation's management account or of a delegated "
            "administrator, allowed organizations:ListAccounts"
        )
    if code == "AWSOrganizationsNotInUseException":
        return f"account {caller} is not a member of an AWS Organization: nothing to discover"
    return f"Organizations: {code} {error.get('Message', '')}".rstrip()
