"""Composition of the one-click unsubscribe endpoint and of the links in marketing mail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.adapters.eventbridge import EventBridgePublisher
from shopmail.adapters.secrets_signing_keys import SecretsManagerSigningKeys
from shopmail.bootstrap.clients import AwsClients, ClientFactory
from shopmail.config import Settings
from shopmail.services.unsubscribe_links import UnsubscribeLinks

if TYPE_CHECKING:
    from shopmail.services.unsubscribe import UnsubscribeService


def build_unsubscribe_service(
    settings: Settings, clients: AwsClients | ClientFactory
) -> UnsubscribeService:
    """Wire :class:`UnsubscribeService` with the AWS adapters.

    Raises
    ------
    ConfigurationError
        ``SUPPRESSION_TABLE`` or ``UNSUBSCRIBE_SECRET_ARN`` is not set.
    """
    from shopmail.services.unsubscribe import UnsubscribeService  # the endpoint's pages too

    settings.require("unsubscribe")
    aws = AwsClients.of(clients)
    return UnsubscribeService(
        SecretsManagerSigningKeys(aws.secretsmanager(), settings.unsubscribe_secret_arn),
        DynamoDbSuppressionList(aws.dynamodb(), settings.suppression_table),
        EventBridgePublisher(aws.events(), settings.event_bus_name),
    )


def unsubscribe_service(settings: Settings) -> UnsubscribeService:
    """The endpoint as the Lambda handler runs it (clients from ``settings``)."""
    return build_unsubscribe_service(settings, AwsClients.from_settings(settings))


def unsubscribe_links(settings: Settings, clients: AwsClients) -> UnsubscribeLinks | None:
    """The links of marketing mail, when the endpoint is configured (else ``None``: the shop's
    ``unsubscribeUrl`` is used as it is)."""
    if not (settings.unsubscribe_base_url and settings.unsubscribe_secret_arn):
        return None
    keys = SecretsManagerSigningKeys(clients.secretsmanager(), settings.unsubscribe_secret_arn)
    return UnsubscribeLinks(settings.unsubscribe_base_url, keys, settings.unsubscribe_token_days)
