"""Postpone failed SQS messages: ``ChangeMessageVisibilityBatch`` on the queue they came from.

Lambda's SQS event source leaves a message that failed (``batchItemFailures``) in its queue; it
is delivered again once its visibility timeout ends. Changing that timeout before returning
sets when: :mod:`shopmail.domain.outbound.retry_schedule` decides how long. The queue URL is
built from the record's ``eventSourceARN`` (``arn:<partition>:sqs:<region>:<account>:<name>``)
and the client's endpoint, so no ``GetQueueUrl`` call is needed. Called only for failed items,
one request per queue and ten messages.

IAM: ``sqs:ChangeMessageVisibility`` on the source queues (it covers the batch call).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shopmail.domain.outbound.retry_schedule import MAX_VISIBILITY_SECONDS, Postponement

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

log = logging.getLogger(__name__)

#: Entries per ``ChangeMessageVisibilityBatch`` (the SQS limit).
BATCH_LIMIT = 10


def queue_url(endpoint_url: str, queue_arn: str) -> str | None:
    """The URL of the queue ``queue_arn`` on ``endpoint_url`` (``None`` for another ARN).

    Example
    -------
    >>> queue_url("https://sqs.eu-west-1.amazonaws.com",
    ...           "arn:aws:sqs:eu-west-1:123456789012:shopmail-OutboundQueue")
    'https://sqs.eu-west-1.amazonaws.com/123456789012/shopmail-OutboundQueue'
    """
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[4] or not parts[5]:
        return None
    return f"{endpoint_url.rstrip('/')}/{parts[4]}/{parts[5]}"


class SqsVisibilityScheduler:
    """Implements ``ports.RetryScheduler`` with ``ChangeMessageVisibilityBatch``.

    Parameters
    ----------
    client
        A boto3 SQS client (its endpoint builds the queue URLs).
    """

    def __init__(self, client: SQSClient) -> None:
        self._sqs = client

    def postpone(self, items: Sequence[Postponement]) -> None:
        """Set each message's visibility timeout to its ``delay_seconds`` (0..12 h).

        Never raises: a message whose change failed comes back after the queue's own
        visibility timeout, which is only an earlier retry.
        """
        by_queue: dict[str, list[Postponement]] = {}
        for item in items:
            if item.receipt_handle and item.queue_arn:
                by_queue.setdefault(item.queue_arn, []).append(item)
        for arn, queued in by_queue.items():
            url = queue_url(self._sqs.meta.endpoint_url, arn)
            if url is None:
                log.warning("cannot postpone %d message(s): not an SQS queue ARN", len(queued))
                continue
            for start in range(0, len(queued), BATCH_LIMIT):
                self._change(url, queued[start : start + BATCH_LIMIT])

    def _change(self, url: str, items: Sequence[Postponement]) -> None:
        entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
            {
                "Id": str(index),
                "ReceiptHandle": item.receipt_handle,
                "VisibilityTimeout": max(0, min(int(item.delay_seconds), MAX_VISIBILITY_SECONDS)),
            }
            for index, item in enumerate(items)
        ]
        try:
            response = self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except Exception as exc:  # the queue's visibility timeout still applies
            log.warning(
                "could not postpone %d message(s) (%s): they return after the queue's "
                "visibility timeout",
                len(items),
                type(exc).__name__,
            )
            return
        failed = response.get("Failed") or []
        if failed:
            log.warning(
                "could not postpone %d of %d message(s): %s",
                len(failed),
                len(items),
                sorted({str(f.get("Code", "")) for f in failed}),
                extra={"sqs_message_ids": [items[int(f["Id"])].item_id for f in failed]},
            )
