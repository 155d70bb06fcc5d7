"""SQS -> Lambda event source mappings run in-process (the EventBridge -> SQS hop is moto's).

Each :class:`QueuePoller` long-polls one queue (short waits so Ctrl-C is quick), hands the
batch to the handler as Lambda's SQS event, and honours the result like Lambda does:

- success: every message is deleted;
- ``{"batchItemFailures": [{"itemIdentifier": id}, ...]}`` (with ``ReportBatchItemFailures``):
  the others are deleted, the failed ones stay;
- an exception: the whole batch stays.

With ``batching_window`` a mapping's ``MaximumBatchingWindowInSeconds`` gathers messages as
Lambda does: until the batch is full or the window has passed since the first message (off by
default: locally each message is handled as soon as it arrives; ``bench/bench_calls.py`` turns
it on to count calls per mail with Lambda's batches).

Messages that stay become visible again after a short local back-off (instead of the queue's
visibility timeout, minutes on AWS), and moto's ``RedrivePolicy`` moves them to the
dead-letter queue after ``maxReceiveCount`` receives.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from shopmail_local.stack.lambda_runtime import Handler, LambdaContext
from shopmail_local.stack.provision import FunctionSpec, SqsEventSource

log = logging.getLogger(__name__)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS event for a batch of ``ReceiveMessage`` results."""
    records = []
    for m in messages:
        attrs = m.get("Attributes") or {}
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attrs.get("SentTimestamp", ""),
                    "SenderId": attrs.get("SenderId", ""),
                    "ApproximateFirstReceiveTimestamp": attrs.get(
                        "ApproximateFirstReceiveTimestamp", ""
                    ),
                },
                "messageAttributes": m.get("MessageAttributes") or {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def failed_ids(result: Any, batch_ids: list[str], reports_failures: bool) -> set[str]:
    """The message ids to keep after the handler returned ``result``.

    Lambda treats a malformed partial-batch response (unknown or empty item id) as a failure
    of the whole batch.
    """
    if not reports_failures or not isinstance(result, dict) or "batchItemFailures" not in result:
        return set()
    items = result.get("batchItemFailures") or []
    ids: set[str] = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in batch_ids:
            return set(batch_ids)
        ids.add(str(ident))
    return ids


class QueuePoller:
    """Poll one queue and feed one function, like a Lambda event source mapping.

    Parameters
    ----------
    sqs
        A boto3 SQS client bound to the moto server.
    source
        The mapping (queue, batch size, partial batch responses).
    function
        The function (name, ARN, timeout, memory).
    handler
        The handler ``(event, context) -> result``.
    retry_backoff
        Seconds before a failed message is visible again (local stand-in for the visibility
        timeout).
    on_batch
        Called with ``(source, event, result_or_exception)`` after each batch.
    batching_window
        Honour the mapping's batching window (see the module docs).
    """

    def __init__(
        self,
        sqs: Any,
        source: SqsEventSource,
        function: FunctionSpec,
        handler: Handler,
        *,
        region: str = "eu-west-1",
        wait_seconds: int = 1,
        retry_backoff: int = 1,
        on_batch: Callable[[SqsEventSource, dict[str, Any], Any], None] | None = None,
        batching_window: bool = False,
    ) -> None:
        self.sqs = sqs
        self.source = source
        self.function = function
        self.handler = handler
        self.region = region
        self.wait_seconds = wait_seconds
        self.retry_backoff = retry_backoff
        self.on_batch = on_batch
        self.batching_window = batching_window
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _receive(self, limit: int, wait: int) -> list[dict[str, Any]]:
        resp = self.sqs.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=limit,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(resp.get("Messages") or [])

    def poll_once(self) -> int:
        """Receive one batch and process it; return the number of messages received.

        With :attr:`batching_window`, messages are gathered as Lambda does (module docs).
        """
        size = min(10, self.source.batch_size)
        messages = self._receive(size, self.wait_seconds)
        if not messages:
            return 0
        window = self.source.batching_window if self.batching_window else 0.0
        deadline = time.monotonic() + window
        while len(messages) < size and time.monotonic() < deadline and not self._stop.is_set():
            messages += self._receive(size - len(messages), 0) or []
            if len(messages) < size:
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        event = sqs_event(messages, self.source.queue_arn, self.region)
        ids = [m["MessageId"] for m in messages]
        context = LambdaContext(
            function_name=self.function.name,
            invoked_function_arn=self.function.arn,
            memory_limit_in_mb=self.function.memory,
            timeout_seconds=self.function.timeout,
        )
        outcome: Any
        try:
            outcome = self.handler(json.loads(json.dumps(event)), context)
            failed = failed_ids(outcome, ids, self.source.report_batch_item_failures)
        except Exception as exc:
            log.warning(
                "%s failed on a batch of %d: %s", self.function.name, len(ids), type(exc).__name__
            )
            outcome, failed = exc, set(ids)
        for m in messages:
            if m["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.source.queue_url,
                    ReceiptHandle=m["ReceiptHandle"],
                    VisibilityTimeout=self.retry_backoff,
                )
            else:
                self.sqs.delete_message(
                    QueueUrl=self.source.queue_url, ReceiptHandle=m["ReceiptHandle"]
                )
        if self.on_batch is not None:
            try:
                self.on_batch(self.source, event, outcome)
            except Exception:
                log.exception("batch hook failed")
        return len(messages)

    def run(self) -> None:
        """Poll until :meth:`stop` (errors are logged and retried after a pause)."""
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("polling %s failed", self.source.name)
                self._stop.wait(1.0)

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self._thread = threading.Thread(
            target=self.run, name=f"poll-{self.source.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


class Observer:
    """Drain the local observer queue (catch-all bus rules) into a callback.

    The observer queue and rules are local-only additions, not part of the template.
    """

    QUEUE_NAME = "shopmail-local-observer"

    def __init__(
        self,
        sqs: Any,
        events: Any,
        buses: list[str],
        account_id: str,
        on_event: Callable[[str, dict[str, Any]], None],
        *,
        region: str = "eu-west-1",
    ) -> None:
        self.sqs = sqs
        self.on_event = on_event
        self.queue_url = sqs.create_queue(QueueName=self.QUEUE_NAME)["QueueUrl"]
        arn = f"arn:aws:sqs:{region}:{account_id}:{self.QUEUE_NAME}"
        for bus in buses:
            rule = f"shopmail-local-observe-{bus}"
            events.put_rule(
                Name=rule,
                EventBusName=bus,
                EventPattern=json.dumps({"account": [account_id]}),
                State="ENABLED",
            )
            events.put_targets(
                Rule=rule,
                EventBusName=bus,
                Targets=[{"Id": "observer", "Arn": arn}],
            )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def drain_once(self, wait: int = 1) -> int:
        """Receive and record one batch of observed events."""
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        )
        messages = resp.get("Messages") or []
        for m in messages:
            try:
                event = json.loads(m["Body"])
            except json.JSONDecodeError:
                event = {"raw": m["Body"]}
            try:
                self.on_event(str(event.get("source", "")), event)
            finally:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return len(messages)

    def run(self) -> None:
        """Drain until stopped."""
        while not self._stop.is_set():
            try:
                self.drain_once()
            except Exception:
                log.exception("observer failed")
                self._stop.wait(1.0)

    def start(self) -> None:
        """Start draining in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="observer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop draining."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def replay_dead_letters(
    sqs: Any,
    dlq_url: str,
    source_urls: list[str],
    reinvoke: Callable[[Any], Any] | None = None,
) -> int:
    """Move every message of a dead-letter queue back; return how many moved.

    With ``reinvoke`` (an async-invocation DLQ, holding Lambda destination records) each
    record's ``requestPayload`` is invoked again; otherwise the body goes back to the first
    source queue (a redrive DLQ). Messages that cannot go anywhere stay.
    """
    moved = 0
    kept: set[str] = set()
    while True:
        resp = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
        )
        messages = [m for m in resp.get("Messages") or [] if m["MessageId"] not in kept]
        if not messages:
            break
        for m in messages:
            if reinvoke is not None:
                try:
                    record = json.loads(m["Body"])
                except json.JSONDecodeError:
                    kept.add(m["MessageId"])
                    continue
                payload = (
                    record.get("requestPayload", record) if isinstance(record, dict) else record
                )
                reinvoke(payload)
            elif source_urls:
                sqs.send_message(QueueUrl=source_urls[0], MessageBody=m["Body"])
            else:
                kept.add(m["MessageId"])
                continue
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
            moved += 1
    for m_id in kept:
        log.warning("dead letter %s kept (nowhere to replay it)", m_id)
    return moved
