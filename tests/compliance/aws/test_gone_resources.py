"""Resources on their way out (terminated, deleting, deleted, inactive) are not inventory.

Where moto can put a resource in that state through the API, the test does so; where moto
deletes at once, the test sets the state on moto's own model of the resource, and moto's
response (not one written here) carries it. (moto always describes DynamoDB tables as
ACTIVE, so the DELETING filter of ``dynamodb:table`` has no test here. Nor has ``ecs:service``:
AWS's ListServices stops listing a service once it is deleted, and the collector relies on that,
but moto's ListServices still lists it, INACTIVE.)
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from moto.efs.models import efs_backends
from moto.eks.models import eks_backends
from moto.elasticache.models import elasticache_backends
from moto.kinesis.models import kinesis_backends
from moto.opensearch.models import opensearch_backends
from moto.rds.models import rds_backends

from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import ACCOUNT, FACTORIES, aws

REGION = "us-east-1"


def delete_ecs_cluster(name: str) -> None:
    aws("ecs", REGION).delete_cluster(cluster=name)


def rds_instance_deleting(name: str) -> None:
    rds_backends[ACCOUNT][REGION].databases[name].status = "deleting"


def rds_cluster_deleting(name: str) -> None:
    rds_backends[ACCOUNT][REGION].clusters[name].status = "deleting"


def stream_deleting(name: str) -> None:
    kinesis_backends[ACCOUNT][REGION].streams[name].status = "DELETING"


def file_system_deleting(fs_id: str) -> None:
    efs_backends[ACCOUNT][REGION].file_systems_by_id[fs_id].life_cycle_state = "deleting"


def cache_cluster_deleting(name: str) -> None:
    elasticache_backends[ACCOUNT][REGION].cache_clusters[name].cache_cluster_status = "deleting"


def eks_cluster_deleting(name: str) -> None:
    eks_backends[ACCOUNT][REGION].clusters[name].status = "DELETING"


def domain_deleted(name: str) -> None:
    opensearch_backends[ACCOUNT][REGION].domains[name].deleted = True


#: type -> how to send one resource (by its name or id) on its way out.
LEAVING: dict[str, Callable[[str], None]] = {
    "ecs:cluster": delete_ecs_cluster,
    "rds:db": rds_instance_deleting,
    "rds:cluster": rds_cluster_deleting,
    "kinesis:stream": stream_deleting,
    "elasticfilesystem:file-system": file_system_deleting,
    "elasticache:cluster": cache_cluster_deleting,
    "eks:cluster": eks_cluster_deleting,
    "es:domain": domain_deleted,
}


@pytest.mark.parametrize("resource_type", sorted(LEAVING))
def test_a_resource_being_deleted_is_left_out(resource_type: str, collect: Collect) -> None:
    kept = FACTORIES[resource_type](REGION, 0, {})
    leaving = FACTORIES[resource_type](REGION, 1, {})
    # The last ARN segment is the name or id each of these services identifies it by.
    LEAVING[resource_type](leaving.arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    found = collect(resource_type, REGION).resources
    assert set(found) == {kept.arn}
