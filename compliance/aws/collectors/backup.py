"""AWS Backup vaults and backup plans, with their tags from the Resource Groups Tagging API.

Neither ListBackupVaults nor ListBackupPlans returns tags. The account's own vaults of every type
are listed (backup, logically air-gapped, restore access...), not those shared with it by other
accounts. Deleted backup plans are left out (ListBackupPlans only returns them when asked, and
an answer that still carries a deletion date is skipped); vaults have no deleting state.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    attributes,
    items,
)

#: Both list calls page by 1,000 at most.
LIST_PAGE_SIZE = 1000


def _vaults(scope: Scope) -> Iterator[DiscoveredResource]:
    backup = scope.client("backup")
    for vault in items(
        backup, "list_backup_vaults", "BackupVaultList", default_page_size=LIST_PAGE_SIZE
    ):
        yield scope.resource(
            "backup:backup-vault",
            vault["BackupVaultArn"],
            vault["BackupVaultName"],
            {},
            attributes(
                state=vault.get("VaultState"),
                vault_type=vault.get("VaultType"),
                recovery_points=vault.get("NumberOfRecoveryPoints"),
                locked=str(bool(vault.get("Locked"))).lower(),
            ),
        )


def _plans(scope: Scope) -> Iterator[DiscoveredResource]:
    backup = scope.client("backup")
    for plan in items(
        backup,
        "list_backup_plans",
        "BackupPlansList",
        default_page_size=LIST_PAGE_SIZE,
        IncludeDeleted=False,
    ):
        if plan.get("DeletionDate"):
            continue
        yield scope.resource(
            "backup:backup-plan",
            plan["BackupPlanArn"],
            plan.get("BackupPlanName") or plan["BackupPlanId"],
            {},
            attributes(plan_id=plan.get("BackupPlanId"), version_id=plan.get("VersionId")),
        )


COLLECTORS = (
    Collector(
        "backup:backup-vault",
        "backup",
        ("backup:ListBackupVaults", TAGGING_API_ACTION),
        _vaults,
        tags=TagSource.TAGGING_API,
        label="Backup vault",
        list_call="backup:ListBackupVaults",
        console=(
            "https://{region}.console.aws.amazon.com/backup/home?region={region}"
            "#/backupvaults/details/{name}"
        ),
        custodian="aws.backup-vault",
    ),
    Collector(
        "backup:backup-plan",
        "backup",
        ("backup:ListBackupPlans", TAGGING_API_ACTION),
        _plans,
        tags=TagSource.TAGGING_API,
        label="Backup plan",
        list_call="backup:ListBackupPlans",
        console=(
            "https://{region}.console.aws.amazon.com/backup/home?region={region}"
            "#/backupplan/details/{id}"
        ),
        custodian="aws.backup-plan",
    ),
)
