"""Ports: every ``typing.Protocol`` interface between the services and the outside world.

Services depend on these; adapters (``shopmail.adapters``) implement them against AWS or the
network; tests implement them with in-memory fakes; ``shopmail.bootstrap`` plugs adapters into
services. Each port has exactly one name, and every port of the layer is defined here. Add a
port here when a service needs a new capability; keep each one small.

| port | implemented by | used by |
| --- | --- | --- |
| :class:`RawMailStore` | ``adapters.s3_raw_mail`` | inbound |
| :class:`EventPublisher` | ``adapters.eventbridge`` | all three |
| :class:`DeadLetterSink` | ``adapters.sqs_dead_letter`` | all three |
| :class:`RetryScheduler` | ``adapters.sqs_visibility`` | outbound |
| :class:`MailSender`, :data:`MailSessionFactory` | ``adapters.smtp_relay`` | inbound, outbound |
| :class:`IdempotencyStore` | ``adapters.dynamodb_idempotency`` | outbound, feedback |
| :class:`ActionLedger` | ``adapters.dynamodb_action_ledger`` | inbound |
| :class:`RateLimiter` | ``adapters.dynamodb_rate_limit`` | inbound |
| :class:`SuppressionList` | ``adapters.dynamodb_suppression`` | outbound, feedback |
| :class:`SentMailStore` | ``adapters.dynamodb_sent_mail`` | outbound, feedback |
| :class:`BounceCounter` | ``adapters.dynamodb_bounce_counter`` | feedback |
| :class:`AttachmentFetcher` | ``adapters.s3_attachments`` | outbound |
| :class:`FeedbackSink` | the feedback service (``bootstrap.inbound``) | inbound |
| :class:`SigningKeySource` | ``adapters.secrets_signing_keys`` | unsubscribe, outbound |
| :class:`ErasureIndex` | ``adapters.dynamodb_erasure_index`` | inbound, erasure |
| :class:`MailObjectEraser` | ``adapters.s3_mail_objects`` | erasure |
| :class:`Scrubber` | ``adapters.dynamodb_scrubber``, ``adapters.sqs_dead_letter_queue`` | erasure |
| :class:`Decider` | ``domain.inbound.routing.Router`` | inbound |
| :class:`MessageParser`, :class:`AttachmentReader` | ``domain.inbound.parsing`` | inbound |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from shopmail.domain.erasure.matcher import AddressMatcher
    from shopmail.domain.feedback.outcome import FeedbackOutcome, MailFeedback
    from shopmail.domain.inbound.routing.model import RoutingDecision
    from shopmail.domain.message import Attachment, Envelope, InboundMessage
    from shopmail.domain.outbound.mime_build import Attachment as MailAttachment
    from shopmail.domain.outbound.rendering import AttachmentRef
    from shopmail.domain.outbound.retry_schedule import Postponement
    from shopmail.domain.outbound.sent_mail import SentMail
    from shopmail.domain.outbound.unsubscribe import SigningKeys
    from shopmail.domain.suppression.entries import SuppressionEntry


# --- storage -----------------------------------------------------------------------------


class RawMailStore(Protocol):
    """Raw mail and the objects derived from it (the raw-mail bucket in S3)."""

    def iter_chunks(self, key: str, chunk_size: int = 65536) -> Iterator[bytes]:
        """Stream the object ``key``; raise ``RawMailMissingError`` when it does not exist."""
        ...

    def put(self, key: str, body: bytes | Iterable[bytes], content_type: str = ...) -> None:
        """Store ``body`` under ``key``."""
        ...

    def copy(self, source_key: str, target_key: str) -> None:
        """Copy ``source_key`` to ``target_key`` in the same bucket (quarantine)."""
        ...

    def upload_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str = "application/octet-stream"
    ) -> None:
        """Store the concatenated ``chunks`` under ``key`` without holding them all in memory."""
        ...


class AttachmentFetcher(Protocol):
    """Fetches the attachments an outbound mail refers to (S3)."""

    def fetch(self, ref: AttachmentRef) -> MailAttachment:
        """Download ``ref``."""
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

    def data(self, key: str) -> Mapping[str, Any] | None:
        """The ``data`` stored by :meth:`complete` (``None`` when absent)."""
        ...

    def complete_many(self, items: Sequence[tuple[str, Mapping[str, Any] | None]]) -> None:
        """Mark every ``(key, data)`` COMPLETED, in as few calls as the store allows."""
        ...


class LedgerClaim(NamedTuple):
    """What :meth:`ActionLedger.claim` found: whether the record is finished, and the ids of
    the actions done."""

    finished: bool
    done: frozenset[str]


class ActionLedger(Protocol):
    """One record per (inbound message, recipient): which of its route actions are done
    (DynamoDB, the idempotency table)."""

    def claim(self, key: str, lease_seconds: float) -> LedgerClaim:
        """Claim the record for one attempt (one conditional write).

        Returns ``finished`` when every action is done (nothing to claim), else the actions
        an earlier attempt finished. Raises ``InProgressError`` while another attempt holds an
        unexpired claim.
        """
        ...

    #: Whether :meth:`finish_all` records a message's mentions in the erasure index.
    records_mentions: bool

    def finish_all(
        self,
        finishes: Sequence[tuple[str, Iterable[str], bool]],
        mentions: tuple[Iterable[str], str, int] | None = None,
    ) -> None:
        """Finish every record ``(key, done, complete)``: its actions ``done`` (all of them)
        recorded and the claim dropped; ``complete``: finished (a later claim finds it so), else
        a retry runs the actions not done. When :attr:`records_mentions`, also the erasure index
        items of ``mentions`` (address hashes, object key, days kept). In as few calls as the
        store allows."""
        ...


class RateLimiter(Protocol):
    """At most one event per key and period (DynamoDB conditional put with TTL)."""

    def acquire(self, key: str, period_seconds: int, owner: str = "") -> bool:
        """``True`` if nothing was recorded for ``key`` within the period, or only by the same
        non-empty ``owner`` (a retry of the event that took it); record it now."""
        ...

    def release(self, key: str) -> None:
        """Forget ``key`` (the guarded action failed and should be allowed on retry)."""
        ...


class SuppressionList(Protocol):
    """The suppression list: addresses shopmail must not (or only partly) mail."""

    def get(self, address: str) -> SuppressionEntry | None:
        """The entry of ``address`` (any case), ``None`` when absent or expired.

        Both forms are read, the address and its hash (``hash:<sha256>``, what an erasure
        leaves); the one that blocks more is returned
        (:func:`~shopmail.domain.suppression.entries.effective_entry`).
        """
        ...

    def get_many(self, addresses: Iterable[str]) -> dict[str, SuppressionEntry | None]:
        """:meth:`get` of every address at once (keyed by the address as given)."""
        ...

    def put(self, entry: SuppressionEntry) -> None:
        """Create or replace the entry of ``entry.address`` (an address or a ``hash:`` key)."""
        ...

    def put_if(
        self, entry: SuppressionEntry, replaceable: Iterable[str]
    ) -> SuppressionEntry | None:
        """Store ``entry`` unless its key holds an unexpired entry of a class not in
        ``replaceable`` (one conditional write); ``None`` when stored, else the entry kept."""
        ...

    def delete(self, address: str) -> bool:
        """Remove the entry stored under ``address`` itself; ``True`` when one existed."""
        ...


class SentMailStore(Protocol):
    """Accepted outbound mail, looked up by SES message id or by our Message-ID."""

    def put(self, record: SentMail) -> None:
        """Store ``record``."""
        ...

    def put_many(self, records: Sequence[SentMail]) -> None:
        """Store every record, in as few calls as the store allows."""
        ...

    def get(self, ses_message_id: str) -> SentMail | None:
        """The record of ``ses_message_id`` (``None`` when unknown or expired)."""
        ...

    def get_by_message_id(self, message_id: str) -> SentMail | None:
        """The record of our Message-ID (``None`` when unknown or expired)."""
        ...


class BounceCounter(Protocol):
    """Counts transient bounces per address (atomic and idempotent per bounce)."""

    def record(self, address: str, bounce_id: str, timestamp: str, window_days: int) -> list[str]:
        """Add the bounce ``bounce_id`` at ``timestamp``; return every recorded timestamp."""
        ...


class ErasureIndex(Protocol):
    """Which S3 objects name an address: address hash -> raw-mail keys (DynamoDB)."""

    def record(self, address_hashes: Iterable[str], key: str, ttl_days: int) -> None:
        """Note that the object ``key`` names each of ``address_hashes`` (kept ``ttl_days``)."""
        ...

    def keys(self, address_hash: str) -> list[str]:
        """The object keys recorded for ``address_hash``."""
        ...

    def forget(self, address_hash: str) -> int:
        """Remove every item of ``address_hash``; return how many there were."""
        ...


class MailObjectEraser(Protocol):
    """Deletes stored mail objects for good (every version, S3)."""

    def erase(self, keys: Iterable[str], prefixes: Iterable[str] = ()) -> tuple[list[str], int]:
        """Delete ``keys`` and everything under ``prefixes``, every version of each.

        Returns the keys that existed and the number of versions (and delete markers) removed.
        """
        ...


class Scrubber(Protocol):
    """Removes whatever names one address from one store (a table, a dead-letter queue)."""

    name: str

    def scrub(self, matcher: AddressMatcher) -> int:
        """Remove (or redact) every item naming ``matcher``'s address; return how many."""
        ...


class SigningKeySource(Protocol):
    """The HMAC keys of unsubscribe tokens (Secrets Manager, cached)."""

    def keys(self) -> SigningKeys:
        """The current keys; raise ``ConfigurationError`` when the secret is unusable."""
        ...


# --- messaging ---------------------------------------------------------------------------


#: One event to publish: ``(detail_type, detail, source)``.
EventEntry = tuple[str, Mapping[str, Any], str]


class EventPublisher(Protocol):
    """Publishes events to the shop bus (EventBridge)."""

    def publish(self, detail_type: str, detail: Mapping[str, Any], source: str) -> None:
        """Publish one event; raise ``ServiceUnavailableError`` on a (partial) failure."""
        ...

    def publish_many(self, events: Sequence[EventEntry]) -> list[int]:
        """Publish ``events`` in as few calls as allowed, retrying only failed entries.

        Returns the indexes of the events that still failed (empty: all published); raises
        ``ServiceUnavailableError`` when a call failed as a whole.
        """
        ...


class DeadLetterSink(Protocol):
    """Keeps an input that ended permanently, with its reason (SQS dead-letter queue)."""

    def send(self, payload: Mapping[str, Any], reason: Mapping[str, Any]) -> None:
        """Store ``payload`` and the reason it could not be handled."""
        ...


class RetryScheduler(Protocol):
    """Makes failed queue messages wait before their next delivery (SQS visibility timeout)."""

    def postpone(self, items: Sequence[Postponement]) -> None:
        """Hide each message for its ``delay_seconds``; failures are logged, never raised
        (the queue's own visibility timeout then applies)."""
        ...


class MailSender(Protocol):
    """Sends prebuilt MIME messages through the SES SMTP relay."""

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        """Send one message; return the SES message id from ``250 Ok <id>``."""
        ...


#: Opens one relay session (one SMTP connection, opened on the first send) per batch.
MailSessionFactory = Callable[[], AbstractContextManager[MailSender]]


class FeedbackSink(Protocol):
    """Applies a bounce/complaint/delay that arrived as mail (the feedback use case)."""

    def apply(self, feedback: MailFeedback) -> FeedbackOutcome:
        """Verify and apply ``feedback``; return what it did."""
        ...


# --- domain seams the inbound service is given (injected to keep its imports light) -----


class Decider(Protocol):
    """The router: one decision per (message, envelope recipient)."""

    def decide(self, message: InboundMessage, recipient: str | None) -> RoutingDecision:
        """Where the message goes for ``recipient`` and why."""
        ...


class MessageParser(Protocol):
    """``parse_message(source, envelope)`` of the parser."""

    def __call__(
        self, source: bytes | Iterable[bytes], envelope: Envelope | None = None
    ) -> InboundMessage: ...


class AttachmentReader(Protocol):
    """``iter_attachment_chunks`` of the parser."""

    def __call__(self, message: InboundMessage, attachment: Attachment) -> Iterator[bytes]: ...
