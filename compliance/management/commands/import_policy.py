from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.permissions.accounts import Operator
from compliance.writes.policy import do_import_policy, do_reject_policy_file
from compliance.writes.refusals import ActionError

MAX_POLICY_BYTES = 1_000_000


class Command(BaseCommand):
    help = (
        "Import a tagging policy (native JSON/YAML, tagging_policy.json, or an AWS Organizations "
        "tag policy; detected from the content) as the new active version."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="Policy file, or - for standard input.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["path"]
        try:
            text = sys.stdin.read(MAX_POLICY_BYTES + 1) if path == "-" else _read(path)
        except CommandError as exc:
            _audit_unreadable(path, str(exc))
            raise
        try:
            imported = do_import_policy(text, source=path, acting=Operator())
        except ActionError as exc:
            raise CommandError(f"policy refused, the active policy is unchanged: {exc}") from None
        rules = imported.document.get("required_tags", [])
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported policy v{imported.version} ({imported.get_source_format_display()}): "
                f"{len(rules)} required tag(s). It applies from the next scan."
            )
        )


def _audit_unreadable(path: str, error: str) -> None:
    """A file that cannot be read is a refused import too: the audit log says who tried what."""
    do_reject_policy_file(path, error, acting=Operator())


def _read(path: str) -> str:
    file = Path(path)
    try:
        if file.exists() and not file.is_dir() and not file.is_file():
            # A device or a pipe (/dev/zero) would be read forever.
            raise CommandError(f"{path}: not a regular file")
        if file.stat().st_size > MAX_POLICY_BYTES:
            raise CommandError(f"{path}: larger than {MAX_POLICY_BYTES} bytes")
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CommandError(f"{path}: is a directory") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
