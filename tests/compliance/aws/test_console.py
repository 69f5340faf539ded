"""Console links from the type table: every part from AWS percent-encoded, only where the
console is known."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors import COLLECTORS, RESOURCE_TYPES
from compliance.aws.collectors.core import Collector, Scope
from compliance.aws.console import arn_id, console_url, type_label


def _nothing(scope: Scope) -> Iterator[DiscoveredResource]:
    return iter(())


@pytest.fixture
def widget(monkeypatch: pytest.MonkeyPatch) -> None:
    row = Collector(
        "demo:widget",
        "demo",
        ("demo:ListWidgets",),
        _nothing,
        label="Demo widget",
        list_call="demo:ListWidgets",
        console="https://{region}.console.aws.amazon.com/demo/home?region={region}#w={id}&n={name}",
        custodian="aws.demo",
    )
    monkeypatch.setitem(COLLECTORS, "demo:widget", row)


def test_the_parts_of_an_arn() -> None:
    assert arn_id("arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc") == "i-0abc"
    assert arn_id("arn:aws:lambda:eu-west-1:123456789012:function:pay") == "pay"
    assert arn_id("arn:aws:sqs:eu-west-1:123456789012:jobs") == "jobs"
    assert arn_id("arn:aws:s3:::my-bucket") == "my-bucket"


def test_a_link_encodes_every_part_it_takes_from_aws(widget: None) -> None:
    arn = "arn:aws:demo:eu-west-1:123456789012:widget/w-1"
    assert console_url("demo:widget", arn, "eu-west-1", 'x"><script>&y=1#') == (
        "https://eu-west-1.console.aws.amazon.com/demo/home?region=eu-west-1"
        "#w=w-1&n=x%22%3E%3Cscript%3E%26y%3D1%23"
    )


def test_global_resources_link_to_the_global_region(widget: None) -> None:
    arn = "arn:aws:demo::123456789012:widget/w-1"
    url = console_url("demo:widget", arn, "global", "w")
    assert url is not None
    assert url.startswith("https://us-east-1.console.aws.amazon.com/")


def test_no_link_for_an_unknown_type_another_partition_or_a_broken_arn(widget: None) -> None:
    assert console_url("demo:gadget", "arn:aws:demo:eu-west-1:1:widget/w", "eu-west-1") is None
    cn = "arn:aws-cn:demo:cn-north-1:123456789012:widget/w-1"
    assert console_url("demo:widget", cn, "cn-north-1") is None
    assert console_url("demo:widget", "not-an-arn", "eu-west-1") is None
    # The region names the console's host: only a region that exists.
    arn = "arn:aws:demo:eu-west-1:123456789012:widget/w-1"
    assert console_url("demo:widget", arn, "evil.example/?#@") is None


def test_labels_come_from_the_table(widget: None) -> None:
    assert type_label("demo:widget") == "Demo widget"
    assert type_label("demo:gadget") == "demo:gadget"


@pytest.mark.parametrize("resource_type", RESOURCE_TYPES)
def test_every_type_links_to_the_aws_console(resource_type: str) -> None:
    arn = f"arn:aws:{resource_type.partition(':')[0]}:eu-west-1:123456789012:thing/id-1"
    url = console_url(resource_type, arn, "eu-west-1", "name-1")
    assert url is not None
    assert url.startswith("https://")
    assert ".console.aws.amazon.com/" in url
    assert "{" not in url
