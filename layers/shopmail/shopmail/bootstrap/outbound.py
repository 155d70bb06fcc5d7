"""Composition of the outbound use case from settings and AWS clients.

Used by the outbound Lambda handler (``functions/outbound/app.py``) and local tools. Clients
are created lazily; the relay (and its Secrets Manager read) is built on the first send of the
first batch and reused while the container is warm (:class:`~shopmail.bootstrap.relay.
RelayProvider`); the SQS client is created only when a batch has failed items to postpone.
Mail is rendered and built with the shop's configuration and template overrides
(:class:`~shopmail.bootstrap.shop.ShopMail`, read on the first render). With the unsubscribe
endpoint configured (``UNSUBSCRIBE_BASE_URL``, ``UNSUBSCRIBE_SECRET_ARN``) marketing mail gets
its signed one-click link (:class:`~shopmail.services.unsubscribe.UnsubscribeLinks`).
"""

from __future__ import annotations

from shopmail.adapters.dynamodb_idempotency import DynamoDbIdempotencyStore
from shopmail.adapters.dynamodb_sent_mail import DynamoDbSentMailStore
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.adapters.eventbridge import EventBridgePublisher
from shopmail.adapters.s3_attachments import S3AttachmentFetcher
from shopmail.adapters.sqs_visibility import SqsVisibilityScheduler
from shopmail.bootstrap.clients import AwsClients, ClientFactory
from shopmail.bootstrap.dead_letters import dead_letter_sink
from shopmail.bootstrap.relay import RelayProvider
from shopmail.bootstrap.shop import ShopMail
from shopmail.bootstrap.unsubscribe import unsubscribe_links
from shopmail.config import Settings
from shopmail.ports import MailSessionFactory
from shopmail.services.outbound import OutboundPorts, OutboundService


def build_outbound_service(
    settings: Settings,
    clients: AwsClients | ClientFactory,
    *,
    relay: MailSessionFactory | None = None,
) -> OutboundService:
    """Wire :class:`OutboundService` with the AWS adapters.

    Parameters
    ----------
    settings
        ``Settings.from_env()``: ``IDEMPOTENCY_TABLE``, ``SUPPRESSION_TABLE`` and
        ``SENT_MAIL_TABLE`` are required; ``OUTBOUND_DLQ_URL`` (failed items) is optional.
    clients
        The AWS clients (or a bare ``service name -> boto3 client`` factory).
    relay
        Session factory of the SMTP relay (default: :class:`RelayProvider` on the secret).

    Raises
    ------
    ConfigurationError
        A required table is not configured.
    """
    settings.require("outbound")
    aws = AwsClients.of(clients)
    ddb = aws.dynamodb()
    ports = OutboundPorts(
        publisher=EventBridgePublisher(aws.events(), settings.event_bus_name),
        dead_letters=dead_letter_sink(settings.outbound_dlq_url, aws, "shopmail.outbound"),
        idempotency=DynamoDbIdempotencyStore(
            ddb, settings.idempotency_table, settings.idempotency_ttl_seconds
        ),
        suppression=DynamoDbSuppressionList(ddb, settings.suppression_table),
        sent_mail=DynamoDbSentMailStore(ddb, settings.sent_mail_table),
        attachments=S3AttachmentFetcher(aws.s3()),
        relay=relay or RelayProvider(settings, aws).session,
        retries=SqsVisibilityScheduler(aws.sqs()),
    )
    mail = ShopMail(settings, aws)
    links = unsubscribe_links(settings, aws)
    renderer = mail.render if links is None else links.renderer(mail.render)
    return OutboundService(settings, ports, renderer=renderer, builder=mail.build)


def outbound_service(settings: Settings) -> OutboundService:
    """The outbound use case as the Lambda handler runs it (clients from ``settings``)."""
    return build_outbound_service(settings, AwsClients.from_settings(settings))
