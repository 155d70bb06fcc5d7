"""Composition of the feedback use case from settings and AWS clients.

Used by the feedback Lambda handler (``functions/feedback/app.py``) and, lazily, by the inbound
composition for DSN/ARF mail (:class:`shopmail.bootstrap.inbound.LazyFeedbackSink`).
"""

from __future__ import annotations

from shopmail.adapters.dynamodb_bounce_counter import DynamoDbBounceCounter
from shopmail.adapters.dynamodb_idempotency import DynamoDbIdempotencyStore
from shopmail.adapters.dynamodb_sent_mail import DynamoDbSentMailStore
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.adapters.eventbridge import EventBridgePublisher
from shopmail.bootstrap.clients import AwsClients, ClientFactory
from shopmail.bootstrap.dead_letters import dead_letter_sink
from shopmail.config import Settings
from shopmail.services.feedback import FeedbackService


def build_feedback_service(
    settings: Settings, clients: AwsClients | ClientFactory
) -> FeedbackService:
    """Wire :class:`FeedbackService` with the AWS adapters.

    Parameters
    ----------
    settings
        ``Settings.from_env()``: ``SUPPRESSION_TABLE`` is required; ``SENT_MAIL_TABLE``,
        ``IDEMPOTENCY_TABLE`` (deduplication and transient-bounce counting) and
        ``FEEDBACK_DLQ_URL`` (invalid records) are optional.
    clients
        The AWS clients (or a bare ``service name -> boto3 client`` factory).

    Raises
    ------
    ConfigurationError
        ``SUPPRESSION_TABLE`` is not set.
    """
    settings.require("feedback")
    aws = AwsClients.of(clients)
    ddb = aws.dynamodb()
    idempotency = settings.idempotency_table
    return FeedbackService(
        EventBridgePublisher(aws.events(), settings.event_bus_name),
        DynamoDbSuppressionList(ddb, settings.suppression_table),
        DynamoDbSentMailStore(ddb, settings.sent_mail_table) if settings.sent_mail_table else None,
        (
            DynamoDbIdempotencyStore(ddb, idempotency, settings.idempotency_ttl_seconds)
            if idempotency
            else None
        ),
        DynamoDbBounceCounter(ddb, idempotency) if idempotency else None,
        transient_threshold=settings.transient_bounce_threshold,
        transient_window_days=settings.transient_bounce_window_days,
        mail_domain=settings.mail_domain or None,
        dead_letters=dead_letter_sink(settings.feedback_dlq_url, aws, "shopmail.feedback"),
        trusted_topics=Settings.split_list(settings.feedback_topic_arns),
        configuration_set=settings.configuration_set,
    )


def feedback_service(settings: Settings) -> FeedbackService:
    """The feedback use case as the Lambda handler runs it (clients from ``settings``)."""
    return build_feedback_service(settings, AwsClients.from_settings(settings))
