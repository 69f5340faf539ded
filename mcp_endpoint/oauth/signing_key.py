"""The authorization server's signing key (RS256): checked at start-up, generated for the demo.

Without a key the authorization server is off (its URLs answer 404) and ``/mcp`` takes API keys
only. Importable from settings: no models, no Django setup needed.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured

#: RS256 is the only algorithm the provider signs with; below 2048 bits RSA is not safe.
MINIMUM_KEY_BITS = 2048
DEMO_KEY_FILE = "oidc_private_key.pem"


def checked_private_key(pem: str, variable: str) -> str:
    """``pem`` when it is an unencrypted RSA private key of at least 2048 bits ("" stays "")."""
    pem = pem.strip()
    if not pem:
        return ""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ImproperlyConfigured(
            f"{variable}: expected a PEM private key without a passphrase"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MINIMUM_KEY_BITS:
        raise ImproperlyConfigured(
            f"{variable}: expected an RSA key of at least {MINIMUM_KEY_BITS} bits "
            "(tokens are signed with RS256)"
        )
    return pem + "\n"


def new_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=MINIMUM_KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def demo_private_key(data_dir: Path) -> str:
    """The key kept in ``data_dir`` for this install, generated on first use (like the
    generated secret key): the demo's authorization server works without configuration."""
    key_file = data_dir / DEMO_KEY_FILE
    try:
        return checked_private_key(key_file.read_text(encoding="utf-8"), str(key_file))
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        pem = new_private_key()
        key_file.touch(mode=0o600)
        key_file.write_text(pem, encoding="utf-8")
        return pem
