"""Where permanently failed inputs go: the function's dead-letter queue, or the log.

One fallback for every function: without a queue URL (local runs, tests) the reason is logged
and the payload is not kept (it may hold addresses).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shopmail.adapters.sqs_dead_letter import SqsDeadLetterSink
from shopmail.bootstrap.clients import AwsClients
from shopmail.domain.dead_letters import DeadLetterBody
from shopmail.ports import DeadLetterSink

log = logging.getLogger(__name__)


class LogOnlyDeadLetterSink:
    """Used when no dead-letter queue is configured: the reason is logged, nothing kept."""

    def __init__(self, source: str = "shopmail") -> None:
        self.source = source

    def send(self, payload: Mapping[str, Any], reason: Mapping[str, Any]) -> None:
        """Log the reason (never the payload: it may hold addresses)."""
        log.error(
            "no dead-letter queue configured; the input is not kept",
            extra={"source": self.source, "reason": dict(reason)},
        )


def dead_letter_sink(
    queue_url: str,
    clients: AwsClients,
    source: str,
    body: DeadLetterBody = DeadLetterBody.RECORD,
) -> DeadLetterSink:
    """The SQS sink for ``queue_url``, or :class:`LogOnlyDeadLetterSink` when it is empty.

    ``body`` is the queue's format (:mod:`shopmail.domain.dead_letters`): ``record`` for the
    queue-fed functions, ``invocation`` for the inbound function's on-failure queue.
    """
    if not queue_url:
        return LogOnlyDeadLetterSink(source)
    return SqsDeadLetterSink(clients.sqs(), queue_url, source=source, body=body)
