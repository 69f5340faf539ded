"""EFS file systems. DescribeFileSystems lists every file system, never-tagged ones included,
with its tags inline (and the ``Name`` tag again as ``Name``), so tags cost no call of their
own: the tagging API would only add calls. File systems being deleted are left out.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, tag_dict

_GONE_STATES = frozenset({"deleting", "deleted"})


def _file_systems(scope: Scope) -> Iterator[DiscoveredResource]:
    efs = scope.client("efs")
    for fs in items(efs, "describe_file_systems", "FileSystems"):
        if fs["LifeCycleState"] in _GONE_STATES:
            continue
        fs_id = fs["FileSystemId"]
        yield scope.resource(
            "elasticfilesystem:file-system",
            fs.get("FileSystemArn") or scope.arn("elasticfilesystem", f"file-system/{fs_id}"),
            fs.get("Name") or fs_id,
            tag_dict(fs.get("Tags")),
            attributes(
                state=fs["LifeCycleState"],
                performance_mode=fs.get("PerformanceMode"),
                throughput_mode=fs.get("ThroughputMode"),
            ),
        )


COLLECTORS = (
    Collector(
        "elasticfilesystem:file-system",
        "efs",
        ("elasticfilesystem:DescribeFileSystems",),
        _file_systems,
        label="EFS file system",
        list_call="elasticfilesystem:DescribeFileSystems",
        console=(
            "https://{region}.console.aws.amazon.com/efs/home?region={region}#/file-systems/{id}"
        ),
        custodian="aws.efs",
    ),
)
