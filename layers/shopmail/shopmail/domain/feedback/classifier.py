"""Classify a parsed message as bounce, delay, complaint, auto-reply, delivery report or none.

Order: ARF complaint, RFC 3464 DSN, obvious auto-replies, non-standard text bounces, other
auto-replies, then ``none``. Never raises: a defect in the input yields ``none`` at worst.
"""

from __future__ import annotations

import logging
import re
from email.message import Message
from typing import TYPE_CHECKING, Final

from shopmail.domain.feedback import _mime
from shopmail.domain.feedback.arf import find_arf_part, read_arf
from shopmail.domain.feedback.auto_reply import (
    CHALLENGE,
    detect_auto_reply,
    is_challenge_text,
)
from shopmail.domain.feedback.dsn import clean_address, find_dsn_parts, read_dsn
from shopmail.domain.feedback.mdn import find_mdn_part, read_mdn
from shopmail.domain.feedback.model import (
    KIND_AUTO_REPLY,
    KIND_BOUNCE,
    KIND_COMPLAINT,
    KIND_DELAY,
    KIND_DELIVERY_REPORT,
    KIND_NONE,
    Classification,
    RecipientResult,
)
from shopmail.domain.feedback.reasons import classify_reason, hard_for
from shopmail.domain.feedback.text_bounces import (
    BODY_RE,
    FROM_DAEMON_RE,
    SUBJECT_RE,
    bounce_signals,
    read_text_bounce,
)

if TYPE_CHECKING:
    from shopmail.domain.message import InboundMessage

logger = logging.getLogger(__name__)

MAX_TEXT: Final = 200_000
_TEXT_MSGID_RE: Final = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)", re.I | re.M)
_BOUNCE_LOCAL_RE: Final = re.compile(
    r"(?:^|[-_.+])(?:bounces?|bounce-?handler|returns?|mailer-daemon)(?:[-_.+=]|$)", re.I
)
_MTA_DETECTORS: Final = frozenset({"qmail", "exim", "postfix", "sendmail", "exchange", "lotus"})
_EXCLUDE_HEADERS: Final = (
    "From",
    "To",
    "Reply-To",
    "Sender",
    "Return-Path",
    "Errors-To",
)


def _exclusions(tree: Message) -> frozenset[str]:
    found: set[str] = set()
    for name in _EXCLUDE_HEADERS:
        try:
            values = tree.get_all(name) or []
        except Exception:  # noqa: S112
            continue
        for value in values[:10]:
            for chunk in _mime.decode_value(value).split(",")[:20]:
                address = clean_address(chunk)
                if "@" in address:
                    found.add(address.lower())
    return frozenset(found)


def _text_message_id(body: str) -> str | None:
    """Message-ID of an original returned inline in the text (qmail, Exim, ...)."""
    match = _TEXT_MSGID_RE.search(body[:MAX_TEXT])
    return _mime.clean_message_id(match.group(1)) if match else None


def _to_bounce_address(tree: Message) -> bool:
    """Whether the mail was sent to a bounce (VERP / return-path) address."""
    for value in (_mime.header(tree, "To"), _mime.header(tree, "Delivered-To")):
        for chunk in value.split(",")[:20]:
            local = clean_address(chunk).partition("@")[0]
            if local and _BOUNCE_LOCAL_RE.search(local):
                return True
    return False


def _is_dsn_report(tree: Message) -> bool:
    try:
        return "delivery-status" in str(tree.get_param("report-type") or "").lower()
    except Exception:
        return False


def _kind_for(recipients: tuple[RecipientResult, ...]) -> str:
    actions = {r.action for r in recipients}
    if "failed" in actions:
        return KIND_BOUNCE
    if "delayed" in actions:
        return KIND_DELAY
    if actions & {"delivered", "relayed", "expanded"}:
        return KIND_DELIVERY_REPORT
    return KIND_BOUNCE


def _summary(recipients: tuple[RecipientResult, ...]) -> tuple[str | None, bool | None]:
    for wanted in ("failed", "delayed"):
        for r in recipients:
            if r.action == wanted:
                return r.reason, r.hard
    return None, None


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
        Never raises; ``kind="none"`` (detector ``error``) if the input defeats the reader.
    """
    try:
        return _classify(tree, subject, from_, text)
    except Exception:
        logger.warning("feedback classifier failed on a message", exc_info=True)
        return Classification(kind=KIND_NONE, detector="error")


def classify_message(message: InboundMessage) -> Classification:
    """Classify a parsed :class:`~shopmail.domain.message.InboundMessage`.

    Uses ``message.tree`` (the compat32 tree) with the decoded subject and From; without a tree
    the decoded headers and ``message.text`` are used.
    """
    tree = message.tree
    from_ = ", ".join(f"{a.name} <{a.address}>" for a in message.from_) or None
    if tree is None:
        tree = Message()
        for name, value in message.headers[:200]:
            try:
                tree[name] = value
            except Exception:  # noqa: S112
                continue
        tree.set_payload(message.text)
        return classify_tree(tree, subject=message.subject, from_=from_, text=message.text)
    # the tree is there: read the report text from it (the returned original left out)
    return classify_tree(tree, subject=message.subject, from_=from_)


def _classify(
    tree: Message, subject: str | None, from_: str | None, text: str | None
) -> Classification:
    subject = subject if subject is not None else _mime.header(tree, "Subject")
    from_ = from_ if from_ is not None else _mime.header(tree, "From")
    body = text if text is not None else _mime.body_text(tree)
    body = body[:MAX_TEXT]
    subject = subject[:1000]
    from_ = from_[:1000]

    arf_part = find_arf_part(tree)
    if arf_part is not None:
        arf = read_arf(tree, arf_part)
        rcpts = arf.original_rcpt_to or arf.original_to
        return Classification(
            kind=KIND_COMPLAINT,
            recipients=tuple(RecipientResult(a, None, None, None, False, "other") for a in rcpts),
            feedback_type=arf.feedback_type,
            original_message_id=arf.original_message_id,
            detector="arf",
            user_agent=arf.user_agent,
            original_mail_from=arf.original_mail_from,
            original_rcpt_to=arf.original_rcpt_to,
            arrival_date=arf.arrival_date,
            source_ip=arf.source_ip,
            reported_domain=arf.reported_domain,
        )

    mdn_part = find_mdn_part(tree)
    if mdn_part is not None:
        mdn = read_mdn(mdn_part)
        if mdn.automatic and mdn.disposition == "deleted" and mdn.recipient:
            # an automatic "deleted" disposition is a rejection (Sieve reject, RFC 5429)
            mdn_reason = classify_reason(None, None, body[:4000])
            mdn_hard = hard_for(mdn_reason, True)
            row = RecipientResult(
                mdn.recipient,
                "failed",
                None,
                None,
                mdn_hard,
                mdn_reason,
                " ".join(body[:300].split()),
            )
            return Classification(
                kind=KIND_BOUNCE,
                recipients=(row,),
                reporting_mta=mdn.reporting_ua,
                original_message_id=mdn.original_message_id,
                reason=mdn_reason,
                hard=mdn_hard,
                detector="mdn",
            )
        rows = (
            (RecipientResult(mdn.recipient, mdn.disposition, None, None, False, "other"),)
            if mdn.recipient
            else ()
        )
        return Classification(
            kind=KIND_DELIVERY_REPORT,
            recipients=rows,
            reporting_mta=mdn.reporting_ua,
            original_message_id=mdn.original_message_id or _mime.original_message_id(tree),
            detector="mdn",
        )

    original_id: str | None = None
    original_id_done = False

    def orig_id() -> str | None:
        nonlocal original_id, original_id_done
        if not original_id_done:
            original_id = _mime.original_message_id(tree) or _text_message_id(body)
            original_id_done = True
        return original_id

    reporting_mta: str | None = None
    dsn_parts = find_dsn_parts(tree)
    if not dsn_parts and _mime.content_type(tree).startswith("multipart/"):
        # a report wrapped in message/rfc822 (forwarded or re-wrapped by a gateway)
        dsn_parts = find_dsn_parts(tree, into_messages=True)
    if dsn_parts:
        recipients: list[RecipientResult] = []
        for part in dsn_parts[:5]:
            report = read_dsn(part, body[:4000])
            reporting_mta = reporting_mta or report.reporting_mta
            recipients.extend(report.recipients)
        if recipients:
            found = tuple(recipients)
            diags = " ".join(r.diagnostic or "" for r in found)
            if is_challenge_text(diags) or is_challenge_text(body[:4000]):
                return Classification(
                    kind=KIND_AUTO_REPLY,
                    reporting_mta=reporting_mta,
                    original_message_id=orig_id(),
                    detector="dsn",
                    auto_reply_type=CHALLENGE,
                )
            kind = _kind_for(found)
            reason, hard = _summary(found)
            return Classification(
                kind=kind,
                recipients=found,
                reporting_mta=reporting_mta,
                original_message_id=orig_id(),
                reason=reason,
                hard=hard,
                detector="dsn",
            )

    return_path = _mime.header(tree, "Return-Path").replace(" ", "")
    null_sender = (return_path == "<>" and tree.get("Return-Path") is not None) or (
        (from_ or "").replace(" ", "") == "<>"
    )
    daemon = bool(FROM_DAEMON_RE.search(from_ or ""))
    bounce_subject = bool(SUBJECT_RE.search(subject or ""))
    auto = detect_auto_reply(tree, subject or "", body)
    bouncy_text = null_sender and bool(BODY_RE.search(body[:6000]))
    if auto is not None and not daemon and not bounce_subject and not dsn_parts and not bouncy_text:
        return Classification(kind=KIND_AUTO_REPLY, detector="auto_reply", auto_reply_type=auto)

    score = bounce_signals(from_ or "", subject or "", body, null_sender)
    to_bounce = _to_bounce_address(tree)
    if to_bounce:
        score += 1
    strong = daemon or null_sender or to_bounce or bool(dsn_parts) or _is_dsn_report(tree)
    if dsn_parts:
        score += 2
    if score >= 2 and (strong or bounce_subject):
        text_bounce = read_text_bounce(body, _exclusions(tree), from_ or "")
        if strong:
            accept = bool(text_bounce.recipients) or score >= 3
        else:
            # a person's mail about a parcel "not delivered" must stay a customer message:
            # without a daemon sender, null sender or report part, demand MTA output
            accept = bool(text_bounce.recipients) and (
                text_bounce.detector in _MTA_DETECTORS
                or any(r.smtp_code or r.status for r in text_bounce.recipients)
            )
        if accept:
            kind = KIND_DELAY if text_bounce.transient else KIND_BOUNCE
            if not text_bounce.recipients and auto is not None:
                return Classification(
                    kind=KIND_AUTO_REPLY, detector="auto_reply", auto_reply_type=auto
                )
            return Classification(
                kind=kind,
                recipients=text_bounce.recipients,
                reporting_mta=reporting_mta,
                original_message_id=orig_id(),
                reason=text_bounce.reason,
                hard=text_bounce.hard,
                detector=text_bounce.detector,
            )
    if auto is not None:
        return Classification(kind=KIND_AUTO_REPLY, detector="auto_reply", auto_reply_type=auto)
    return Classification(kind=KIND_NONE)
