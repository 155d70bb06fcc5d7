"""Read configuration files (shop config, template overrides, routes) from S3, SSM or disk.

Reads go through Powertools parameters (``aws_lambda_powertools.utilities.parameters``), which
keeps every value ``max_age`` seconds in memory: within that time a read costs no AWS call,
after it the next read fetches the value again. SSM parameters are read with Powertools'
``SSMProvider`` (``ssm:GetParameter``, with decryption, so a SecureString works when the role
may also decrypt it); S3 objects and prefixes with :class:`S3Provider`, a Powertools provider
(``s3:GetObject``; ``s3:ListBucket`` on the prefix for a folder). Local files (a path packaged
with the function or layer, or the CLI's) do not change while a process runs and are read once.

Errors: a missing object or parameter, access denied, a file too large are
:class:`~shopmail.errors.ConfigurationError` (an operator must act); throttling and network
failures :class:`~shopmail.errors.ServiceUnavailableError` (retry).

Example
-------
>>> from shopmail.domain.outbound.template_catalog import TEMPLATE_DIR
>>> source = ConfigSource(s3=None, ssm=None)
>>> source.read_text(parse_location(str(TEMPLATE_DIR / "layout.txt"))).startswith("{{ greeting")
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.utilities.parameters import BaseProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from shopmail.adapters.aws_errors import error_code, is_transient
from shopmail.domain.locations import Location, LocationKind, parse_location
from shopmail.domain.outbound.template_overlay import MAX_FILE_BYTES, MAX_FILES, read_folder
from shopmail.errors import ConfigurationError, ServiceUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["MAX_OBJECT_BYTES", "ConfigSource", "S3Provider", "parse_location"]

#: The largest single configuration object (shop config, routes, logo) read.
MAX_OBJECT_BYTES: Final = 512 * 1024
_MISSING: Final = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound", "ParameterNotFound"})
_DENIED: Final = frozenset({"AccessDenied", "AccessDeniedException", "403", "Forbidden"})


class S3Provider(BaseProvider):
    """A Powertools parameter provider for S3: ``get("s3://b/k")`` is the object's bytes,
    ``get_multiple("s3://b/prefix/")`` every object below the prefix by relative name.

    Parameters
    ----------
    client
        A boto3 S3 client (created on first use when it is a lazy proxy).
    """

    def __init__(self, client: S3Client) -> None:
        super().__init__()  # no client: registering a user-agent feature would create it now
        self._s3 = client

    def _get(self, name: str, **sdk_options: Any) -> bytes:
        location = parse_location(name)
        return self._object(location.bucket, location.value)

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, bytes]:  # type: ignore[override]
        location = parse_location(path)
        prefix = location.value
        files: dict[str, bytes] = {}
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket, Prefix=prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/"):
                    continue
                if len(files) >= MAX_FILES:
                    raise ValueError(f"{path}: more than {MAX_FILES} objects")
                if int(item.get("Size", 0)) > MAX_FILE_BYTES:
                    raise ValueError(f"{key}: larger than {MAX_FILE_BYTES} bytes")
                files[key[len(prefix) :]] = self._object(location.bucket, key, MAX_FILE_BYTES)
        return files

    def _object(self, bucket: str, key: str, limit: int = MAX_OBJECT_BYTES) -> bytes:
        response = self._s3.get_object(Bucket=bucket, Key=key)
        if int(response.get("ContentLength") or 0) > limit:
            response["Body"].close()
            raise ValueError(f"s3://{bucket}/{key}: larger than {limit} bytes")
        data: bytes = response["Body"].read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"s3://{bucket}/{key}: larger than {limit} bytes")
        return data


class ConfigSource:
    """Reads configuration by location (see the module docs), cached ``max_age`` seconds.

    Parameters
    ----------
    s3
        The S3 client (``None``: S3 locations are a configuration error).
    ssm
        A factory of the SSM client, called on the first SSM read (``None``: likewise).
    max_age
        Seconds a value read from S3 or SSM is served from memory.
    """

    def __init__(
        self,
        s3: S3Client | None,
        ssm: Callable[[], Any] | None,
        max_age: int = 300,
    ) -> None:
        self.max_age = max_age
        self._s3 = S3Provider(s3) if s3 is not None else None
        self._ssm_factory = ssm
        self._ssm: SSMProvider | None = None
        self._files: dict[str, Any] = {}

    def read_bytes(self, location: Location) -> bytes:
        """The content of a file, object or parameter.

        Raises
        ------
        ConfigurationError
            Missing, not readable (access denied), too large.
        ServiceUnavailableError
            S3 or SSM failed transiently.
        """
        if location.kind is LocationKind.FILE:
            return self._file(location.value)
        if location.kind is LocationKind.S3:
            value = self._fetch(
                location, lambda: self._provider(location).get(str(location), self.max_age)
            )
        else:
            value = self._fetch(
                location,
                lambda: self._ssm_provider(location).get(
                    location.value, self.max_age, decrypt=True
                ),
            )
        return value if isinstance(value, bytes) else str(value).encode("utf-8")

    def read_text(self, location: Location) -> str:
        """:meth:`read_bytes` decoded as UTF-8 (a BOM is dropped)."""
        data = self.read_bytes(location)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigurationError(
                f"{location}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                location=str(location),
            ) from exc

    def read_tree(self, location: Location) -> Mapping[str, bytes]:
        """Every file below a folder or S3 prefix, by relative name.

        Raises
        ------
        ConfigurationError
            An SSM location, a missing folder, too many or too large files, access denied.
        """
        if location.kind is LocationKind.SSM:
            raise ConfigurationError(
                f"{location}: a folder of templates cannot be an SSM parameter (use s3://...)",
                location=str(location),
            )
        if location.kind is LocationKind.FILE:
            key = f"tree:{location.value}"
            if key not in self._files:
                try:
                    self._files[key] = read_folder(Path(location.value))
                except (OSError, ValueError) as exc:
                    raise ConfigurationError(
                        f"{location}: cannot read the folder: {exc}", location=str(location)
                    ) from exc
            tree: Mapping[str, bytes] = self._files[key]
            return tree
        provider = self._provider(location)
        files: Mapping[str, bytes] = self._fetch(
            location, lambda: provider.get_multiple(str(location), self.max_age)
        )
        return files  # the cached mapping itself: unchanged content is the same object

    # --- helpers ---------------------------------------------------------------------------

    def _file(self, path: str) -> bytes:
        if path not in self._files:
            file = Path(path)
            try:
                if file.stat().st_size > MAX_OBJECT_BYTES:
                    raise ConfigurationError(
                        f"{path}: larger than {MAX_OBJECT_BYTES} bytes", location=path
                    )
                self._files[path] = file.read_bytes()
            except OSError as exc:
                raise ConfigurationError(
                    f"{path}: cannot read: {exc.strerror or exc}", location=path
                ) from exc
        data: bytes = self._files[path]
        return data

    def _provider(self, location: Location) -> S3Provider:
        if self._s3 is None:
            raise ConfigurationError(f"{location}: no S3 client", location=str(location))
        return self._s3

    def _ssm_provider(self, location: Location) -> SSMProvider:
        if self._ssm is None:
            if self._ssm_factory is None:
                raise ConfigurationError(f"{location}: no SSM client", location=str(location))
            self._ssm = SSMProvider(boto3_client=self._ssm_factory())
        return self._ssm

    def _fetch(self, location: Location, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except GetParameterError as exc:
            raise _error(location, exc.__context__ or exc) from exc


def _error(location: Location, cause: BaseException) -> Exception:
    where = str(location)
    if isinstance(cause, ClientError):
        code = error_code(cause)
        if code in _MISSING:
            return ConfigurationError(f"{where} does not exist ({code})", location=where)
        if code in _DENIED:
            return ConfigurationError(
                f"{where}: access denied ({code}); the function's role must be allowed to read "
                "it (template parameters ShopConfig, TemplatesBucket, RoutesFile)",
                location=where,
            )
        if is_transient(cause):
            return ServiceUnavailableError(
                f"reading {where} failed transiently ({code})", location=where, code=code
            )
        return ConfigurationError(f"{where}: {code}: {str(cause)[:200]}", location=where)
    if isinstance(cause, ValueError | ConfigurationError):
        reason = cause.reason if isinstance(cause, ConfigurationError) else str(cause)
        return ConfigurationError(f"{where}: {reason}"[:500], location=where)
    if is_transient(cause):
        return ServiceUnavailableError(
            f"reading {where} failed transiently ({type(cause).__name__})", location=where
        )
    return ConfigurationError(
        f"{where}: {type(cause).__name__}: {str(cause)[:200]}", location=where
    )
