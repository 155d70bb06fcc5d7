"""The inbound dead-letter sink: an SQS queue (the same one as the Lambda on-failure
destination), one message per input that ended permanently, with its reason."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shopmail.adapters.aws_errors import transient_error

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# SQS accepts 256 KiB per message (1 MiB with newer quotas): keep well below the former.
MAX_BODY_BYTES = 250_000


class SqsDeadLetterSink:
    """Implements ``ports.DeadLetterSink`` (IAM: ``sqs:SendMessage`` on the queue).

    The body is JSON: ``{"source": ..., "failedAt": ..., "reason": {...}, "event": {...}}``.
    ``shopmail replay`` reads ``event`` (or ``requestPayload`` of a Lambda destination record).
    """

    def __init__(self, client: SQSClient, queue_url: str, source: str = "shopmail.inbound") -> None:
        self._sqs = client
        self.queue_url = queue_url
        self.source = source

    def send(self, payload: Mapping[str, Any], reason: Mapping[str, Any]) -> None:
        """Send ``payload`` (the original event) and ``reason`` to the queue."""
        body: dict[str, Any] = {
            "source": self.source,
            "failedAt": datetime.now(UTC).isoformat(timespec="seconds"),
            "reason": dict(reason),
            "event": payload,
        }
        text = json.dumps(body, ensure_ascii=False, default=str)
        if len(text.encode("utf-8")) > MAX_BODY_BYTES:
            body["event"] = None
            body["eventTruncated"] = True
            text = json.dumps(body, ensure_ascii=False, default=str)
        try:
            self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=text)
        except Exception as exc:
            raise transient_error(exc, "sqs", "SendMessage") from exc
