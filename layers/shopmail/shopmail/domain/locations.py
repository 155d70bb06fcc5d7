"""Where a configuration file lives: an S3 object or prefix, an SSM parameter, or a local path.

The settings ``SHOP_CONFIG``, ``TEMPLATES_LOCATION`` and ``ROUTES_FILE`` name their file in one
of three spellings::

    s3://bucket/key/shop.toml      an S3 object (a prefix ``s3://bucket/templates/`` for folders)
    ssm:/shopmail/shop             an SSM parameter (``ssm:name`` for a name without a path)
    /opt/shop/shop.toml            a path (relative: to the working directory)

Example
-------
>>> parse_location("s3://kaffee-config/shopmail/shop.toml")
Location(kind=<LocationKind.S3: 's3'>, value='shopmail/shop.toml', bucket='kaffee-config')
>>> parse_location("ssm:/shopmail/shop").value
'/shopmail/shop'
>>> parse_location("shop.toml").remote
False
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from shopmail.errors import ConfigurationError

_BUCKET: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SSM_NAME: Final = re.compile(r"/?[A-Za-z0-9_.\-/]{1,2048}")


class LocationKind(StrEnum):
    """The three places a configuration file can be read from."""

    S3 = "s3"
    SSM = "ssm"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed location.

    Attributes
    ----------
    kind
        S3, SSM or a local file or folder.
    value
        The S3 key (or prefix), the SSM parameter name, or the path.
    bucket
        The S3 bucket (``""`` for the other kinds).
    """

    kind: LocationKind
    value: str
    bucket: str = ""

    @property
    def remote(self) -> bool:
        """Whether reading it needs AWS (S3 or SSM)."""
        return self.kind is not LocationKind.FILE

    def __str__(self) -> str:
        if self.kind is LocationKind.S3:
            return f"s3://{self.bucket}/{self.value}"
        if self.kind is LocationKind.SSM:
            return f"ssm:{self.value}"
        return self.value


def parse_location(value: str, setting: str = "location") -> Location:
    """Parse ``value`` (see the module docs).

    Parameters
    ----------
    value
        The setting's value.
    setting
        The setting's name, for the error message.

    Raises
    ------
    ConfigurationError
        An ``s3://`` location without a bucket, or an ``ssm:`` name with characters SSM does
        not allow.
    """
    text = value.strip()
    if text.startswith("s3://"):
        bucket, _, key = text[5:].partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise ConfigurationError(
                f"{setting}: {text[:120]!r} names no valid bucket (s3://bucket/key)",
                setting=setting,
            )
        return Location(LocationKind.S3, key, bucket)
    if text.startswith("ssm:"):
        name = text[4:]
        if not _SSM_NAME.fullmatch(name) or "//" in name:
            raise ConfigurationError(
                f"{setting}: {text[:120]!r} is not an SSM parameter name (ssm:/path/name)",
                setting=setting,
            )
        return Location(LocationKind.SSM, name)
    if "://" in text:
        raise ConfigurationError(
            f"{setting}: {text[:120]!r}: only s3://, ssm: or a path are supported",
            setting=setting,
        )
    return Location(LocationKind.FILE, text)
