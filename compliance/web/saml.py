"""The SAML assertion consumer: allauth's, plus one-time assertions, every refusal audited.

python3-saml in strict mode checks each response's signature (the assertion must be signed by
the configured IdP certificate, and the signature must cover the assertion that is read, which
defeats signature wrapping), its audience, destination and recipient, and its validity window.
allauth ties the response to the sign-in this browser started (``InResponseTo``) and refuses
responses the IdP sends unasked. Two gaps are closed here:

- an assertion is accepted once: its ID is remembered in the cache until it expires, so a
  captured response cannot be posted again, whichever browser session carries it;
- a response that answers no sign-in of this browser (a replay after the first use consumed the
  state, one made for someone else's session, or one the IdP sent unasked) got a bare 403 or an
  unexplained error without an audit row saying why; it now gets the sign-in error page and the
  same audited refusal as every other failure.

Refusals go through allauth's ``render_authentication_error``, so
:meth:`compliance.web.signin.SocialAccountAdapter.on_authentication_error` writes the one audit
row (``auth.saml_refused``) with the check that failed, from :func:`refusal_detail`.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, NoReturn

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base.constants import AuthError
from allauth.socialaccount.providers.saml.provider import SAMLProvider
from allauth.socialaccount.providers.saml.views import FinishACSView
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

#: How long python3-saml lets a timestamp be late (its ``ALLOWED_CLOCK_DRIFT``): an assertion
#: is remembered this much longer than it is valid.
CLOCK_DRIFT_SECONDS = 300
#: How long an assertion without a ``NotOnOrAfter`` of its own is remembered.
UNBOUNDED_ASSERTION_SECONDS = 24 * 3600

#: Which check a python3-saml or allauth refusal failed, from its reason (first match wins):
#: the name operators filter the audit log on.
_CHECKS: tuple[tuple[str, str], ...] = (
    ("must contain 1 assertion", "signature"),  # a second, injected assertion: wrapping
    ("signature", "signature"),
    ("signed", "signature"),
    ("audience", "audience"),
    ("received at", "destination"),
    ("destination", "destination"),
    ("subjectconfirmation", "recipient"),  # Recipient, its NotOnOrAfter or InResponseTo
    ("timestamp", "expiry"),
    ("expired", "expiry"),
    ("issuer", "issuer"),
    ("inresponseto", "unsolicited"),
)

PROVIDER_ID: str = SAMLProvider.id
REPLAYED = "replayed"
UNSOLICITED = "unsolicited"


def refusal_detail(extra_context: dict[str, Any] | None) -> dict[str, Any]:
    """What the audit row of a refused SAML response says: the check that failed (``check``),
    python3-saml's error codes and its reason, cut to a length a log row can carry."""
    context = extra_context or {}
    errors = [str(e)[:50] for e in context.get("saml_errors") or []][:5]
    reason = str(context.get("saml_last_error_reason") or "")[:300]
    if REPLAYED in errors or UNSOLICITED in errors:
        check = errors[0]
    else:
        lowered = reason.lower()
        check = next((name for text, name in _CHECKS if text in lowered), "other")
    return {"method": "saml", "check": check, "errors": errors, "reason": reason}


def _refuse(request: HttpRequest, provider: SAMLProvider, code: str, reason: str) -> NoReturn:
    raise ImmediateHttpResponse(
        render_authentication_error(
            request,
            provider,
            error=AuthError.DENIED,
            extra_context={"saml_errors": [code], "saml_last_error_reason": reason},
        )
    )


def _first_use(organisation: str, assertion_id: str, not_on_or_after: int | None) -> bool:
    """Remember ``assertion_id`` until it expires; False when it was already remembered."""
    if not_on_or_after is None:
        lifetime = UNBOUNDED_ASSERTION_SECONDS
    else:
        lifetime = max(int(not_on_or_after - time.time()), 0) + CLOCK_DRIFT_SECONDS
    digest = hashlib.sha256(assertion_id.encode()).hexdigest()
    return bool(cache.add(f"saml:assertion:{organisation}:{digest}", True, lifetime))


class OneTimeSAMLProvider(SAMLProvider):  # type: ignore[misc]
    """allauth's SAML provider, refusing an assertion seen before and turning a response that
    answers no sign-in of this browser into an audited refusal."""

    def sociallogin_from_response(self, request: HttpRequest, response: Any) -> SocialLogin:
        # Called only for a response python3-saml has validated: signature, audience,
        # destination, recipient and validity all held.
        assertion_id = str(response.get_last_assertion_id() or "")
        if not assertion_id or not _first_use(
            str(self.app.client_id), assertion_id, response.get_last_assertion_not_on_or_after()
        ):
            _refuse(request, self, REPLAYED, "This assertion was already used to sign in")
        advanced = self.app.settings.get("advanced", {})
        if not response.get_last_response_in_response_to() and advanced.get(
            "reject_idp_initiated_sso", True
        ):
            # allauth refuses these too, later and without saying why: named here for the log.
            _refuse(request, self, UNSOLICITED, "A sign-in started at the IdP is refused")
        login: SocialLogin = super().sociallogin_from_response(request, response)
        return login

    def unstash_redirect_state(self, request: HttpRequest, state_id: str) -> dict[str, Any]:
        try:
            state: dict[str, Any] = super().unstash_redirect_state(request, state_id)
        except PermissionDenied:
            _refuse(request, self, UNSOLICITED, "The response answers no sign-in of this browser")
        return state


class OneTimeFinishACSView(FinishACSView):  # type: ignore[misc]
    """Where allauth's assertion consumer sends the browser to finish signing in (its
    ``saml_finish_acs`` URL, routed here first), with :class:`OneTimeSAMLProvider`."""

    def get_provider(self, organization_slug: str) -> OneTimeSAMLProvider:
        return OneTimeSAMLProvider(request=self.request, app=self.get_app(organization_slug))


finish_acs = OneTimeFinishACSView.as_view()
