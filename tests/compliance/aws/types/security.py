"""Test cases of the resource types of this group (see tests/compliance/aws/types/__init__.py):
security, monitoring, DNS, CDN and identity. Route 53, CloudFront and IAM are global."""

from __future__ import annotations

import json
from typing import Any

from compliance.aws.base import GLOBAL_REGION
from tests.compliance.aws.estate import Factory, Made, aws, tag_list

#: Where the global services (Route 53, CloudFront, IAM) are called.
GLOBAL_API_REGION = "us-east-1"


def make_secret(region: str, i: int, tags: dict[str, str]) -> Made:
    secret = aws("secretsmanager", region).create_secret(
        Name=f"finops-secret-{i}",
        SecretString="not-a-secret",
        **({"Tags": tag_list(tags)} if tags else {}),
    )
    return Made(secret["ARN"], secret["Name"])


def make_key(region: str, i: int, tags: dict[str, str]) -> Made:
    key = aws("kms", region).create_key(
        Description=f"finops key {i}",
        **({"Tags": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]} if tags else {}),
    )["KeyMetadata"]
    return Made(key["Arn"], key["KeyId"])


def make_certificate(region: str, i: int, tags: dict[str, str]) -> Made:
    acm = aws("acm", region)
    arn = acm.request_certificate(
        DomainName=f"finops-{i}.example.com", **({"Tags": tag_list(tags)} if tags else {})
    )["CertificateArn"]
    certificate = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    return Made(certificate["CertificateArn"], certificate["DomainName"])


def make_backup_vault(region: str, i: int, tags: dict[str, str]) -> Made:
    vault = aws("backup", region).create_backup_vault(
        BackupVaultName=f"finops-vault-{i}", **({"BackupVaultTags": tags} if tags else {})
    )
    return Made(vault["BackupVaultArn"], vault["BackupVaultName"])


def make_backup_plan(region: str, i: int, tags: dict[str, str]) -> Made:
    backup = aws("backup", region)
    plan = backup.create_backup_plan(
        BackupPlan={
            "BackupPlanName": f"finops-plan-{i}",
            "Rules": [{"RuleName": "daily", "TargetBackupVaultName": "Default"}],
        },
        **({"BackupPlanTags": tags} if tags else {}),
    )
    name = backup.get_backup_plan(BackupPlanId=plan["BackupPlanId"])["BackupPlan"]["BackupPlanName"]
    return Made(plan["BackupPlanArn"], name)


def make_alarm(region: str, i: int, tags: dict[str, str]) -> Made:
    cloudwatch = aws("cloudwatch", region)
    name = f"finops-alarm-{i}"
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=1,
        Threshold=90.0,
        ComparisonOperator="GreaterThanThreshold",
        **({"Tags": tag_list(tags)} if tags else {}),
    )
    alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    return Made(alarm["AlarmArn"], alarm["AlarmName"])


def make_hosted_zone(region: str, i: int, tags: dict[str, str]) -> Made:
    route53 = aws("route53", GLOBAL_API_REGION)
    zone = route53.create_hosted_zone(
        Name=f"finops-{i}.example.com", CallerReference=f"finops-zone-{i}"
    )["HostedZone"]
    zone_id = zone["Id"].rsplit("/", 1)[-1]
    if tags:
        route53.change_tags_for_resource(
            ResourceType="hostedzone", ResourceId=zone_id, AddTags=tag_list(tags)
        )
    # Route 53 answers with ids, never ARNs; hosted zone ARNs name neither region nor account.
    return Made(f"arn:aws:route53:::hostedzone/{zone_id}", zone["Name"], GLOBAL_REGION)


def _distribution_config(i: int) -> dict[str, Any]:
    return {
        "CallerReference": f"finops-distribution-{i}",
        "Comment": f"finops distribution {i}",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "origin",
                    "DomainName": "finops-origin.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "origin",
            "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        },
    }


def make_distribution(region: str, i: int, tags: dict[str, str]) -> Made:
    cloudfront = aws("cloudfront", GLOBAL_API_REGION)
    if tags:
        distribution = cloudfront.create_distribution_with_tags(
            DistributionConfigWithTags={
                "DistributionConfig": _distribution_config(i),
                "Tags": {"Items": tag_list(tags)},
            }
        )["Distribution"]
    else:
        distribution = cloudfront.create_distribution(DistributionConfig=_distribution_config(i))[
            "Distribution"
        ]
    return Made(distribution["ARN"], distribution["Id"], GLOBAL_REGION)


_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def make_role(region: str, i: int, tags: dict[str, str]) -> Made:
    role = aws("iam", GLOBAL_API_REGION).create_role(
        RoleName=f"finops-role-{i}",
        AssumeRolePolicyDocument=_TRUST_POLICY,
        **({"Tags": tag_list(tags)} if tags else {}),
    )["Role"]
    return Made(role["Arn"], role["RoleName"], GLOBAL_REGION)


def make_user(region: str, i: int, tags: dict[str, str]) -> Made:
    user = aws("iam", GLOBAL_API_REGION).create_user(
        UserName=f"finops-user-{i}", **({"Tags": tag_list(tags)} if tags else {})
    )["User"]
    return Made(user["Arn"], user["UserName"], GLOBAL_REGION)


FACTORIES: dict[str, Factory] = {
    "secretsmanager:secret": make_secret,
    "kms:key": make_key,
    "acm:certificate": make_certificate,
    "backup:backup-vault": make_backup_vault,
    "backup:backup-plan": make_backup_plan,
    "cloudwatch:alarm": make_alarm,
    "route53:hostedzone": make_hosted_zone,
    "cloudfront:distribution": make_distribution,
    "iam:role": make_role,
    "iam:user": make_user,
}

#: See tests/compliance/aws/estate.py. The call counter names calls by signing name: CloudWatch
#: signs as ``monitoring``.
PAGING: dict[str, tuple[str, int | None, bool]] = {
    "secretsmanager:secret": ("secretsmanager:ListSecrets", 2, True),
    "kms:key": ("kms:ListKeys", 2, False),
    "acm:certificate": ("acm:ListCertificates", 2, False),
    "backup:backup-vault": ("backup:ListBackupVaults", 2, False),
    "backup:backup-plan": ("backup:ListBackupPlans", 2, False),
    "cloudwatch:alarm": ("monitoring:DescribeAlarms", 2, False),
    "route53:hostedzone": ("route53:ListHostedZones", 2, True),
    "cloudfront:distribution": ("cloudfront:ListDistributions", 2, True),
    "iam:role": ("iam:ListRoles", 2, True),
    "iam:user": ("iam:ListUsers", 2, False),
}

#: moto's Route 53 backend takes no part in its tagging API, and its Backup backend only
#: reports vaults there, not plans.
TAGS_FROM_STUB: frozenset[str] = frozenset({"route53:hostedzone", "backup:backup-plan"})

#: Composite and log alarms, which moto cannot create, are tested in test_security_stubbed.py;
#: every type of this group can be created in moto.
STUBBED: frozenset[str] = frozenset()
