"""SES SMTP password derivation (version 4, in use since 2019).

The SES SMTP relay does not accept an IAM secret access key as password: the password is a
signature derived from it for one **region**. User name = the access key id.

Algorithm (AWS's published version-4 derivation)::

    k = HMAC-SHA256(("AWS4" + secret).encode(), "11111111")
    k = HMAC-SHA256(k, region); k = HMAC-SHA256(k, "ses")
    k = HMAC-SHA256(k, "aws4_request"); k = HMAC-SHA256(k, "SendRawEmail")
    password = base64(b"\\x04" + k)
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_DATE = "11111111"
_SERVICE = "ses"
_TERMINAL = "aws4_request"
_MESSAGE = "SendRawEmail"
_VERSION = b"\x04"


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def smtp_password(secret_access_key: str, region: str) -> str:
    """Derive the SES SMTP password for ``region`` from an IAM secret access key.

    Parameters
    ----------
    secret_access_key
        The IAM user's secret access key.
    region
        The AWS region of the SMTP endpoint (``email-smtp.<region>.amazonaws.com``); the
        password only works in this region.

    Returns
    -------
    str
        The base64 password (44 characters, starts with ``B`` for version 4).

    Raises
    ------
    ValueError
        If the key or the region is empty.

    Example
    -------
    >>> smtp_password("some+secret+key", "eu-central-1")
    'BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2'
    """
    if not secret_access_key:
        raise ValueError("secret_access_key is empty")
    if not region:
        raise ValueError("region is empty")
    key = ("AWS4" + secret_access_key).encode("utf-8")
    for part in (_DATE, region, _SERVICE, _TERMINAL, _MESSAGE):
        key = _sign(key, part)
    return base64.b64encode(_VERSION + key).decode("ascii")
