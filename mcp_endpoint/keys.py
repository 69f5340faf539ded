"""API key format, hashing and verification.

A key reads ``ftc_<id>_<secret>``: ``ftc_<id>`` is the visible prefix (stored, shown in the admin
and in logs), the secret is 256 random bits. Only HMAC-SHA256 of the whole key is stored, keyed by
a key derived from ``SECRET_KEY``: a fast keyed hash is right here because the secret has full
entropy (nothing to brute-force, unlike a password), and it keeps verification cheap on every
call. A database leak alone therefore yields no usable key.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.crypto import salted_hmac

from mcp_endpoint.models import ApiKey

KEY_SALT = "mcp_endpoint.ApiKey"
#: How every key starts: what tells an API key from an OAuth access token at ``/mcp``.
KEY_MARKER = "ftc_"
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
KEY_PATTERN = re.compile(r"^(ftc_[a-z2-7]{8})_([A-Za-z0-9_-]{43})$")
PREFIX_PATTERN = re.compile(r"^ftc_[a-z2-7]{8}$")


def new_key() -> tuple[str, str]:
    """A fresh ``(prefix, full key)``."""
    prefix = KEY_MARKER + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_key(key: str, secret: str | None = None) -> str:
    return salted_hmac(KEY_SALT, key, secret=secret, algorithm="sha256").hexdigest()


def _matches(key: str, stored: str) -> bool:
    """Constant-time comparison, also against ``SECRET_KEY_FALLBACKS`` so that rotating the
    secret key does not lock every assistant out at once."""
    secrets_to_try = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    found = False
    for secret in secrets_to_try:
        found |= hmac.compare_digest(hash_key(key, secret), stored)
    return found


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of checking a presented key: the key, or why it was refused.

    ``reason`` is for the audit log and the operator (missing, malformed, unknown, wrong,
    expired, revoked, inactive_user); the client only ever hears "invalid API key".
    """

    key: ApiKey | None
    reason: str
    prefix: str = ""
    #: The accounts the key is narrowed to (empty: every account its user may see).
    account_ids: frozenset[str] = frozenset()


def verify(presented: str, *, now: datetime | None = None) -> Verdict:
    now = now or timezone.now()
    match = KEY_PATTERN.fullmatch(presented)
    if not match:
        return Verdict(None, "malformed")
    prefix = match.group(1)
    # One query for the key, its user and whether it names accounts: most keys name none, and
    # then there is no second query for them.
    key = (
        ApiKey.objects.select_related("user")
        .annotate(narrowed=Exists(ApiKey.accounts.through.objects.filter(apikey=OuterRef("pk"))))
        .filter(prefix=prefix)
        .first()
    )
    if key is None:
        # Spend the same work as for a real key: response time does not tell prefixes apart.
        _matches(presented, "0" * 64)
        return Verdict(None, "unknown", prefix)
    if not _matches(presented, key.key_hash):
        return Verdict(None, "wrong", prefix)
    if key.revoked_at is not None:
        return Verdict(None, "revoked", prefix)
    if key.expires_at <= now:
        return Verdict(None, "expired", prefix)
    if not key.user.is_active:
        return Verdict(None, "inactive_user", prefix)
    accounts = key.accounts.values_list("account_id", flat=True) if key.narrowed else []
    return Verdict(key, "ok", prefix, frozenset(accounts))
