"""Ports: the ``typing.Protocol`` interfaces between services and adapters.

Services depend on these; adapters (``shopmail.adapters``) implement them against AWS or the
network; tests implement them with in-memory fakes. Add a port here when a service needs a new
capability; keep each one small.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol


class RawMailStore(Protocol):
    """Reads and writes raw mail and derived objects (S3)."""

    def iter_chunks(self, key: str, chunk_size: int = 65536) -> Iterator[bytes]:
        """Stream the object ``key``; raise ``RawMailMissingError`` when it does not exist."""
        ...

    def put(self, key: str, body: bytes | Iterable[bytes], content_type: str = ...) -> None:
        """Store ``body`` under ``key``."""
        ...


class EventPublisher(Protocol):
    """Publishes events to the shop bus (EventBridge)."""

    def publish(self, detail_type: str, detail: Mapping[str, Any], source: str) -> None:
        """Publish one event; raise ``ServiceUnavailableError`` on a (partial) failure."""
        ...


class DeadLetterSink(Protocol):
    """Keeps an input that ended permanently, with its reason (SQS dead-letter queue)."""

    def send(self, payload: Mapping[str, Any], reason: Mapping[str, Any]) -> None:
        """Store ``payload`` and the reason it could not be handled."""
        ...


class MailSender(Protocol):
    """Sends prebuilt MIME messages through the SES SMTP relay."""

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        """Send one message; return the SES message id from ``250 Ok <id>``."""
        ...


class InboundMailStore(RawMailStore, Protocol):
    """What the inbound use case needs from the raw-mail bucket beyond reading and writing."""

    def copy(self, source_key: str, target_key: str) -> None:
        """Copy ``source_key`` to ``target_key`` in the same bucket (quarantine)."""
        ...

    def upload_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str = "application/octet-stream"
    ) -> None:
        """Store the concatenated ``chunks`` under ``key`` without holding them all in memory."""
        ...


class IdempotencyStore(Protocol):
    """Records which units of work are done (DynamoDB, Powertools' table layout)."""

    def begin(self, key: str, in_progress_seconds: float) -> bool:
        """Claim ``key``: ``True`` to run it, ``False`` when it is already COMPLETED.

        Raises ``InProgressError`` while another attempt holds an unexpired claim.
        """
        ...

    def complete(self, key: str, data: Mapping[str, Any] | None = None) -> None:
        """Mark ``key`` COMPLETED (kept until the record's TTL)."""
        ...

    def release(self, key: str) -> None:
        """Drop the claim on ``key`` after a failed attempt so a retry can run it."""
        ...


class RateLimiter(Protocol):
    """At most one event per key and period (DynamoDB conditional put with TTL)."""

    def acquire(self, key: str, period_seconds: int) -> bool:
        """``True`` if nothing was recorded for ``key`` within the period (and record it now)."""
        ...

    def release(self, key: str) -> None:
        """Forget ``key`` (the guarded action failed and should be allowed on retry)."""
        ...


class FeedbackSink(Protocol):
    """Applies a bounce/complaint/delay that arrived as mail (the feedback service)."""

    def apply(self, classification: Any, meta: Mapping[str, Any]) -> str:
        """Apply ``classification`` (``meta``: ``message_id``, ``received_at``); return the
        outcome status (``processed`` | ``duplicate`` | ``ignored``)."""
        ...
