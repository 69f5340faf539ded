"""Glue jobs, crawlers and Data Catalog databases.

ListJobs lists job names only: GetJobs would add each job's details, its default arguments
among them, where connection strings and passwords are often kept, more than a tag scan should
read. GetCrawlers and GetDatabases list crawlers and databases with their details (targets,
locations; no secrets). None returns tags: they come from the Resource Groups Tagging API by
ARN. Glue returns no ARNs: they are built as ``...:job/NAME``, ``...:crawler/NAME`` and
``...:database/NAME``, the form IAM, the tagging API and the bill use. None of these types has
a deleting or deleted state; a deleted one simply stops being listed. Databases shared into the
account from another (Lake Formation) are not listed: they belong to, and are billed to, their
owner.
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


def _jobs(scope: Scope) -> Iterator[DiscoveredResource]:
    glue = scope.client("glue")
    for name in items(glue, "list_jobs", "JobNames"):
        yield scope.resource("glue:job", scope.arn("glue", f"job/{name}"), name, {})


def _crawlers(scope: Scope) -> Iterator[DiscoveredResource]:
    glue = scope.client("glue")
    for crawler in items(glue, "get_crawlers", "Crawlers"):
        name = crawler["Name"]
        yield scope.resource(
            "glue:crawler",
            scope.arn("glue", f"crawler/{name}"),
            name,
            {},
            attributes(state=crawler.get("State"), database=crawler.get("DatabaseName")),
        )


def _databases(scope: Scope) -> Iterator[DiscoveredResource]:
    glue = scope.client("glue")
    # Without ResourceShareType only the account's own catalog is listed; the catalog-id check
    # says the same again should an endpoint list shared databases anyway.
    for database in items(glue, "get_databases", "DatabaseList"):
        if database.get("CatalogId", scope.account_id) != scope.account_id:
            continue
        name = database["Name"]
        target = database.get("TargetDatabase") or {}
        yield scope.resource(
            "glue:database",
            scope.arn("glue", f"database/{name}"),
            name,
            {},
            attributes(
                # A resource link points at a database in another catalog.
                kind="resource-link" if target else "database",
                location=database.get("LocationUri"),
            ),
        )


_CONSOLE = "https://{region}.console.aws.amazon.com/glue/home?region={region}#/v2/data-catalog"

COLLECTORS = (
    Collector(
        "glue:job",
        "glue",
        ("glue:ListJobs", TAGGING_API_ACTION),
        _jobs,
        tags=TagSource.TAGGING_API,
        label="Glue job",
        list_call="glue:ListJobs",
        console=(
            "https://{region}.console.aws.amazon.com/gluestudio/home?region={region}"
            "#/editor/job/{name}/details"
        ),
        custodian="aws.glue-job",
    ),
    Collector(
        "glue:crawler",
        "glue",
        ("glue:GetCrawlers", TAGGING_API_ACTION),
        _crawlers,
        tags=TagSource.TAGGING_API,
        label="Glue crawler",
        list_call="glue:GetCrawlers",
        console=_CONSOLE + "/crawlers/view/{name}",
        custodian="aws.glue-crawler",
    ),
    Collector(
        "glue:database",
        "glue",
        ("glue:GetDatabases", TAGGING_API_ACTION),
        _databases,
        tags=TagSource.TAGGING_API,
        label="Glue database",
        list_call="glue:GetDatabases",
        console=_CONSOLE + "/databases/view/{name}?catalogId={account}",
        custodian="aws.glue-database",
    ),
)
