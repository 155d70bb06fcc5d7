"""Inbound Lambda: SES receipt event (S3 action first, then this Lambda action) -> route actions.

Composition root only: settings from the environment, adapters on lazily created boto3 clients
(reused while warm), and :func:`handle` mapping the service's outcome to the Lambda result.
Transient errors propagate (Lambda retries the async event twice, then the on-failure
destination keeps it); permanent ones were dead-lettered by the service and return normally.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from shopmail.adapters.inbound_wiring import (
    build_inbound_service,
    default_client_factory,
    relay_sender,
)
from shopmail.config import Settings
from shopmail.services.inbound import InboundService

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "shopmail-inbound"))
copy_config_to_registered_loggers(source_logger=logger, include={"shopmail"})
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "shopmail"))


def _mail_sender() -> Any:
    return relay_sender(Settings.from_env(), _clients())


@functools.cache
def _clients() -> Any:
    return default_client_factory(
        os.environ.get("AWS_ENDPOINT_URL") or None, Settings.from_env().region
    )


@functools.cache
def _service() -> InboundService:
    settings = Settings.from_env()
    return build_inbound_service(
        settings,
        _clients(),
        mail_sender_factory=_mail_sender,
    )


def handle(event: Any, service: InboundService, context: Any = None) -> dict[str, Any]:
    """Run ``service`` on ``event``; return a log-safe summary (functional tests call this)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    result = service.handle_event(event, remaining_ms=remaining).to_dict()
    result["disposition"] = "CONTINUE"  # read by SES only for RequestResponse invocations
    logger.info("inbound done", extra={"result": result})
    return result


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``Handler: app.lambda_handler``); counts outcomes as EMF metrics."""
    result = handle(event, _service(), context)
    metrics.add_metric("InboundRecords", MetricUnit.Count, result["records"])
    metrics.add_metric("InboundDeadLettered", MetricUnit.Count, result["dead_lettered"])
    metrics.add_metric("InboundDuplicateActions", MetricUnit.Count, result["duplicates"])
    return result
