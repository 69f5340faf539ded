# The two Quickstart commands are `make demo` and `make test`; both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-postgres test-postgres-restart conformance e2e lint typecheck architecture check security run worker clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# `make demo PORT=8080` serves the demo on another port.
PORT ?= 8000

# The demo serves plain HTTP on 127.0.0.1 and asks for it by name (ALLOW_PLAIN_HTTP).
demo: $(STAMP)
	ALLOW_PLAIN_HTTP=true $(PY) manage.py demo --port $(PORT)

# The browser tests (marker e2e) run in `make e2e` only; see docs/testing.md.
test: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "not e2e"

# The same suite against PostgreSQL (DATABASE_URL defaults to the local test server).
# Tests that serve the site on a SQLite database of their own (marker own_server) ran in `make test`.
test-postgres: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(PY) -m pytest -n 2 -q -m "not e2e and not own_server"

# The fault test that restarts the PostgreSQL server mid-scan (pg_ctlcluster), alone: it drops
# every client's connection, so it cannot run beside other tests.
test-postgres-restart: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
	  FAULT_TESTS_RESTART_POSTGRES=1 $(PY) -m pytest -q -p no:xdist \
	  tests/compliance/test_faults.py -k server-restarted

# The official MCP conformance suite (server scenarios) against /mcp served by gunicorn, on the
# Node 22 binary pinned in conformance/package-lock.json; see docs/mcp-conformance.md.
conformance/node_modules/.package-lock.json: conformance/package-lock.json
	cd conformance && npm ci --no-audit --no-fund --loglevel=error

conformance: $(STAMP) conformance/node_modules/.package-lock.json
	$(PY) conformance/run.py

# Browser tests: headless Chromium (Debian's /usr/bin/chromium) signing in through a real OIDC
# provider (tests/e2e/idp, Node 22 and oidc-provider pinned in its package-lock.json) to the app
# served by gunicorn, with a task worker and the demo estate in a fake AWS; see docs/testing.md.
tests/e2e/idp/node_modules/.package-lock.json: tests/e2e/idp/package-lock.json
	cd tests/e2e/idp && npm ci --no-audit --no-fund --loglevel=error

e2e: $(STAMP) tests/e2e/idp/node_modules/.package-lock.json
	$(PY) -m pytest tests/e2e -q -p no:xdist -m e2e

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Static security checks (accepted findings are marked "# nosec <id>: <why>" in place) and known
# vulnerabilities in the pinned requirements. pip-audit needs the PyPI vulnerability service: where
# it does not answer, it lists every package as "could not be audited" and fails nothing.
security: $(STAMP)
	$(VENV)/bin/bandit -q -c pyproject.toml -r .
	$(VENV)/bin/pip-audit -r requirements.txt --progress-spinner off

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

# The architecture's import contracts (pyproject.toml, docs/architecture.md).
architecture: $(STAMP)
	$(VENV)/bin/lint-imports

check: lint typecheck architecture
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

# Production-style serving: gunicorn with the uvicorn worker (ASGI: dashboard and /mcp).
# gunicorn.conf.py derives the forwarded headers it believes from TRUSTED_PROXY_CIDRS (none by
# default). HTTPS unless ALLOW_PLAIN_HTTP=true (see docs/deployment.md, "Proxies and HTTPS").
run: $(STAMP)
	$(VENV)/bin/gunicorn -c gunicorn.conf.py finops_site.asgi:application \
		-k uvicorn_worker.UvicornWorker --bind 127.0.0.1:8000 --workers 2

worker: $(STAMP)
	$(PY) manage.py db_worker

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
