"""Links to a resource's page in the AWS console, from its type's pattern in the type table.

A pattern names the parts of the resource it needs: ``{region}``, ``{account}``, ``{arn}``,
``{id}`` (the ARN's last ``/`` or ``:`` part) and ``{name}``. Every part comes from AWS and is
untrusted, so each is percent-encoded; the host and path are the pattern's own. Only the
commercial partition has links (the China and GovCloud consoles live elsewhere).
"""

from __future__ import annotations

from urllib.parse import quote

from compliance.aws.base import GLOBAL_REGION
from compliance.aws.collectors import COLLECTORS
from compliance.aws.regions import known_regions

#: Where the console shows global resources (IAM, CloudFront, Route 53).
CONSOLE_GLOBAL_REGION = "us-east-1"


def arn_id(arn: str) -> str:
    """The last part of an ARN's resource: ``i-0abc`` of ``...:instance/i-0abc``."""
    resource = arn.split(":", 5)[-1]
    if "/" in resource:
        return resource.rsplit("/", 1)[-1]
    return resource.rsplit(":", 1)[-1]


def console_url(resource_type: str, arn: str, region: str, name: str = "") -> str | None:
    """The console page of one resource, or ``None`` when its type or partition has none."""
    collector = COLLECTORS.get(resource_type)
    parts = arn.split(":", 5)
    if collector is None or not collector.console or len(parts) < 6 or parts[1] != "aws":
        return None
    if region in ("", GLOBAL_REGION):
        region = CONSOLE_GLOBAL_REGION
    elif region not in known_regions():  # it names the console's host: only a real region
        return None
    values = {
        "region": region,
        "account": parts[4],
        "arn": arn,
        "id": arn_id(arn),
        "name": name or arn_id(arn),
    }
    return collector.console.format(**{k: quote(v, safe="") for k, v in values.items()})


def type_label(resource_type: str) -> str:
    """What people call a type ("EC2 instance"), or the type itself when it is not known."""
    collector = COLLECTORS.get(resource_type)
    return collector.label if collector is not None and collector.label else resource_type
