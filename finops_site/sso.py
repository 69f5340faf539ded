"""Single sign-on providers for django-allauth, read from the environment.

One OpenID Connect provider (Okta, Entra ID, Google, Keycloak, ... : anything that publishes
``/.well-known/openid-configuration``) and one SAML 2.0 identity provider can be configured;
either, both or neither. Read by settings.py, so nothing here touches models.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from finops_site.env import env_list, env_str

ROLES = ("viewer", "analyst", "admin")
#: The allauth ``provider_id`` of the OIDC provider: its callback is
#: ``/accounts/oidc/sso/login/callback/``.
OIDC_PROVIDER_ID = "sso"
#: The allauth organisation slug of the SAML provider: ``/accounts/saml/sso/...``.
SAML_ORGANISATION = "sso"


def _https_url(name: str, value: str, *, allow_http_local: bool = True) -> str:
    parts = urlsplit(value)
    local = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    secure = parts.scheme == "https" or (parts.scheme == "http" and local and allow_http_local)
    if secure and parts.netloc:
        return value.rstrip("/")
    raise ImproperlyConfigured(f"{name}: expected an https:// URL, got {value!r}")


def _oidc() -> dict[str, Any] | None:
    issuer = env_str("OIDC_ISSUER_URL")
    if not issuer:
        return None
    client_id = env_str("OIDC_CLIENT_ID")
    if not client_id:
        raise ImproperlyConfigured("OIDC_CLIENT_ID: required when OIDC_ISSUER_URL is set")
    scopes = env_list("OIDC_SCOPES", ["openid", "profile", "email"])
    if "openid" not in scopes:
        raise ImproperlyConfigured("OIDC_SCOPES: must include openid")
    return {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": OIDC_PROVIDER_ID,
                "name": env_str("OIDC_PROVIDER_NAME", "Single sign-on"),
                "client_id": client_id,
                "secret": env_str("OIDC_CLIENT_SECRET"),
                "settings": {
                    "server_url": _https_url("OIDC_ISSUER_URL", issuer),
                    "scope": scopes,
                    "fetch_userinfo": True,
                    "oauth_pkce_enabled": True,
                },
            }
        ],
    }


def _saml() -> dict[str, Any] | None:
    entity_id = env_str("SAML_IDP_ENTITY_ID")
    if not entity_id:
        return None
    metadata_url = env_str("SAML_IDP_METADATA_URL")
    idp: dict[str, Any] = {"entity_id": entity_id}
    if metadata_url:
        idp["metadata_url"] = _https_url("SAML_IDP_METADATA_URL", metadata_url)
    else:
        sso_url = env_str("SAML_IDP_SSO_URL")
        cert = env_str("SAML_IDP_X509_CERT")
        if not sso_url or not cert:
            raise ImproperlyConfigured(
                "SAML_IDP_SSO_URL: set it and SAML_IDP_X509_CERT, or SAML_IDP_METADATA_URL, "
                "when SAML_IDP_ENTITY_ID is set"
            )
        idp["sso_url"] = _https_url("SAML_IDP_SSO_URL", sso_url)
        idp["x509cert"] = cert
    return {
        "APPS": [
            {
                "provider_id": "saml",
                "name": env_str("SAML_PROVIDER_NAME", "SAML sign-on"),
                "client_id": SAML_ORGANISATION,
                "settings": {
                    "idp": idp,
                    "attribute_mapping": {
                        "uid": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
                        "email": "email",
                        "username": "username",
                        "groups": "groups",
                    },
                    "advanced": {
                        "strict": True,
                        "want_assertion_signed": True,
                        "want_message_signed": False,
                        "reject_deprecated_algorithm": True,
                        # Only responses to a sign-in this browser started (InResponseTo).
                        "reject_idp_initiated_sso": True,
                    },
                },
            }
        ]
    }


def providers() -> dict[str, Any]:
    configured: dict[str, Any] = {}
    oidc = _oidc()
    if oidc:
        configured["openid_connect"] = oidc
    saml = _saml()
    if saml:
        configured["saml"] = saml
    return configured


def role_setting(name: str, default: str) -> str | None:
    """A role name, or None for ``none`` (no role until an admin gives one)."""
    value = env_str(name, default).strip().lower()
    if value == "none":
        return None
    if value not in ROLES:
        raise ImproperlyConfigured(f"{name}: expected one of {', '.join(ROLES)} or none")
    return value


def role_groups(name: str) -> dict[str, str]:
    """``IdP group=role`` pairs, comma separated: ``finops-admins=admin,finops=viewer``."""
    mapping: dict[str, str] = {}
    for pair in env_list(name):
        group, sep, role = pair.partition("=")
        group, role = group.strip(), role.strip().lower()
        if not sep or not group or role not in ROLES:
            raise ImproperlyConfigured(
                f"{name}: expected IdP-group=role pairs with role one of {', '.join(ROLES)}, "
                f"got {pair!r}"
            )
        mapping[group] = role
    return mapping


def form_action_origins() -> list[str]:
    """The origins of the configured identity providers' sign-in endpoints."""
    origins = []
    for name in ("OIDC_ISSUER_URL", "SAML_IDP_SSO_URL", "SAML_IDP_METADATA_URL"):
        url = env_str(name)
        if url:
            parts = urlsplit(url)
            if parts.scheme and parts.netloc:
                origins.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(origins))
