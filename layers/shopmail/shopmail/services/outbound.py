"""Outbound use case: one SQS batch of shop events -> at most one mail per business event.

Per batch one relay session (one SMTP connection, opened on the first send). Per record:

1. Parse the body (the EventBridge envelope),
   :func:`~shopmail.domain.outbound.contracts.validate` it and check that an invoice PDF is in
   the invoice bucket and prefix the function may read
   (:func:`~shopmail.domain.outbound.contracts.check_invoice_location`). Invalid JSON or an
   invalid event is permanent: dead-lettered once with its reason, ``EmailFailed`` published,
   counted, and the item is *handled* (not retried).
2. Claim the business key :func:`~shopmail.domain.outbound.contracts.idempotency_key`
   (``type:aggregate[:version]:recipient``) in the idempotency store. Already COMPLETED ->
   duplicate, nothing is sent (a re-delivery or a re-publish with a new EventBridge id).
   Claimed by another worker -> :class:`~shopmail.errors.InProgressError`, the item fails and
   is retried later.
3. Suppression: a blocked recipient (:func:`~shopmail.domain.suppression.entries.is_blocked`) is
   skipped, ``EmailSuppressed`` is published and the key completed.
4. Render, fetch attachments (S3), build the MIME message and send it through the session.
5. After ``250``: complete the key at once (with the SES message id). The follow-up waits for
   the end of the batch: the sent-mail records of the batch in one ``BatchWriteItem``, every
   ``EmailSent`` in ``PutEvents`` calls of 10 (only failed entries are sent again), then the
   keys marked announced in one ``BatchWriteItem``. An item whose follow-up failed is retried;
   the retry finds the key COMPLETED but not yet announced and only repeats the follow-up.

**Calls per mail.** A claim is one conditional put that also returns the record it found
(``ALL_OLD``): a duplicate costs that one call. The suppression entries of the batch's
recipients are read in one ``BatchGetItem`` when the first fresh claim needs them. A mail of a
batch of 10 costs 2.4 calls (claim, completion, and a tenth of the four batch calls;
``python -m bench calls``).

**What stops a batch, what fails one item.** Only failures of the relay or of the whole
function stop the batch (this and every later item fail, nothing is marked failed, an alarm):
``ConfigurationError`` from the relay, its secret or the bus (530/535/554 access denied / not
verified / sending paused, a TLS failure, a missing bus or table), ``QuotaExceededError``
(daily quota) and ``RelayUnavailableError`` (the relay cannot be reached or fails while the
session is opened). Everything else concerns one item:

* ``MessageRejectedError`` / ``InvalidRecipientError`` / ``TemplateError`` /
  ``StoreRejectedError`` (e.g. a key DynamoDB refuses) / other permanent errors: dead-letter with
  the reason + ``EmailFailed``; the item is handled. The claim is released so a replay from the
  dead-letter queue (after a fix) can send.
* ``DeliveryDeferredError`` (a 4xx for this message), ``ServiceUnavailableError`` (S3,
  DynamoDB, EventBridge throttled), ``InProgressError``, an unexpected exception: the item fails.
* A missing invoice PDF (``AttachmentMissingError``) fails the item until
  ``INVOICE_WAIT_SECONDS`` after the event's ``time``, then it is permanent (``EmailFailed``
  with the reason). Access to the PDF denied (IAM, KMS) fails the item and raises the
  configuration alarm, without stopping the batch.

**Retries wait.** Every item that fails is made invisible in its queue for
:func:`~shopmail.domain.outbound.retry_schedule.retry_delay` of its receive count (30 s,
doubling, at most 15 min; ``ChangeMessageVisibility`` through the
:class:`~shopmail.ports.RetryScheduler`, only for failed items). With the queues'
``maxReceiveCount`` (120) an outage of the relay of 28 hours loses nothing and everything is
sent at most 15 minutes after it ends (the arithmetic is in
:mod:`~shopmail.domain.outbound.retry_schedule`). An item that still fails on its last allowed
delivery (``OUTBOUND_MAX_RECEIVE_COUNT``) is dead-lettered with the last reason
(``RetriesExhaustedError``, ``EmailFailed``) instead of being moved there without one.

**One ambiguity rule.** When the relay connection is lost after the final dot (timeout, close
or reset: ``DeliveryAmbiguousError``) the relay may have accepted the mail. It is never resent:
the mail counts as sent, its record and ``EmailSent`` carry ``ambiguous: true`` (and no SES
message id), and it is counted (``OutboundAmbiguous``). A shop prefers a rare missing mail,
which the customer can request again and the ``ambiguous`` flag lets the shop find, to a
doubled order confirmation or invoice, which the customer cannot undo; and the relay had the
whole message, so it was most likely accepted.

**The remaining duplicate window** (exactly-once is impossible over SMTP): the function dies
(timeout, out of memory) after the relay answered ``250`` and before the idempotency record is
COMPLETED, a few milliseconds of one DynamoDB write; the claim then expires and a retry sends
the mail a second time. If the write itself fails twice the item is *not* retried (that retry
would send it again): the mail stays counted as sent (``unrecorded``) and only a later
re-delivery of the same event could send it again. Everything else (re-delivery, re-publish,
concurrent workers, failures after the record) sends exactly one mail.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopmail.config import Settings
from shopmail.domain.outbound.contracts import (
    EVENT_TYPES,
    ShopEvent,
    check_invoice_location,
    idempotency_key,
    validate,
)
from shopmail.domain.outbound.mime_build import Attachment, BuiltMessage, build_message
from shopmail.domain.outbound.rendering import AttachmentRef, render
from shopmail.domain.outbound.retry_schedule import Postponement, retry_delay
from shopmail.domain.outbound.sent_mail import SentMail
from shopmail.domain.smtp.replies import reply_class
from shopmail.domain.suppression.entries import (
    SuppressionEntry,
    is_blocked,
    parse_bypass_types,
)
from shopmail.errors import (
    AttachmentMissingError,
    ConfigurationError,
    DeliveryAmbiguousError,
    InvalidEventError,
    PermanentError,
    QuotaExceededError,
    RelayUnavailableError,
    RetriesExhaustedError,
    ServiceUnavailableError,
    ShopmailError,
    TransientError,
)
from shopmail.ports import (
    AttachmentFetcher,
    DeadLetterSink,
    EventPublisher,
    IdempotencyStore,
    MailSender,
    MailSessionFactory,
    RetryScheduler,
    SentMailStore,
    SuppressionList,
)

log = logging.getLogger(__name__)

SOURCE = "shopmail.outbound"
# --- the events this use case publishes (schemas: events/schemas/emitted/<DetailType>.json)
SENT_DETAIL_TYPE = "EmailSent"
FAILED_DETAIL_TYPE = "EmailFailed"
SUPPRESSED_DETAIL_TYPE = "EmailSuppressed"
DETAIL_TYPES = (SENT_DETAIL_TYPE, FAILED_DETAIL_TYPE, SUPPRESSED_DETAIL_TYPE)
#: The ``version`` of every outbound detail; a change that is not a new optional field bumps it.
DETAIL_VERSION = 1
#: ``emailType`` of the per-type counts for an event whose detail-type is not supported.
UNSUPPORTED_TYPE = "unsupported"
DEFAULT_IN_PROGRESS_SECONDS = 120.0
IN_PROGRESS_MARGIN_SECONDS = 10.0

#: The errors that stop a batch, and the alarm each raises.
_STOPS: dict[type[ShopmailError], str] = {
    QuotaExceededError: "quota",
    RelayUnavailableError: "unavailable",
    ConfigurationError: "configuration",
}


@dataclass(frozen=True)
class OutboundPorts:
    """Everything the outbound service talks to (``retries``: ``None`` = the queue's own
    visibility timeout decides when a failed item comes back)."""

    publisher: EventPublisher
    dead_letters: DeadLetterSink
    idempotency: IdempotencyStore
    suppression: SuppressionList
    sent_mail: SentMailStore
    attachments: AttachmentFetcher
    relay: MailSessionFactory
    retries: RetryScheduler | None = None


# --- results -----------------------------------------------------------------------------


@dataclass
class _Pending:
    """A sent mail whose record and ``EmailSent`` wait for the end of the batch."""

    record: Mapping[str, Any]
    delivery: Delivery
    event: ShopEvent
    key: str
    data: Mapping[str, Any]
    names: tuple[str, ...]
    recorded: bool


@dataclass
class _BatchState:
    """What one batch collects: the sent mails to announce and the suppression entries read."""

    events: list[ShopEvent | None] = field(default_factory=list)
    position: int = 0
    entries: dict[str, SuppressionEntry | None] | None = None
    pending: list[_Pending] = field(default_factory=list)


@dataclass
class BatchResult:
    """The outcome of one batch.

    Attributes
    ----------
    failures
        ``itemIdentifier`` (SQS ``messageId``) of every item SQS must retry.
    counts
        Outcome counters: ``sent``, ``ambiguous`` (subset of sent), ``unrecorded`` (subset of
        sent), ``duplicate``, ``suppressed``, ``dead_lettered``, ``invalid`` and ``exhausted``
        (subsets of dead-lettered), ``retry``, ``stopped``, ``notify_failed``.
    alarm
        ``configuration``, ``quota`` or ``unavailable`` when the batch was stopped (or an
        item's attachment was not readable: ``configuration``).
    postponed
        The failed items with the delay before their next delivery.
    by_type
        Published outcomes per ``(emailType, detail-type)``, e.g.
        ``("OrderPlaced", "EmailSent")`` (bounded: supported types or ``unsupported``).
    relay_errors
        Relay errors per reply class (:func:`~shopmail.domain.smtp.replies.reply_class`).
    """

    failures: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    alarm: str | None = None
    postponed: list[Postponement] = field(default_factory=list)
    by_type: Counter[tuple[str, str]] = field(default_factory=Counter)
    relay_errors: Counter[str] = field(default_factory=Counter)

    def response(self) -> dict[str, Any]:
        """The Lambda response for ``ReportBatchItemFailures``."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}

    def to_dict(self) -> dict[str, Any]:
        """A log-safe summary."""
        return {"failures": len(self.failures), "counts": dict(self.counts), "alarm": self.alarm}


@dataclass(frozen=True)
class Delivery:
    """What Lambda's SQS record says about this delivery of a message.

    Attributes
    ----------
    item_id
        ``messageId``.
    receive_count
        ``attributes.ApproximateReceiveCount`` (1 on the first delivery; 1 when absent).
    receipt_handle, queue_arn
        ``receiptHandle`` and ``eventSourceARN`` (to postpone the message).
    enqueued_at
        ``attributes.SentTimestamp`` (``None`` when absent).
    """

    item_id: str
    receive_count: int = 1
    receipt_handle: str = ""
    queue_arn: str = ""
    enqueued_at: datetime | None = None

    @classmethod
    def of(cls, record: Mapping[str, Any], index: int) -> Delivery:
        """Read a record; missing or malformed fields get the defaults."""
        attributes = record.get("attributes")
        attributes = attributes if isinstance(attributes, Mapping) else {}
        try:
            count = max(1, int(attributes.get("ApproximateReceiveCount", 1)))
        except (TypeError, ValueError):
            count = 1
        enqueued = None
        with suppress(KeyError, TypeError, ValueError, OverflowError, OSError):
            enqueued = datetime.fromtimestamp(int(attributes["SentTimestamp"]) / 1000, UTC)
        return cls(
            item_id=str(record.get("messageId") or index),
            receive_count=count,
            receipt_handle=str(record.get("receiptHandle") or ""),
            queue_arn=str(record.get("eventSourceARN") or ""),
            enqueued_at=enqueued,
        )


class _ItemRetryError(Exception):
    """Internal: this item fails and is retried; the batch goes on.

    ``max_delay`` bounds the wait before the next delivery (an invoice PDF waited for until a
    deadline); ``alarm`` names an alarm to raise (access to the PDF denied).
    """

    def __init__(
        self, error: ShopmailError, *, max_delay: float | None = None, alarm: str | None = None
    ) -> None:
        super().__init__(error.reason)
        self.error = error
        self.max_delay = max_delay
        self.alarm = alarm


class _LazySession:
    """Opens the batch's relay session on the first send (no connection for a batch of
    duplicates or invalid events)."""

    def __init__(self, factory: MailSessionFactory, stack: ExitStack, errors: Counter[str]) -> None:
        self._factory = factory
        self._stack = stack
        self._session: MailSender | None = None
        self._errors = errors

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        if self._session is None:
            try:
                self._session = self._stack.enter_context(self._factory())
            except TransientError as exc:  # e.g. Secrets Manager throttled: the relay's
                raise RelayUnavailableError(
                    f"the relay session could not be opened: {exc.reason}", **exc.context
                ) from exc
        try:
            return self._session.send(envelope_from, recipients, message)
        except ShopmailError as exc:
            kind = reply_class(exc)
            if kind is not None:
                self._errors[kind] += 1
            raise


def send_built(sender: MailSender, built: BuiltMessage) -> str:
    """Send a prebuilt message (e.g. inbound ``forward``/``auto_reply``); return the SES id."""
    return sender.send(built.envelope_from, list(built.recipients), built.raw)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class OutboundService:
    """Sends shop events as mail (see the module docs).

    Parameters
    ----------
    settings
        Mail domain, senders, configuration set, bypass types, invoice location and wait, the
        queues' receive limit.
    ports
        The adapters (or in-memory fakes).
    renderer, builder
        :func:`render` and :func:`build_message` (injectable for tests).
    clock
        The current UTC time (the invoice wait; tests).
    """

    def __init__(
        self,
        settings: Settings,
        ports: OutboundPorts,
        *,
        renderer: Callable[[ShopEvent, Settings], Any] = render,
        builder: Callable[..., BuiltMessage] = build_message,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.bypass_types = parse_bypass_types(settings.suppression_bypass_types)
        self._render = renderer
        self._build = builder
        self._clock = clock

    # --- batch ---------------------------------------------------------------------------

    def handle_batch(
        self,
        records: Sequence[Mapping[str, Any]],
        remaining_ms: Callable[[], int] | None = None,
    ) -> BatchResult:
        """Handle one SQS batch (``event["Records"]``).

        Parameters
        ----------
        records
            SQS records (``messageId``, ``body``, ``attributes``, ``receiptHandle``,
            ``eventSourceARN``...).
        remaining_ms
            The Lambda context's ``get_remaining_time_in_millis`` (sizes the in-progress
            claim so that a crashed attempt's claim expires before SQS redelivers).
        """
        result = BatchResult()
        in_progress = DEFAULT_IN_PROGRESS_SECONDS
        if remaining_ms is not None:
            in_progress = max(1.0, remaining_ms() / 1000.0) + IN_PROGRESS_MARGIN_SECONDS
        stop: ShopmailError | None = None
        records = [r if isinstance(r, Mapping) else {"body": None} for r in records]
        reads = [self._read(r) for r in records]
        batch = _BatchState(events=[event for _, event, _ in reads])
        with ExitStack() as stack:
            session = _LazySession(self.ports.relay, stack, result.relay_errors)
            for index, record in enumerate(records):
                delivery = Delivery.of(record, index)
                batch.position = index
                if stop is not None:
                    self._retry_later(record, delivery, stop, result, "stopped")
                    continue
                try:
                    outcome, email_type = self._handle_record(
                        record, reads[index], delivery, session, in_progress, batch
                    )
                except _ItemRetryError as retry:
                    if retry.alarm is not None:
                        result.alarm = result.alarm or retry.alarm
                        log.error(
                            "alarm: outbound item %s cannot read what it needs: %s",
                            delivery.item_id,
                            retry.error.reason,
                            extra={"alarm": "ConfigurationError", "error": retry.error.to_dict()},
                        )
                    self._retry_later(
                        record, delivery, retry.error, result, "retry", max_delay=retry.max_delay
                    )
                except tuple(_STOPS) as exc:
                    stop = exc
                    result.alarm = next(a for t, a in _STOPS.items() if isinstance(exc, t))
                    log.error(
                        "alarm: outbound batch stopped (%s): %s",
                        result.alarm,
                        exc.reason,
                        extra={"alarm": type(exc).__name__, "error": exc.to_dict()},
                    )
                    self._retry_later(record, delivery, exc, result, "stopped")
                except TransientError as exc:
                    log.warning(
                        "outbound item %s will be retried: %s",
                        delivery.item_id,
                        exc.reason,
                        extra={"error": exc.to_dict()},
                    )
                    self._retry_later(record, delivery, exc, result, "retry")
                except Exception as exc:  # a defect or an unmapped AWS error: retry, not lose
                    log.exception(
                        "outbound item %s failed unexpectedly (%s)",
                        delivery.item_id,
                        type(exc).__name__,
                    )
                    error = TransientError(f"unexpected {type(exc).__name__}")
                    self._retry_later(record, delivery, error, result, "retry")
                else:
                    _count(result, outcome, email_type)
        self._announce_batch(batch, result)
        if result.postponed and self.ports.retries is not None:
            self.ports.retries.postpone(result.postponed)
        log.info("outbound batch done", extra={"result": result.to_dict()})
        return result

    def _retry_later(
        self,
        record: Mapping[str, Any],
        delivery: Delivery,
        error: ShopmailError,
        result: BatchResult,
        counter: str,
        *,
        max_delay: float | None = None,
    ) -> None:
        """Fail the item with a growing delay, or, on its last allowed delivery, dead-letter
        it with the reason."""
        limit = self.settings.outbound_max_receive_count
        if limit > 0 and delivery.receive_count >= limit:
            exhausted = RetriesExhaustedError(
                f"still failing on delivery {delivery.receive_count} of {limit}: {error.reason}",
                last_error=error.code,
                receives=delivery.receive_count,
            )
            try:
                payload, event, _ = self._read(record)
                notified = self._dead_letter(record, payload, event, exhausted)
            except Exception as exc:  # the queue's redrive keeps it (without the reason)
                log.error("could not dead-letter item %s: %s", delivery.item_id, exc)
            else:
                result.counts.update(["dead_lettered", "exhausted"])
                if not notified:
                    result.counts["notify_failed"] += 1
                return
        result.failures.append(delivery.item_id)
        result.counts[counter] += 1
        delay = retry_delay(delivery.receive_count)
        if max_delay is not None:
            delay = max(1, min(delay, math.ceil(max_delay)))
        result.postponed.append(
            Postponement(delivery.item_id, delivery.receipt_handle, delivery.queue_arn, delay)
        )

    # --- one record ----------------------------------------------------------------------

    def _read(self, record: Mapping[str, Any]) -> tuple[Any, ShopEvent | None, PermanentError]:
        """``(payload, event, error)``: the body as JSON and the checked event, or ``event``
        ``None`` and why it is unusable (``error`` is only meaningful then)."""
        body = record.get("body")
        payload: Any = body
        try:
            if not isinstance(body, str):
                raise InvalidEventError("SQS record has no string body")
            try:
                payload = json.loads(body)
            except json.JSONDecodeError as exc:
                raise InvalidEventError(f"body is not JSON ({exc.msg} at {exc.pos})") from None
            event = validate(payload)
            check_invoice_location(
                event, self.settings.invoice_bucket, self.settings.invoice_key_prefix
            )
        except PermanentError as exc:
            return payload, None, exc
        return payload, event, InvalidEventError("")

    def _handle_record(
        self,
        record: Mapping[str, Any],
        read: tuple[Any, ShopEvent | None, PermanentError],
        delivery: Delivery,
        session: MailSender,
        in_progress: float,
        batch: _BatchState,
    ) -> tuple[tuple[str, ...], str]:
        """Handle one record; return its outcome names (none yet for a mail whose follow-up
        waits for the end of the batch) and the shop event's type."""
        payload, event, invalid = read
        if event is None:
            notified = self._dead_letter(record, payload, None, invalid)
            names = ("dead_lettered", "invalid") + (() if notified else ("notify_failed",))
            return names, _raw_type(payload)
        outcome = self._handle_event(record, payload, event, delivery, session, in_progress, batch)
        return outcome, event.detail_type

    def _handle_event(
        self,
        record: Mapping[str, Any],
        payload: Any,
        event: ShopEvent,
        delivery: Delivery,
        session: MailSender,
        in_progress: float,
        batch: _BatchState,
    ) -> tuple[str, ...]:
        key = idempotency_key(event)
        try:
            fresh = self.ports.idempotency.begin(key, in_progress)  # InProgressError: retry
        except PermanentError as exc:  # e.g. a key the store refuses
            notified = self._dead_letter(record, payload, event, exc)
            return ("dead_lettered",) + (() if notified else ("notify_failed",))
        if not fresh:
            return self._duplicate(record, delivery, event, key, batch)
        ambiguous = False
        try:
            suppressed = self._suppress(event, key, batch)
            if suppressed:
                return suppressed
            built = self._build_mail(event)
            try:
                ses_id = session.send(built.envelope_from, list(built.recipients), built.raw)
            except DeliveryAmbiguousError as exc:  # one rule: counted as sent, never resent
                ses_id, ambiguous = "", True
                log.warning(
                    "%s %s to %s counted as sent without a reply: %s",
                    event.detail_type,
                    event.aggregate_id,
                    event.recipient_domain,
                    exc.reason,
                )
        except ConfigurationError:
            self._release(key)
            raise
        except AttachmentMissingError as exc:
            self._release(key)
            left = self._invoice_wait_left(event, delivery)
            if left > 0:
                raise _ItemRetryError(exc, max_delay=left) from exc
            gone = InvalidEventError(
                f"{exc.reason}, {self.settings.invoice_wait_seconds} s after the event "
                "(INVOICE_WAIT_SECONDS): detail.invoice.pdf names no uploaded PDF",
                **exc.context,
            )
            notified = self._dead_letter(record, payload, event, gone)
            return ("dead_lettered",) + (() if notified else ("notify_failed",))
        except PermanentError as exc:
            self._release(key)
            notified = self._dead_letter(record, payload, event, exc)
            return ("dead_lettered",) + (() if notified else ("notify_failed",))
        except BaseException:
            self._release(key)
            raise
        return self._after_send(record, delivery, event, key, built, ses_id, ambiguous, batch)

    def _entry(self, recipient: str, batch: _BatchState) -> SuppressionEntry | None:
        """The suppression entry of ``recipient``: on the first need, the entries of every
        recipient of this and the later records are read at once."""
        if batch.entries is None or recipient not in batch.entries:
            later = [e.recipient for e in batch.events[batch.position :] if e is not None]
            found = self.ports.suppression.get_many(list(dict.fromkeys([recipient, *later])))
            batch.entries = {**(batch.entries or {}), **found}
        return batch.entries.get(recipient)

    def _suppress(self, event: ShopEvent, key: str, batch: _BatchState) -> tuple[str, ...]:
        """``("suppressed",)`` after skipping a blocked recipient, else ``()``."""
        entry = self._entry(event.recipient, batch)
        if not is_blocked(entry, event.email_class, event.detail_type, self.bypass_types):
            return ()
        assert entry is not None
        self.ports.publisher.publish(
            SUPPRESSED_DETAIL_TYPE,
            {
                **self._summary(event, key),
                "suppressionClass": entry.suppression_class,
                "suppressionReason": entry.reason[:200],
            },
            SOURCE,
        )
        self.ports.idempotency.complete(key, {"outcome": "suppressed"})
        log.info(
            "%s %s: recipient at %s suppressed (%s)",
            event.detail_type,
            event.aggregate_id,
            event.recipient_domain,
            entry.suppression_class,
        )
        return ("suppressed",)

    def _after_send(
        self,
        record: Mapping[str, Any],
        delivery: Delivery,
        event: ShopEvent,
        key: str,
        built: BuiltMessage,
        ses_id: str,
        ambiguous: bool,
        batch: _BatchState,
    ) -> tuple[str, ...]:
        """Complete the key of a mail the relay accepted (or may have accepted), log it, and
        leave its record and ``EmailSent`` to the end of the batch."""
        data: dict[str, Any] = {
            "outcome": "sent",
            "sesMessageId": ses_id,
            "messageId": built.message_id,
            "sentAt": self._clock().isoformat(timespec="seconds"),
            "eventId": event.event_id,
        }
        if ambiguous:
            data["ambiguous"] = True
        recorded = self._complete_after_send(key, data)
        names = [
            "sent",
            *(["ambiguous"] if ambiguous else []),
            *([] if recorded else ["unrecorded"]),
        ]
        log.info(
            "%s %s sent to %s as %s (SES %s)",
            event.detail_type,
            event.aggregate_id,
            event.recipient_domain,
            built.message_id,
            ses_id or ("unknown: ambiguous" if ambiguous else "-"),
        )
        batch.pending.append(_Pending(record, delivery, event, key, data, tuple(names), recorded))
        return ()

    def _announce_batch(self, batch: _BatchState, result: BatchResult) -> None:
        """Record and announce the batch's sent mails: the sent-mail records in one write,
        ``EmailSent`` in calls of 10, then the keys marked announced in one write. A mail whose
        announcement failed is retried (it is COMPLETED: the retry only announces)."""
        pending = batch.pending
        if not pending:
            return
        try:
            self.ports.sent_mail.put_many(
                [self._sent_mail(p.event, p.key, p.data) for p in pending]
            )
        except ShopmailError as exc:  # one by one: each item keeps its own outcome
            log.warning("sent-mail records of the batch not written at once: %s", exc.reason)
            for p in pending:
                self._announce_one(p, result)
            return
        entries = [self._sent_entry(p.event, p.key, p.data) for p in pending]
        try:
            failed = set(self.ports.publisher.publish_many(entries))
            error: ShopmailError = ServiceUnavailableError(
                "EventBridge rejected the EmailSent entry",
                service="events",
                operation="PutEvents",
            )
        except ShopmailError as exc:
            failed, error = set(range(len(pending))), exc
            if isinstance(exc, ConfigurationError):
                result.alarm = result.alarm or "configuration"
        announced = []
        for index, p in enumerate(pending):
            if index in failed:
                self._not_announced(p, error, result)
            else:
                _count(result, p.names, p.event.detail_type)
                announced.append((p.key, {**p.data, "announced": True}))
        if announced:
            try:
                if len(announced) == 1:  # one write either way
                    self.ports.idempotency.complete(*announced[0])
                else:
                    self.ports.idempotency.complete_many(announced)
            except ShopmailError as exc:  # harmless: a redelivery would announce once more
                log.warning("could not mark %d mails announced: %s", len(announced), exc.reason)

    def _announce_one(self, p: _Pending, result: BatchResult) -> None:
        """Record and announce one sent mail (after the batch's write failed)."""
        try:
            self._announce(p.event, p.key, p.data)
        except ShopmailError as exc:
            self._not_announced(p, exc, result)
        else:
            _count(result, p.names, p.event.detail_type)

    def _not_announced(self, p: _Pending, exc: ShopmailError, result: BatchResult) -> None:
        message_id = p.data.get("messageId")
        if exc.permanent:
            log.error("mail %s was sent but cannot be announced: %s", message_id, exc.reason)
            _count(result, (*p.names, "notify_failed"), p.event.detail_type)
        elif p.recorded:  # the retry finds the record COMPLETED and only announces
            log.warning("mail %s will be announced on retry: %s", message_id, exc.reason)
            self._retry_later(p.record, p.delivery, exc, result, "retry")
        else:
            log.error(
                "mail %s was sent but neither recorded nor announced: %s", message_id, exc.reason
            )
            _count(result, (*p.names, "notify_failed"), p.event.detail_type)

    def _build_mail(self, event: ShopEvent) -> BuiltMessage:
        rendered = self._render(event, self.settings)
        attachments = self._fetch(rendered.attachments_refs)
        return self._build(event, rendered, self.settings, attachments=attachments)

    def _fetch(self, refs: Sequence[AttachmentRef]) -> list[Attachment]:
        try:
            return [self.ports.attachments.fetch(ref) for ref in refs]
        except ConfigurationError as exc:  # this item's PDF, not the batch: alarm and retry
            raise _ItemRetryError(exc, alarm="configuration") from exc

    def _invoice_wait_left(self, event: ShopEvent, delivery: Delivery) -> float:
        """Seconds left to wait for a missing PDF (from the event's time, else the enqueue
        time; unknown: the whole wait, the receive limit then bounds it)."""
        start = _parse_time(event.time) or delivery.enqueued_at
        wait = float(self.settings.invoice_wait_seconds)
        if start is None:
            return wait
        return wait - (self._clock() - start).total_seconds()

    def _release(self, key: str) -> None:
        """Drop the claim after a failed attempt; if that fails too, the claim expires."""
        try:
            self.ports.idempotency.release(key)
        except Exception as exc:
            log.warning("could not release a claim (%s): it expires by itself", exc)

    def _complete_after_send(self, key: str, data: Mapping[str, Any]) -> bool:
        """Complete the key (twice if need be); ``False`` when that failed.

        A mail whose record could not be completed is not retried: the retry would find the
        claim expired and send it again.
        """
        for attempt in (1, 2):
            try:
                self.ports.idempotency.complete(key, data)
                return True
            except ShopmailError as exc:
                if attempt == 2 or exc.permanent:
                    log.error(
                        "mail %s was sent but its idempotency record could not be completed "
                        "(%s): it is not retried; a re-delivery after the claim expires could "
                        "send it again",
                        data.get("messageId"),
                        exc.reason,
                    )
                    return False
        return False  # pragma: no cover - the loop always returns

    @staticmethod
    def _sent_mail(event: ShopEvent, key: str, data: Mapping[str, Any]) -> SentMail:
        return SentMail(
            ses_message_id=str(data.get("sesMessageId") or ""),
            message_id=str(data["messageId"]),
            idempotency_key=key,
            detail_type=event.detail_type,
            aggregate_id=event.aggregate_id,
            recipient=event.recipient,
            email_class=event.email_class,
            event_id=str(data.get("eventId", event.event_id)),
            sent_at=str(data.get("sentAt", "")),
        )

    def _sent_entry(
        self, event: ShopEvent, key: str, data: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any], str]:
        detail = {
            **self._summary(event, key),
            "sesMessageId": str(data.get("sesMessageId") or ""),
            "messageId": str(data["messageId"]),
            "sentAt": str(data.get("sentAt", "")),
            "ambiguous": bool(data.get("ambiguous")),
        }
        return SENT_DETAIL_TYPE, detail, SOURCE

    def _announce(self, event: ShopEvent, key: str, data: Mapping[str, Any]) -> None:
        """Record the sent mail and publish ``EmailSent``; then mark the key announced."""
        self.ports.sent_mail.put(self._sent_mail(event, key, data))
        self.ports.publisher.publish(*self._sent_entry(event, key, data))
        try:
            self.ports.idempotency.complete(key, {**data, "announced": True})
        except ShopmailError as exc:  # harmless: a redelivery would announce once more
            log.warning("could not mark %s announced: %s", data.get("messageId"), exc.reason)

    def _duplicate(
        self,
        record: Mapping[str, Any],
        delivery: Delivery,
        event: ShopEvent,
        key: str,
        batch: _BatchState,
    ) -> tuple[str, ...]:
        data = self.ports.idempotency.data(key)
        if data and data.get("outcome") == "sent" and not data.get("announced"):
            log.info(
                "%s %s: sent before, finishing its record", event.detail_type, event.aggregate_id
            )
            names = ("duplicate", "announced_late")
            batch.pending.append(_Pending(record, delivery, event, key, data, names, True))
            return ()
        log.info("%s %s: duplicate, nothing sent", event.detail_type, event.aggregate_id)
        return ("duplicate",)

    # --- failures ------------------------------------------------------------------------

    def _dead_letter(
        self,
        record: Mapping[str, Any],
        payload: Any,
        event: ShopEvent | None,
        exc: ShopmailError,
    ) -> bool:
        """Dead-letter the record with its reason, then publish ``EmailFailed``.

        Returns ``False`` when ``EmailFailed`` could not be published (logged, counted; the
        input is safe in the dead-letter queue). A failing dead-letter sink raises (retry).
        """
        reason = exc.to_dict()
        log.warning(
            "outbound permanent failure (%s): %s",
            exc.code,
            exc.reason,
            extra={"error": reason, "sqs_message_id": record.get("messageId")},
        )
        # the record itself: its body goes to the DLQ unchanged (a redrive re-queues it as is)
        self.ports.dead_letters.send(dict(record), reason)
        detail: dict[str, Any]
        if event is not None:
            detail = self._summary(event, idempotency_key(event))
        else:
            detail = self._raw_summary(payload)
        detail.update({"reason": exc.reason[:500], "code": exc.code})
        try:
            self.ports.publisher.publish(FAILED_DETAIL_TYPE, detail, SOURCE)
        except ShopmailError as pub_exc:
            log.error("could not publish EmailFailed: %s", pub_exc.reason)
            return False
        return True

    # --- event details (the same keys as the feedback events: emailType, sourceEventId...)

    @staticmethod
    def _summary(event: ShopEvent, key: str) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "version": DETAIL_VERSION,
            "emailType": event.detail_type,
            "template": event.template,
            "sourceEventId": event.event_id,
            "aggregateId": event.aggregate_id,
            "recipient": event.recipient,
            "emailClass": event.email_class,
            "idempotencyKey": key,
        }
        spec = EVENT_TYPES.get(event.detail_type)
        if spec is not None and spec.aggregate.startswith("order."):
            detail["orderId"] = event.aggregate_id
        if event.version is not None:
            detail["aggregateVersion"] = event.version
        return detail

    @staticmethod
    def _raw_summary(payload: Any) -> dict[str, Any]:
        detail: dict[str, Any] = {"version": DETAIL_VERSION, "emailType": None}
        if not isinstance(payload, Mapping):
            return {**detail, "sourceEventId": None}
        detail_type = payload.get("detail-type")
        event_id = payload.get("id")
        return {
            **detail,
            "emailType": detail_type[:80] if isinstance(detail_type, str) else None,
            "sourceEventId": event_id[:128] if isinstance(event_id, str) else None,
        }


#: Outcome names that publish an event, and the event.
_PUBLISHED = {
    "sent": SENT_DETAIL_TYPE,
    "dead_lettered": FAILED_DETAIL_TYPE,
    "suppressed": SUPPRESSED_DETAIL_TYPE,
    "announced_late": SENT_DETAIL_TYPE,
}


def _count(result: BatchResult, names: Sequence[str], email_type: str) -> None:
    """Count an item's outcome names (and the events they published, per type)."""
    for name in names:
        result.counts[name] += 1
        if name in _PUBLISHED:
            result.by_type[(email_type, _PUBLISHED[name])] += 1


def _raw_type(payload: Any) -> str:
    """The supported detail-type of an invalid event, else :data:`UNSUPPORTED_TYPE`."""
    detail_type = payload.get("detail-type") if isinstance(payload, Mapping) else None
    if isinstance(detail_type, str) and detail_type in EVENT_TYPES:
        return detail_type
    return UNSUPPORTED_TYPE


__all__ = [
    "DETAIL_TYPES",
    "DETAIL_VERSION",
    "FAILED_DETAIL_TYPE",
    "SENT_DETAIL_TYPE",
    "SOURCE",
    "SUPPRESSED_DETAIL_TYPE",
    "BatchResult",
    "OutboundPorts",
    "OutboundService",
    "send_built",
]
