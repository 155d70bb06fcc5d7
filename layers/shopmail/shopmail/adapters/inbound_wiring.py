"""Composition of the inbound service from settings and boto3 clients.

Used by the inbound Lambda handler (``functions/inbound/app.py``) and by ``shopmail replay``
(which re-drives dead-lettered events in-process). Clients are created lazily: an invocation
that never forwards or dead-letters never loads the SES/SQS service models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shopmail.adapters.dynamodb_idempotency import DynamoDbIdempotencyStore
from shopmail.adapters.dynamodb_rate_limit import DynamoDbRateLimiter
from shopmail.adapters.eventbridge import EventBridgePublisher
from shopmail.adapters.lazy_client import LazyClient
from shopmail.adapters.s3_raw_mail import S3RawMailStore
from shopmail.adapters.sqs_dead_letter import SqsDeadLetterSink
from shopmail.config import Settings
from shopmail.errors import ConfigurationError
from shopmail.ports import FeedbackSink, MailSender
from shopmail.services.inbound import Decider, InboundService
from shopmail.services.inbound_actions import ActionPorts

if TYPE_CHECKING:
    from shopmail.domain.inbound.routing.model import Classify

logger = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]


class LazyMailSender:
    """A ``MailSender`` that builds the real sender (the SMTP relay adapter) on first use."""

    def __init__(self, factory: Callable[[], MailSender]) -> None:
        self._factory = factory
        self._sender: MailSender | None = None

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        """Send through the real sender."""
        if self._sender is None:
            self._sender = self._factory()
        return self._sender.send(envelope_from, recipients, message)


def default_client_factory(
    endpoint_url: str | None = None, region: str | None = None
) -> ClientFactory:
    """``boto3.client`` with a shared session, optional endpoint (moto) and region."""
    import boto3

    session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
    kwargs: dict[str, Any] = {"endpoint_url": endpoint_url} if endpoint_url else {}

    def make(service: str) -> Any:
        return session.client(service, **kwargs)  # type: ignore[call-overload]

    return make


def build_router(settings: Settings, classify: Classify | None = None) -> Decider:
    """The router for ``settings.routes_file`` (the shipped default routes when empty).

    ``classify`` is the router's kind classifier (see
    :class:`~shopmail.domain.inbound.routing.feedback_gate.GatedClassifier`); ``None``: the parser's
    flags decide the bounce/complaint/auto-reply matchers.
    """
    from shopmail.domain.inbound.routing import Router

    return Router.from_file(
        settings.routes_file or None,
        settings.mail_domain,
        order_pattern=settings.order_number_pattern or None,
        classify=classify,
    )


class LazyFeedbackSink:
    """A ``FeedbackSink`` that builds the feedback service on first use.

    Most inbound mail is no bounce, so the feedback modules are imported (and its tables'
    clients created) only when a ``feedback`` action applies one.
    """

    def __init__(self, settings: Settings, client_factory: ClientFactory) -> None:
        self._settings = settings
        self._client_factory = client_factory
        self._service: Any = None

    def apply(self, classification: Any, meta: Mapping[str, Any]) -> str:
        """``FeedbackService.handle_classification``; returns the outcome's status.

        Raises
        ------
        ConfigurationError
            ``SUPPRESSION_TABLE`` is not set for the inbound function.
        """
        if self._service is None:
            from shopmail.adapters.feedback_wiring import build_feedback_service

            self._service = build_feedback_service(self._settings, self._client_factory)
        outcome = self._service.handle_classification(classification, dict(meta))
        return str(getattr(outcome, "status", outcome))


class LogOnlyDeadLetterSink:
    """Used when no DLQ URL is configured (local runs): the reason is logged, nothing kept."""

    def send(self, payload: Mapping[str, Any], reason: Mapping[str, Any]) -> None:
        """Log the reason (never the payload: it may hold addresses)."""
        logger.error("no dead-letter queue configured; dropping", extra={"reason": dict(reason)})


def _unconfigured_sender() -> MailSender:
    raise ConfigurationError("no mail sender configured for the inbound function")


def build_inbound_service(
    settings: Settings,
    client_factory: ClientFactory,
    *,
    router: Decider | None = None,
    mail_sender: MailSender | None = None,
    mail_sender_factory: Callable[[], MailSender] | None = None,
    feedback: FeedbackSink | None = None,
) -> InboundService:
    """Wire :class:`InboundService` with the AWS adapters.

    Parameters
    ----------
    settings
        ``Settings.from_env()`` in Lambda.
    client_factory
        ``service name -> boto3 client`` (see :func:`default_client_factory`).
    router
        Defaults to :func:`build_router`.
    mail_sender, mail_sender_factory
        The relay sender for ``forward``/``auto_reply`` (or a factory called on first use).
    feedback
        Where ``feedback`` actions go (default :class:`LazyFeedbackSink`: the feedback service
        with the same clients, built on first use).
    """
    from shopmail.domain.inbound.loop_guard import auto_reply_allowed
    from shopmail.domain.inbound.parsing import iter_attachment_chunks, parse_message
    from shopmail.domain.inbound.reply_text import strip_reply
    from shopmail.domain.inbound.routing.feedback_gate import GatedClassifier

    gate = GatedClassifier()  # shared: the router and the feedback action classify once
    s3 = LazyClient(lambda: client_factory("s3"))
    ddb = LazyClient(lambda: client_factory("dynamodb"))
    sender: MailSender = mail_sender or LazyMailSender(mail_sender_factory or _unconfigured_sender)
    ports = ActionPorts(
        store=S3RawMailStore(s3, settings.raw_mail_bucket),
        publisher=EventBridgePublisher(
            LazyClient(lambda: client_factory("events")), settings.event_bus_name
        ),
        sender=sender,
        rate_limiter=(
            DynamoDbRateLimiter(ddb, settings.rate_limit_table)
            if settings.rate_limit_table
            else None
        ),
        attachment_reader=iter_attachment_chunks,
        loop_guard=auto_reply_allowed,
        strip_reply=strip_reply,
        feedback=feedback or LazyFeedbackSink(settings, client_factory),
        classify=gate.full,
    )
    return InboundService(
        settings,
        ports,
        router or build_router(settings, gate),
        parse_message,
        (
            DynamoDbIdempotencyStore(
                ddb, settings.idempotency_table, settings.idempotency_ttl_seconds
            )
            if settings.idempotency_table
            else None
        ),
        (
            SqsDeadLetterSink(LazyClient(lambda: client_factory("sqs")), settings.inbound_dlq_url)
            if settings.inbound_dlq_url
            else LogOnlyDeadLetterSink()
        ),
    )


def relay_sender(settings: Settings, client_factory: ClientFactory | None = None) -> MailSender:
    """The SES SMTP relay sender, with credentials from ``SMTP_SECRET_ARN``.

    The secret is JSON ``{"access_key_id": ..., "secret_access_key": ...}`` (the SMTP IAM
    user); the SMTP password is derived from the secret key for ``settings.region``.

    Raises
    ------
    ConfigurationError
        No secret is configured, or it lacks the keys.
    """
    import json

    from shopmail.adapters.smtp_relay import SesSmtpRelay, SmtpCredentials
    from shopmail.domain.smtp.password import smtp_password

    if not settings.smtp_secret_arn:
        raise ConfigurationError("SMTP_SECRET_ARN is not set: cannot forward or auto-reply")
    factory = client_factory or default_client_factory(region=settings.region)
    try:
        secret = factory("secretsmanager").get_secret_value(SecretId=settings.smtp_secret_arn)
        data = json.loads(secret["SecretString"])
        credentials = SmtpCredentials(
            data["access_key_id"], smtp_password(data["secret_access_key"], settings.region)
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"the SMTP secret is unusable ({type(exc).__name__})") from exc
    return SesSmtpRelay.from_settings(settings, credentials)
