"""Composition of the erasure use case (the erasure function and ``shopmail erase``).

Every store that the settings name is cleaned; one that is not configured (``""``) is left
out (locally or in tests).
"""

from __future__ import annotations

from shopmail.adapters.dynamodb_erasure_index import DynamoDbErasureIndex
from shopmail.adapters.dynamodb_scrubber import DynamoDbScrubber
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.adapters.eventbridge import EventBridgePublisher
from shopmail.adapters.s3_mail_objects import S3MailObjects
from shopmail.adapters.sqs_dead_letter_queue import SqsDeadLetterQueue
from shopmail.bootstrap.clients import AwsClients, ClientFactory
from shopmail.bootstrap.dead_letters import dead_letter_sink
from shopmail.config import Settings
from shopmail.domain.dead_letters import DeadLetterBody
from shopmail.domain.erasure.report import DeadLetterQueueName, ItemStore
from shopmail.ports import Scrubber
from shopmail.services.erasure import ErasurePorts, ErasureService


def dead_letter_queues(settings: Settings, clients: AwsClients) -> dict[str, SqsDeadLetterQueue]:
    """The configured dead-letter queues by name (``inbound``, ``outbound``, ...)."""
    urls = {
        DeadLetterQueueName.INBOUND: settings.inbound_dlq_url,
        DeadLetterQueueName.OUTBOUND: settings.outbound_dlq_url,
        DeadLetterQueueName.FEEDBACK: settings.feedback_dlq_url,
        DeadLetterQueueName.ERASURE: settings.erasure_dlq_url,
    }
    return {
        str(name): SqsDeadLetterQueue(
            clients.sqs(),
            url,
            DeadLetterBody.INVOCATION
            if name is DeadLetterQueueName.INBOUND
            else DeadLetterBody.RECORD,
            name=str(name),
        )
        for name, url in urls.items()
        if url
    }


def build_erasure_service(
    settings: Settings, clients: AwsClients | ClientFactory
) -> ErasureService:
    """Wire :class:`ErasureService` with the AWS adapters.

    Raises
    ------
    ConfigurationError
        ``SUPPRESSION_TABLE`` or ``RAW_MAIL_BUCKET`` is not set.
    """
    settings.require("erasure")
    aws = AwsClients.of(clients)
    ddb = aws.dynamodb()
    tables: list[Scrubber] = [
        DynamoDbScrubber(ddb, table, keys, name=str(name))
        for name, table, keys in (
            (ItemStore.SENT_MAIL, settings.sent_mail_table, ("ses_message_id",)),
            (ItemStore.IDEMPOTENCY, settings.idempotency_table, ("id",)),
            (ItemStore.RATE_LIMIT, settings.rate_limit_table, ("id",)),
        )
        if table
    ]
    tables.append(
        DynamoDbScrubber(
            ddb, settings.suppression_table, ("address",), name=ItemStore.SUPPRESSION, redact=True
        )
    )
    index = settings.erasure_index_table
    ports = ErasurePorts(
        suppression=DynamoDbSuppressionList(ddb, settings.suppression_table),
        publisher=EventBridgePublisher(aws.events(), settings.event_bus_name),
        index=DynamoDbErasureIndex(ddb, index) if index else None,
        objects=S3MailObjects(aws.s3(), settings.raw_mail_bucket),
        tables=tables,
        dead_letters=list(dead_letter_queues(settings, aws).values()),
        sink=dead_letter_sink(settings.erasure_dlq_url, aws, "shopmail.erasure"),
    )
    return ErasureService(settings, ports)


def erasure_service(settings: Settings) -> ErasureService:
    """The erasure use case as the Lambda handler runs it (clients from ``settings``)."""
    return build_erasure_service(settings, AwsClients.from_settings(settings))
