"""Unsubscribe Lambda (function URL, ``AuthType: NONE``): RFC 8058 one-click unsubscribe.

Composition root only: settings -> bootstrap -> service -> response. The token in the link is
the authorisation (signed, expiring, naming address and stream); GET shows the confirmation
page, POST unsubscribes. A misconfigured function answers 503 with the localized error page
and emits the ``ConfigurationError`` metric.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from shopmail.bootstrap.container import per_container
from shopmail.bootstrap.powertools import handler_tools
from shopmail.bootstrap.unsubscribe import unsubscribe_service
from shopmail.errors import ConfigurationError
from shopmail.services.unsubscribe import UnsubscribeService, error_response, request_of

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger, metrics = handler_tools("shopmail-unsubscribe", service_dimension=True)


_service = per_container(unsubscribe_service)


def handle(event: Any, service: UnsubscribeService) -> dict[str, Any]:
    """Answer one function URL request (payload format 2.0)."""
    request = request_of(event)
    response = service.handle(request)
    metrics.add_metric(f"Unsubscribe{response.status}", MetricUnit.Count, 1)
    logger.info("unsubscribe", extra={"method": request.method, "status": response.status})
    return response.to_function_url()


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``Handler: app.lambda_handler``)."""
    try:
        service = _service()
    except ConfigurationError as exc:
        response = error_response(request_of(event))
        metrics.add_metric("ConfigurationError", MetricUnit.Count, 1)
        metrics.add_metric(f"Unsubscribe{response.status}", MetricUnit.Count, 1)
        logger.error("alarm: unsubscribe function misconfigured", extra={"error": exc.to_dict()})
        return response.to_function_url()
    return handle(event, service)
