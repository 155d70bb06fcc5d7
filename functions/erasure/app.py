"""Erasure Lambda: SQS batch of ``CustomerDataErasureRequested`` events -> erasure + report.

Composition root only: settings -> bootstrap -> service -> result. An invalid request is
dead-lettered with its reason; an erasure that could not clean every store fails its item
(SQS retries it; the erasure is idempotent) and finally stays in the erasure dead-letter queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shopmail.bootstrap.container import per_container
from shopmail.bootstrap.erasure import erasure_service
from shopmail.bootstrap.powertools import add_counts, handler_tools
from shopmail.services.erasure import ErasureService

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger, metrics = handler_tools("shopmail-erasure", service_dimension=True)


_service = per_container(erasure_service)


def handle(event: Any, service: ErasureService) -> dict[str, Any]:
    """Run ``service`` on the SQS batch; return ``{"batchItemFailures": [...]}``."""
    records = event.get("Records", []) if isinstance(event, dict) else []
    result = service.handle_batch(records)
    summary = result.to_dict()
    add_counts(
        metrics,
        {
            "ErasuresComplete": summary["complete"],
            "ErasuresIncomplete": summary["incomplete"],
            "ErasureRequestsInvalid": summary["invalid"],
        },
        skip_zero=True,
    )
    logger.info("erasure batch", extra={"result": summary})
    return result.response()


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``Handler: app.lambda_handler``)."""
    return handle(event, _service())
