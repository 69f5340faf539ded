"""Secrets Manager secrets. ListSecrets returns each secret's tags, so one call per page.

Every secret of the region is listed, replicas of other regions' secrets and secrets that other
services manage (RDS, Redshift...) included: each has an ARN of its own and can be tagged.
Secrets scheduled for deletion are left out: ListSecrets leaves them out unless asked for them
(``IncludePlannedDeletion``), and any answer that still carries a deletion date is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, tag_dict

#: ListSecrets pages by 100 at most.
LIST_PAGE_SIZE = 100


def _secrets(scope: Scope) -> Iterator[DiscoveredResource]:
    secretsmanager = scope.client("secretsmanager")
    for secret in items(
        secretsmanager,
        "list_secrets",
        "SecretList",
        default_page_size=LIST_PAGE_SIZE,
        IncludePlannedDeletion=False,
    ):
        # Secrets have no state: a deletion date is what says one is going.
        if secret.get("DeletedDate"):
            continue
        tags = tag_dict(secret.get("Tags"))
        yield scope.resource(
            "secretsmanager:secret",
            secret["ARN"],
            secret["Name"],
            tags,
            attributes(
                owning_service=secret.get("OwningService"),
                primary_region=secret.get("PrimaryRegion"),
                rotation_enabled=str(bool(secret.get("RotationEnabled"))).lower(),
                kms_key_id=secret.get("KmsKeyId"),
            ),
        )


COLLECTORS = (
    Collector(
        "secretsmanager:secret",
        "secretsmanager",
        ("secretsmanager:ListSecrets",),
        _secrets,
        label="Secrets Manager secret",
        list_call="secretsmanager:ListSecrets",
        console=(
            "https://{region}.console.aws.amazon.com/secretsmanager/secret"
            "?name={name}&region={region}"
        ),
        custodian="aws.secrets-manager",
    ),
)
