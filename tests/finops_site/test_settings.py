"""Configuration from the environment: bad values stop start-up naming the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from finops_site import env

ROOT = Path(__file__).resolve().parents[2]


def start_django(**overrides: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MCP_"))}
    environment.pop("DATABASE_URL", None)
    environment.pop("ALLOW_PLAIN_HTTP", None)  # the test suite's own; production never has it
    environment.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "finops_site.settings", **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://u@h/db", "DATABASE_URL: only sqlite:// and postgres://"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("DATABASE_POOL_MAX_SIZE", "-1", "DATABASE_POOL_MAX_SIZE: must be between 0 and 1000"),
        ("DATABASE_POOL_TIMEOUT", "0", "DATABASE_POOL_TIMEOUT: must be between 1 and 3600"),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG: expected true or false"),
        ("MCP_MAX_CALLS_PER_HOUR", "lots", "MCP_MAX_CALLS_PER_HOUR: expected a whole number"),
        ("API_KEY_MAX_AGE_DAYS", "0", "API_KEY_MAX_AGE_DAYS: must be between 1 and 3650"),
        ("TRUSTED_PROXY_CIDRS", "10.0.0.0/8,banana", "TRUSTED_PROXY_CIDRS: 'banana'"),
        ("MCP_ALLOWED_ORIGINS", "example.com", "MCP_ALLOWED_ORIGINS: 'example.com' is not"),
        ("DJANGO_SECRET_KEY", "short", "DJANGO_SECRET_KEY: must be at least 32"),
        ("REDIS_URL", "http://cache", "REDIS_URL: expected a redis://"),
        ("SSO_ONLY", "true", "SSO_ONLY: set OIDC_ISSUER_URL or SAML_IDP_ENTITY_ID"),
        ("OIDC_ISSUER_URL", "https://idp.example.com", "OIDC_CLIENT_ID: required"),
        ("SSO_DEFAULT_ROLE", "root", "SSO_DEFAULT_ROLE: expected one of viewer, analyst, admin"),
        ("SSO_ROLE_GROUPS", "finops=owner", "SSO_ROLE_GROUPS: expected IdP-group=role pairs"),
        ("SAML_IDP_ENTITY_ID", "urn:idp", "SAML_IDP_SSO_URL: set it and SAML_IDP_X509_CERT"),
        ("ADMIN_REQUIRES_MFA_OR_SSO", "perhaps", "ADMIN_REQUIRES_MFA_OR_SSO: expected true"),
        ("ALLOW_PLAIN_HTTP", "sometimes", "ALLOW_PLAIN_HTTP: expected true or false"),
        ("SERVER_TLS_CERT_FILE", "/tls/cert.pem", "SERVER_TLS_CERT_FILE: set it and SERVER_TLS"),
    ],
)
def test_bad_value_stops_startup_naming_the_variable(
    variable: str, value: str, message: str, tmp_path: Path
) -> None:
    result = start_django(**{variable: value, "DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert message in result.stderr


def test_defaults_start_on_a_sqlite_file_in_data_dir(tmp_path: Path) -> None:
    result = start_django(
        DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_secret_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "key"
    secret.write_text("x" * 40 + "\n")
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    monkeypatch.setenv("DJANGO_SECRET_KEY_FILE", str(secret))
    assert env.env_str("DJANGO_SECRET_KEY") == "x" * 40


def test_secret_and_secret_file_together_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DJANGO_SECRET_KEY", "a" * 40)
    monkeypatch.setenv("DJANGO_SECRET_KEY_FILE", str(tmp_path / "key"))
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY: set either"):
        env.env_str("DJANGO_SECRET_KEY")


def test_unreadable_secret_file_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL_FILE: cannot read"):
        env.env_str("REDIS_URL")


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("YES", True), ("off", False)])
def test_env_bool(raw: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env.env_bool("SOME_FLAG", not expected) is expected


def database_settings(**overrides: str) -> dict[str, object]:
    """``DATABASES["default"]`` as Django configures it from the environment (no connection)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    environment.update(overrides, DJANGO_SETTINGS_MODULE="finops_site.settings")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, json; django.setup(); from django.conf import settings; "
            "d = settings.DATABASES['default']; "
            "keys = ('CONN_MAX_AGE', 'CONN_HEALTH_CHECKS', 'OPTIONS'); "
            "print(json.dumps({k: d[k] for k in keys}))",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, object] = json.loads(result.stdout)
    return found


POSTGRES = "postgres://finops@db.internal:5432/finops"


def test_postgresql_connections_come_from_a_pool_per_process() -> None:
    assert database_settings(DATABASE_URL=POSTGRES) == {
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"pool": {"min_size": 2, "max_size": 10, "timeout": 30}},
    }
    assert database_settings(
        DATABASE_URL=POSTGRES, DATABASE_POOL_MAX_SIZE="1", DATABASE_POOL_TIMEOUT="5"
    )["OPTIONS"] == {"pool": {"min_size": 1, "max_size": 1, "timeout": 5}}


def test_without_a_pool_connections_are_kept_per_thread_as_configured() -> None:
    assert database_settings(
        DATABASE_URL=POSTGRES, DATABASE_POOL_MAX_SIZE="0", DATABASE_CONN_MAX_AGE="120"
    ) == {"CONN_MAX_AGE": 120, "CONN_HEALTH_CHECKS": True, "OPTIONS": {}}


def test_env_bool_default_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOME_FLAG", raising=False)
    assert env.env_bool("SOME_FLAG", True) is True


def test_production_settings_pass_the_deployment_checks(tmp_path: Path) -> None:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MCP_", "SECURE_"))
    }
    environment.pop("DATABASE_URL", None)
    environment.pop("ALLOW_PLAIN_HTTP", None)
    environment.update(
        DJANGO_SETTINGS_MODULE="finops_site.settings",
        DATA_DIR=str(tmp_path),
        DJANGO_SECRET_KEY="k" * 20 + "-production-secret-key-0123456789",
        DJANGO_ALLOWED_HOSTS="finops.example.com",
        TRUSTED_PROXY_CIDRS="10.0.0.0/8",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_an_oidc_issuer_must_be_https_unless_local(monkeypatch: pytest.MonkeyPatch) -> None:
    from finops_site import sso

    monkeypatch.setenv("OIDC_CLIENT_ID", "dashboard")
    monkeypatch.setenv("OIDC_ISSUER_URL", "http://idp.example.com/realms/x")
    with pytest.raises(ImproperlyConfigured, match="OIDC_ISSUER_URL: expected an https:// URL"):
        sso.providers()
    monkeypatch.setenv("OIDC_ISSUER_URL", "http://127.0.0.1:9000/")
    assert sso.providers()["openid_connect"]["APPS"][0]["settings"]["server_url"] == (
        "http://127.0.0.1:9000"
    )


def test_sso_providers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from finops_site import sso

    monkeypatch.setenv("OIDC_ISSUER_URL", "https://login.example.com/tenant/v2.0/")
    monkeypatch.setenv("OIDC_CLIENT_ID", "finops-dashboard")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "s3cret-value")
    monkeypatch.setenv("OIDC_SCOPES", "openid,email,groups")
    monkeypatch.setenv("SAML_IDP_ENTITY_ID", "urn:example:idp")
    monkeypatch.setenv("SAML_IDP_METADATA_URL", "https://idp.example.com/metadata.xml")
    configured = sso.providers()
    (oidc,) = configured["openid_connect"]["APPS"]
    assert (oidc["provider_id"], oidc["client_id"], oidc["secret"]) == (
        "sso",
        "finops-dashboard",
        "s3cret-value",
    )
    assert oidc["settings"]["server_url"] == "https://login.example.com/tenant/v2.0"
    assert oidc["settings"]["scope"] == ["openid", "email", "groups"]
    assert configured["openid_connect"]["OAUTH_PKCE_ENABLED"] is True
    (saml,) = configured["saml"]["APPS"]
    assert saml["settings"]["idp"] == {
        "entity_id": "urn:example:idp",
        "metadata_url": "https://idp.example.com/metadata.xml",
    }
    assert saml["settings"]["advanced"]["want_assertion_signed"] is True


def test_idp_groups_map_to_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    from finops_site import sso

    monkeypatch.setenv("SSO_ROLE_GROUPS", " finops-admins = admin , FinOps=Viewer")
    assert sso.role_groups("SSO_ROLE_GROUPS") == {"finops-admins": "admin", "FinOps": "viewer"}
    monkeypatch.setenv("SSO_DEFAULT_ROLE", "none")
    assert sso.role_setting("SSO_DEFAULT_ROLE", "viewer") is None


def test_sign_in_forms_may_post_on_to_the_identity_providers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from finops_site import sso

    assert sso.form_action_origins() == []
    monkeypatch.setenv("OIDC_ISSUER_URL", "https://login.example.com/tenant/v2.0")
    monkeypatch.setenv("SAML_IDP_SSO_URL", "https://idp.example.org:8443/sso")
    assert sso.form_action_origins() == [
        "https://idp.example.org:8443",
        "https://login.example.com",
    ]


# --- HTTPS by default; forwarded headers only from trusted proxies -----------------------------

SECRET = "k" * 20 + "-production-secret-key-0123456789"
HTTPS_SETTINGS = (
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
)


def run_in_clean_environment(
    code_or_command: list[str], **variables: str
) -> subprocess.CompletedProcess[str]:
    """Python with only ``variables`` in its environment: nothing of this machine's or the test
    suite's own configuration (ALLOW_PLAIN_HTTP, DATABASE_URL, ...) leaks in."""
    return subprocess.run(  # noqa: S603 (the project's own manage.py or fixed code)
        [sys.executable, *code_or_command],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "finops_site.settings", **variables},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def https_settings(**variables: str) -> dict[str, object]:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {HTTPS_SETTINGS!r}}}))"
    )
    result = run_in_clean_environment(["-c", code], **variables)
    assert result.returncode == 0, result.stderr
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_deploy_checks_are_clean_with_only_the_secret_key_and_allowed_hosts() -> None:
    result = run_in_clean_environment(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="finops.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_is_the_default_with_debug_off(tmp_path: Path) -> None:
    assert https_settings(DJANGO_SECRET_KEY=SECRET, DATA_DIR=str(tmp_path)) == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_plain_http_only_when_asked_for_by_name(tmp_path: Path) -> None:
    assert https_settings(
        DJANGO_SECRET_KEY=SECRET, DATA_DIR=str(tmp_path), ALLOW_PLAIN_HTTP="true"
    ) == {
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_asking_for_plain_http_shows_in_the_deploy_checks() -> None:
    result = run_in_clean_environment(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="finops.example.com",
        ALLOW_PLAIN_HTTP="true",
    )
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_the_proxy_ssl_header_is_set_exactly_when_proxies_are_trusted(tmp_path: Path) -> None:
    behind_proxy = https_settings(
        DJANGO_SECRET_KEY=SECRET, DATA_DIR=str(tmp_path), TRUSTED_PROXY_CIDRS="10.0.0.0/16"
    )
    assert behind_proxy["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert behind_proxy["SECURE_SSL_REDIRECT"] is True
    debug = https_settings(DJANGO_SECRET_KEY=SECRET, DATA_DIR=str(tmp_path), DJANGO_DEBUG="true")
    assert debug["SECURE_PROXY_SSL_HEADER"] is None
    assert debug["SECURE_SSL_REDIRECT"] is False
