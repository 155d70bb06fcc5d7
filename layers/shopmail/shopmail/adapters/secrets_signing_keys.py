"""The HMAC keys of unsubscribe tokens, read from Secrets Manager (``UNSUBSCRIBE_SECRET_ARN``).

Cached per container for :data:`CACHE_SECONDS`, so a rotated key (see
:mod:`shopmail.domain.outbound.unsubscribe`) is used within minutes without a deployment.
IAM: ``secretsmanager:GetSecretValue`` on the secret (and ``kms:Decrypt`` of its key).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from shopmail.adapters.secrets import secret_string
from shopmail.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from shopmail.domain.outbound.unsubscribe import SigningKeys

CACHE_SECONDS: Final = 300.0


class SecretsManagerSigningKeys:
    """Implements ``ports.SigningKeySource``.

    Parameters
    ----------
    client
        A boto3 ``secretsmanager`` client.
    secret_id
        ``UNSUBSCRIBE_SECRET_ARN``.
    clock
        Monotonic seconds (tests).
    """

    def __init__(
        self,
        client: SecretsManagerClient,
        secret_id: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not secret_id:
            raise ConfigurationError("no unsubscribe secret configured (UNSUBSCRIBE_SECRET_ARN)")
        self._client = client
        self.secret_id = secret_id
        self._clock = clock
        self._cached: tuple[float, SigningKeys] | None = None
        self._lock = threading.Lock()

    def keys(self) -> SigningKeys:
        """The keys (read again after :data:`CACHE_SECONDS`).

        Raises
        ------
        ConfigurationError
            The secret is missing, unreadable or holds no usable key.
        ServiceUnavailableError
            Secrets Manager failed transiently.
        """
        now = self._clock()
        with self._lock:
            if self._cached is not None and now - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
        # loaded by the first read: in the outbound function, by the first marketing mail
        from shopmail.domain.outbound.unsubscribe import SigningKeys

        keys = SigningKeys.from_secret(
            secret_string(self._client, self.secret_id, "unsubscribe secret")
        )
        with self._lock:
            self._cached = (now, keys)
        return keys
