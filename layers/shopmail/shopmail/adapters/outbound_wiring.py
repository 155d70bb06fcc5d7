"""Composition of the outbound service from settings and boto3 clients.

Used by the outbound Lambda handler (``functions/outbound/app.py``) and local tools. Clients
are created lazily; the relay (and its Secrets Manager read) is built on the first send of
the first batch and reused while the container is warm.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, closing
from typing import Any

from shopmail.adapters.dynamodb_idempotency import DynamoDbIdempotencyStore
from shopmail.adapters.dynamodb_sent_mail import DynamoDbSentMailStore
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.adapters.eventbridge import EventBridgePublisher
from shopmail.adapters.lazy_client import LazyClient
from shopmail.adapters.s3_attachments import S3AttachmentFetcher
from shopmail.adapters.smtp_credentials import SecretsManagerSmtpCredentials
from shopmail.adapters.smtp_relay import RelaySession, SesSmtpRelay
from shopmail.adapters.sqs_dead_letter import SqsDeadLetterSink
from shopmail.config import Settings
from shopmail.errors import ConfigurationError
from shopmail.ports import MailSender
from shopmail.services.outbound import OutboundPorts, OutboundService

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]


class LogOnlyDeadLetterSink:
    """Used when ``OUTBOUND_DLQ_URL`` is not set (local runs): logs the reason only."""

    def send(self, payload: Mapping[str, Any], reason: Mapping[str, Any]) -> None:
        """Log the reason (never the payload: it holds addresses)."""
        log.error("no outbound dead-letter queue configured", extra={"reason": dict(reason)})


class CachedRelay:
    """Builds :class:`SesSmtpRelay` once (credentials from ``SMTP_SECRET_ARN``) and opens a
    session per batch: ``CachedRelay(settings, clients).session()``.

    Parameters
    ----------
    settings
        Relay host/port/CA/timeout/rate and the secret ARN.
    client_factory
        ``service name -> boto3 client`` (Secrets Manager).
    """

    def __init__(self, settings: Settings, client_factory: ClientFactory) -> None:
        self.settings = settings
        self._clients = client_factory
        self._relay: SesSmtpRelay | None = None
        self._last: RelaySession | None = None
        self._lock = threading.Lock()

    def relay(self) -> SesSmtpRelay:
        """The relay adapter (built on first use).

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
                # e.g. 535 after a key rotation: read the secret again for the next batch
                log.warning("re-reading the SMTP secret after a configuration error")
                self._relay = None
                if self.settings.smtp_secret_arn:
                    self._secret().invalidate()
            if self._relay is None:
                if not self.settings.smtp_secret_arn:
                    raise ConfigurationError("SMTP_SECRET_ARN is not set")
                credentials = self._secret().get()
                self._relay = SesSmtpRelay.from_settings(self.settings, credentials)
            return self._relay

    def _secret(self) -> SecretsManagerSmtpCredentials:
        return SecretsManagerSmtpCredentials(
            self._clients("secretsmanager"), self.settings.smtp_secret_arn, self.settings.region
        )

    def session(self) -> AbstractContextManager[MailSender]:
        """A batch session (one connection, opened on the first send, closed at exit).

        A session that ended in a :class:`ConfigurationError` (530/535...) makes the next
        call re-read the secret, so a rotated key is picked up without a cold start.
        """
        session = self.relay().open_session()
        self._last = session
        return closing(session)


def build_outbound_service(
    settings: Settings,
    client_factory: ClientFactory,
    *,
    relay: Callable[[], AbstractContextManager[MailSender]] | None = None,
) -> OutboundService:
    """Wire :class:`OutboundService` with the AWS adapters.

    Parameters
    ----------
    settings
        ``Settings.from_env()`` in Lambda.
    client_factory
        ``service name -> boto3 client`` (``inbound_wiring.default_client_factory``).
    relay
        Session factory of the SMTP relay (default: :class:`CachedRelay` on the secret).
    """
    for name in ("idempotency_table", "suppression_table", "sent_mail_table"):
        if not getattr(settings, name):
            raise ConfigurationError(f"setting {name} is empty")
    ddb = LazyClient(lambda: client_factory("dynamodb"))
    ports = OutboundPorts(
        publisher=EventBridgePublisher(
            LazyClient(lambda: client_factory("events")), settings.event_bus_name
        ),
        dead_letters=(
            SqsDeadLetterSink(
                LazyClient(lambda: client_factory("sqs")),
                settings.outbound_dlq_url,
                source="shopmail.outbound",
            )
            if settings.outbound_dlq_url
            else LogOnlyDeadLetterSink()
        ),
        idempotency=DynamoDbIdempotencyStore(
            ddb, settings.idempotency_table, settings.idempotency_ttl_seconds
        ),
        suppression=DynamoDbSuppressionList(ddb, settings.suppression_table),
        sent_mail=DynamoDbSentMailStore(ddb, settings.sent_mail_table),
        attachments=S3AttachmentFetcher(LazyClient(lambda: client_factory("s3"))),
        relay=relay or CachedRelay(settings, client_factory).session,
    )
    return OutboundService(settings, ports)
