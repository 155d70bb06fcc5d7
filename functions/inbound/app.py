"""Inbound Lambda: SES receipt event (S3 action first, then this Lambda action) -> route actions.

Composition root only: settings -> bootstrap -> service -> result. Transient and configuration
errors propagate (Lambda retries the async event twice, then the on-failure destination keeps
it); permanent ones were dead-lettered by the service and return normally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shopmail.bootstrap.container import per_container
from shopmail.bootstrap.inbound import inbound_service
from shopmail.bootstrap.powertools import (
    add_counts,
    add_dimension_counts,
    add_feedback_counts,
    handler_tools,
)
from shopmail.services.inbound import InboundResult, InboundService

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger, metrics = handler_tools("shopmail-inbound")


_service = per_container(inbound_service)


def handle(event: Any, service: InboundService, context: Any = None) -> dict[str, Any]:
    """Run ``service`` on ``event``; return a log-safe summary (functional tests call this)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return _summary(service.handle_event(event, remaining_ms=remaining))


def _summary(outcome: InboundResult) -> dict[str, Any]:
    result = outcome.to_dict()
    result["disposition"] = "CONTINUE"  # read by SES only for RequestResponse invocations
    logger.info("inbound done", extra={"result": result})
    return result


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``Handler: app.lambda_handler``); counts outcomes as EMF metrics."""
    outcome = _service().handle_event(event, remaining_ms=context.get_remaining_time_in_millis)
    add_feedback_counts(metrics, outcome.feedback_unverified, outcome.feedback_not_address)
    add_dimension_counts(metrics, "InboundMessages", outcome.routes, ("Route",))
    add_dimension_counts(metrics, "InboundForwardsRefused", outcome.forwards_refused, ("Reason",))
    result = _summary(outcome)
    add_counts(
        metrics,
        {
            "InboundRecords": result["records"],
            "InboundDeadLettered": result["dead_lettered"],
            "InboundDuplicateActions": result["duplicates"],
        },
    )
    return result
