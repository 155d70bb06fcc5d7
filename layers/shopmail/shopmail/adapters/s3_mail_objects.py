"""Delete stored mail for good: every version of each object (the bucket is versioned).

A plain ``DeleteObject`` in a versioned bucket only adds a delete marker and keeps the data;
an erasure lists the versions (``ListObjectVersions``) and deletes each one and each delete
marker (``DeleteObjects`` with version ids, 1000 per request).

IAM: ``s3:ListBucketVersions`` on the bucket, ``s3:DeleteObjectVersion`` on its objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from shopmail.adapters.aws_errors import transient_error
from shopmail.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_DELETE_BATCH: Final = 1000


class S3MailObjects:
    """Implements ``ports.MailObjectEraser`` on the raw-mail bucket.

    Parameters
    ----------
    client
        A boto3 S3 client.
    bucket
        ``RAW_MAIL_BUCKET``.
    """

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def _versions(self, prefix: str, exact: bool) -> list[tuple[str, str]]:
        """``(key, version id)`` of every version and delete marker under ``prefix``."""
        found: list[tuple[str, str]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            try:
                response = self._s3.list_object_versions(**kwargs)
            except Exception as exc:
                raise transient_error(exc, "s3", "ListObjectVersions") from exc
            for entry in (*response.get("Versions", []), *response.get("DeleteMarkers", [])):
                key = str(entry.get("Key", ""))
                if not exact or key == prefix:
                    found.append((key, str(entry.get("VersionId") or "null")))
            if not response.get("IsTruncated"):
                return found
            kwargs["KeyMarker"] = response.get("NextKeyMarker")
            kwargs["VersionIdMarker"] = response.get("NextVersionIdMarker")

    def erase(self, keys: Iterable[str], prefixes: Iterable[str] = ()) -> tuple[list[str], int]:
        """Delete every version of ``keys`` and of everything under ``prefixes``.

        Returns
        -------
        tuple
            The keys that had versions (sorted) and the number of versions removed.

        Raises
        ------
        ServiceUnavailableError
            S3 failed, or refused to delete some version.
        """
        versions: list[tuple[str, str]] = []
        for key in dict.fromkeys(k for k in keys if k):
            versions += self._versions(key, exact=True)
        for prefix in dict.fromkeys(p for p in prefixes if p):
            versions += self._versions(prefix, exact=False)
        versions = list(dict.fromkeys(versions))
        for start in range(0, len(versions), _DELETE_BATCH):
            batch = versions[start : start + _DELETE_BATCH]
            try:
                response = self._s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={
                        "Objects": [{"Key": k, "VersionId": v} for k, v in batch],
                        "Quiet": True,
                    },
                )
            except Exception as exc:
                raise transient_error(exc, "s3", "DeleteObjects") from exc
            errors = response.get("Errors") or []
            if errors:
                codes = sorted({str(e.get("Code", "")) for e in errors})
                raise ServiceUnavailableError(
                    f"s3 DeleteObjects refused {len(errors)} version(s) ({', '.join(codes)})",
                    service="s3",
                )
        return sorted({k for k, _ in versions}), len(versions)
