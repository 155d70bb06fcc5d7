"""The feedback use case: SES events and DSN/ARF mail -> suppression list and shop events.

Both channels become the same :class:`~shopmail.domain.feedback.report.FeedbackReport`
(SES events via :func:`~shopmail.domain.feedback.report.from_ses_event`, classified mail via
:func:`~shopmail.domain.feedback.report.from_classification`) and go through one path,
:meth:`FeedbackService.handle_report`:

1. **deduplicate** on the report's key (SES ``feedbackId``; the inbound message id for mail)
   with a conditional put in the idempotency table;
2. **correlate** with the mail it is about: for SES events, the mail's own message tags when
   they are complete (:func:`~shopmail.domain.outbound.mail_tags.tagged_mail`: no lookup;
   ``matchedBy`` ``message_id``, what the mail itself says); else the sent-mail record of the
   SES message id, else of a quoted shopmail Message-ID; for SES events without a record, what
   our Message-ID says;
3. **verify** mail-borne reports (:mod:`shopmail.domain.feedback.verification`): a recipient
   counts only when the report quotes a mail we sent *to that recipient*. Everything else is
   published once per report as ``EmailFeedbackUnverified`` with the reason, counted, and never
   suppresses. SES's own events are trusted, once :meth:`FeedbackService.check_source` has
   seen that an SNS-shaped one comes from our topic and configuration set;
4. **decide** per recipient (:func:`shopmail.domain.suppression.policy.decide`): only the
   address's own fault suppresses; transient bounces that can mean a dead address are counted
   (N within the window suppress); everything else is counted as a non-address bounce per
   recipient domain and reason;
5. **publish** ``EmailBounced`` / ``EmailDelayed`` / ``EmailComplained`` / ``EmailDelivered``
   per recipient (source ``shopmail.feedback``). Each event stands on its own, so a Delivery
   followed by a Bounce gives two shop events and the bounce still applies.

Shop event details (camelCase, ``version`` 1): ``recipient``, ``emailType`` (detail-type of the
mail, e.g. ``OrderPlaced``), ``aggregateId``, ``orderId`` (order mail only), ``emailClass``,
``messageId`` (ours), ``sesMessageId``, ``idempotencyKey``, ``sourceEventId``, ``correlated``,
``matchedBy`` (``sent_mail`` | ``message_id`` | ``none``), ``verified``, ``suppressed`` (the
address is suppressed after this event), ``suppressionClass``, ``policy``
(``suppress`` | ``count`` | ``ignore``), ``timestamp``, ``channel`` (``ses`` | ``mail``); bounces
add ``status``, ``reason``, ``hard``, ``diagnostic`` and (SES) ``bounceType``,
``bounceSubType``, ``feedbackId``, (mail) ``reportingMta``; complaints ``complaintType``,
``complaintSubType``; delays ``delayType``, ``status``.

**Calls per batch.** :meth:`FeedbackService.handle_batch` claims each report (one conditional
put), reads the suppression entries of every address of the batch in one ``BatchGetItem``,
writes an entry only where the policy suppresses (one conditional put that never replaces a
stronger entry, instead of a read before the write), publishes the batch's events in
``PutEvents`` calls of 10 (only failed entries again) and completes the reports in one
``BatchWriteItem``: 1.3 calls per delivery event in a batch of 10 (``python -m bench calls``).

Transient errors propagate from :meth:`handle_record`; :meth:`handle_batch` turns them into
``batchItemFailures`` so only those records are retried (and end in the queue's DLQ): a record
whose event could not be published is released and retried, the others of the batch are not.
Delivery is at least once: a retried multi-recipient report may publish an earlier recipient's
event again (the suppression writes are idempotent).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from shopmail.domain.addresses import domain_of
from shopmail.domain.feedback.outcome import FeedbackOutcome, MailFeedback, OutcomeStatus
from shopmail.domain.feedback.references import References
from shopmail.domain.feedback.report import (
    DETAIL_TYPES,
    UNVERIFIED_DETAIL_TYPE,
    Channel,
    FeedbackKind,
    FeedbackReport,
    RecipientReport,
    from_classification,
    from_ses_event,
)
from shopmail.domain.feedback.ses_events import FeedbackEvent, parse_feedback_event
from shopmail.domain.feedback.verification import UnverifiedReason, verify_recipient
from shopmail.domain.outbound.contracts import EVENT_TYPES
from shopmail.domain.outbound.mail_tags import TaggedMail, tagged_mail
from shopmail.domain.outbound.message_ids import parse_message_id
from shopmail.domain.outbound.sent_mail import SentMail
from shopmail.domain.suppression.entries import SuppressionEntry, suppression_key
from shopmail.domain.suppression.policy import (
    PolicyAction,
    SuppressionDecision,
    decide,
    keeps,
    replaceable_by,
    threshold_reached,
)
from shopmail.errors import InvalidEventError, ServiceUnavailableError, ShopmailError
from shopmail.ports import (
    BounceCounter,
    DeadLetterSink,
    EventEntry,
    EventPublisher,
    IdempotencyStore,
    SentMailStore,
    SuppressionList,
)

logger = logging.getLogger(__name__)

EVENT_SOURCE: Final = "shopmail.feedback"
DETAIL_VERSION: Final = 1
IN_PROGRESS_SECONDS: Final = 120.0
#: At most this many recipients of one unverified report are named in its event.
MAX_UNVERIFIED_RECIPIENTS: Final = 20

_KIND_TO_TYPE: Final = {name.lower(): name for name in EVENT_TYPES}


class MatchedBy(StrEnum):
    """How a report was matched to the mail it is about."""

    SENT_MAIL = "sent_mail"
    MESSAGE_ID = "message_id"
    NONE = "none"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _clip(text: str | None, limit: int = 500) -> str | None:
    return text[:limit] if text else None


@dataclass(frozen=True, slots=True)
class Correlation:
    """What we know about the mail a piece of feedback is about."""

    sent: SentMail | None = None
    email_type: str | None = None
    aggregate_id: str | None = None
    email_class: str | None = None
    message_id: str | None = None
    matched_by: MatchedBy = MatchedBy.NONE
    #: The mail's complete SES tags (event id, business key), when it was matched by them.
    tagged: TaggedMail | None = None

    @classmethod
    def of_sent(cls, sent: SentMail) -> Correlation:
        """The correlation with a sent-mail record."""
        return cls(
            sent=sent,
            email_type=sent.detail_type or None,
            aggregate_id=sent.aggregate_id or None,
            email_class=sent.email_class or None,
            message_id=sent.message_id or None,
            matched_by=MatchedBy.SENT_MAIL,
        )


@dataclass
class _Work:
    """One claimed report of a batch: its events wait for the batch's ``PutEvents`` calls."""

    ident: str
    report: FeedbackReport
    events: list[EventEntry] = field(default_factory=list)
    outcome: FeedbackOutcome | None = None


class _Entries:
    """The suppression entries of a batch's addresses (by suppression key), read at once."""

    def __init__(self, store: SuppressionList, addresses: Iterable[str]) -> None:
        self._store = store
        keys = list(dict.fromkeys(suppression_key(a) for a in addresses))
        self._known: dict[str, SuppressionEntry | None] = {}
        if keys:
            try:
                self._known = dict(store.get_many(keys))
            except ShopmailError as exc:  # read per address on need (that error then counts)
                logger.warning("suppression entries not read at once", extra=exc.to_dict())

    def get(self, key: str) -> SuppressionEntry | None:
        if key not in self._known:
            self._known.update(self._store.get_many([key]))
        return self._known.get(key)

    def set(self, key: str, entry: SuppressionEntry | None) -> None:
        self._known[key] = entry


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
    unverified: Counter[str] = field(default_factory=Counter)
    not_address: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, outcome: FeedbackOutcome) -> None:
        """Count one record's outcome."""
        attr = {
            OutcomeStatus.PROCESSED: "processed",
            OutcomeStatus.DUPLICATE: "duplicates",
            OutcomeStatus.INVALID: "invalid",
            OutcomeStatus.IGNORED: "ignored",
        }[outcome.status]
        setattr(self, attr, getattr(self, attr) + 1)
        self.suppressed += outcome.suppressed
        self.unverified.update(str(r) for r in outcome.unverified)
        self.not_address.update(outcome.not_address)

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
            "unverified": dict(self.unverified),
            "not_address": {f"{d}|{r}": n for (d, r), n in self.not_address.items()},
        }


class FeedbackService:
    """Apply SES feedback and classified DSN/ARF mail to the suppression list and the shop bus.

    Parameters
    ----------
    publisher
        The shop bus.
    suppressions
        The suppression table.
    sent_mail
        The sent-mail table (``None``: SES events correlate through the Message-ID only, and
        no mail-borne report can be verified).
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
    trusted_topics
        SNS topic ARNs whose SES notifications are accepted (``None``: no check; an empty
        collection refuses every SNS-wrapped event).
    configuration_set
        Our configuration set: an SES event naming another one is refused (empty: no check).
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
        trusted_topics: Iterable[str] | None = None,
        configuration_set: str = "",
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
        self.trusted_topics = (
            None if trusted_topics is None else frozenset(t for t in trusted_topics if t)
        )
        self.configuration_set = configuration_set
        self._clock = clock

    # ------------------------------------------------------------------ SQS batch (SES)

    def handle_batch(self, records: Sequence[Mapping[str, Any]]) -> FeedbackBatchResult:
        """Handle an SQS batch; failed records (transient errors) are reported, not raised."""
        result = FeedbackBatchResult(records=len(records))
        works: list[_Work] = []
        claimed: set[str] = set()
        for i, record in enumerate(records):
            ident = str(record.get("messageId") or i) if isinstance(record, Mapping) else str(i)
            try:
                report = self._report_of(record)
                if isinstance(report, FeedbackOutcome):
                    result.add(report)
                elif report.dedupe_key in claimed or not self._claim(report):
                    result.add(FeedbackOutcome(OutcomeStatus.DUPLICATE))
                else:  # the same report twice in one batch: the first one counts
                    claimed.add(report.dedupe_key)
                    works.append(_Work(ident, report))
            except Exception as exc:
                _failed(ident, exc, result)
        self._run(works, result)
        return result

    def _report_of(self, record: Any) -> FeedbackReport | FeedbackOutcome:
        """The report of one SQS record (or any SES event shape), or its outcome when it has
        none (invalid, ignored)."""
        try:
            event = parse_feedback_event(record)
            self.check_source(event)
        except InvalidEventError as exc:
            self._invalid(record, exc)
            return FeedbackOutcome(OutcomeStatus.INVALID)
        return self._event_report(event)

    @staticmethod
    def _event_report(event: FeedbackEvent) -> FeedbackReport | FeedbackOutcome:
        """The report of a trusted SES event, or ``ignored`` (an open, a click...)."""
        report = from_ses_event(event)
        if report is None:
            logger.info(
                "feedback event ignored",
                extra={"event_type": event.event_type, "ses_message_id": event.ses_message_id},
            )
            return FeedbackOutcome(OutcomeStatus.IGNORED)
        return report

    def _claim(self, report: FeedbackReport) -> bool:
        """Claim the report's key; ``False`` for a duplicate."""
        if self.idempotency is None:
            return True
        if not self.idempotency.begin(report.dedupe_key, IN_PROGRESS_SECONDS):
            logger.info("duplicate feedback skipped", extra={"channel": str(report.channel)})
            return False
        return True

    def _release(self, work: _Work) -> None:
        if self.idempotency is not None:
            self.idempotency.release(work.report.dedupe_key)

    def _run(self, works: list[_Work], result: FeedbackBatchResult) -> None:
        """Apply the claimed reports, publish their events at once, complete them."""
        if not works:
            return
        entries = _Entries(self.suppressions, (a for w in works for a in w.report.addresses))
        applied: list[_Work] = []
        for work in works:
            try:
                work.outcome = self._apply(work.report, entries, work.events)
            except BaseException as exc:
                self._release_after(work, exc, result)
                if not isinstance(exc, Exception):
                    raise
                continue
            applied.append(work)
        events = [e for w in applied for e in w.events]
        failed: set[int] = set()
        error: Exception = ShopmailError("EventBridge rejected the entry")
        if events:
            try:
                failed = set(self.publisher.publish_many(events))
            except Exception as exc:  # the calls failed as a whole: none counts as published
                failed, error = set(range(len(events))), exc
        done: list[_Work] = []
        start = 0
        for work in applied:
            indexes = range(start, start + len(work.events))
            start += len(work.events)
            if failed.intersection(indexes):
                self._release_after(work, error, result)
            else:
                done.append(work)
        self._complete(done, result)

    def _release_after(self, work: _Work, exc: BaseException, result: FeedbackBatchResult) -> None:
        try:
            self._release(work)
        except Exception as release_exc:  # the claim expires by itself
            logger.warning("could not release a feedback claim (%s)", type(release_exc).__name__)
        _failed(work.ident, exc, result)

    def _complete(self, done: list[_Work], result: FeedbackBatchResult) -> None:
        if self.idempotency is not None and done:
            items = [
                (w.report.dedupe_key, {"status": str(w.outcome and w.outcome.status)}) for w in done
            ]
            try:
                self.idempotency.complete_many(items)
            except Exception as exc:  # one by one: a record that cannot be completed fails
                logger.warning("feedback completions not written at once (%s)", type(exc).__name__)
                for work, (key, data) in zip(list(done), items, strict=True):
                    try:
                        self.idempotency.complete(key, data)
                    except Exception as one_exc:
                        _failed(work.ident, one_exc, result)
                        done.remove(work)
        for work in done:
            assert work.outcome is not None
            result.add(work.outcome)

    def handle_record(self, record: Any) -> FeedbackOutcome:
        """Handle one SQS record (or any SES event shape).

        Raises
        ------
        TransientError
            A store or the bus failed: retry the record.
        """
        report = self._report_of(record)
        if isinstance(report, FeedbackOutcome):
            return report
        return self.handle_report(report)

    def check_source(self, event: FeedbackEvent) -> None:
        """Refuse an SES-shaped event that does not come from SES, our topic or our
        configuration set.

        Raises
        ------
        InvalidEventError
            An EventBridge event whose source is not ``aws.ses``, an SNS notification from a
            topic not in ``trusted_topics``, or an event of another configuration set.
        """
        if event.bus_source is not None and event.bus_source != "aws.ses":
            raise InvalidEventError("EventBridge event not from aws.ses", field="source")
        topic = event.topic_arn
        trusted = self.trusted_topics
        if trusted is not None and topic is not None and topic not in trusted:
            raise InvalidEventError(
                "SES notification from an SNS topic that is not ours", field="TopicArn"
            )
        named = event.configuration_set
        if self.configuration_set and named is not None and named != self.configuration_set:
            raise InvalidEventError(
                "SES event of another configuration set", field="mail.tags.ses:configuration-set"
            )

    def _invalid(self, record: Any, exc: InvalidEventError) -> None:
        logger.error("invalid feedback record", extra=exc.to_dict())
        if self.dead_letters is not None:
            payload = dict(record) if isinstance(record, Mapping) else {"record": str(record)}
            self.dead_letters.send(payload, exc.to_dict())

    def handle_event(self, event: FeedbackEvent) -> FeedbackOutcome:
        """Run one parsed (trusted) SES event through :meth:`handle_report`."""
        report = self._event_report(event)
        if isinstance(report, FeedbackOutcome):
            return report
        return self.handle_report(report)

    # ------------------------------------------------------------------ DSN / ARF mail

    def handle_mail(self, feedback: MailFeedback) -> FeedbackOutcome:
        """Run a bounce/complaint/delay that arrived as mail through :meth:`handle_report`.

        Returns
        -------
        FeedbackOutcome
            ``ignored`` for kinds that are not feedback about our mail (auto-replies, ...).
        """
        received = feedback.received_at or _iso(self._clock())
        key = feedback.inbound_message_id or "|".join(
            [feedback.classification.kind, received, *feedback.references.ses_message_ids]
        )
        report = from_classification(
            feedback.classification,
            dedupe_key=f"feedback-mail:{key}",
            received_at=received,
            references=feedback.references,
            inbound_message_id=feedback.inbound_message_id or None,
        )
        if report is None:
            return FeedbackOutcome(OutcomeStatus.IGNORED)
        return self.handle_report(report)

    # ------------------------------------------------------------------ the one path

    def handle_report(self, report: FeedbackReport) -> FeedbackOutcome:
        """Deduplicate, correlate, verify, decide and publish one report (see module docs).

        Raises
        ------
        TransientError
            A store or the bus failed (the claim is released: retry the report).
        """
        if not self._claim(report):
            return FeedbackOutcome(OutcomeStatus.DUPLICATE)
        work = _Work("report", report)
        try:
            work.outcome = self._apply(
                report, _Entries(self.suppressions, report.addresses), work.events
            )
            if work.events:
                failed = self.publisher.publish_many(work.events)
                if failed:
                    detail_type = work.events[failed[0]][0]
                    raise ServiceUnavailableError(
                        f"EventBridge rejected the {detail_type} entry",
                        service="events",
                        operation="PutEvents",
                        detail_type=detail_type,
                    )
        except BaseException:
            self._release(work)
            raise
        if self.idempotency is not None:
            self.idempotency.complete(report.dedupe_key, {"status": str(work.outcome.status)})
        return work.outcome

    def _apply(
        self, report: FeedbackReport, entries: _Entries, events: list[EventEntry]
    ) -> FeedbackOutcome:
        corr = self._correlate(report)
        trusted = report.channel is Channel.SES
        rows: list[RecipientReport | None] = list(report.recipients)
        if not rows and not trusted:
            rows = [None]  # e.g. a redacted complaint: only the quoted mail names the recipient
        timestamp = report.timestamp or _iso(self._clock())
        suppressed = 0
        published: list[str] = []
        unverified: list[tuple[UnverifiedReason, RecipientReport | None]] = []
        not_address: list[tuple[str, str]] = []
        for row in rows:
            if not trusted:
                why = verify_recipient(
                    corr.sent,
                    row.address if row is not None else None,
                    quoted=not report.references.empty,
                )
                if why is not None:
                    unverified.append((why, row))
                    continue
            if row is None:
                assert corr.sent is not None  # verified without a named recipient
                row = RecipientReport(corr.sent.recipient, report.kind)
            decision = decide(row)
            now_suppressed, cls = self._apply_decision(
                row.address, decision, report, timestamp, entries
            )
            if now_suppressed and decision.action is not PolicyAction.IGNORE:
                suppressed += 1
            if row.kind is FeedbackKind.BOUNCE and decision.action is PolicyAction.IGNORE:
                not_address.append((domain_of(row.address), decision.reason))
            detail_type = DETAIL_TYPES[row.kind]
            detail = self._detail(report, corr, row, decision, now_suppressed, cls, timestamp)
            events.append((detail_type, detail, EVENT_SOURCE))
            published.append(detail_type)
        if unverified:
            events.append(self._unverified_entry(report, corr, unverified, timestamp))
            published.append(UNVERIFIED_DETAIL_TYPE)
        logger.info(
            "feedback applied",
            extra={
                "channel": str(report.channel),
                "event_type": report.event_type,
                "detector": report.detector,
                "ses_message_id": report.ses_message_id,
                "matched_by": str(corr.matched_by),
                "email_type": corr.email_type,
                "domains": sorted({domain_of(a) for a in report.addresses})[:20],
                "suppressed": suppressed,
                "unverified": [str(w) for w, _ in unverified],
                "not_address": [r for _, r in not_address],
            },
        )
        return FeedbackOutcome(
            OutcomeStatus.PROCESSED,
            suppressed,
            tuple(published),
            tuple(w for w, _ in unverified),
            tuple(not_address),
        )

    # ------------------------------------------------------------------ steps

    def _sent_record(self, references: References) -> SentMail | None:
        if self.sent_mail is None:
            return None
        for ses_id in references.ses_message_ids:
            sent = self.sent_mail.get(ses_id)
            if sent is not None:
                return sent
        for message_id in references.our_message_ids:
            sent = self.sent_mail.get_by_message_id(message_id)
            if sent is not None:
                return sent
        return None

    def _correlate(self, report: FeedbackReport) -> Correlation:
        tagged = tagged_mail(report.tags) if report.channel is Channel.SES else None
        if tagged is not None:  # our own tags, returned by SES: no lookup
            our = report.references.our_message_ids
            return Correlation(
                email_type=tagged.detail_type,
                aggregate_id=tagged.aggregate_id,
                email_class=tagged.email_class,
                message_id=our[0] if our else None,
                matched_by=MatchedBy.MESSAGE_ID,
                tagged=tagged,
            )
        sent = self._sent_record(report.references)
        if sent is not None:
            return Correlation.of_sent(sent)
        if report.channel is not Channel.SES:
            return Correlation()
        for message_id in report.references.our_message_ids:
            ref = parse_message_id(message_id, self.mail_domain)
            if ref is None:
                continue
            email_type = _KIND_TO_TYPE.get(ref.kind, ref.kind)
            info = EVENT_TYPES.get(email_type)
            return Correlation(
                email_type=email_type,
                aggregate_id=ref.aggregate_id,
                email_class=info.email_class if info is not None else None,
                message_id=message_id,
                matched_by=MatchedBy.MESSAGE_ID,
            )
        return Correlation()

    def _apply_decision(
        self,
        address: str,
        decision: SuppressionDecision,
        report: FeedbackReport,
        timestamp: str,
        entries: _Entries,
    ) -> tuple[bool, str | None]:
        """Apply ``decision`` to ``address``; return (suppressed now, effective class)."""
        key = suppression_key(address)
        existing = entries.get(key)
        current = (existing is not None, existing.suppression_class if existing else None)
        new_class = decision.suppression_class
        if decision.action is PolicyAction.IGNORE or new_class is None:
            return current
        if decision.action is PolicyAction.COUNT:
            if self.counter is None:
                return current
            bounce_id = f"{report.dedupe_key}:{key}"
            stamps = self.counter.record(key, bounce_id, timestamp, self.transient_window_days)
            if not threshold_reached(
                stamps, self._clock(), self.transient_threshold, self.transient_window_days
            ):
                return current
        if keeps(existing, new_class):
            return current
        source = "ses-feedback" if report.channel is Channel.SES else "mail-feedback"
        entry = SuppressionEntry(
            address=key,
            suppression_class=new_class,
            reason=self._entry_reason(decision, report, key),
            since=_iso(self._clock()),
            source=source,
        )
        kept = self.suppressions.put_if(entry, replaceable_by(new_class))
        if kept is not None:  # a stronger entry was written since the batch read it
            entries.set(key, kept)
            return True, kept.suppression_class
        entries.set(key, entry)
        logger.info(
            "address suppressed",
            extra={"domain": domain_of(key), "class": str(new_class), "source": source},
        )
        return True, str(new_class)

    @staticmethod
    def _entry_reason(decision: SuppressionDecision, report: FeedbackReport, key: str) -> str:
        row = next((r for r in report.recipients if suppression_key(r.address) == key), None)
        parts = [decision.reason]
        if row is not None and row.status:
            parts.append(row.status)
        if row is not None and row.diagnostic:
            parts.append(row.diagnostic[:200])
        return " ".join(parts)[:300]

    def _base_detail(self, corr: Correlation, timestamp: str, channel: Channel) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "version": DETAIL_VERSION,
            "emailType": corr.email_type,
            "aggregateId": corr.aggregate_id,
            "emailClass": corr.email_class,
            "messageId": corr.message_id,
            "sesMessageId": corr.sent.ses_message_id if corr.sent else None,
            "idempotencyKey": corr.sent.idempotency_key if corr.sent else None,
            "sourceEventId": (corr.sent.event_id or None) if corr.sent else None,
            "correlated": corr.matched_by is not MatchedBy.NONE,
            "matchedBy": str(corr.matched_by),
            "timestamp": timestamp,
            "channel": str(channel),
        }
        spec = EVENT_TYPES.get(corr.email_type or "")
        if spec is not None and spec.aggregate.startswith("order.") and corr.aggregate_id:
            detail["orderId"] = corr.aggregate_id
        return detail

    def _detail(
        self,
        report: FeedbackReport,
        corr: Correlation,
        row: RecipientReport,
        decision: SuppressionDecision,
        suppressed: bool,
        cls: str | None,
        timestamp: str,
    ) -> dict[str, Any]:
        detail = self._base_detail(corr, timestamp, report.channel)
        if report.ses_message_id:
            detail["sesMessageId"] = report.ses_message_id
        if corr.tagged is not None:
            detail.update(
                idempotencyKey=corr.tagged.key_for(row.address),
                sourceEventId=corr.tagged.event_id,
            )
        detail.update(
            recipient=row.address,
            verified=True,
            suppressed=suppressed,
            suppressionClass=cls,
            policy=str(decision.action),
        )
        if report.feedback_id:
            detail["feedbackId"] = report.feedback_id
        if row.kind is FeedbackKind.BOUNCE:
            detail.update(
                status=row.status,
                reason=row.reason,
                hard=decision.action is PolicyAction.SUPPRESS,
                diagnostic=_clip(row.diagnostic),
            )
            if row.bounce_type is not None:
                detail.update(bounceType=row.bounce_type, bounceSubType=row.bounce_sub_type)
        elif row.kind is FeedbackKind.COMPLAINT:
            detail.update(complaintType=row.complaint_type, complaintSubType=row.complaint_sub_type)
        elif row.kind is FeedbackKind.DELAY:
            detail.update(delayType=row.delay_type, status=row.status, reason=row.reason)
        if report.channel is Channel.MAIL:
            detail["reportingMta"] = report.reporting_mta
        return detail

    def _unverified_entry(
        self,
        report: FeedbackReport,
        corr: Correlation,
        unverified: list[tuple[UnverifiedReason, RecipientReport | None]],
        timestamp: str,
    ) -> EventEntry:
        reasons = sorted({str(w) for w, _ in unverified})
        rows = [r for _, r in unverified if r is not None]
        detail = self._base_detail(corr, timestamp, report.channel)
        detail.update(
            verified=False,
            reason=reasons[0],
            reasons=reasons,
            kinds=sorted({str(r.kind) for r in rows} or {str(report.kind)}),
            recipientCount=len(rows),
            recipients=[r.address for r in rows[:MAX_UNVERIFIED_RECIPIENTS]],
            recipientDomains=sorted({domain_of(r.address) for r in rows})[:50],
            quotedMessageIds=list(report.references.our_message_ids[:5]),
            quotedSesMessageIds=list(report.references.ses_message_ids[:5]),
            reportingMta=report.reporting_mta,
            detector=report.detector,
            inboundMessageId=report.inbound_message_id,
        )
        logger.warning(
            "unverified feedback: nobody suppressed",
            extra={
                "reasons": reasons,
                "recipients": len(rows),
                "detector": report.detector,
                "inbound_message_id": report.inbound_message_id,
            },
        )
        return UNVERIFIED_DETAIL_TYPE, detail, EVENT_SOURCE


def _failed(ident: str, exc: BaseException, result: FeedbackBatchResult) -> None:
    """Count record ``ident`` as failed (retried by SQS, then kept in the queue's DLQ)."""
    if isinstance(exc, ShopmailError):
        logger.warning("feedback record failed; will retry", extra=exc.to_dict())
    else:  # a defect: retry, then the queue's DLQ keeps it
        logger.error("feedback record crashed", extra={"error": type(exc).__name__}, exc_info=exc)
    result.failures.append(ident)
