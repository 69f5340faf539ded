"""SageMaker endpoints, notebook instances and Studio domains.

ListEndpoints, ListNotebookInstances and ListDomains list every resource, never-tagged ones
included, each with its ARN and status (notebook instances also with their instance type);
none returns tags, so tags come from the Resource Groups Tagging API, 100 resources a call (no
ListTags per resource). Resources being deleted (status ``Deleting``) are left out; failed ones
stay, as they still exist and can still be tagged. Endpoint configurations, models, jobs and
the other SageMaker types are not listed here.
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

#: Every SageMaker list call here returns at most 100 a page (10 unless asked).
LIST_PAGE_SIZE = 100

#: The same status name in all three APIs (EndpointStatus, NotebookInstanceStatus, Status).
_GONE_STATES = frozenset({"Deleting"})


def _endpoints(scope: Scope) -> Iterator[DiscoveredResource]:
    sagemaker = scope.client("sagemaker")
    for endpoint in items(
        sagemaker, "list_endpoints", "Endpoints", default_page_size=LIST_PAGE_SIZE
    ):
        status = endpoint.get("EndpointStatus")
        if status in _GONE_STATES:
            continue
        yield scope.resource(
            "sagemaker:endpoint",
            endpoint["EndpointArn"],
            endpoint["EndpointName"],
            {},
            attributes(state=status),
        )


def _notebook_instances(scope: Scope) -> Iterator[DiscoveredResource]:
    sagemaker = scope.client("sagemaker")
    for notebook in items(
        sagemaker, "list_notebook_instances", "NotebookInstances", default_page_size=LIST_PAGE_SIZE
    ):
        status = notebook.get("NotebookInstanceStatus")
        if status in _GONE_STATES:
            continue
        yield scope.resource(
            "sagemaker:notebook-instance",
            notebook["NotebookInstanceArn"],
            notebook["NotebookInstanceName"],
            {},
            attributes(state=status, instance_type=notebook.get("InstanceType")),
        )


def _domains(scope: Scope) -> Iterator[DiscoveredResource]:
    sagemaker = scope.client("sagemaker")
    for domain in items(sagemaker, "list_domains", "Domains", default_page_size=LIST_PAGE_SIZE):
        status = domain.get("Status")
        if status in _GONE_STATES:
            continue
        yield scope.resource(
            "sagemaker:domain",
            domain["DomainArn"],
            domain.get("DomainName") or domain["DomainId"],
            {},
            attributes(state=status, domain_id=domain.get("DomainId")),
        )


_CONSOLE = "https://{region}.console.aws.amazon.com/sagemaker/home?region={region}"

COLLECTORS = (
    Collector(
        "sagemaker:endpoint",
        "sagemaker",
        ("sagemaker:ListEndpoints", TAGGING_API_ACTION),
        _endpoints,
        tags=TagSource.TAGGING_API,
        label="SageMaker endpoint",
        list_call="sagemaker:ListEndpoints",
        console=_CONSOLE + "#/endpoints/{name}",
        custodian="aws.sagemaker-endpoint",
    ),
    Collector(
        "sagemaker:notebook-instance",
        "sagemaker",
        ("sagemaker:ListNotebookInstances", TAGGING_API_ACTION),
        _notebook_instances,
        tags=TagSource.TAGGING_API,
        label="SageMaker notebook instance",
        list_call="sagemaker:ListNotebookInstances",
        console=_CONSOLE + "#/notebook-instances/{name}",
        custodian="aws.sagemaker-notebook",
    ),
    Collector(
        "sagemaker:domain",
        "sagemaker",
        ("sagemaker:ListDomains", TAGGING_API_ACTION),
        _domains,
        tags=TagSource.TAGGING_API,
        label="SageMaker domain",
        list_call="sagemaker:ListDomains",
        # {id} is the ARN's last part: the domain id (d-...), which the console page is named by.
        console=_CONSOLE + "#/studio/{id}",
        custodian="aws.sagemaker-domain",
    ),
)
