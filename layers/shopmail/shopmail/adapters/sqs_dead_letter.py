"""The dead-letter sink: an SQS queue, one message per input that ended permanently.

The body is the queue's one format (:mod:`shopmail.domain.dead_letters`): the original record
body for the queue-fed functions (outbound, feedback, erasure), a Lambda invocation record for
the inbound function (the same queue is its on-failure destination). The reason travels in
``shopmail.*`` message attributes, so a plain redrive puts the input back as the consumer
expects it. ``shopmail dlq list|show|redrive`` reads every entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shopmail.adapters.aws_errors import transient_error
from shopmail.domain.dead_letters import DeadLetterBody, dead_letter_message

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsDeadLetterSink:
    """Implements ``ports.DeadLetterSink`` (IAM: ``sqs:SendMessage`` on the queue).

    Parameters
    ----------
    client
        A boto3 SQS client.
    queue_url
        The dead-letter queue.
    source
        Who writes (``shopmail.inbound``...), kept in the ``shopmail.source`` attribute.
    body
        The queue's body format (``record``: the payload is the SQS record that failed;
        ``invocation``: the payload is the Lambda event).
    """

    def __init__(
        self,
        client: SQSClient,
        queue_url: str,
        source: str = "shopmail.inbound",
        body: DeadLetterBody = DeadLetterBody.INVOCATION,
    ) -> None:
        self._sqs = client
        self.queue_url = queue_url
        self.source = source
        self.body = body

    def send(self, payload: Mapping[str, Any], reason: Mapping[str, Any]) -> None:
        """Send ``payload`` in the queue's format with ``reason`` as attributes.

        Raises
        ------
        ServiceUnavailableError
            SQS throttled or failed (the caller's input is then retried, not lost).
        """
        text, attributes = dead_letter_message(
            payload,
            reason,
            source=self.source,
            failed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            body=self.body,
        )
        try:
            self._sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=text,
                MessageAttributes=attributes,  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise transient_error(exc, "sqs", "SendMessage") from exc
