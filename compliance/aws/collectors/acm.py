"""ACM certificates, with their tags from the Resource Groups Tagging API.

ListCertificates returns no tags, and by default only RSA 1024/2048-bit certificates: every key
algorithm the API knows is asked for, so ECDSA and larger RSA certificates are found too. Every
status is listed (pending validation, issued, expired, revoked...): each is a certificate that
exists and can be tagged. ACM has no deleting state: a deleted certificate is gone at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    attributes,
    items,
)

#: ListCertificates pages by 1,000 at most.
LIST_PAGE_SIZE = 1000


def key_types(acm: Any) -> list[str]:
    """Every key algorithm of the client's API model, for ListCertificates' ``keyTypes``."""
    shape = acm.meta.service_model.shape_for("KeyAlgorithm")
    return list(shape.enum)


def _certificates(scope: Scope) -> Iterator[DiscoveredResource]:
    acm = scope.client("acm")
    for certificate in items(
        acm,
        "list_certificates",
        "CertificateSummaryList",
        default_page_size=LIST_PAGE_SIZE,
        Includes={"keyTypes": key_types(acm)},
    ):
        arn = certificate["CertificateArn"]
        yield scope.resource(
            "acm:certificate",
            arn,
            certificate.get("DomainName") or arn.rsplit("/", 1)[-1],
            {},
            attributes(
                state=certificate.get("Status"),
                type=certificate.get("Type"),
                key_algorithm=certificate.get("KeyAlgorithm"),
                in_use=str(bool(certificate.get("InUse"))).lower(),
                not_after=certificate["NotAfter"].isoformat()
                if certificate.get("NotAfter")
                else None,
            ),
        )


COLLECTORS = (
    Collector(
        "acm:certificate",
        "acm",
        ("acm:ListCertificates", TAGGING_API_ACTION),
        _certificates,
        tags=TagSource.TAGGING_API,
        label="ACM certificate",
        list_call="acm:ListCertificates",
        console=(
            "https://{region}.console.aws.amazon.com/acm/home?region={region}#/certificates/{id}"
        ),
        custodian="aws.acm-certificate",
    ),
)
