"""Tags read in as few calls as each service allows, and tag lists read to the last page."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from compliance.aws.collectors import ecs, elbv2, opensearch
from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import FACTORIES, aws, make_ecs_service, make_stream, make_table

REGION = "us-east-1"


#: (module, its batch-size constant, type, the batched call). The constants hold AWS's limits
#: (20 ARNs, 100 clusters, 10 services, 5 domains per call); 2 here, so three resources take
#: exactly two calls.
BATCHED = [
    (
        elbv2,
        "TAGS_PER_CALL",
        "elasticloadbalancing:loadbalancer",
        "elasticloadbalancing:DescribeTags",
    ),
    (ecs, "CLUSTERS_PER_CALL", "ecs:cluster", "ecs:DescribeClusters"),
    (ecs, "SERVICES_PER_CALL", "ecs:service", "ecs:DescribeServices"),
    (opensearch, "DOMAINS_PER_CALL", "es:domain", "es:DescribeDomains"),
]


@pytest.mark.parametrize(("module", "constant", "resource_type", "call"), BATCHED)
def test_batch_calls_take_as_many_resources_as_allowed(
    module: ModuleType,
    constant: str,
    resource_type: str,
    call: str,
    collect: Collect,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, constant, 2)
    made = {FACTORIES[resource_type](REGION, i, {"Team": f"t{i}"}).arn: i for i in range(3)}
    collected = collect(resource_type, REGION)
    assert collected.calls[call] == 2
    assert {arn: r.tags for arn, r in collected.resources.items()} == {
        arn: {"Team": f"t{i}"} for arn, i in made.items()
    }


def test_an_ecs_service_points_to_its_cluster(collect: Collect) -> None:
    made = make_ecs_service(REGION, 0, {})
    cluster_arn = aws("ecs", REGION).describe_clusters(clusters=["finops-services"])["clusters"][0][
        "clusterArn"
    ]
    found = collect("ecs:service", REGION).resources[made.arn]
    assert found.attributes["parent_arn"] == cluster_arn


def test_dynamodb_tags_are_read_to_the_last_page(collect: Collect) -> None:
    # ListTagsOfResource pages by its own size (10 in moto) and takes none from the caller.
    tags = {f"key-{i:02}": f"value-{i}" for i in range(12)}
    made = make_table(REGION, 0, tags)
    collected = collect("dynamodb:table", REGION)
    assert collected.calls["dynamodb:ListTagsOfResource"] == 2
    assert collected.resources[made.arn].tags == tags


def test_kinesis_tags_are_read_to_the_last_page(
    collect: Collect, page_size: Callable[[int | None], None]
) -> None:
    tags = {f"key-{i}": f"value-{i}" for i in range(5)}
    made = make_stream(REGION, 0, tags)
    page_size(2)
    collected = collect("kinesis:stream", REGION)
    # Three pages in AWS; moto repeats the start key at the top of each page (it treats
    # ExclusiveStartTagKey as inclusive), so it takes four.
    assert collected.calls["kinesis:ListTagsForStream"] >= 3
    assert collected.resources[made.arn].tags == tags
