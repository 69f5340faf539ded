"""How the scanner reaches an AWS account: credentials, clients, regions, identity.

The default credential chain is boto3's own, so every command honours ``AWS_PROFILE``,
``AWS_REGION``, ``AWS_ENDPOINT_URL`` and friends without this module knowing about them. When an
account has a role, the scanner assumes it (with its external id) and works only with the role's
credentials, which refresh themselves before they expire, so a long scan never dies at the
one-hour mark.
"""

from __future__ import annotations

import os
import threading
from typing import Any, TypeAlias

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from compliance.aws import calls
from compliance.aws.base import AccountTarget

#: Shown in CloudTrail as the session name of every assumed-role call we make.
ROLE_SESSION_NAME = "finops-tag-compliance"
#: Appended to the User-Agent of every call, so the scanner's traffic is recognisable in logs.
USER_AGENT_EXTRA = "finops-tag-compliance"
#: Adaptive retries back off on throttling per client; enough to ride out a burst. (botocore's
#: ``max_attempts`` counts retries after the first try: 10 means at most 11 calls.)
MAX_ATTEMPTS = 10
#: Every call is bounded: an endpoint that never answers costs at most attempts x (connect +
#: read timeout) plus the back-off between attempts, then the job fails and the scan goes on.
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60
#: Environment variables that change those bounds for every client (seconds, at most
#: ``MAX_TIMEOUT_SECONDS``); ``AWS_MAX_ATTEMPTS`` is boto3's own (total calls, first included).
CONNECT_TIMEOUT_VARIABLE = "AWS_CLIENT_CONNECT_TIMEOUT_SECONDS"
READ_TIMEOUT_VARIABLE = "AWS_CLIENT_READ_TIMEOUT_SECONDS"
ATTEMPTS_VARIABLE = "AWS_MAX_ATTEMPTS"
MAX_TIMEOUT_SECONDS = 300
MAX_TOTAL_ATTEMPTS = 20
#: Where account-level calls go when neither the environment nor the account names a region.
DEFAULT_REGION = "us-east-1"

#: What the scanner itself calls before any collector runs (for the IAM policy).
SESSION_IAM_ACTIONS = ("ec2:DescribeRegions", "sts:AssumeRole", "sts:GetCallerIdentity")


#: What a session is, for code outside this package that holds one without importing boto3.
Session: TypeAlias = boto3.session.Session

#: The errors an AWS call raises: AWS refused it, or it never reached AWS.
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)


def error_code(exc: Exception) -> str:
    """AWS's error code (``AccessDenied``, ...), or the exception's name when AWS gave none."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


class AccountMismatchError(Exception):
    """The credentials belong to another account than the one we were asked to scan.

    Scanning anyway would file another account's resources under this one, so it is a failure.
    """

    code = "AccountMismatch"


def _environment_number(name: str, default: float, *, maximum: float) -> float:
    """A positive number of the environment, read when a client is made (not at import)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= maximum:
        raise ValueError(f"{name}: expected a number of seconds above 0, at most {maximum:g}")
    return value


def _environment_retries() -> int:
    """Retries after the first call: ``AWS_MAX_ATTEMPTS`` (total calls) when set, else ours."""
    raw = os.environ.get(ATTEMPTS_VARIABLE, "").strip()
    if not raw:
        return MAX_ATTEMPTS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOTAL_ATTEMPTS:
        raise ValueError(
            f"{ATTEMPTS_VARIABLE}: expected a whole number from 1 to {MAX_TOTAL_ATTEMPTS}"
        )
    return int(raw) - 1


def client_config(
    *,
    max_attempts: int | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
) -> Config:
    """Retries, timeouts and User-Agent; what is not given comes from the environment."""
    return Config(
        retries={
            "mode": "adaptive",
            "max_attempts": _environment_retries() if max_attempts is None else max_attempts,
        },
        connect_timeout=connect_timeout
        or _environment_number(
            CONNECT_TIMEOUT_VARIABLE, CONNECT_TIMEOUT_SECONDS, maximum=MAX_TIMEOUT_SECONDS
        ),
        read_timeout=read_timeout
        or _environment_number(
            READ_TIMEOUT_VARIABLE, READ_TIMEOUT_SECONDS, maximum=MAX_TIMEOUT_SECONDS
        ),
        user_agent_extra=USER_AGENT_EXTRA,
    )


def client(
    session: boto3.session.Session,
    service: str,
    region: str,
    *,
    max_attempts: int | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
) -> Any:
    """A botocore client with the scanner's retry, timeout and User-Agent settings.

    The endpoint is left to boto3, so ``AWS_ENDPOINT_URL`` (and its per-service variants) work.
    Every AWS client the product makes comes from here, so none waits without a bound.
    """
    config = client_config(
        max_attempts=max_attempts, connect_timeout=connect_timeout, read_timeout=read_timeout
    )
    return session.client(service, region_name=region, config=config)


def home_region(session: boto3.session.Session, target: AccountTarget) -> str:
    """The region for account-level calls (STS, DescribeRegions, S3's bucket list).

    The environment's region comes first because it also says which partition the credentials
    belong to; an account's first configured region is next (an aws-cn account has to name one).
    """
    return session.region_name or next(iter(target.regions), DEFAULT_REGION)


class _FixedProvider(CredentialProvider):  # type: ignore[misc]
    """Hands a botocore session credentials we already hold (the assumed role's)."""

    METHOD = "finops-assume-role"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self._credentials


#: What botocore parsed from its JSON service models, shared by the sessions we create. Each
#: session would otherwise parse the models again (EC2's alone is megabytes, parsed holding the
#: GIL) for every account scanned. Every session reads the same files, so they can share it.
_PARSED_MODELS: dict[Any, Any] = {}


def _botocore_session() -> Any:
    core = botocore.session.Session()
    calls.instrument(core)
    # Each session keeps its own loader (boto3 appends to its search paths), but they share one
    # cache: botocore's Loader takes a ``cache`` argument and ignores it, hence the attribute.
    core.get_component("data_loader")._cache = _PARSED_MODELS
    return core


def new_session(
    target: AccountTarget, *, base: boto3.session.Session | None = None
) -> boto3.session.Session:
    """A session for ``target``: the default chain, or the target's role assumed from it.

    ``base`` supplies the source credentials (the default chain when omitted). AssumeRole is
    called here, eagerly, so a refused role fails now, as an account-level error, instead of in
    the middle of every job.
    """
    base = base or boto3.session.Session(botocore_session=_botocore_session())
    if not target.role_arn:
        return base
    region = home_region(base, target)
    sts = client(base, "sts", region)
    params: dict[str, Any] = {"RoleArn": target.role_arn, "RoleSessionName": ROLE_SESSION_NAME}
    if target.external_id:
        params["ExternalId"] = target.external_id

    def assume() -> dict[str, str]:
        credentials = sts.assume_role(**params)["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    # botocore refreshes these (under its own lock) shortly before they expire.
    credentials = RefreshableCredentials.create_from_metadata(
        metadata=assume(), refresh_using=assume, method=_FixedProvider.METHOD
    )
    core = _botocore_session()
    core.register_component(
        "credential_provider", CredentialResolver([_FixedProvider(credentials)])
    )
    return boto3.session.Session(botocore_session=core, region_name=region)


def verify_account(session: boto3.session.Session, account_id: str, region: str) -> None:
    """Raise :class:`AccountMismatchError` unless the credentials are in ``account_id``."""
    actual = client(session, "sts", region).get_caller_identity()["Account"]
    if actual != account_id:
        raise AccountMismatchError(
            f"credentials belong to account {actual}, not to account {account_id}"
        )


def enabled_regions(session: boto3.session.Session, region: str | None = None) -> tuple[str, ...]:
    """The regions enabled for the account (opt-in regions only once opted in), sorted."""
    ec2 = client(session, "ec2", region or session.region_name or DEFAULT_REGION)
    # DescribeRegions is not paginated: one call returns every region.
    regions = ec2.describe_regions(AllRegions=False)["Regions"]
    return tuple(sorted(r["RegionName"] for r in regions))


class ClientFactory:
    """Makes each (service, region) client of one account once, and shares it.

    boto3 sessions are not thread-safe, the clients they make are. So each account has one
    session, clients are created from it under a lock, and worker threads share the finished
    clients. (One session per thread would also be safe, but would reload every service model
    in every thread.)
    """

    def __init__(self, session: boto3.session.Session) -> None:
        self._session = session
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = client(self._session, service, region)
            return self._clients[key]
