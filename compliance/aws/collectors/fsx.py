"""FSx file systems (Lustre, Windows File Server, NetApp ONTAP, OpenZFS).

DescribeFileSystems returns each file system's ARN and tags, so one call per page. FSx has no
names of its own: the console shows the ``Name`` tag. File systems being deleted are left out.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, tag_dict

_GONE_STATES = frozenset({"DELETING"})


def _file_systems(scope: Scope) -> Iterator[DiscoveredResource]:
    fsx = scope.client("fsx")
    for fs in items(fsx, "describe_file_systems", "FileSystems"):
        if fs.get("Lifecycle") in _GONE_STATES:
            continue
        fs_id = fs["FileSystemId"]
        tags = tag_dict(fs.get("Tags"))
        yield scope.resource(
            "fsx:file-system",
            fs.get("ResourceARN") or scope.arn("fsx", f"file-system/{fs_id}"),
            tags.get("Name") or fs_id,
            tags,
            attributes(
                state=fs.get("Lifecycle"),
                file_system_type=fs.get("FileSystemType"),
                storage_type=fs.get("StorageType"),
                storage_capacity=fs.get("StorageCapacity"),
                vpc_id=fs.get("VpcId"),
            ),
        )


COLLECTORS = (
    Collector(
        "fsx:file-system",
        "fsx",
        ("fsx:DescribeFileSystems",),
        _file_systems,
        label="FSx file system",
        list_call="fsx:DescribeFileSystems",
        console=(
            "https://{region}.console.aws.amazon.com/fsx/home?region={region}"
            "#file-system-details/{id}"
        ),
        custodian="aws.fsx",
    ),
)
