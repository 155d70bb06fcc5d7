"""Reading, cleaning and emptying a dead-letter queue (operators and erasure).

SQS has no "peek": messages are received with a visibility timeout (so each is seen once per
pass), and the ones that stay are made visible again at the end
(``ChangeMessageVisibility 0``), keeping their original send time, attributes and retention.
A receive uses a 1 s long poll, which asks every SQS server (a short poll may miss messages
of a small queue), and a pass ends after :data:`EMPTY_POLLS` empty answers in a row.

IAM: ``sqs:ReceiveMessage``, ``sqs:DeleteMessage``, ``sqs:ChangeMessageVisibility`` (and
``sqs:SendMessage`` on the target queue for a redrive).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from shopmail.adapters.aws_errors import transient_error
from shopmail.domain.dead_letters import (
    DeadLetterBody,
    DeadLetterEntry,
    read_dead_letter,
)
from shopmail.domain.erasure.matcher import AddressMatcher

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

EMPTY_POLLS: Final = 2
#: How long received messages stay hidden during one pass (a pass over a big queue is long).
HOLD_SECONDS: Final = 900


class SqsDeadLetterQueue:
    """One dead-letter queue; implements ``ports.Scrubber``.

    Parameters
    ----------
    client
        A boto3 SQS client.
    queue_url
        The queue.
    kind
        Its body format (inbound: ``invocation``; the others: ``record``).
    name
        Its name in reports (``inbound``, ``outbound``, ``feedback``, ``erasure``).
    """

    def __init__(
        self,
        client: SQSClient,
        queue_url: str,
        kind: DeadLetterBody = DeadLetterBody.RECORD,
        *,
        name: str = "",
        wait_seconds: int = 1,
    ) -> None:
        self._sqs = client
        self.queue_url = queue_url
        self.kind = kind
        self.name = name
        self.wait_seconds = wait_seconds

    def _receive(self, limit: int | None, hold: int) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        empty = 0
        while empty < EMPTY_POLLS and (limit is None or len(seen) < limit):
            want = 10 if limit is None else max(1, min(10, limit - len(seen)))
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=want,
                    VisibilityTimeout=hold,
                    WaitTimeSeconds=self.wait_seconds,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception as exc:
                raise transient_error(exc, "sqs", "ReceiveMessage") from exc
            fresh = [m for m in response.get("Messages", []) if m["MessageId"] not in seen]
            empty = 0 if fresh else empty + 1
            for message in fresh:
                seen.add(message["MessageId"])
                yield dict(message)

    @contextmanager
    def held(
        self, limit: int | None = None, hold: int = HOLD_SECONDS
    ) -> Iterator[list[dict[str, Any]]]:
        """Receive up to ``limit`` messages (all when ``None``); at exit, every message not
        :meth:`delete`-d is visible again."""
        messages = list(self._receive(limit, hold))
        try:
            yield messages
        finally:
            self.release(m for m in messages if not m.get("_deleted"))

    def release(self, messages: Iterator[Mapping[str, Any]] | list[Mapping[str, Any]]) -> None:
        """Make ``messages`` visible again at once."""
        batch: list[Mapping[str, Any]] = []
        for message in messages:
            batch.append(message)
            if len(batch) == 10:
                self._visible(batch)
                batch = []
        if batch:
            self._visible(batch)

    def _visible(self, batch: list[Mapping[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(batch)
        ]
        try:
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=entries,  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise transient_error(exc, "sqs", "ChangeMessageVisibilityBatch") from exc

    def delete(self, message: dict[str, Any]) -> None:
        """Delete a held message."""
        try:
            self._sqs.delete_message(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        except Exception as exc:
            raise transient_error(exc, "sqs", "DeleteMessage") from exc
        message["_deleted"] = True

    def read(self, message: Mapping[str, Any]) -> DeadLetterEntry:
        """The entry of a held message."""
        return read_dead_letter(message, self.kind)

    def entries(self, limit: int | None = 100, hold: int = 60) -> list[DeadLetterEntry]:
        """Up to ``limit`` entries, left in the queue."""
        with self.held(limit, hold) as messages:
            return [self.read(m) for m in messages]

    def remove_where(self, predicate: Callable[[dict[str, Any]], bool]) -> int:
        """Delete every message ``predicate`` accepts (the others stay); return how many."""
        removed = 0
        with self.held(None) as messages:
            for message in messages:
                if predicate(message):
                    self.delete(message)
                    removed += 1
        return removed

    def scrub(self, matcher: AddressMatcher) -> int:
        """Delete every message whose body or attributes name the address."""

        def names(message: dict[str, Any]) -> bool:
            return matcher.in_text_or_json(str(message.get("Body", ""))) or matcher.in_value(
                message.get("MessageAttributes") or {}
            )

        return self.remove_where(names)
