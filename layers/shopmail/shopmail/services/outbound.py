"""Outbound use case: one SQS batch of shop events -> at most one mail per business event.

Per batch one relay session (one SMTP connection, opened on the first send). Per record:

1. Parse the body (the EventBridge envelope) and
   :func:`~shopmail.domain.outbound.contracts.validate` it. Invalid JSON or an invalid event is
   permanent: dead-lettered once with its reason, ``EmailFailed`` published, counted, and the
   item is *handled* (not retried).
2. Claim the business key :func:`~shopmail.domain.outbound.contracts.idempotency_key`
   (``type:aggregate[:version]:recipient``) in the idempotency store. Already COMPLETED ->
   duplicate, nothing is sent (a re-delivery or a re-publish with a new EventBridge id).
   Claimed by another worker -> :class:`~shopmail.errors.InProgressError`, the item fails and
   SQS retries it later.
3. Suppression: a blocked recipient (:func:`~shopmail.domain.suppression.entries.is_blocked`) is
   skipped, ``EmailSuppressed`` is published and the key completed.
4. Render, fetch attachments (S3), build the MIME message and send it through the session.
5. After ``250``: complete the key at once (with the SES message id), then record the mail in
   the sent-mail table and publish ``EmailSent``. If that follow-up fails the item is retried;
   the retry finds the key COMPLETED but not yet announced and only repeats the follow-up.

Failure handling (``batchItemFailures`` = SQS retries the item with backoff, then redrives it
to the outbound DLQ after ``maxReceiveCount``):

* ``MessageRejectedError`` / ``InvalidRecipientError`` / ``TemplateError`` / other permanent
  errors: dead-letter with the reason + ``EmailFailed``; the item is handled. The claim is
  released so a replay from the dead-letter queue (after a fix) can send.
* ``DeliveryDeferredError`` / ``ServiceUnavailableError`` / ``InProgressError``: the item fails.
* ``QuotaExceededError``: this and every remaining item fail; nothing more is sent.
* ``ConfigurationError`` (530/535/554 access denied, unreadable secret, bad sender setting,
  missing bus): every item not yet completed fails, none is marked failed, an alarm is logged
  (``BatchResult.alarm``; the handler also emits the ``ConfigurationError`` metric).

Residual window (exactly-once is impossible over SMTP): if the function dies, times out or
cannot write the idempotency record *after* the relay answered ``250`` and *before* the key is
marked COMPLETED, the claim expires and a retry sends the mail a second time. The same holds
for an ambiguous send (the connection dropped after the final dot: the relay may have accepted
it). Everything else (re-delivery, re-publish, concurrent workers, failures after the record)
sends exactly one mail.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopmail.config import Settings
from shopmail.domain.outbound.contracts import EVENT_TYPES, ShopEvent, idempotency_key, validate
from shopmail.domain.outbound.mime_build import BuiltMessage, build_message
from shopmail.domain.outbound.rendering import render
from shopmail.domain.outbound.sent_mail import SentMail
from shopmail.domain.smtp.replies import reply_class
from shopmail.domain.suppression.entries import is_blocked, parse_bypass_types
from shopmail.errors import (
    ConfigurationError,
    InvalidEventError,
    PermanentError,
    QuotaExceededError,
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


@dataclass(frozen=True)
class OutboundPorts:
    """Everything the outbound service talks to."""

    publisher: EventPublisher
    dead_letters: DeadLetterSink
    idempotency: IdempotencyStore
    suppression: SuppressionList
    sent_mail: SentMailStore
    attachments: AttachmentFetcher
    relay: MailSessionFactory


# --- results -----------------------------------------------------------------------------


@dataclass
class BatchResult:
    """The outcome of one batch.

    Attributes
    ----------
    failures
        ``itemIdentifier`` (SQS ``messageId``) of every item SQS must retry.
    counts
        Outcome counters: ``sent``, ``duplicate``, ``suppressed``, ``dead_lettered``,
        ``invalid`` (subset of dead-lettered), ``retry``, ``stopped``, ``notify_failed``.
    alarm
        ``configuration`` or ``quota`` when the batch was stopped.
    by_type
        Published outcomes per ``(emailType, detail-type)``, e.g.
        ``("OrderPlaced", "EmailSent")`` (bounded: supported types or ``unsupported``).
    relay_errors
        Relay errors per reply class (:func:`~shopmail.domain.smtp.replies.reply_class`).
    """

    failures: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    alarm: str | None = None
    by_type: Counter[tuple[str, str]] = field(default_factory=Counter)
    relay_errors: Counter[str] = field(default_factory=Counter)

    def response(self) -> dict[str, Any]:
        """The Lambda response for ``ReportBatchItemFailures``."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}

    def to_dict(self) -> dict[str, Any]:
        """A log-safe summary."""
        return {"failures": len(self.failures), "counts": dict(self.counts), "alarm": self.alarm}


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
            self._session = self._stack.enter_context(self._factory())
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


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class OutboundService:
    """Sends shop events as mail (see the module docs).

    Parameters
    ----------
    settings
        Mail domain, senders, configuration set, bypass types.
    ports
        The adapters (or in-memory fakes).
    renderer, builder
        :func:`render` and :func:`build_message` (injectable for tests).
    """

    def __init__(
        self,
        settings: Settings,
        ports: OutboundPorts,
        *,
        renderer: Callable[[ShopEvent, Settings], Any] = render,
        builder: Callable[..., BuiltMessage] = build_message,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.bypass_types = parse_bypass_types(settings.suppression_bypass_types)
        self._render = renderer
        self._build = builder

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
            SQS records (``messageId``, ``body``...).
        remaining_ms
            The Lambda context's ``get_remaining_time_in_millis`` (sizes the in-progress
            claim so that a crashed attempt's claim expires before SQS redelivers).
        """
        result = BatchResult()
        in_progress = DEFAULT_IN_PROGRESS_SECONDS
        if remaining_ms is not None:
            in_progress = max(1.0, remaining_ms() / 1000.0) + IN_PROGRESS_MARGIN_SECONDS
        stop: ShopmailError | None = None
        with ExitStack() as stack:
            session = _LazySession(self.ports.relay, stack, result.relay_errors)
            for index, record in enumerate(records):
                if not isinstance(record, Mapping):
                    record = {"body": None}
                item_id = str(record.get("messageId") or index)
                if stop is not None:
                    result.failures.append(item_id)
                    result.counts["stopped"] += 1
                    continue
                try:
                    outcome, email_type = self._handle_record(record, session, in_progress)
                except (QuotaExceededError, ConfigurationError) as exc:
                    stop = exc
                    result.failures.append(item_id)
                    result.counts["stopped"] += 1
                    if isinstance(exc, QuotaExceededError):
                        result.alarm = "quota"
                        log.error("outbound batch stopped: quota: %s", exc.reason)
                    else:
                        result.alarm = "configuration"
                        log.error(
                            "alarm: outbound batch stopped by a configuration error: %s",
                            exc.reason,
                            extra={"alarm": "ConfigurationError", "error": exc.to_dict()},
                        )
                except TransientError as exc:
                    result.failures.append(item_id)
                    result.counts["retry"] += 1
                    log.warning(
                        "outbound item %s will be retried: %s",
                        item_id,
                        exc.reason,
                        extra={"error": exc.to_dict()},
                    )
                except Exception as exc:  # a defect or an unmapped AWS error: retry, not lose
                    result.failures.append(item_id)
                    result.counts["retry"] += 1
                    log.exception(
                        "outbound item %s failed unexpectedly (%s)", item_id, type(exc).__name__
                    )
                else:
                    for name in outcome:
                        result.counts[name] += 1
                        if name in _PUBLISHED:
                            result.by_type[(email_type, _PUBLISHED[name])] += 1
        log.info("outbound batch done", extra={"result": result.to_dict()})
        return result

    # --- one record ----------------------------------------------------------------------

    def _handle_record(
        self, record: Mapping[str, Any], session: MailSender, in_progress: float
    ) -> tuple[tuple[str, ...], str]:
        """Handle one record; return its outcome names and the shop event's type."""
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
        except PermanentError as exc:
            if isinstance(exc, ConfigurationError):
                raise
            notified = self._dead_letter(record, payload, None, exc)
            names = ("dead_lettered", "invalid") + (() if notified else ("notify_failed",))
            return names, _raw_type(payload)

        key = idempotency_key(event)
        store = self.ports.idempotency
        if not store.begin(key, in_progress):  # InProgressError propagates: retry later
            return self._duplicate(event, key), event.detail_type
        sent = False
        try:
            entry = self.ports.suppression.get(event.recipient)
            if is_blocked(entry, event.email_class, event.detail_type, self.bypass_types):
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
                store.complete(key, {"outcome": "suppressed"})
                log.info(
                    "%s %s: recipient at %s suppressed (%s)",
                    event.detail_type,
                    event.aggregate_id,
                    event.recipient_domain,
                    entry.suppression_class,
                )
                return ("suppressed",), event.detail_type
            built = self._build_mail(event)
            ses_id = session.send(built.envelope_from, list(built.recipients), built.raw)
            sent = True
        except ConfigurationError:
            store.release(key)
            raise
        except PermanentError as exc:
            store.release(key)
            notified = self._dead_letter(record, payload, event, exc)
            return ("dead_lettered",) + (() if notified else ("notify_failed",)), event.detail_type
        except BaseException:
            if not sent:
                store.release(key)
            raise
        data = {
            "outcome": "sent",
            "sesMessageId": ses_id,
            "messageId": built.message_id,
            "sentAt": _now_iso(),
            "eventId": event.event_id,
        }
        self._complete_after_send(key, data)
        log.info(
            "%s %s sent to %s as %s (SES %s)",
            event.detail_type,
            event.aggregate_id,
            event.recipient_domain,
            built.message_id,
            ses_id,
        )
        self._announce(event, key, data)
        return ("sent",), event.detail_type

    def _build_mail(self, event: ShopEvent) -> BuiltMessage:
        rendered = self._render(event, self.settings)
        attachments = [self.ports.attachments.fetch(ref) for ref in rendered.attachments_refs]
        return self._build(event, rendered, self.settings, attachments=attachments)

    def _complete_after_send(self, key: str, data: Mapping[str, Any]) -> None:
        for attempt in (1, 2):
            try:
                self.ports.idempotency.complete(key, data)
                return
            except TransientError as exc:
                if attempt == 2:
                    log.error(
                        "mail %s was sent but its idempotency record could not be completed "
                        "(%s): a retry may send it again",
                        data.get("messageId"),
                        exc.reason,
                    )
                    raise

    def _announce(self, event: ShopEvent, key: str, data: Mapping[str, Any]) -> None:
        """Record the sent mail and publish ``EmailSent``; then mark the key announced."""
        ses_id = str(data["sesMessageId"])
        self.ports.sent_mail.put(
            SentMail(
                ses_message_id=ses_id,
                message_id=str(data["messageId"]),
                idempotency_key=key,
                detail_type=event.detail_type,
                aggregate_id=event.aggregate_id,
                recipient=event.recipient,
                email_class=event.email_class,
                event_id=str(data.get("eventId", event.event_id)),
                sent_at=str(data.get("sentAt", "")),
            )
        )
        self.ports.publisher.publish(
            SENT_DETAIL_TYPE,
            {
                **self._summary(event, key),
                "sesMessageId": ses_id,
                "messageId": str(data["messageId"]),
                "sentAt": str(data.get("sentAt", "")),
            },
            SOURCE,
        )
        try:
            self.ports.idempotency.complete(key, {**data, "announced": True})
        except TransientError as exc:  # harmless: a redelivery would announce once more
            log.warning("could not mark %s announced: %s", data.get("messageId"), exc.reason)

    def _duplicate(self, event: ShopEvent, key: str) -> tuple[str, ...]:
        data = self.ports.idempotency.data(key)
        if data and data.get("outcome") == "sent" and not data.get("announced"):
            log.info(
                "%s %s: sent before, finishing its record", event.detail_type, event.aggregate_id
            )
            self._announce(event, key, data)
            return ("duplicate", "announced_late")
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
        self.ports.dead_letters.send(
            {"sqsMessageId": record.get("messageId"), "event": payload}, reason
        )
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
