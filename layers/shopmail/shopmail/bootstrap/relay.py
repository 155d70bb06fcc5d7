"""The SES SMTP relay, composed once per container: one credentials path for every function.

Inbound (forward, auto-reply) and outbound (one session per batch) use the same
:class:`RelayProvider`: the relay's credentials come from the secret ``SMTP_SECRET_ARN`` in any
of the shapes :func:`shopmail.adapters.smtp_credentials.credentials_from_secret` accepts, are
cached per container, and are read again after a session or a send ended in a
:class:`~shopmail.errors.ConfigurationError` (a 535 after a key rotation), so a rotated key is
picked up without a cold start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, closing
from typing import TYPE_CHECKING

from shopmail.bootstrap.clients import AwsClients
from shopmail.config import Settings
from shopmail.errors import ConfigurationError
from shopmail.ports import MailSender

if TYPE_CHECKING:
    from shopmail.adapters.smtp_credentials import SecretsManagerSmtpCredentials
    from shopmail.adapters.smtp_relay import RelaySession, SesSmtpRelay

log = logging.getLogger(__name__)


class RelayProvider:
    """Builds :class:`SesSmtpRelay` on first use and re-reads the secret after a
    configuration error.

    Parameters
    ----------
    settings
        Relay host/port/CA/timeout/rate and the secret ARN.
    clients
        Where the Secrets Manager client comes from.
    """

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self._clients = clients
        self._relay: SesSmtpRelay | None = None
        self._stale = False
        self._last: RelaySession | None = None
        self._lock = threading.Lock()

    def relay(self) -> SesSmtpRelay:
        """The relay adapter (built now if needed, or rebuilt after a configuration error).

        Raises
        ------
        ConfigurationError
            No or an unusable secret.
        ServiceUnavailableError
            Secrets Manager failed transiently.
        """
        with self._lock:
            last, self._last = self._last, None
            if last is not None and isinstance(last.failed, ConfigurationError):
                self._stale = True
            if self._stale:
                # e.g. 535 after a key rotation: read the secret again
                log.warning("re-reading the SMTP secret after a configuration error")
                self._relay = None
                self._stale = False
                if self.settings.smtp_secret_arn:
                    self._secret().invalidate()
            if self._relay is None:
                if not self.settings.smtp_secret_arn:
                    raise ConfigurationError("SMTP_SECRET_ARN is not set: the relay is unusable")
                from shopmail.adapters.smtp_relay import SesSmtpRelay  # lazy: smtplib, ssl

                self._relay = SesSmtpRelay.from_settings(self.settings, self._secret().get())
            return self._relay

    def _secret(self) -> SecretsManagerSmtpCredentials:
        from shopmail.adapters.smtp_credentials import SecretsManagerSmtpCredentials

        return SecretsManagerSmtpCredentials(
            self._clients.secretsmanager(), self.settings.smtp_secret_arn, self.settings.region
        )

    def mark_stale(self) -> None:
        """Read the secret again before the next use (after a configuration error)."""
        with self._lock:
            self._stale = True

    def session(self) -> AbstractContextManager[MailSender]:
        """A batch session (one connection, opened on the first send, closed at exit)."""
        session = self.relay().open_session()
        self._last = session
        return closing(session)

    def sender(self) -> MailSender:
        """A :class:`MailSender` for occasional sends (inbound's forward and auto-reply)."""
        return _ProviderSender(self)


class _ProviderSender:
    """Sends through the provider's current relay; a configuration error marks it stale."""

    def __init__(self, provider: RelayProvider) -> None:
        self._provider = provider

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        relay = self._provider.relay()
        try:
            return relay.send(envelope_from, recipients, message)
        except ConfigurationError:
            relay.close()
            self._provider.mark_stale()
            raise
