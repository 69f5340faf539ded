from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.permissions.accounts import Operator
from compliance.writes.accounts import do_discover_accounts
from compliance.writes.discovery import DiscoveryPlan
from compliance.writes.refusals import ActionError


class Command(BaseCommand):
    help = (
        "Register the active accounts of the AWS Organization that the default credentials "
        "administer (management account or delegated administrator), each reached by assuming "
        "--role-name in it. Registered accounts are updated; accounts the organisation no "
        "longer lists are reported, never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--role-name", required=True, help="Role assumed in each member account."
        )
        parser.add_argument("--external-id", default="")
        parser.add_argument(
            "--regions",
            default="",
            help="Comma-separated, for newly registered accounts; default: every enabled region.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change; write nothing."
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        regions = [r.strip() for r in options["regions"].split(",") if r.strip()]
        try:
            plan = do_discover_accounts(
                role_name=options["role_name"].strip(),
                external_id=options["external_id"],
                regions=regions,
                dry_run=options["dry_run"],
                acting=Operator(),
            )
        except ActionError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps({"dry_run": options["dry_run"], **plan.summary()}))
        else:
            self._describe(plan, dry_run=options["dry_run"])

    def _describe(self, plan: DiscoveryPlan, *, dry_run: bool) -> None:
        prefix = "would be " if dry_run else ""
        for registration in plan.added:
            how = registration.role_arn or "default credentials"
            self.stdout.write(
                f"  {prefix}added: {registration.account_id} {registration.name} ({how})"
            )
        for update in plan.updated:
            changed = ", ".join(
                f"{name} {before!r} -> {after!r}"
                for name, (before, after) in update.changes.items()
            )
            self.stdout.write(f"  {prefix}updated: {update.registration.account_id} ({changed})")
        for account_id in plan.suspended_skipped:
            self.stdout.write(f"  skipped, not active: {account_id}")
        for account_id in plan.not_in_organization:
            self.stdout.write(
                self.style.WARNING(f"  registered but not in the organisation (kept): {account_id}")
            )
        counts = plan.summary()["counts"]
        verb = "Would add" if dry_run else "Added"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {counts['added']}, "
                f"{'update' if dry_run else 'updated'} {counts['updated']}, "
                f"{counts['unchanged']} unchanged, {counts['suspended_skipped']} not active "
                f"skipped, {counts['not_in_organization']} registered but not in the "
                f"organisation{' (dry run: nothing written)' if dry_run else ''}."
            )
        )
