"""Delivers the demo's bill the way AWS Data Exports delivers a FOCUS export: gzip CSV objects
in a bucket of the organisation's payer (management) account.

The payer account is not one the demo registers, so its export bucket is not part of the
scanned estate (the demo's manifest stays exactly what the scan must find), and ``import_costs``
reads it across accounts, as a FinOps team reads its organisation's export.
"""

from __future__ import annotations

import json
from datetime import date

import boto3

from compliance.demo.bill import BILLING_ACCOUNT

EXPORT_BUCKET = f"demo-billing-exports-{BILLING_ACCOUNT}"
EXPORT_ROLE = f"arn:aws:iam::{BILLING_ACCOUNT}:role/DemoBillingExportWriter"
ROLE_SESSION_NAME = "demo-billing-export"


def publish_demo_bill(body: bytes, *, month: date, reader_account: str, region: str) -> str:
    """Upload the bill for ``month`` to the payer's export bucket; its ``s3://`` URI.

    ``reader_account`` is granted ``s3:GetObject`` by a bucket policy, as real cross-account
    reading needs (moto does not enforce it; the policy says what AWS would require).
    """
    base = boto3.session.Session()
    credentials = base.client("sts", region_name=region).assume_role(
        RoleArn=EXPORT_ROLE, RoleSessionName=ROLE_SESSION_NAME
    )["Credentials"]
    payer = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    s3 = payer.client("s3", region_name=region)
    location = {} if region == "us-east-1" else {"LocationConstraint": region}
    s3.create_bucket(
        Bucket=EXPORT_BUCKET, **({"CreateBucketConfiguration": location} if location else {})
    )
    s3.put_bucket_policy(
        Bucket=EXPORT_BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{reader_account}:root"},
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{EXPORT_BUCKET}/*",
                    }
                ],
            }
        ),
    )
    key = f"focus/demo/data/BILLING_PERIOD={month:%Y-%m}/demo-00001.csv.gz"
    s3.put_object(Bucket=EXPORT_BUCKET, Key=key, Body=body)
    return f"s3://{EXPORT_BUCKET}/{key}"
