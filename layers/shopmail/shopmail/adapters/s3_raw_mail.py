"""The raw-mail bucket (S3): streamed reads, writes, copies and streamed uploads."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shopmail.adapters.aws_errors import error_code, transient_error
from shopmail.errors import RawMailMissingError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchBucket"})
_DENIED = frozenset({"AccessDenied", "403"})
# Streamed uploads: 8 MiB parts, two in flight, so an attachment upload holds ~16-24 MiB at
# most (the s3transfer default of 10 threads could hold 80 MiB in a 256 MB function).
_PART_SIZE = 8 * 1024 * 1024
_CONCURRENCY = 2


def _client_error_code(exc: Exception) -> str:
    """S3's error code when ``exc`` is an answer of S3 (``""`` for anything else)."""
    return error_code(exc) if isinstance(exc, ClientError) else ""


class _ChunkReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (for ``upload_fileobj``)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b)
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(view), len(self._buf))
        view[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class S3RawMailStore:
    """Implements ``ports.InboundMailStore`` on one bucket.

    Parameters
    ----------
    client
        A boto3 S3 client.
    bucket
        The raw-mail bucket (``RAW_MAIL_BUCKET``).

    IAM: ``s3:GetObject`` on the raw prefix (plus ``s3:ListBucket`` so a missing object is a
    404, not a 403), ``s3:PutObject`` (and ``s3:AbortMultipartUpload``) on the attachments and
    quarantine prefixes (``CopyObject`` needs GetObject on the source, PutObject on the target).

    Example
    -------
    >>> store = S3RawMailStore(boto3.client("s3"), "shop-raw-mail")  # doctest: +SKIP
    >>> b"".join(store.iter_chunks("inbound/abc123"))  # doctest: +SKIP
    """

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def iter_chunks(self, key: str, chunk_size: int = 65536) -> Iterator[bytes]:
        """Stream the object ``key`` in chunks of ``chunk_size`` bytes.

        Raises
        ------
        RawMailMissingError
            The object (or the bucket) does not exist.
        ServiceUnavailableError
            S3 throttled or failed.
        """
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            code = _client_error_code(exc)
            if code in _DENIED:
                # Without s3:ListBucket S3 answers 403 for a missing key as well.
                raise RawMailMissingError(
                    f"raw mail s3://{self.bucket}/{key} is missing or not readable "
                    f"({code}): check the object and the function's s3:GetObject / "
                    "s3:ListBucket permissions",
                    bucket=self.bucket,
                    key=key,
                ) from exc
            if code in _MISSING:
                raise RawMailMissingError(
                    f"raw mail s3://{self.bucket}/{key} does not exist "
                    f"({code}): the receipt rule's S3 action did not store it, "
                    "or bucket/prefix differ from the rule's",
                    bucket=self.bucket,
                    key=key,
                ) from exc
            raise transient_error(exc, "s3", "GetObject", key=key) from exc
        return self._stream(response["Body"], key, chunk_size)

    def _stream(self, body: Any, key: str, chunk_size: int) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(chunk_size)
        except Exception as exc:
            raise transient_error(exc, "s3", "GetObject.read", key=key) from exc
        finally:
            body.close()

    def read(self, key: str) -> bytes:
        """Read the whole object ``key`` (small objects only)."""
        return b"".join(self.iter_chunks(key))

    def put(
        self,
        key: str,
        body: bytes | Iterable[bytes],
        content_type: str = "application/octet-stream",
    ) -> None:
        """Store ``body`` (bytes, or an iterable of chunks streamed) under ``key``."""
        if not isinstance(body, bytes | bytearray):
            self.upload_stream(key, body, content_type)
            return
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=bytes(body), ContentType=content_type
            )
        except Exception as exc:
            raise transient_error(exc, "s3", "PutObject", key=key) from exc

    def upload_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str = "application/octet-stream"
    ) -> None:
        """Upload the concatenated ``chunks`` (multipart above 8 MB, memory stays bounded)."""
        reader = io.BufferedReader(_ChunkReader(chunks), buffer_size=1 << 20)
        try:
            self._s3.upload_fileobj(
                reader,
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer_config(),
            )
        except Exception as exc:
            raise transient_error(exc, "s3", "UploadObject", key=key) from exc

    @staticmethod
    def _transfer_config() -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=_PART_SIZE,
            multipart_chunksize=_PART_SIZE,
            max_concurrency=_CONCURRENCY,
        )

    def copy(self, source_key: str, target_key: str) -> None:
        """Copy ``source_key`` to ``target_key`` inside the bucket."""
        try:
            self._s3.copy_object(
                Bucket=self.bucket,
                Key=target_key,
                CopySource={"Bucket": self.bucket, "Key": source_key},
            )
        except Exception as exc:
            if _client_error_code(exc) in _MISSING:
                raise RawMailMissingError(
                    f"raw mail s3://{self.bucket}/{source_key} does not exist (copy)",
                    bucket=self.bucket,
                    key=source_key,
                ) from exc
            raise transient_error(exc, "s3", "CopyObject", key=source_key) from exc
