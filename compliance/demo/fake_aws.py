"""An in-process fake AWS (moto's threaded server) for the demo and for tests that need a
separate endpoint rather than in-process mocking."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource
from moto.ecr.models import ECRBackend
from moto.kinesis.models import KinesisBackend
from moto.server import ThreadedMotoServer

FAKE_ENVIRONMENT = {
    # moto otherwise loads ~1,300 public AMIs (and their snapshots) into every region it touches.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    "AWS_ACCESS_KEY_ID": "demo-access-key",
    # moto accepts any value:
    "AWS_SECRET_ACCESS_KEY": "demo-secret-key",  # nosec B105
    "AWS_DEFAULT_REGION": "us-east-1",
}

#: Resource types this fake AWS cannot list (moto has no such API, or answers the installed
#: botocore in a form it does not read): the demo's scans leave them out.
UNSERVED_TYPES = frozenset(
    {"athena:workgroup", "elasticache:serverlesscache", "redshift-serverless:workgroup"}
)


def _ecr_tagged(backend: ECRBackend) -> Iterator[TaggedResource]:
    for repository in backend.repositories.values():
        tags = backend.tagger.get_tag_dict_for_resource(repository.arn)
        yield TaggedResource(arn=repository.arn, tags=tags, resource_type="ecr:repository")


def _kinesis_tagged(backend: KinesisBackend) -> Iterator[TaggedResource]:
    for stream in backend.streams.values():
        yield TaggedResource(arn=stream.arn, tags=dict(stream.tags), resource_type="kinesis:stream")


def teach_tagging_api() -> None:
    """Have moto's Resource Groups Tagging API answer for ECR repositories and Kinesis streams,
    as AWS's does: moto's does not know them yet, so a scan of the demo would read their tags
    as none. Each backend takes part the way moto's own do (the tagging mix-in, with the
    resources it holds); a moto that knows them already is left alone."""
    taught: tuple[tuple[type, str, Callable[[Any], Iterator[TaggedResource]]], ...] = (
        (ECRBackend, "ecr", _ecr_tagged),
        (KinesisBackend, "kinesis", _kinesis_tagged),
    )
    for backend, namespace, tagged in taught:
        if issubclass(backend, TaggableResourcesMixin):
            continue
        setattr(backend, "SERVICE_NAMESPACE", namespace)  # noqa: B010
        setattr(backend, "iter_tagged_resources", tagged)  # noqa: B010
        backend.__bases__ = (*backend.__bases__, TaggableResourcesMixin)


@contextmanager
def moto_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run moto on ``host`` (a free port by default) and point the AWS environment at it.

    The previous environment is restored on exit, so nothing outside the block talks to it.
    moto keeps its state per process, shared with in-process mocks: it is reset on entry (no
    leftovers from earlier use in the process) and on exit (nothing created here outlives the
    block, and backends are built again under the restored environment).
    """
    saved = {name: os.environ.get(name) for name in [*FAKE_ENVIRONMENT, "AWS_ENDPOINT_URL"]}
    saved.update({name: os.environ.get(name) for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN")})
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(FAKE_ENVIRONMENT)
    teach_tagging_api()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    endpoint = ""
    try:
        server.start()
        bound_host, bound_port = server.get_host_and_port()
        endpoint = f"http://{bound_host}:{bound_port}"
        _reset(endpoint)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        try:
            if endpoint:
                _reset(endpoint)
        finally:
            server.stop()


def _reset(endpoint: str) -> None:
    # The http:// URL of the moto server started above, never user input.
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
        response.read()
