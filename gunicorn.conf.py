"""gunicorn's configuration, given to every start of the app (``make run``, the conformance
runner, the browser tests; in production ``gunicorn -c gunicorn.conf.py ...``). gunicorn also
reads ``./gunicorn.conf.py`` on its own when started from this directory.

Forwarded headers: gunicorn and uvicorn believe ``X-Forwarded-For`` and ``X-Forwarded-Proto``
from 127.0.0.1 unless told otherwise, before the application's own check runs. Here the ASGI
server's ``forwarded_allow_ips`` comes from ``TRUSTED_PROXY_CIDRS``, the variable the
application reads (finops_site/settings.py): no peer by default, and exactly the same networks
when a proxy is configured. ``FORWARDED_ALLOW_IPS`` would be a second, disagreeing answer to the
same question, so it stops the start.

TLS: ``SERVER_TLS_CERT_FILE`` and ``SERVER_TLS_KEY_FILE`` make gunicorn terminate HTTPS itself,
for an install with no proxy in front.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from django.core.exceptions import ImproperlyConfigured

from compliance.web.network import forwarded_allow_ips as _allow_ips
from finops_site.env import env_networks, env_str

if "FORWARDED_ALLOW_IPS" in os.environ:
    raise SystemExit(
        "FORWARDED_ALLOW_IPS: not used; list the proxies in TRUSTED_PROXY_CIDRS, which the "
        "application and the server both read"
    )
try:
    _networks = env_networks("TRUSTED_PROXY_CIDRS")
    _certfile = env_str("SERVER_TLS_CERT_FILE")
    _keyfile = env_str("SERVER_TLS_KEY_FILE")
except ImproperlyConfigured as exc:
    raise SystemExit(str(exc)) from None
if bool(_certfile) != bool(_keyfile):
    raise SystemExit("SERVER_TLS_CERT_FILE: set it and SERVER_TLS_KEY_FILE together")

forwarded_allow_ips = _allow_ips(_networks)
if _certfile:
    certfile = _certfile
    keyfile = _keyfile
