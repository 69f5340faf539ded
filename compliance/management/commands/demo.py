from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from compliance.aws import RESOURCE_TYPES
from compliance.core.costs import to_cents
from compliance.demo.bill import SUPPORT as DEMO_SUPPORT_SERVICE
from compliance.demo.bill import demo_bill_rows, focus_csv_gz, last_full_month
from compliance.demo.billing_export import publish_demo_bill
from compliance.demo.estate import DemoEstate, seed_demo_estate
from compliance.demo.fake_aws import UNSERVED_TYPES, moto_server
from compliance.models import AllocationRule, SharedCostRule
from compliance.permissions.accounts import Operator
from compliance.scans import execute_scan
from compliance.web import network
from compliance.writes.accounts import do_add_account
from compliance.writes.allocation import do_save_allocation_rule, do_save_shared_cost_rule
from compliance.writes.costs import do_import_costs
from compliance.writes.demo import do_create_demo_admin
from compliance.writes.keys import do_create_api_key
from compliance.writes.policy import do_import_policy
from compliance.writes.scans import do_request_scan

SAMPLE_POLICY = Path(settings.BASE_DIR) / "compliance" / "sample_data" / "sample_policy.yaml"
MAIN_ACCOUNT = "123456789012"
SECOND_ACCOUNT = "210987654321"
SECOND_ROLE = f"arn:aws:iam::{SECOND_ACCOUNT}:role/TagComplianceReader"
SECOND_EXTERNAL_ID = "demo-external-id"


class Command(BaseCommand):
    help = (
        "The embedded default: a sample AWS estate in an in-process fake AWS (moto), the sample "
        "policy, a scan, an admin account, and everything served on 127.0.0.1:8000."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-serve", action="store_true", help="Seed and scan, then exit (for scripts)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        operator = Operator(label="demo")
        call_command("migrate", interactive=False, verbosity=0)
        with moto_server() as endpoint:
            self.stdout.write(f"Fake AWS (moto) listening on {endpoint}")
            estate = seed_demo_estate(
                second_account_role=SECOND_ROLE, progress=lambda msg: self.stdout.write(f"  {msg}")
            )
            self.stdout.write(
                f"Seeded {len(estate.resources)} resources in {len(estate.accounts)} accounts, "
                f"regions {', '.join(estate.regions)}."
            )
            do_add_account(
                account_id=MAIN_ACCOUNT,
                name="Demo production",
                regions=estate.regions,
                acting=operator,
            )
            do_add_account(
                account_id=SECOND_ACCOUNT,
                name="Demo sandbox",
                role_arn=SECOND_ROLE,
                external_id=SECOND_EXTERNAL_ID,
                regions=estate.regions,
                acting=operator,
            )
            do_import_policy(
                SAMPLE_POLICY.read_text(encoding="utf-8"),
                source=str(SAMPLE_POLICY),
                acting=operator,
            )
            self._import_bill(estate, operator)
            if not settings.SCAN_DEFAULT_TYPES:
                # Every scan of the demo (this one, and those started on its pages) lists what
                # its fake AWS serves.
                settings.SCAN_DEFAULT_TYPES = [t for t in RESOURCE_TYPES if t not in UNSERVED_TYPES]
                self.stdout.write(
                    "Scans list every type but "
                    f"{', '.join(sorted(UNSERVED_TYPES))}, which the fake AWS does not serve."
                )
            scan = do_request_scan(acting=operator, trigger="demo")
            scan = execute_scan(scan.pk)
            self.stdout.write(
                f"Scan #{scan.pk} {scan.status}: {scan.total_resources} resources, "
                f"{scan.violation_count} violations."
            )
            self._allocation_rules(operator)
            username, password = self._admin()
            _, api_key = do_create_api_key(
                user=get_user_model().objects.get(username=username),
                name="demo assistant",
                scopes=["read", "scan"],
                acting=operator,
            )
            self.stdout.write(
                self.style.SUCCESS(
                    "\nSign in as the demo admin (shown only now):\n"
                    f"  user:     {username}\n  password: {password}\n"
                    "The first sign-in asks you to add an authenticator app (a password alone "
                    "opens no page); sign in again with its code to open the admin (/admin/).\n"
                    f"MCP endpoint http://{options['host']}:{options['port']}/mcp, API key:\n"
                    f"  Authorization: Bearer {api_key}\n"
                )
            )
            if options["no_serve"]:
                return
            self._serve(options["host"], options["port"])

    def _import_bill(self, estate: DemoEstate, operator: Operator) -> None:
        """Last month's FOCUS bill for the seeded resources, delivered to the fake S3 and
        imported from there, as a real export would be."""
        month = last_full_month(timezone.now().date())
        rows = demo_bill_rows(estate.resources)
        uri = publish_demo_bill(
            focus_csv_gz(rows, month),
            month=month,
            reader_account=MAIN_ACCOUNT,
            region=estate.regions[0],
        )
        (imported,) = do_import_costs(uri, acting=operator)
        self.stdout.write(
            f"Imported the demo bill {uri}: {month:%B %Y}, {imported.row_count} rows, "
            f"{to_cents(imported.effective_total)} {imported.currency}."
        )

    def _allocation_rules(self, operator: Operator) -> None:
        """A few allocation and shared-cost rules on CostCenter, so the Allocation page shows
        spend as allocated beside spend as tagged (kept when the demo runs again)."""
        if AllocationRule.objects.exists() or SharedCostRule.objects.exists():
            return
        rules = [
            AllocationRule(
                tag_key="CostCenter",
                name="Volumes follow their instance",
                resource_types=["ec2:volume"],
                related=AllocationRule.Related.PARENT,
            ),
            AllocationRule(
                tag_key="CostCenter",
                name="The sandbox account is the data team's",
                accounts=[SECOND_ACCOUNT],
                value="CC-3001",
            ),
        ]
        for position, rule in enumerate(rules, start=1):
            rule.position = position
            do_save_allocation_rule(rule, acting=operator, interface="cli")
        for shared in (
            SharedCostRule(
                tag_key="CostCenter",
                name="Tax in proportion to spend",
                charge_categories=["Tax"],
                mode=SharedCostRule.Mode.PROPORTIONAL,
            ),
            SharedCostRule(
                tag_key="CostCenter",
                name="Support evenly",
                services=[DEMO_SUPPORT_SERVICE],
                mode=SharedCostRule.Mode.EVEN,
            ),
        ):
            do_save_shared_cost_rule(shared, acting=operator, interface="cli")
        self.stdout.write("Added 2 allocation rules and 2 shared-cost rules on CostCenter.")

    def _admin(self) -> tuple[str, str]:
        """Create the demo admin, or give it a new password: it is never printed twice."""
        username = "admin"
        password = secrets.token_urlsafe(16)
        do_create_demo_admin(username, password)
        return username, password

    def _serve(self, host: str, port: int) -> None:
        _ask_for_plain_http()  # before the application (and its middleware) is built
        import uvicorn
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from finops_site.asgi import application
        from mcp_endpoint.oauth.signing_key import demo_private_key

        if not settings.IDP_OIDC_PRIVATE_KEY:
            # The demo's own authorization server, so OAuth MCP clients work out of the box.
            settings.IDP_OIDC_PRIVATE_KEY = demo_private_key(settings.DATA_DIR)
        worker = _start_task_worker()
        self.stdout.write(f"Serving on http://{host}:{port}/ (Ctrl-C to stop)")
        try:
            # Django's static files handler in front of the path router (dashboard and /mcp):
            # the demo has no web server of its own to serve /static/.
            static = ASGIStaticFilesHandler(cast(Any, application))
            # Forwarded headers from TRUSTED_PROXY_CIDRS only (none unless configured), as
            # gunicorn.conf.py does: uvicorn would otherwise believe them from 127.0.0.1.
            proxies = settings.TRUSTED_PROXY_CIDRS
            uvicorn.run(
                static,
                host=host,
                port=port,
                log_level="warning",
                proxy_headers=bool(proxies),
                forwarded_allow_ips=network.forwarded_allow_ips(proxies),
            )
        finally:
            worker.running = False


def _ask_for_plain_http() -> None:
    """The demo serves plain HTTP (``http://127.0.0.1:8000``): it asks for it, as
    ``ALLOW_PLAIN_HTTP=true`` would, whatever the environment says (``make demo`` sets it too).

    Outside debug, settings default to HTTPS only (redirect, HSTS, Secure cookies), which would
    send the browser to an HTTPS port nothing listens on. Applied before the application is
    built, as Django's security middleware reads its settings once.
    """
    settings.ALLOW_PLAIN_HTTP = True
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = False
    settings.SECURE_HSTS_PRELOAD = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


def _start_task_worker() -> Any:
    """Run queued scans in this process, as `manage.py db_worker` would in production."""
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["default"],
        interval=1.0,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="demo",
        excluded_queue_names=[],
    )
    threading.Thread(target=worker.run, name="demo-task-worker", daemon=True).start()
    return worker
