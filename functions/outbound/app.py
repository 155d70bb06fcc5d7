"""Outbound Lambda: SQS batch of shop events -> mail through the SES SMTP relay.

Composition root only: settings -> bootstrap -> service -> result (the service is built once
per container, ``per_container``); :func:`handle` returns the partial batch response
(``ReportBatchItemFailures``). Outcomes are counted as EMF metrics; a configuration error
(bad credentials, unverified sender...) emits the ``ConfigurationError`` metric the alarm
watches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from shopmail.bootstrap.container import per_container
from shopmail.bootstrap.outbound import outbound_service
from shopmail.bootstrap.powertools import add_counts, add_outbound_counts, handler_tools
from shopmail.errors import ConfigurationError
from shopmail.services.outbound import OutboundService

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger, metrics = handler_tools("shopmail-outbound")

_METRICS = {
    "sent": "EmailsSent",
    "duplicate": "OutboundDuplicates",
    "suppressed": "EmailsSuppressed",
    "dead_lettered": "OutboundDeadLettered",
    "invalid": "OutboundInvalidEvents",
    "retry": "OutboundRetried",
    "stopped": "OutboundStopped",
    "notify_failed": "OutboundNotifyFailed",
    "ambiguous": "OutboundAmbiguous",
    "unrecorded": "OutboundUnrecorded",
    "exhausted": "OutboundRetriesExhausted",
}
#: The alarm of a stopped batch -> the metric its CloudWatch alarm watches.
_ALARMS = {
    "configuration": "ConfigurationError",
    "quota": "QuotaExceeded",
    "unavailable": "RelayUnavailable",
}


_service = per_container(outbound_service)


def handle(event: Any, service: OutboundService, context: Any = None) -> dict[str, Any]:
    """Run ``service`` on the SQS batch; return ``{"batchItemFailures": [...]}``."""
    records = event.get("Records", []) if isinstance(event, dict) else []
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    result = service.handle_batch(records, remaining_ms=remaining)
    add_counts(metrics, {m: result.counts.get(n, 0) for n, m in _METRICS.items()}, skip_zero=True)
    add_outbound_counts(metrics, result.by_type, result.relay_errors)
    if result.alarm in _ALARMS:
        metrics.add_metric(_ALARMS[result.alarm], MetricUnit.Count, 1)
        logger.error("alarm: outbound %s", result.alarm, extra={"alarm": _ALARMS[result.alarm]})
    logger.info("outbound batch", extra={"result": result.to_dict()})
    return result.response()


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``Handler: app.lambda_handler``)."""
    try:
        service = _service()
    except ConfigurationError as exc:  # e.g. a table name missing from the environment
        metrics.add_metric("ConfigurationError", MetricUnit.Count, 1)
        logger.error("alarm: outbound function misconfigured", extra={"error": exc.to_dict()})
        records = event.get("Records", []) if isinstance(event, dict) else []
        return {
            "batchItemFailures": [
                {"itemIdentifier": str(r.get("messageId", i))} for i, r in enumerate(records)
            ]
        }
    return handle(event, service, context)
