"""Fetch mail attachments (InvoiceIssued's PDF) from S3.

IAM: ``s3:GetObject`` on the invoice prefix and ``s3:ListBucket`` limited to it, so that a PDF
that is not uploaded yet answers 404 (:class:`AttachmentMissingError`: the item waits and is
retried) instead of 403 (without ``ListBucket`` S3 cannot say "missing" and answers
"access denied").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shopmail.adapters.aws_errors import error_code, transient_error
from shopmail.domain.outbound.mime_build import Attachment
from shopmail.domain.outbound.rendering import AttachmentRef
from shopmail.errors import (
    AttachmentMissingError,
    ConfigurationError,
    ServiceUnavailableError,
    TemplateError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: SES accepts 40 MB per message (after base64); keep attachments well below.
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
_NOT_THERE = {"NoSuchKey", "404", "NotFound"}


class S3AttachmentFetcher:
    """Reads the objects named by :class:`AttachmentRef`.

    Parameters
    ----------
    client
        A boto3 S3 client.
    max_bytes
        Larger objects are a permanent :class:`TemplateError`.
    """

    def __init__(self, client: S3Client, max_bytes: int = MAX_ATTACHMENT_BYTES) -> None:
        self._s3 = client
        self.max_bytes = max_bytes

    def fetch(self, ref: AttachmentRef) -> Attachment:
        """Download ``ref``.

        Raises
        ------
        AttachmentMissingError
            The object is not there (yet).
        ServiceUnavailableError
            S3 failed or throttled: retry later.
        ConfigurationError
            Access denied (the function's policy does not cover the bucket/prefix, or the
            object's KMS key), or the bucket does not exist.
        TemplateError
            The object is larger than :attr:`max_bytes`.
        """
        try:
            response = self._s3.get_object(Bucket=ref.bucket, Key=ref.key)
            length = int(response.get("ContentLength") or 0)
            if length > self.max_bytes:
                response["Body"].close()
                raise TemplateError(
                    f"attachment is {length} bytes (limit {self.max_bytes})", key=ref.key
                )
            data = response["Body"].read(self.max_bytes + 1)
        except ClientError as exc:
            code = error_code(exc)
            if code in _NOT_THERE:
                raise AttachmentMissingError(
                    f"attachment s3://{ref.bucket}/{ref.key} not found ({code})",
                    bucket=ref.bucket,
                    key=ref.key,
                ) from exc
            if code == "NoSuchBucket":
                raise ConfigurationError(
                    f"the attachment bucket {ref.bucket} does not exist", bucket=ref.bucket
                ) from exc
            if code in ("AccessDenied", "403", "KMS.AccessDeniedException"):
                raise ConfigurationError(
                    f"access to s3://{ref.bucket}/{ref.key} denied ({code}): check the "
                    "function's s3:GetObject and s3:ListBucket on the invoice prefix",
                    bucket=ref.bucket,
                ) from exc
            raise transient_error(exc, "s3", "GetObject", bucket=ref.bucket) from exc
        except (TemplateError, ServiceUnavailableError, AttachmentMissingError):
            raise
        except Exception as exc:
            raise transient_error(exc, "s3", "GetObject", bucket=ref.bucket) from exc
        if len(data) > self.max_bytes:
            raise TemplateError(f"attachment exceeds {self.max_bytes} bytes", key=ref.key)
        return Attachment(filename=ref.filename, data=data, content_type=ref.content_type)
