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
