"""Batch describe calls take as many resources as AWS allows, and tags are read in bulk: one
tagging API call for many resources, never a tag call per resource."""

from __future__ import annotations

from types import ModuleType

import pytest

from compliance.aws.collectors import ecs, opensearch
from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import FACTORIES, aws, make_ecs_service, make_table
from tests.compliance.aws.types import TAGS_FROM_STUB

REGION = "us-east-1"


#: (module, its batch-size constant, type, the batched call). The constants hold AWS's limits
#: (100 clusters, 5 domains per call); 2 here, so three resources take exactly two
#: calls.
BATCHED = [
    (ecs, "CLUSTERS_PER_CALL", "ecs:cluster", "ecs:DescribeClusters"),
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
    tagging = {arn: {"Team": f"t{i}"} for arn, i in made.items()}
    collected = collect(resource_type, REGION, tagging=tagging)
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


#: The types that read their tags one call per resource before, and now in bulk.
BULK_TAGGED = [
    "dynamodb:table",
    "ecr:repository",
    "es:domain",
    "kinesis:stream",
    "lambda:function",
    "logs:log-group",
    "s3:bucket",
    "sns:topic",
    "sqs:queue",
]

#: The per-resource tag calls these types made before they read tags in bulk.
PER_RESOURCE_TAG_CALLS = {
    "dynamodb:ListTagsOfResource",
    "ecr:ListTagsForResource",
    "es:ListTags",
    "kinesis:ListTagsForStream",
    "lambda:ListTags",
    "logs:ListTagsForResource",
    "s3:GetBucketTagging",
    "sns:ListTagsForResource",
    "sqs:ListQueueTags",
}


@pytest.mark.parametrize("resource_type", BULK_TAGGED)
def test_tags_of_many_resources_take_one_tagging_call(resource_type: str, collect: Collect) -> None:
    tags = {FACTORIES[resource_type](REGION, i, _team(i)).arn: _team(i) for i in range(3)}
    collected = collect(resource_type, REGION, tagging={a: t for a, t in tags.items() if t})
    assert {arn: r.tags for arn, r in collected.resources.items()} == tags
    if resource_type not in TAGS_FROM_STUB:
        assert collected.calls["tagging:GetResources"] == 1
    # Where the Stubber answers GetResources, the call is not counted (the stub answers before
    # the counter hears of it); its one answer for the region, which a second call would find
    # used up, is what joined the tags above.
    assert not set(collected.calls) & PER_RESOURCE_TAG_CALLS


def _team(i: int) -> dict[str, str]:
    """Resource 0 is never tagged: the tagging API does not name it, and it has no tags."""
    return {"Team": f"t{i}"} if i else {}


def test_many_tags_of_one_resource_are_all_read(collect: Collect) -> None:
    # DynamoDB's own ListTagsOfResource paged by 10 tags; the tagging API answers them all.
    tags = {f"key-{i:02}": f"value-{i}" for i in range(12)}
    made = make_table(REGION, 0, tags)
    assert collect("dynamodb:table", REGION).resources[made.arn].tags == tags
