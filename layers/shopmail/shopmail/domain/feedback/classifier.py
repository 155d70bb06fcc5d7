"""Classify a parsed message as bounce, delay, complaint, auto-reply, delivery report or none.

Order: ARF complaint, MDN, RFC 3464 DSN, an Amazon SES notification mailed as JSON, obvious
auto-replies, non-standard text bounces, other auto-replies, then ``none``. The MIME work
(walking parts, decoding headers and text) is done by :mod:`shopmail.domain.inbound.parsing`;
problems are recorded in :attr:`Classification.defects`, never raised: a defect in the input
yields ``none`` at worst.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from email.message import Message
from typing import TYPE_CHECKING, Final

from shopmail.domain.feedback.arf import ArfReport, read_arf, read_jmrp
from shopmail.domain.feedback.auto_reply import CHALLENGE, detect_auto_reply, is_challenge_text
from shopmail.domain.feedback.dsn import DSN_TYPES, clean_address, read_dsn, read_dsn_text
from shopmail.domain.feedback.mdn import MDN_TYPES, read_mdn
from shopmail.domain.feedback.model import (
    Classification,
    MessageKind,
    RecipientResult,
)
from shopmail.domain.feedback.original import (
    HEADER_TYPES,
    OriginalMessage,
    find_original,
    inline_original,
)
from shopmail.domain.feedback.reasons import judge
from shopmail.domain.feedback.ses_mail import looks_like_ses, read_ses_mail
from shopmail.domain.feedback.text_bounces import (
    BODY_RE,
    SUBJECT_RE,
    TextBounce,
    bounce_signals,
    cut_position,
    cut_section,
    read_text_bounce,
    text_about,
)
from shopmail.domain.inbound.parsing import signals
from shopmail.domain.inbound.parsing.bodies import readable_text
from shopmail.domain.inbound.parsing.headers import header_text, raw_header
from shopmail.domain.inbound.parsing.structure import NESTED_MESSAGE_TYPES, walk

if TYPE_CHECKING:
    from shopmail.domain.message import InboundMessage

logger = logging.getLogger(__name__)

MAX_TEXT: Final = 200_000
MAX_REPORT_PARTS: Final = 5
MAX_LISTED: Final = 50  # addresses taken from X-Failed-Recipients
_ARF_TYPES: Final = frozenset({"message/feedback-report"})
_MTA_DETECTORS: Final = frozenset({"qmail", "exim", "postfix", "sendmail", "exchange", "lotus"})
_EXCLUDE_HEADERS: Final = ("From", "To", "Reply-To", "Sender", "Return-Path", "Errors-To")
RETURNED_TYPES: Final = NESTED_MESSAGE_TYPES | HEADER_TYPES
_TEXT_MSGID_RE: Final = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)", re.I | re.M)


@dataclass
class _Input:
    """What the classifier reads from one message, gathered once."""

    tree: Message
    subject: str
    from_: str
    body: str
    header: dict[str, str | None]
    parts: list[tuple[Message, str]]
    defects: list[str] = field(default_factory=list)
    message: InboundMessage | None = None
    exclusions: frozenset[str] | None = None

    def get(self, name: str) -> str | None:
        """A top-level header, decoded (``None`` when absent)."""
        key = name.lower()
        if key not in self.header:
            if self.message is not None and self.message.tree is self.tree:
                value = self.message.header(name)
                self.header[key] = " ".join(value.split()) if value is not None else None
            elif raw_header(self.tree, name) is None:
                self.header[key] = None
            else:
                self.header[key] = header_text(self.tree, name, self.defects)
        return self.header[key]

    def first_part(self, types: frozenset[str]) -> Message | None:
        """The first part (outside returned messages) of one of ``types``."""
        return next((p for p, ctype in self.parts if ctype in types), None)

    def nested_parts(self) -> list[tuple[Message, str]]:
        """All parts, those inside returned messages included (a report wrapped by a
        gateway or forwarded)."""
        return [(p, t) for _i, p, t in walk(self.tree, self.defects, into_messages=True)]

    def null_sender(self) -> bool:
        """Whether the envelope sender or ``Return-Path`` is the null path, or From is ``<>``."""
        envelope = self.message.envelope if self.message is not None else None
        if envelope is not None and signals.is_null_sender(envelope.sender):
            return True
        return signals.is_null_sender(self.get("Return-Path")) or self.from_.strip() == "<>"


def _exclusions(data: _Input) -> frozenset[str]:
    """Addresses of the report itself (its From, To, ...): never failed recipients."""
    if data.exclusions is not None:
        return data.exclusions
    found: set[str] = set()
    for name in _EXCLUDE_HEADERS:
        for chunk in (data.get(name) or "").split(",")[:20]:
            address = clean_address(chunk)
            if "@" in address:
                found.add(address.lower())
    data.exclusions = frozenset(found)
    return data.exclusions


def _failed_recipients(data: _Input) -> list[str]:
    """``X-Failed-Recipients`` (Exim and others put it on their bounces), lower case."""
    value = data.get("X-Failed-Recipients") or ""
    found = [clean_address(chunk).lower() for chunk in value.split(",")[:50]]
    return [a for a in dict.fromkeys(found) if "@" in a]


def _to_bounce_address(data: _Input) -> bool:
    """Whether the mail was sent to a bounce (VERP / return-path) address."""
    for value in (data.get("To"), data.get("Delivered-To")):
        for chunk in (value or "").split(",")[:20]:
            local = clean_address(chunk).partition("@")[0]
            if local and signals.is_bounce_local_part(local):
                return True
    return False


def _returns_our_message(data: _Input) -> bool:
    """Whether a mail system's mailbox (no-reply, postmaster, ...) sends a message back, as a
    ``message/rfc822`` part or its header block: what a bounce does."""
    local = clean_address(data.from_).rpartition("@")[0]
    if not local or not signals.is_system_local_part(local):
        return False
    return any(ctype in RETURNED_TYPES for _part, ctype in data.parts)


def _kind_for(recipients: tuple[RecipientResult, ...]) -> str:
    actions = {r.action for r in recipients}
    if "failed" in actions:
        return MessageKind.BOUNCE
    if "delayed" in actions:
        return MessageKind.DELAY
    if actions & {"delivered", "relayed", "expanded"}:
        return MessageKind.DELIVERY_REPORT
    return MessageKind.BOUNCE


def _summary(recipients: tuple[RecipientResult, ...]) -> tuple[str | None, bool | None]:
    for wanted in ("failed", "delayed"):
        for r in recipients:
            if r.action == wanted:
                return r.reason, r.hard
    return None, None


def _gather(
    tree: Message,
    subject: str | None,
    from_: str | None,
    text: str | None,
    message: InboundMessage | None,
) -> _Input:
    defects: list[str] = []
    parts = [(part, ctype) for _i, part, ctype in walk(tree, defects)]
    data = _Input(tree, "", "", "", {}, parts, defects, message)
    data.subject = (subject if subject is not None else data.get("Subject") or "")[:1000]
    data.from_ = (from_ if from_ is not None else data.get("From") or "")[:1000]
    data.body = (text if text is not None else readable_text(tree, defects, MAX_TEXT))[:MAX_TEXT]
    return data


def classify_tree(
    tree: Message,
    *,
    subject: str | None = None,
    from_: str | None = None,
    text: str | None = None,
) -> Classification:
    """Classify a compat32 message tree.

    Parameters
    ----------
    tree:
        ``email.message.Message`` parsed with ``policy=compat32``.
    subject, from_, text:
        Already decoded values (from the parser); read from ``tree`` when ``None``.

    Returns
    -------
    Classification
        Never raises; ``kind="none"`` (detector ``error``, a defect naming the error) if the
        input defeats the reader.
    """
    return _guarded(tree, subject, from_, text, None)


def classify_message(message: InboundMessage) -> Classification:
    """Classify a parsed :class:`~shopmail.domain.message.InboundMessage`.

    Uses the decoded subject, From, headers and text of the message, and its compat32 tree
    for the report parts; without a tree the decoded headers and ``message.text`` are used.
    """
    tree = message.tree
    from_ = ", ".join(f"{a.name} <{a.address}>" for a in message.from_) or None
    if tree is None:
        tree = Message()
        for name, value in message.headers[:200]:
            tree[name] = value.replace("\r", " ").replace("\n", " ")
        tree.set_payload(message.text)
    text = message.text if (message.text or message.tree is None) else None
    return _guarded(tree, message.subject, from_, text, message)


def _guarded(
    tree: Message,
    subject: str | None,
    from_: str | None,
    text: str | None,
    message: InboundMessage | None,
) -> Classification:
    """Run the classifier; an unexpected error becomes a recorded defect, never an exception."""
    try:
        data = _gather(tree, subject, from_, text, message)
        result = _classify(data)
    except Exception as exc:  # the one guard: classifying must never raise on any input
        logger.warning(
            "feedback classifier failed on a message",
            extra={"error": type(exc).__name__, "message_id": message and message.message_id},
        )
        return Classification(
            kind=MessageKind.NONE,
            detector="error",
            defects=(f"ClassifierError: {type(exc).__name__}",),
        )
    return result


def _with_defects(result: Classification, data: _Input) -> Classification:
    if not data.defects:
        return result
    return replace(result, defects=tuple(dict.fromkeys(data.defects))[:50])


def _classify(data: _Input) -> Classification:
    arf_part = data.first_part(_ARF_TYPES)
    if arf_part is not None:
        arf = read_arf(arf_part, data.parts, data.defects)
        return _with_defects(_complaint(arf, "arf"), data)
    jmrp = read_jmrp(data.parts, data.defects)
    if jmrp is not None:
        return _with_defects(_complaint(jmrp, "jmrp"), data)
    original = find_original(data.parts, data.message, data.defects)
    if not (original.message_id or original.recipients or original.senders):
        original = inline_original(data.body[cut_position(data.body) :])
    mdn_part = data.first_part(MDN_TYPES)
    if mdn_part is not None:
        return _with_defects(_disposition(data, mdn_part, original), data)
    ours = _exclusions(data) | {a.lower() for a in original.senders}
    dsn = _delivery_status(data, original, ours)
    if dsn is not None:
        return _with_defects(dsn, data)
    if looks_like_ses(data.body):
        ses = read_ses_mail(data.body, data.defects)
        if ses is not None:
            return _with_defects(ses, data)
    return _with_defects(_text_report(data, original, ours), data)


def _complaint(arf: ArfReport, detector: str) -> Classification:
    rcpts = arf.original_rcpt_to or arf.original_to
    return Classification(
        kind=MessageKind.COMPLAINT,
        recipients=tuple(RecipientResult(a, None, None, None, False, "other") for a in rcpts),
        feedback_type=arf.feedback_type,
        original_message_id=arf.original_message_id,
        detector=detector,
        user_agent=arf.user_agent,
        original_mail_from=arf.original_mail_from,
        original_rcpt_to=arf.original_rcpt_to,
        arrival_date=arf.arrival_date,
        source_ip=arf.source_ip,
        reported_domain=arf.reported_domain,
    )


def _disposition(data: _Input, part: Message, original: OriginalMessage) -> Classification:
    mdn = read_mdn(part, data.defects)
    if mdn.automatic and mdn.disposition == "deleted" and mdn.recipient:
        # an automatic "deleted" disposition is a rejection (Sieve reject, RFC 5429)
        verdict = judge(data.body[:4000], action="failed")
        row = RecipientResult(
            mdn.recipient,
            "failed",
            None,
            None,
            verdict.hard,
            verdict.reason,
            " ".join(data.body[:300].split()),
            verdict.stage,
            verdict.fault,
        )
        return Classification(
            kind=MessageKind.BOUNCE,
            recipients=(row,),
            reporting_mta=mdn.reporting_ua,
            original_message_id=mdn.original_message_id,
            reason=verdict.reason,
            hard=verdict.hard,
            detector="mdn",
        )
    rows = (
        (RecipientResult(mdn.recipient, mdn.disposition, None, None, False, "other"),)
        if mdn.recipient
        else ()
    )
    return Classification(
        kind=MessageKind.DELIVERY_REPORT,
        recipients=rows,
        reporting_mta=mdn.reporting_ua,
        original_message_id=mdn.original_message_id or original.message_id,
        detector="mdn",
    )


def _original_id(data: _Input, original: OriginalMessage) -> str | None:
    if original.message_id:
        return original.message_id
    match = _TEXT_MSGID_RE.search(data.body)
    return match.group(1) if match else None


def _delivery_status(
    data: _Input, original: OriginalMessage, ours: frozenset[str]
) -> Classification | None:
    """The reading of a message with RFC 3464 report parts (``None`` when there are none)."""
    dsn_parts = [p for p, ctype in data.parts if ctype in DSN_TYPES][:MAX_REPORT_PARTS]
    if not dsn_parts and data.tree.get_content_maintype() == "multipart":
        # a report wrapped in message/rfc822 (forwarded or re-wrapped by a gateway)
        nested = data.nested_parts()
        dsn_parts = [p for p, ctype in nested if ctype in DSN_TYPES][:MAX_REPORT_PARTS]
    if not dsn_parts:
        return None

    def context(address: str) -> str:
        # what the human-readable part says about the recipient (Postfix writes the SMTP
        # stage there: "(in reply to RCPT TO command)"), else the start of that part
        return text_about(data.body, address) or cut_section(data.body)[:4000]

    recipients: list[RecipientResult] = []
    reporting_mta: str | None = None
    for part in dsn_parts:
        report = read_dsn(part, context, data.defects, ours)
        reporting_mta = reporting_mta or report.reporting_mta
        recipients.extend(report.recipients)
    if not recipients:
        data.defects.append("DsnWithoutRecipients: report parts name no recipient")
        return None
    found = tuple(recipients)
    diags = " ".join(r.diagnostic or "" for r in found)
    if is_challenge_text(diags) or is_challenge_text(data.body[:4000]):
        return Classification(
            kind=MessageKind.AUTO_REPLY,
            reporting_mta=reporting_mta,
            original_message_id=_original_id(data, original),
            detector="dsn",
            auto_reply_type=CHALLENGE,
        )
    reason, hard = _summary(found)
    return Classification(
        kind=_kind_for(found),
        recipients=found,
        reporting_mta=reporting_mta,
        original_message_id=_original_id(data, original),
        reason=reason,
        hard=hard,
        detector="dsn",
    )


def _text_report(data: _Input, original: OriginalMessage, ours: frozenset[str]) -> Classification:
    """A message without DSN parts: a text bounce, an auto-reply or nothing of ours."""
    null_sender = data.null_sender()
    daemon = signals.looks_like_daemon(data.from_)
    bounce_subject = SUBJECT_RE.search(data.subject.lower()) is not None
    auto = detect_auto_reply(data.get, data.subject, data.body)
    is_report = "delivery-status" in str(data.tree.get_param("report-type") or "").lower()
    bouncy_text = null_sender and BODY_RE.search(data.body[:6000].lower()) is not None
    if auto is not None and not daemon and not bounce_subject and not bouncy_text:
        return Classification(
            kind=MessageKind.AUTO_REPLY, detector="auto_reply", auto_reply_type=auto
        )

    score = bounce_signals(data.from_, data.subject, data.body, null_sender)
    to_bounce = _to_bounce_address(data)
    failed_header = _failed_recipients(data)
    returned = _returns_our_message(data)
    score += int(to_bounce) + int(bool(failed_header)) + int(returned)
    strong = daemon or null_sender or to_bounce or is_report or bool(failed_header) or returned
    if score >= 2 and (strong or bounce_subject):
        # an address the MTA lists as failed is a recipient, even one of the report's own
        named = frozenset(failed_header)
        text_bounce = read_text_bounce(
            data.body, _exclusions(data) - named, data.from_, ours - named
        )
        recipients = text_bounce.recipients
        written = _written_report(data, ours)
        if written:
            # status fields written into the text say more than its prose
            recipients = written
        elif not recipients and failed_header:
            # the MTA names the failed addresses, the text does not (a delivery to a file or
            # a program): what the text says is about them
            recipients = _listed_recipients(data, failed_header, text_bounce)
        if failed_header:
            # the MTA's own list of failed addresses: other addresses in the text are not
            # failed recipients (an alias they were expanded from, a forwarding target)
            listed = {r.address.lower(): r for r in recipients}
            chosen = tuple(listed[a] for a in failed_header if a in listed)
            recipients = chosen or recipients
        if strong:
            accept = bool(recipients) or score >= 3
        else:
            # a person's mail about a parcel "not delivered" must stay a customer message:
            # without a daemon sender, null sender or report part, demand MTA output
            accept = bool(recipients) and (
                text_bounce.detector in _MTA_DETECTORS
                or any(r.smtp_code or r.status for r in recipients)
            )
        if accept:
            if not recipients:
                recipients = _returned_recipients(data, original, text_bounce)
            if not recipients and auto is not None and not (daemon and bounce_subject):
                return Classification(
                    kind=MessageKind.AUTO_REPLY, detector="auto_reply", auto_reply_type=auto
                )
            kind = _kind_for(recipients) if recipients else None
            if kind is None:
                kind = MessageKind.DELAY if text_bounce.transient else MessageKind.BOUNCE
            reason, hard = _summary(recipients) if recipients else (None, None)
            return Classification(
                kind=kind,
                recipients=recipients,
                original_message_id=_original_id(data, original),
                reason=reason or text_bounce.reason,
                hard=hard if recipients else text_bounce.hard,
                detector=text_bounce.detector,
            )
    if auto is not None:
        return Classification(
            kind=MessageKind.AUTO_REPLY, detector="auto_reply", auto_reply_type=auto
        )
    return Classification(kind=MessageKind.NONE)


def _written_report(data: _Input, ours: frozenset[str]) -> tuple[RecipientResult, ...]:
    """Recipients of RFC 3464 status groups written into the text (see
    :func:`~shopmail.domain.feedback.dsn.read_dsn_text`)."""
    section = cut_section(data.body)

    def context(address: str) -> str:
        return text_about(section, address) or section[:4000]

    return read_dsn_text(section, context, data.defects, ours).recipients


def _listed_recipients(
    data: _Input, addresses: list[str], text_bounce: TextBounce
) -> tuple[RecipientResult, ...]:
    """Rows for the addresses ``X-Failed-Recipients`` names, judged on the report's text."""
    return _judged_on_text(data, addresses[:MAX_LISTED], text_bounce)


def _returned_recipients(
    data: _Input, original: OriginalMessage, text_bounce: TextBounce
) -> tuple[RecipientResult, ...]:
    """The returned original's recipient, for a bounce whose text names nobody.

    Only a single recipient: with several, the text does not say which one failed.
    """
    exclude = _exclusions(data)
    candidates = [a for a in original.recipients if a.lower() not in exclude]
    if len(candidates) != 1:
        return ()
    return _judged_on_text(data, candidates, text_bounce)


def _judged_on_text(
    data: _Input, addresses: list[str], text_bounce: TextBounce
) -> tuple[RecipientResult, ...]:
    """One row per address, all judged on the report's text (which names none of them)."""
    section = cut_section(data.body)[:4000]
    action = "delayed" if text_bounce.transient else "failed"
    verdict = judge(section, None, None, action)
    diagnostic = " ".join(section[:300].split()) or None
    return tuple(verdict.row(address, action, diagnostic=diagnostic) for address in addresses)
