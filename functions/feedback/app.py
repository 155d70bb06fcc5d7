"""Feedback Lambda: SQS batch of SES events (via the default-bus rule) -> suppression + events.

Composition root only: settings -> bootstrap -> service -> result. Records that failed
transiently are returned in ``batchItemFailures`` (the queue redelivers them, then its
dead-letter queue keeps them); invalid records are logged, counted and dead-lettered by the
service, never retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shopmail.bootstrap.container import per_container
from shopmail.bootstrap.feedback import feedback_service
from shopmail.bootstrap.powertools import add_counts, add_feedback_counts, handler_tools
from shopmail.services.feedback import FeedbackBatchResult, FeedbackService

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger, metrics = handler_tools("shopmail-feedback")


_service = per_container(feedback_service)


def handle(event: Any, service: FeedbackService, context: Any = None) -> dict[str, Any]:
    """Run ``service`` on an SQS batch; return ``{"batchItemFailures": [...], "summary": ...}``
    (the Lambda entry point returns only the failures)."""
    result = _run(event, service)
    return {**result.to_response(), "summary": result.to_dict()}


def _run(event: Any, service: FeedbackService) -> FeedbackBatchResult:
    records = event.get("Records", []) if isinstance(event, dict) else []
    result = service.handle_batch(records)
    logger.info("feedback done", extra={"result": result.to_dict()})
    return result


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``Handler: app.lambda_handler``); counts outcomes as EMF metrics."""
    result = _run(event, _service())
    add_counts(
        metrics,
        {
            "FeedbackRecords": result.records,
            "FeedbackInvalid": result.invalid,
            "FeedbackDuplicates": result.duplicates,
            "FeedbackSuppressed": result.suppressed,
        },
    )
    add_feedback_counts(metrics, result.unverified, result.not_address)
    return result.to_response()
