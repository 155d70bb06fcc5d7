"""One feedback report per piece of feedback, whatever channel it came through.

SES's own events (:class:`~shopmail.domain.feedback.ses_events.FeedbackEvent`) and DSN/ARF mail
classified by :func:`~shopmail.domain.feedback.classify_message` become the same
:class:`FeedbackReport`: one row per recipient (:class:`RecipientReport`) with its own kind, so
a mixed DSN (one recipient failed, one delayed) is a bounce for the first and a delay for the
second. The feedback service runs every report through one path: deduplicate, verify (mail
only), decide per recipient (:mod:`shopmail.domain.suppression.policy`), publish.

Example
-------
>>> from shopmail.domain.feedback.ses_events import parse_feedback_event
>>> ev = parse_feedback_event({"eventType": "Bounce", "mail": {"messageId": "0102abc"},
...     "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "feedbackId": "f1",
...     "bouncedRecipients": [{"emailAddress": "a@example.org", "status": "5.1.1",
...     "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}})
>>> report = from_ses_event(ev)
>>> report.channel, report.recipients[0].kind, report.recipients[0].reason
(<Channel.SES: 'ses'>, <FeedbackKind.BOUNCE: 'bounce'>, 'user_unknown')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from shopmail.domain.feedback.model import Classification, RecipientResult
from shopmail.domain.feedback.references import References
from shopmail.domain.feedback.ses_events import FeedbackEvent


class FeedbackKind(StrEnum):
    """What a report says about one recipient."""

    BOUNCE = "bounce"
    DELAY = "delay"
    COMPLAINT = "complaint"
    DELIVERY = "delivery"


class Channel(StrEnum):
    """Where a report came from: SES's own events (trusted) or mail (verified first)."""

    SES = "ses"
    MAIL = "mail"


#: The shop event published for each kind.
DETAIL_TYPES: Final[Mapping[FeedbackKind, str]] = {
    FeedbackKind.BOUNCE: "EmailBounced",
    FeedbackKind.DELAY: "EmailDelayed",
    FeedbackKind.COMPLAINT: "EmailComplained",
    FeedbackKind.DELIVERY: "EmailDelivered",
}
#: The shop event for mail-borne feedback that refers to no mail we sent to its recipients.
UNVERIFIED_DETAIL_TYPE: Final = "EmailFeedbackUnverified"

_SES_KINDS: Final = {
    "bounce": FeedbackKind.BOUNCE,
    "complaint": FeedbackKind.COMPLAINT,
    "delivery": FeedbackKind.DELIVERY,
    "delay": FeedbackKind.DELAY,
}
_ROW_KINDS: Final = {"failed": FeedbackKind.BOUNCE, "delayed": FeedbackKind.DELAY}


@dataclass(frozen=True, slots=True)
class RecipientReport:
    """What a report says about one recipient.

    Attributes
    ----------
    address:
        The recipient as reported.
    kind:
        Bounce, delay, complaint or delivery (per recipient: mixed DSNs have both).
    status, diagnostic:
        RFC 3463 status and the diagnostic text, when known.
    reason, hard:
        The coarse reason and whether the address itself is dead (the classifier's verdict
        for mail; for SES bounces read from SES's diagnostic the same way).
    bounce_type, bounce_sub_type:
        SES's bounce classification (SES events only).
    complaint_type, complaint_sub_type:
        ``abuse`` ... / SES's ``complaintSubType``.
    delay_type:
        SES's ``delayType``.
    """

    address: str
    kind: FeedbackKind
    status: str | None = None
    diagnostic: str | None = None
    reason: str | None = None
    hard: bool | None = None
    bounce_type: str | None = None
    bounce_sub_type: str | None = None
    complaint_type: str | None = None
    complaint_sub_type: str | None = None
    delay_type: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    """One piece of feedback about mail we (maybe) sent.

    Attributes
    ----------
    channel:
        :class:`Channel`.
    kind:
        What the report as a whole is (a bounce when any recipient failed); the kind of a
        recipient the report does not name (a redacted complaint).
    dedupe_key:
        Stable per report (SES ``feedbackId``; the inbound message id for mail).
    timestamp:
        When the feedback happened (ISO 8601; ``""`` when unknown).
    recipients:
        One row per recipient (may be empty for a complaint whose recipient was redacted).
    references:
        The ids of our mail the report quotes (SES: the event's own message id).
    ses_message_id, feedback_id, event_type:
        SES events only.
    reporting_mta, detector:
        Mail only: who reported, and which reader classified it.
    inbound_message_id:
        Mail only: the SES receipt id of the report mail (its raw copy in the bucket).
    """

    channel: Channel
    dedupe_key: str
    timestamp: str
    recipients: tuple[RecipientReport, ...]
    kind: FeedbackKind = FeedbackKind.BOUNCE
    references: References = field(default_factory=References)
    ses_message_id: str | None = None
    feedback_id: str | None = None
    event_type: str | None = None
    reporting_mta: str | None = None
    detector: str | None = None
    inbound_message_id: str | None = None
    #: SES events: the mail's message tags (``mail.tags``: name -> values).
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def addresses(self) -> tuple[str, ...]:
        """The recipient addresses, in report order."""
        return tuple(r.address for r in self.recipients)


def assess_diagnostic(
    status: str | None, diagnostic: str | None, *, permanent: bool, address: str = ""
) -> tuple[str, bool | None]:
    """``(reason, hard)`` of an SES bounce diagnostic, by the classifier's evidence rules
    (:func:`shopmail.domain.feedback.reasons.judge`), so SES events and DSN mail are read alike.
    """
    # lazy: the evidence rules (hundreds of phrases) load with the first bounce, not with a
    # feedback function that mostly sees deliveries
    from shopmail.domain.feedback.reasons import judge

    text = diagnostic or ""
    if text.lower().startswith("smtp;"):
        text = text[5:].strip()
    verdict = judge(text, status, action="failed" if permanent else "delayed", address=address)
    return verdict.reason, verdict.hard


def from_ses_event(event: FeedbackEvent) -> FeedbackReport | None:
    """The report of one SES event; ``None`` for kinds that are not feedback (send, open...)."""
    kind = _SES_KINDS.get(event.kind)
    if kind is None:
        return None
    permanent = (event.bounce_type or "").lower() == "permanent"
    rows: list[RecipientReport] = []
    for rcpt in event.recipients:
        reason: str | None = None
        hard: bool | None = None
        if kind is FeedbackKind.BOUNCE:
            reason, hard = assess_diagnostic(
                rcpt.status, rcpt.diagnostic, permanent=permanent, address=rcpt.address
            )
        rows.append(
            RecipientReport(
                address=rcpt.address,
                kind=kind,
                status=rcpt.status,
                diagnostic=rcpt.diagnostic,
                reason=reason,
                hard=hard,
                bounce_type=event.bounce_type if kind is FeedbackKind.BOUNCE else None,
                bounce_sub_type=event.bounce_sub_type if kind is FeedbackKind.BOUNCE else None,
                complaint_type=event.complaint_type,
                complaint_sub_type=event.complaint_sub_type,
                delay_type=event.delay_type,
            )
        )
    our = (event.our_message_id,) if event.our_message_id else ()
    return FeedbackReport(
        channel=Channel.SES,
        dedupe_key=event.dedupe_key,
        timestamp=event.timestamp,
        recipients=tuple(rows),
        kind=kind,
        references=References(our_message_ids=our, ses_message_ids=(event.ses_message_id,)),
        ses_message_id=event.ses_message_id,
        feedback_id=event.feedback_id,
        event_type=event.event_type,
        tags=event.tags,
    )


def _row(
    kind: FeedbackKind, result: RecipientResult, complaint_type: str | None
) -> RecipientReport:
    return RecipientReport(
        address=result.address,
        kind=kind,
        status=result.status,
        diagnostic=result.diagnostic,
        reason=result.reason if kind is not FeedbackKind.COMPLAINT else None,
        hard=result.hard if kind is FeedbackKind.BOUNCE else None,
        complaint_type=complaint_type,
    )


def from_classification(
    classification: Classification,
    *,
    dedupe_key: str,
    received_at: str,
    references: References,
    inbound_message_id: str | None = None,
) -> FeedbackReport | None:
    """The report of a classified DSN/ARF mail; ``None`` when it is no feedback.

    Each recipient row keeps its own kind: ``failed`` rows are bounces, ``delayed`` rows
    delays; rows that report a delivery are left out. A complaint's recipients come from the
    report (``Original-Rcpt-To`` or the returned original's ``To``); none when redacted.
    """
    kind = classification.kind
    rows: list[RecipientReport] = []
    report_kind = FeedbackKind.COMPLAINT
    if kind == "complaint":
        results = classification.recipients or tuple(
            RecipientResult(a) for a in classification.original_rcpt_to
        )
        rows = [_row(FeedbackKind.COMPLAINT, r, classification.feedback_type) for r in results]
    elif kind in ("bounce", "delay"):
        default = FeedbackKind.BOUNCE if kind == "bounce" else FeedbackKind.DELAY
        report_kind = default
        for result in classification.recipients:
            if result.action in ("delivered", "relayed", "expanded"):
                continue
            rows.append(_row(_ROW_KINDS.get(result.action or "", default), result, None))
    else:
        return None
    return FeedbackReport(
        channel=Channel.MAIL,
        dedupe_key=dedupe_key,
        timestamp=received_at,
        recipients=tuple(rows),
        kind=report_kind,
        references=references,
        reporting_mta=classification.reporting_mta,
        detector=classification.detector,
        inbound_message_id=inbound_message_id,
    )
