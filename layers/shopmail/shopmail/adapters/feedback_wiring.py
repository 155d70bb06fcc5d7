"""Composition of the feedback service from settings and boto3 clients.

Used by the feedback Lambda handler (``functions/feedback/app.py``) and by callers that apply
DSN/ARF mail in-process (the inbound side). Clients are created lazily.
"""

from __future__ import annotations

from shopmail.adapters.dynamodb_bounce_counter import DynamoDbBounceCounter
from shopmail.adapters.dynamodb_idempotency import DynamoDbIdempotencyStore
from shopmail.adapters.dynamodb_sent_mail import DynamoDbSentMailStore
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.adapters.eventbridge import EventBridgePublisher
from shopmail.adapters.inbound_wiring import ClientFactory
from shopmail.adapters.lazy_client import LazyClient
from shopmail.adapters.sqs_dead_letter import SqsDeadLetterSink
from shopmail.config import Settings
from shopmail.errors import ConfigurationError
from shopmail.services.feedback import FeedbackService


def build_feedback_service(settings: Settings, client_factory: ClientFactory) -> FeedbackService:
    """Wire :class:`FeedbackService` with the AWS adapters.

    Parameters
    ----------
    settings
        ``Settings.from_env()``: ``SUPPRESSION_TABLE`` is required; ``SENT_MAIL_TABLE``,
        ``IDEMPOTENCY_TABLE`` (deduplication and transient-bounce counting) and
        ``FEEDBACK_DLQ_URL`` (invalid records) are optional.
    client_factory
        ``service name -> boto3 client``
        (see :func:`shopmail.adapters.inbound_wiring.default_client_factory`).

    Raises
    ------
    ConfigurationError
        ``SUPPRESSION_TABLE`` is not set.
    """
    if not settings.suppression_table:
        raise ConfigurationError("SUPPRESSION_TABLE is not set for the feedback function")
    ddb = LazyClient(lambda: client_factory("dynamodb"))
    return FeedbackService(
        EventBridgePublisher(LazyClient(lambda: client_factory("events")), settings.event_bus_name),
        DynamoDbSuppressionList(ddb, settings.suppression_table),
        DynamoDbSentMailStore(ddb, settings.sent_mail_table) if settings.sent_mail_table else None,
        (
            DynamoDbIdempotencyStore(
                ddb, settings.idempotency_table, settings.idempotency_ttl_seconds
            )
            if settings.idempotency_table
            else None
        ),
        DynamoDbBounceCounter(ddb, settings.idempotency_table)
        if settings.idempotency_table
        else None,
        transient_threshold=settings.transient_bounce_threshold,
        transient_window_days=settings.transient_bounce_window_days,
        mail_domain=settings.mail_domain or None,
        dead_letters=(
            SqsDeadLetterSink(
                LazyClient(lambda: client_factory("sqs")),
                settings.feedback_dlq_url,
                source="shopmail.feedback",
            )
            if settings.feedback_dlq_url
            else None
        ),
    )
