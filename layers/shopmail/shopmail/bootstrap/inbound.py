"""Composition of the inbound use case from settings and AWS clients.

Used by the inbound Lambda handler (``functions/inbound/app.py``) and by ``shopmail replay``
(which re-drives dead-lettered events in-process). Clients are created lazily: an invocation
that never forwards or dead-letters never loads the SES/SQS service models, and the feedback
use case (for DSN/ARF mail) is composed only when a ``feedback`` action first applies one.
Routes named by ``ROUTES_FILE`` as ``s3://`` or ``ssm:`` are read through Powertools parameters
and re-read after ``CONFIG_CACHE_SECONDS`` (:class:`ReloadingRouter`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from shopmail.adapters.dynamodb_action_ledger import DynamoDbActionLedger
from shopmail.adapters.dynamodb_erasure_index import DynamoDbErasureIndex
from shopmail.adapters.dynamodb_rate_limit import DynamoDbRateLimiter
from shopmail.adapters.eventbridge import EventBridgePublisher
from shopmail.adapters.s3_raw_mail import S3RawMailStore
from shopmail.bootstrap.clients import AwsClients, ClientFactory
from shopmail.bootstrap.dead_letters import dead_letter_sink
from shopmail.bootstrap.relay import RelayProvider
from shopmail.bootstrap.remote_config import Reloading, config_source
from shopmail.bootstrap.shop import reply_shop
from shopmail.config import ENV_NAMES, Settings
from shopmail.domain.dead_letters import DeadLetterBody
from shopmail.domain.locations import parse_location
from shopmail.ports import Decider, FeedbackSink, MailSender
from shopmail.services.inbound import ActionPorts, InboundService

if TYPE_CHECKING:
    from shopmail.adapters.config_source import ConfigSource
    from shopmail.domain.feedback.outcome import FeedbackOutcome, MailFeedback
    from shopmail.domain.inbound.routing import Router
    from shopmail.domain.inbound.routing.model import Classify, RoutingDecision
    from shopmail.domain.message import InboundMessage
    from shopmail.services.feedback import FeedbackService


def build_router(
    settings: Settings, classify: Classify | None = None, aws: AwsClients | None = None
) -> Decider:
    """The router for ``settings.routes_file`` (the shipped default routes when empty).

    ``classify`` is the router's kind classifier (see
    :class:`~shopmail.domain.inbound.routing.feedback_gate.GatedClassifier`); ``None``: the
    parser's flags decide the bounce/complaint/auto-reply matchers. A routes file in S3 or SSM
    is read with ``aws`` and validated at once (a :class:`~shopmail.errors.RouteConfigError`
    names every problem), then re-read after the cache time (:class:`ReloadingRouter`).
    """
    from shopmail.domain.inbound.routing import Router

    location = parse_location(settings.routes_file, ENV_NAMES["routes_file"])
    if settings.routes_file and location.remote:
        router = ReloadingRouter(
            settings, config_source(settings, aws or AwsClients.from_settings(settings)), classify
        )
        router.table()  # validated now: a broken file fails the cold start, not a mail
        return router
    return Router.from_file(
        settings.routes_file or None,
        settings.mail_domain,
        order_pattern=settings.order_number_pattern or None,
        classify=classify,
    )


class ReloadingRouter:
    """A :class:`~shopmail.ports.Decider` on routes kept in S3 or SSM (``ROUTES_FILE``).

    The rules are checked by the same loader as a local file; a changed file that does not
    validate is logged and the previous rules stay (see
    :class:`~shopmail.bootstrap.remote_config.Reloading`).
    """

    def __init__(
        self, settings: Settings, source: ConfigSource, classify: Classify | None = None
    ) -> None:
        location = parse_location(settings.routes_file, ENV_NAMES["routes_file"])

        def build(text: str) -> Router:
            from shopmail.domain.inbound.routing import Router, parse_routes

            return Router(
                parse_routes(text, str(location), mail_domain=settings.mail_domain),
                settings.mail_domain,
                order_pattern=settings.order_number_pattern or None,
                classify=classify,
            )

        self._router = Reloading(str(location), lambda: source.read_text(location), build)

    def table(self) -> Router:
        """The router of the current rules."""
        return self._router.get()

    def decide(self, message: InboundMessage, recipient: str | None) -> RoutingDecision:
        """:meth:`Router.decide` with the current rules."""
        return self.table().decide(message, recipient)


class LazyFeedbackSink:
    """A :class:`~shopmail.ports.FeedbackSink` that composes the feedback use case on first use.

    Most inbound mail is no bounce, so the feedback modules are imported (and its tables'
    clients created) only when a ``feedback`` action applies one.
    """

    def __init__(self, factory: Callable[[], FeedbackService]) -> None:
        self._factory = factory
        self._service: FeedbackService | None = None

    def apply(self, feedback: MailFeedback) -> FeedbackOutcome:
        """:meth:`FeedbackService.handle_mail`.

        Raises
        ------
        ConfigurationError
            The feedback use case cannot be composed (e.g. ``SUPPRESSION_TABLE`` is not set
            for the inbound function).
        """
        if self._service is None:
            self._service = self._factory()
        return self._service.handle_mail(feedback)


class LazyMailSender:
    """A :class:`~shopmail.ports.MailSender` that builds the real sender on first use."""

    def __init__(self, factory: Callable[[], MailSender]) -> None:
        self._factory = factory
        self._sender: MailSender | None = None

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        """Send through the real sender."""
        if self._sender is None:
            self._sender = self._factory()
        return self._sender.send(envelope_from, recipients, message)


def _feedback_service(settings: Settings, aws: AwsClients) -> FeedbackService:
    from shopmail.bootstrap.feedback import build_feedback_service  # lazy: most mail is no DSN

    return build_feedback_service(settings, aws)


def build_inbound_service(
    settings: Settings,
    clients: AwsClients | ClientFactory,
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
        ``Settings.from_env()``: ``RAW_MAIL_BUCKET`` holds the mail; ``IDEMPOTENCY_TABLE``
        (action ledger), ``RATE_LIMIT_TABLE``, ``ERASURE_INDEX_TABLE`` and ``INBOUND_DLQ_URL``
        are optional.
    clients
        The AWS clients (or a bare ``service name -> boto3 client`` factory).
    router
        Defaults to :func:`build_router`.
    mail_sender, mail_sender_factory
        The relay sender for ``forward``/``auto_reply`` (or a factory called on first use);
        default: the SES relay with the credentials of ``SMTP_SECRET_ARN``.
    feedback
        Where ``feedback`` actions go (default: the feedback use case on the same clients,
        composed on first use).
    """
    from shopmail.domain.inbound.parsing import iter_attachment_chunks, parse_message
    from shopmail.domain.inbound.reply_text import strip_reply
    from shopmail.domain.inbound.routing.feedback_gate import GatedClassifier

    settings.require("inbound")
    aws = AwsClients.of(clients)
    gate = GatedClassifier()  # shared: the router and the feedback action classify once
    if mail_sender is None:
        mail_sender = LazyMailSender(mail_sender_factory or RelayProvider(settings, aws).sender)
    ddb = aws.dynamodb()
    erasure_index = (
        DynamoDbErasureIndex(ddb, settings.erasure_index_table)
        if settings.erasure_index_table
        else None
    )
    ports = ActionPorts(
        store=S3RawMailStore(aws.s3(), settings.raw_mail_bucket),
        publisher=EventBridgePublisher(aws.events(), settings.event_bus_name),
        sender=mail_sender,
        rate_limiter=(
            DynamoDbRateLimiter(ddb, settings.rate_limit_table)
            if settings.rate_limit_table
            else None
        ),
        attachment_reader=iter_attachment_chunks,
        strip_reply=strip_reply,
        feedback=feedback or LazyFeedbackSink(lambda: _feedback_service(settings, aws)),
        classify=gate.full,
        erasure_index=erasure_index,
        reply_shop=reply_shop(settings, aws),
    )
    return InboundService(
        settings,
        ports,
        router or build_router(settings, gate, aws),
        parse_message,
        (
            DynamoDbActionLedger(
                ddb,
                settings.idempotency_table,
                settings.idempotency_ttl_seconds,
                erasure_index=erasure_index,  # written with the finished records
            )
            if settings.idempotency_table
            else None
        ),
        dead_letter_sink(
            settings.inbound_dlq_url, aws, "shopmail.inbound", DeadLetterBody.INVOCATION
        ),
    )


def inbound_service(settings: Settings) -> InboundService:
    """The inbound use case as the Lambda handler runs it (clients from ``settings``)."""
    return build_inbound_service(settings, AwsClients.from_settings(settings))
