"""SMTP credentials for the SES relay, read from Secrets Manager and cached per container.

The secret is JSON, in one of two shapes:

* the IAM access key: ``{"AccessKeyId": "...", "SecretAccessKey": "..."}`` (also accepted:
  ``access_key_id``/``secret_access_key``, ``aws_access_key_id``/``aws_secret_access_key``)
  -> the SMTP password is derived for the relay's region (version-4 algorithm);
* already derived: ``{"username": "...", "password": "..."}`` (also ``smtp_username`` /
  ``smtp_password``) -> used as is.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shopmail.adapters.secrets import secret_string
from shopmail.adapters.smtp_relay import SmtpCredentials
from shopmail.domain.smtp.password import smtp_password
from shopmail.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = logging.getLogger(__name__)

_KEY_ID = ("AccessKeyId", "access_key_id", "aws_access_key_id", "accessKeyId")
_SECRET = ("SecretAccessKey", "secret_access_key", "aws_secret_access_key", "secretAccessKey")
_USER = ("username", "smtp_username", "SmtpUsername")
_PASSWORD = ("password", "smtp_password", "SmtpPassword")
_CACHE: dict[tuple[str, str], SmtpCredentials] = {}
_LOCK = threading.Lock()


def _first(data: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def credentials_from_secret(secret: str | Mapping[str, Any], region: str) -> SmtpCredentials:
    """Turn the secret's JSON into SMTP credentials for ``region``.

    Raises
    ------
    ConfigurationError
        If the secret is not JSON or holds neither an access key nor a user name/password.
    """
    if isinstance(secret, str):
        try:
            data = json.loads(secret)
        except ValueError:
            raise ConfigurationError("the SMTP secret is not JSON") from None
    else:
        data = secret
    if not isinstance(data, Mapping):
        raise ConfigurationError("the SMTP secret is not a JSON object")
    key_id, secret_key = _first(data, _KEY_ID), _first(data, _SECRET)
    if key_id and secret_key:
        return SmtpCredentials(key_id, smtp_password(secret_key, region))
    user, password = _first(data, _USER), _first(data, _PASSWORD)
    if user and password:
        return SmtpCredentials(user, password)
    raise ConfigurationError(
        "the SMTP secret holds neither AccessKeyId/SecretAccessKey nor username/password",
        fields=sorted(str(k) for k in data),
    )


class SecretsManagerSmtpCredentials:
    """Reads the relay credentials from Secrets Manager once per container.

    Parameters
    ----------
    client
        A boto3 ``secretsmanager`` client.
    secret_id
        The secret's ARN or name (``SMTP_SECRET_ARN``).
    region
        The SMTP endpoint's region (the derived password only works there).
    """

    def __init__(self, client: SecretsManagerClient, secret_id: str, region: str) -> None:
        if not secret_id:
            raise ConfigurationError("no SMTP secret configured (SMTP_SECRET_ARN)")
        self.client = client
        self.secret_id = secret_id
        self.region = region

    def get(self) -> SmtpCredentials:
        """Return the credentials (cached per container, keyed by secret and region).

        Raises
        ------
        ConfigurationError
            The secret is missing, unreadable or malformed.
        ServiceUnavailableError
            Secrets Manager throttled or failed.
        """
        key = (self.secret_id, self.region)
        with _LOCK:
            cached = _CACHE.get(key)
        if cached is not None:
            return cached
        text = secret_string(self.client, self.secret_id, "SMTP secret")
        credentials = credentials_from_secret(text, self.region)
        with _LOCK:
            _CACHE[key] = credentials
        log.info("SMTP credentials loaded for region %s", self.region)
        return credentials

    def invalidate(self) -> None:
        """Forget the cached credentials (e.g. after ``535`` when the key was rotated)."""
        with _LOCK:
            _CACHE.pop((self.secret_id, self.region), None)


def clear_cache() -> None:
    """Forget every cached credential (tests)."""
    with _LOCK:
        _CACHE.clear()
