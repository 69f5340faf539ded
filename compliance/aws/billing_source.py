"""Fetching a bill from S3 (``s3://bucket/key``) for ``import_costs``.

The object is streamed to a temporary file, in chunks, and read from there: Parquet needs a
seekable file (its footer is at the end), a multi-gigabyte CSV should not sit in memory, and a
file on disk lets the reader sniff the format from the first bytes whatever the key is called.
The temporary file is removed when the import is done, whether it succeeded or not.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from compliance.aws.session import DEFAULT_REGION, client

#: What reading a bill from S3 needs (for the IAM policy).
BILLING_IAM_ACTIONS = ("s3:GetObject",)


class BillSourceError(Exception):
    """The object could not be fetched; the message says which and why."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise BillSourceError(f"{uri}: expected s3://bucket/key")
    return bucket, key


@contextmanager
def downloaded(uri: str) -> Iterator[Path]:
    """The S3 object at ``uri`` as a local temporary file, for the duration of the block."""
    bucket, key = split_s3_uri(uri)
    session = boto3.session.Session()
    s3 = client(session, "s3", session.region_name or DEFAULT_REGION)
    with tempfile.TemporaryDirectory(prefix="finops-bill-") as folder:
        path = Path(folder) / "bill"
        try:
            s3.download_file(bucket, key, str(path))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "error")
            if code in ("404", "NoSuchKey", "NoSuchBucket"):
                raise BillSourceError(f"{uri}: no such object") from None
            raise BillSourceError(f"{uri}: {code} {error.get('Message', '')}".rstrip()) from None
        except BotoCoreError as exc:
            raise BillSourceError(f"{uri}: {exc}") from None
        yield path
