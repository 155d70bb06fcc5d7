"""The feedback use case: SES events and DSN/ARF mail -> suppression list and shop events.

Per SQS record (:meth:`FeedbackService.handle_record`):

1. parse the SES event in any shape (:mod:`shopmail.domain.feedback.ses_events`); an invalid
   record is logged, counted and dead-lettered when a sink is configured, never retried;
2. deduplicate on ``feedbackId`` (deliveries and delays: on message id, time and recipients)
   with a conditional put in the idempotency table;
3. correlate with the mail that caused it: ``SentMailTable`` (SES message id -> detail-type,
   order/aggregate id, recipient), else the shopmail Message-ID in the event's headers;
4. apply :mod:`shopmail.domain.suppression.policy` per recipient (transient bounces are counted
   with an atomic, idempotent counter; N in the window suppress);
5. publish ``EmailDelivered`` / ``EmailBounced`` / ``EmailComplained`` / ``EmailDelayed`` to
   the shop bus (source ``shopmail.feedback``) with the order id, the email type and
   ``suppressed``. Each event stands on its own, so a Delivery followed by a Bounce gives two
   shop events and the bounce still suppresses.

Transient errors propagate from :meth:`handle_record`; :meth:`handle_batch` turns them into
``batchItemFailures`` so only those records are retried (and end in the queue's DLQ).

:meth:`FeedbackService.handle_classification` does steps 2-5 for a bounce or complaint that
arrived as mail (a classified DSN/ARF), matched back through the returned Message-ID.

Shop events (source ``shopmail.feedback``), one per recipient; ``detail``:

* always: ``recipient``, ``email_type`` (detail-type of the mail, e.g. ``OrderPlaced``),
  ``order_id`` (= ``aggregate_id``), ``email_class``, ``message_id`` (ours),
  ``idempotency_key``, ``source_event_id``, ``correlated``, ``matched_by``
  (``sent_mail`` | ``message_id`` | ``none``), ``suppressed`` (the address is suppressed after
  this event), ``suppression_class``, ``timestamp``, ``channel`` (``ses`` | ``mail``);
* SES events: ``ses_message_id``, ``feedback_id``;
* bounces: ``bounce_type``, ``bounce_sub_type``, ``status``, ``diagnostic``, ``hard``, ``policy``
  (``suppress`` | ``count`` | ``ignore``); DSN mail: ``status``, ``reason``, ``hard``,
  ``diagnostic``, ``reporting_mta``;
* complaints: ``complaint_type`` (``abuse`` ...), ``complaint_sub_type``;
* delays: ``delay_type``, ``status``.

Delivery is at least once: a retried multi-recipient event may publish an earlier recipient's
event again (the suppression writes are idempotent).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from shopmail.domain.addresses import domain_of
from shopmail.domain.feedback.model import (
    KIND_BOUNCE,
    KIND_COMPLAINT,
    KIND_DELAY,
    Classification,
    RecipientResult,
)
from shopmail.domain.feedback.ses_events import (
    KIND_BOUNCE as SES_BOUNCE,
)
from shopmail.domain.feedback.ses_events import (
    KIND_COMPLAINT as SES_COMPLAINT,
)
from shopmail.domain.feedback.ses_events import (
    KIND_DELAY as SES_DELAY,
)
from shopmail.domain.feedback.ses_events import (
    KIND_DELIVERY as SES_DELIVERY,
)
from shopmail.domain.feedback.ses_events import (
    FeedbackEvent,
    parse_feedback_event,
)
from shopmail.domain.outbound.contracts import EVENT_TYPES
from shopmail.domain.outbound.message_ids import MessageRef, parse_message_id
from shopmail.domain.outbound.sent_mail import SentMail
from shopmail.domain.suppression.entries import (
    COMPLAINT,
    HARD_BOUNCE,
    MANUAL,
    TRANSIENT_BOUNCES,
    UNSUBSCRIBE,
    SuppressionEntry,
    suppression_key,
)
from shopmail.domain.suppression.policy import (
    ACTION_COUNT,
    ACTION_IGNORE,
    ACTION_SUPPRESS,
    SuppressionDecision,
    decide_bounce,
    decide_complaint,
    decide_dsn_recipient,
    threshold_reached,
)
from shopmail.errors import InvalidEventError, ShopmailError
from shopmail.ports import (
    BounceCounter,
    DeadLetterSink,
    EventPublisher,
    IdempotencyStore,
    SentMailStore,
    SuppressionList,
)

logger = logging.getLogger(__name__)

EVENT_SOURCE: Final = "shopmail.feedback"
DETAIL_TYPES: Final = {
    SES_DELIVERY: "EmailDelivered",
    SES_BOUNCE: "EmailBounced",
    SES_COMPLAINT: "EmailComplained",
    SES_DELAY: "EmailDelayed",
}
IN_PROGRESS_SECONDS: Final = 120.0

# How strong a suppression class is: a weaker entry is replaced, a stronger one kept.
_RANK: Final = {UNSUBSCRIBE: 0, TRANSIENT_BOUNCES: 1, HARD_BOUNCE: 2, COMPLAINT: 2, MANUAL: 3}
_KIND_TO_TYPE: Final = {name.lower(): name for name in EVENT_TYPES}


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _clip(text: str | None, limit: int = 500) -> str | None:
    return text[:limit] if text else None


@dataclass(frozen=True, slots=True)
class Correlation:
    """What we know about the mail a piece of feedback is about."""

    email_type: str | None = None
    aggregate_id: str | None = None
    email_class: str | None = None
    recipient: str | None = None
    message_id: str | None = None
    idempotency_key: str | None = None
    event_id: str | None = None
    matched_by: str = "none"  # sent_mail | message_id | none


def _from_sent(sent: SentMail, message_id: str | None) -> Correlation:
    return Correlation(
        email_type=sent.detail_type or None,
        aggregate_id=sent.aggregate_id or None,
        email_class=sent.email_class or None,
        recipient=sent.recipient or None,
        message_id=sent.message_id or message_id,
        idempotency_key=sent.idempotency_key or None,
        event_id=sent.event_id or None,
        matched_by="sent_mail",
    )


@dataclass
class FeedbackBatchResult:
    """Outcome of one SQS batch (``to_response()`` is the Lambda result)."""

    records: int = 0
    processed: int = 0
    duplicates: int = 0
    invalid: int = 0
    ignored: int = 0
    suppressed: int = 0
    failures: list[str] = field(default_factory=list)

    def to_response(self) -> dict[str, Any]:
        """``{"batchItemFailures": [{"itemIdentifier": id}, ...]}``."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}

    def to_dict(self) -> dict[str, Any]:
        """Log-safe counts."""
        return {
            "records": self.records,
            "processed": self.processed,
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "ignored": self.ignored,
            "suppressed": self.suppressed,
            "failures": len(self.failures),
        }


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What happened to one record."""

    status: str  # processed | duplicate | invalid | ignored
    suppressed: int = 0
    published: tuple[str, ...] = ()


class FeedbackService:
    """Apply SES feedback and classified DSN/ARF mail to the suppression list and the shop bus.

    Parameters
    ----------
    publisher
        The shop bus.
    suppressions
        The suppression table.
    sent_mail
        The sent-mail table (``None``: correlate through the Message-ID only).
    idempotency
        Deduplication store (``None``: no deduplication, e.g. local tools).
    counter
        Transient-bounce counter (``None``: transient bounces never suppress).
    transient_threshold, transient_window_days
        N transient bounces within the window suppress (``TRANSIENT_BOUNCE_*``).
    mail_domain
        Our Message-ID domain (``None``: any shopmail id is ours).
    dead_letters
        Where invalid records are kept (``None``: logged and counted only).
    clock
        Returns the current aware datetime (tests).
    """

    def __init__(
        self,
        publisher: EventPublisher,
        suppressions: SuppressionList,
        sent_mail: SentMailStore | None = None,
        idempotency: IdempotencyStore | None = None,
        counter: BounceCounter | None = None,
        *,
        transient_threshold: int = 3,
        transient_window_days: int = 30,
        mail_domain: str | None = None,
        dead_letters: DeadLetterSink | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.publisher = publisher
        self.suppressions = suppressions
        self.sent_mail = sent_mail
        self.idempotency = idempotency
        self.counter = counter
        self.transient_threshold = transient_threshold
        self.transient_window_days = transient_window_days
        self.mail_domain = mail_domain
        self.dead_letters = dead_letters
        self._clock = clock

    # ------------------------------------------------------------------ SQS batch

    def handle_batch(self, records: Sequence[Mapping[str, Any]]) -> FeedbackBatchResult:
        """Handle an SQS batch; failed records (transient errors) are reported, not raised."""
        result = FeedbackBatchResult(records=len(records))
        for i, record in enumerate(records):
            ident = str(record.get("messageId") or i) if isinstance(record, Mapping) else str(i)
            try:
                outcome = self.handle_record(record)
            except ShopmailError as exc:
                logger.warning("feedback record failed; will retry", extra=exc.to_dict())
                result.failures.append(ident)
                continue
            except Exception as exc:  # a defect: retry, then the queue's DLQ keeps it
                logger.exception("feedback record crashed", extra={"error": type(exc).__name__})
                result.failures.append(ident)
                continue
            if outcome.status == "processed":
                result.processed += 1
            elif outcome.status == "duplicate":
                result.duplicates += 1
            elif outcome.status == "invalid":
                result.invalid += 1
            else:
                result.ignored += 1
            result.suppressed += outcome.suppressed
        return result

    def handle_record(self, record: Any) -> RecordOutcome:
        """Handle one SQS record (or any SES event shape).

        Raises
        ------
        TransientError
            A store or the bus failed: retry the record.
        """
        try:
            event = parse_feedback_event(record)
        except InvalidEventError as exc:
            self._invalid(record, exc)
            return RecordOutcome("invalid")
        return self.handle_event(event)

    def _invalid(self, record: Any, exc: InvalidEventError) -> None:
        logger.error("invalid feedback record", extra=exc.to_dict())
        if self.dead_letters is not None:
            payload = dict(record) if isinstance(record, Mapping) else {"record": str(record)}
            self.dead_letters.send(payload, exc.to_dict())

    # ------------------------------------------------------------------ SES events

    def handle_event(self, event: FeedbackEvent) -> RecordOutcome:
        """Deduplicate, correlate, apply the policy and publish one parsed SES event."""
        detail_type = DETAIL_TYPES.get(event.kind)
        if detail_type is None:
            logger.info(
                "feedback event ignored",
                extra={"event_type": event.event_type, "ses_message_id": event.ses_message_id},
            )
            return RecordOutcome("ignored")
        return self._once(event.dedupe_key, lambda: self._apply_event(event, detail_type))

    def _once(self, key: str, work: Callable[[], RecordOutcome]) -> RecordOutcome:
        if self.idempotency is None:
            return work()
        if not self.idempotency.begin(key, IN_PROGRESS_SECONDS):
            logger.info("duplicate feedback skipped", extra={"key": key})
            return RecordOutcome("duplicate")
        try:
            outcome = work()
        except BaseException:
            self.idempotency.release(key)
            raise
        self.idempotency.complete(key, {"status": outcome.status})
        return outcome

    def _apply_event(self, event: FeedbackEvent, detail_type: str) -> RecordOutcome:
        corr = self._correlate(event.ses_message_id, event.our_message_id)
        decision: SuppressionDecision | None = None
        if event.kind == SES_BOUNCE:
            decision = decide_bounce(event.bounce_type, event.bounce_sub_type)
        elif event.kind == SES_COMPLAINT:
            decision = decide_complaint(event.complaint_type)
        suppressed_count = 0
        published: list[str] = []
        timestamp = event.timestamp or _iso(self._clock())
        for rcpt in event.recipients or ():
            suppressed, cls = False, None
            if decision is not None:
                suppressed, cls = self._apply_decision(
                    rcpt.address,
                    decision,
                    bounce_id=event.dedupe_key,
                    timestamp=timestamp,
                    source="ses-feedback",
                    reason=self._reason(decision, rcpt.status, rcpt.diagnostic),
                )
                suppressed_count += int(suppressed and decision.action != ACTION_IGNORE)
            detail: dict[str, Any] = {
                **self._base_detail(corr, rcpt.address, suppressed, cls),
                "ses_message_id": event.ses_message_id,
                "feedback_id": event.feedback_id,
                "timestamp": timestamp,
                "channel": "ses",
            }
            if event.kind == SES_BOUNCE:
                detail.update(
                    bounce_type=event.bounce_type,
                    bounce_sub_type=event.bounce_sub_type,
                    status=rcpt.status,
                    diagnostic=_clip(rcpt.diagnostic),
                    hard=(event.bounce_type or "").lower() == "permanent",
                )
            elif event.kind == SES_COMPLAINT:
                detail.update(
                    complaint_type=event.complaint_type,
                    complaint_sub_type=event.complaint_sub_type,
                )
            elif event.kind == SES_DELAY:
                detail.update(delay_type=event.delay_type, status=rcpt.status)
            if decision is not None:
                detail["policy"] = decision.action
            self.publisher.publish(detail_type, detail, EVENT_SOURCE)
            published.append(detail_type)
        logger.info(
            "feedback applied",
            extra={
                "event_type": event.event_type,
                "ses_message_id": event.ses_message_id,
                "matched_by": corr.matched_by,
                "email_type": corr.email_type,
                "domains": sorted({domain_of(a) for a in event.addresses}),
                "policy": decision.action if decision else None,
                "suppressed": suppressed_count,
            },
        )
        return RecordOutcome("processed", suppressed_count, tuple(published))

    # ------------------------------------------------------------------ DSN / ARF mail

    def handle_classification(
        self, classification: Classification, message_meta: Mapping[str, Any] | None = None
    ) -> RecordOutcome:
        """Apply a bounce/complaint/delay that arrived as mail (a classified DSN or ARF).

        Parameters
        ----------
        classification
            The classifier's result for the inbound message.
        message_meta
            Optional facts about the inbound message: ``message_id`` (SES receipt id or the
            message's Message-ID: the deduplication key), ``received_at`` (ISO 8601; default
            now).

        Returns
        -------
        RecordOutcome
            ``ignored`` for kinds that are not feedback about our mail (auto-replies, ...).
        """
        meta = message_meta or {}
        kind = classification.kind
        if kind == KIND_BOUNCE:
            detail_type = "EmailBounced"
        elif kind == KIND_COMPLAINT:
            detail_type = "EmailComplained"
        elif kind == KIND_DELAY:
            detail_type = "EmailDelayed"
        else:
            return RecordOutcome("ignored")
        received = str(meta.get("received_at") or _iso(self._clock()))
        rows = list(classification.recipients)
        if not rows and kind == KIND_COMPLAINT:
            rows = [RecipientResult(a) for a in classification.original_rcpt_to]
        mail_id = str(meta.get("message_id") or "")
        if not mail_id:
            basis = "|".join(
                [
                    kind,
                    classification.original_message_id or "",
                    received,
                    *sorted(r.address.lower() for r in rows),
                ]
            )
            mail_id = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
        key = f"feedback-mail:{mail_id}"
        return self._once(
            key,
            lambda: self._apply_classification(classification, rows, detail_type, received, key),
        )

    def _apply_classification(
        self,
        c: Classification,
        rows: Iterable[RecipientResult],
        detail_type: str,
        received: str,
        key: str,
    ) -> RecordOutcome:
        corr = self._correlate(None, c.original_message_id)
        suppressed_count = 0
        published: list[str] = []
        targets: list[RecipientResult | None] = list(rows) or [None]
        for row in targets:
            address = row.address if row is not None else corr.recipient
            suppressed, cls = False, None
            decision: SuppressionDecision | None = None
            if row is not None and address:
                decision = decide_dsn_recipient(c.kind, row)
                if c.kind == KIND_COMPLAINT:
                    decision = decide_complaint(c.feedback_type)
                suppressed, cls = self._apply_decision(
                    address,
                    decision,
                    bounce_id=f"{key}:{address.lower()}",
                    timestamp=received,
                    source="dsn" if c.kind != KIND_COMPLAINT else "arf",
                    reason=self._reason(decision, row.status, row.diagnostic),
                )
                suppressed_count += int(suppressed and decision.action != ACTION_IGNORE)
            detail: dict[str, Any] = {
                **self._base_detail(corr, address, suppressed, cls),
                "timestamp": received,
                "channel": "mail",
                "reporting_mta": c.reporting_mta,
            }
            if c.kind == KIND_COMPLAINT:
                detail["complaint_type"] = c.feedback_type
            elif row is not None:
                detail.update(
                    status=row.status,
                    reason=row.reason,
                    hard=row.hard,
                    diagnostic=_clip(row.diagnostic),
                )
            if decision is not None:
                detail["policy"] = decision.action
            self.publisher.publish(detail_type, detail, EVENT_SOURCE)
            published.append(detail_type)
        logger.info(
            "mail feedback applied",
            extra={
                "kind": c.kind,
                "detector": c.detector,
                "matched_by": corr.matched_by,
                "email_type": corr.email_type,
                "suppressed": suppressed_count,
            },
        )
        return RecordOutcome("processed", suppressed_count, tuple(published))

    # ------------------------------------------------------------------ shared steps

    def _correlate(self, ses_message_id: str | None, message_id: str | None) -> Correlation:
        if ses_message_id and self.sent_mail is not None:
            sent = self.sent_mail.get(ses_message_id)
            if sent is not None:
                return _from_sent(sent, message_id)
        ref: MessageRef | None = parse_message_id(message_id or "", self.mail_domain)
        if ref is not None and message_id and self.sent_mail is not None:
            sent = self.sent_mail.get_by_message_id(message_id)
            if sent is not None:
                return _from_sent(sent, message_id)
        if ref is not None:
            email_type = _KIND_TO_TYPE.get(ref.kind, ref.kind)
            info = EVENT_TYPES.get(email_type)
            return Correlation(
                email_type=email_type,
                aggregate_id=ref.aggregate_id,
                email_class=info.email_class if info is not None else None,
                message_id=message_id,
                matched_by="message_id",
            )
        return Correlation()

    @staticmethod
    def _base_detail(
        corr: Correlation, address: str | None, suppressed: bool, cls: str | None
    ) -> dict[str, Any]:
        return {
            "recipient": address,
            "email_type": corr.email_type,
            "order_id": corr.aggregate_id,
            "aggregate_id": corr.aggregate_id,
            "email_class": corr.email_class,
            "message_id": corr.message_id,
            "idempotency_key": corr.idempotency_key,
            "source_event_id": corr.event_id,
            "correlated": corr.matched_by != "none",
            "matched_by": corr.matched_by,
            "suppressed": suppressed,
            "suppression_class": cls,
        }

    @staticmethod
    def _reason(decision: SuppressionDecision, status: str | None, diag: str | None) -> str:
        parts = [decision.reason]
        if status:
            parts.append(status)
        if diag:
            parts.append(diag[:200])
        return " ".join(parts)

    def _apply_decision(
        self,
        address: str,
        decision: SuppressionDecision,
        *,
        bounce_id: str,
        timestamp: str,
        source: str,
        reason: str,
    ) -> tuple[bool, str | None]:
        """Apply ``decision`` to ``address``; return (suppressed now, effective class)."""
        key = suppression_key(address)
        existing = self.suppressions.get(key)
        now = self._clock().timestamp()
        if existing is not None and existing.expired(now):
            existing = None
        if decision.action == ACTION_IGNORE or decision.suppression_class is None:
            return existing is not None, existing.suppression_class if existing else None
        if decision.action == ACTION_COUNT:
            if self.counter is None:
                return existing is not None, existing.suppression_class if existing else None
            stamps = self.counter.record(key, bounce_id, timestamp, self.transient_window_days)
            if not threshold_reached(
                stamps, self._clock(), self.transient_threshold, self.transient_window_days
            ):
                return existing is not None, existing.suppression_class if existing else None
        assert decision.action in (ACTION_SUPPRESS, ACTION_COUNT)
        new_class = decision.suppression_class
        if existing is not None and _RANK.get(existing.suppression_class, 3) >= _RANK.get(
            new_class, 3
        ):
            return True, existing.suppression_class
        self.suppressions.put(
            SuppressionEntry(
                address=key,
                suppression_class=new_class,
                reason=reason[:300],
                since=_iso(self._clock()),
                source=source,
            )
        )
        logger.info(
            "address suppressed",
            extra={"domain": domain_of(key), "class": new_class, "source": source},
        )
        return True, new_class
