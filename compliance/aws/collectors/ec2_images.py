"""EC2 launch templates and the account's own AMIs.

Both are listed with their EC2 describe call, which returns every resource of the region, tagged
or not, with its tags: one call per page, no tag call. The describe calls do not return ARNs, so
they are built as the Resource Groups Tagging API names them,
``arn:aws:ec2:REGION:ACCOUNT:launch-template/ID`` and ``...:image/ID``: IAM's reference omits the
account from image ARNs, but the tagging API includes it, and resources are joined to tag
answers and costs by ARN (as for snapshots in ec2.py). Only AMIs this account owns are listed,
never the public and shared ones it can merely launch; deregistered AMIs are left out, disabled
ones kept (they still exist, hold their snapshots and can be enabled again).
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, tag_dict

#: A deregistered AMI may still be described for a while; it is gone. Launch templates have no
#: state: a deleted one is no longer described.
_GONE_IMAGE_STATES = frozenset({"deregistered"})

_EC2_CONSOLE = "https://{region}.console.aws.amazon.com/ec2/home?region={region}"


def _launch_templates(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for template in items(ec2, "describe_launch_templates", "LaunchTemplates"):
        template_id = template["LaunchTemplateId"]
        yield scope.resource(
            "ec2:launch-template",
            scope.arn("ec2", f"launch-template/{template_id}"),
            # Launch templates, unlike most EC2 resources, have a name of their own.
            template.get("LaunchTemplateName") or template_id,
            tag_dict(template.get("Tags")),
            attributes(
                default_version=template.get("DefaultVersionNumber"),
                latest_version=template.get("LatestVersionNumber"),
            ),
        )


def _images(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    # Without Owners the call lists every public AMI in the region as well. The owner-id filter
    # says the same again for endpoints that ignore Owners (as ec2.py does for snapshots).
    # Disabled AMIs are only listed when asked for.
    own = [{"Name": "owner-id", "Values": [scope.account_id]}]
    for image in items(
        ec2, "describe_images", "Images", Owners=["self"], Filters=own, IncludeDisabled=True
    ):
        if image.get("State") in _GONE_IMAGE_STATES:
            continue
        image_id = image["ImageId"]
        yield scope.resource(
            "ec2:image",
            scope.arn("ec2", f"image/{image_id}"),
            image.get("Name") or image_id,
            tag_dict(image.get("Tags")),
            attributes(
                state=image.get("State"),
                architecture=image.get("Architecture"),
                platform=image.get("PlatformDetails"),
                # A public AMI is anyone's to launch: worth seeing next to its tags.
                public=str(image.get("Public", False)).lower(),
            ),
        )


COLLECTORS = (
    Collector(
        "ec2:launch-template",
        "ec2",
        ("ec2:DescribeLaunchTemplates",),
        _launch_templates,
        label="Launch template",
        list_call="ec2:DescribeLaunchTemplates",
        console=_EC2_CONSOLE + "#LaunchTemplateDetails:launchTemplateId={id}",
        custodian="aws.launch-template-version",
    ),
    Collector(
        "ec2:image",
        "ec2",
        ("ec2:DescribeImages",),
        _images,
        label="AMI",
        list_call="ec2:DescribeImages",
        console=_EC2_CONSOLE + "#ImageDetails:imageId={id}",
        custodian="aws.ami",
    ),
)
