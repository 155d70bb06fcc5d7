"""RFC 5965 abuse reports (``message/feedback-report``), and Microsoft's JMRP reports.

Microsoft's Junk Mail Reporting Program (Outlook.com, Hotmail) sends complaints without a
report part: the complained-about message is attached as ``message/rfc822`` and carries the
recipient in an ``X-HmXmrOriginalRecipient`` header that only this program adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import Final

from shopmail.domain.feedback.dsn import clean_address
from shopmail.domain.feedback.original import find_original
from shopmail.domain.inbound.parsing.bodies import body_text
from shopmail.domain.inbound.parsing.headers import decode_words, header_text, parse_header_block
from shopmail.domain.inbound.parsing.structure import NESTED_MESSAGE_TYPES

JMRP_RECIPIENT: Final = "X-HmXmrOriginalRecipient"


@dataclass(frozen=True, slots=True)
class ArfReport:
    """The fields of a feedback report."""

    feedback_type: str | None
    user_agent: str | None
    original_mail_from: str | None
    original_rcpt_to: tuple[str, ...]
    arrival_date: str | None
    source_ip: str | None
    reported_domain: str | None
    original_message_id: str | None
    original_to: tuple[str, ...] = ()


def report_fields(part: Message, defects: list[str]) -> list[tuple[str, str]]:
    """The ``(lower-case name, decoded value)`` fields of a report part.

    compat32 reads a ``message/*`` report part as one nested message whose headers are the
    fields; fields after a line it could not read stay in that message's body and are read
    from there. A part whose payload is text is read as a header block.
    """
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        source = payload[0]
        fields = [
            (key.lower(), " ".join(decode_words(str(value), defects).split()))
            for key, value in source.raw_items()
        ]
        rest = source.get_payload()
        if isinstance(rest, str) and rest.strip():
            fields.extend((k.lower(), v) for k, v in parse_header_block(rest, defects))
        return fields
    if not isinstance(payload, str):
        defects.append("ReportWithoutFields: report part is empty")
        return []
    return [(k.lower(), v) for k, v in parse_header_block(body_text(part, defects), defects)]


def _first(fields: list[tuple[str, str]], name: str) -> str | None:
    for key, value in fields:
        if key == name and value:
            return value
    return None


def read_arf(part: Message, parts: list[tuple[Message, str]], defects: list[str]) -> ArfReport:
    """Read the report part and the returned original of an ARF message.

    Parameters
    ----------
    part:
        The ``message/feedback-report`` part.
    parts:
        ``(part, content type)`` of the report's walk (where the returned original is).
    defects:
        Receives a description of each problem met.
    """
    fields = report_fields(part, defects)
    rcpts = tuple(a for a in (clean_address(v) for k, v in fields if k == "original-rcpt-to") if a)
    original = find_original(parts, None, defects)
    feedback_type = _first(fields, "feedback-type")
    return ArfReport(
        feedback_type=feedback_type.lower() if feedback_type else None,
        user_agent=_first(fields, "user-agent"),
        original_mail_from=clean_address(_first(fields, "original-mail-from") or "") or None,
        original_rcpt_to=rcpts,
        arrival_date=_first(fields, "arrival-date") or _first(fields, "received-date"),
        source_ip=_first(fields, "source-ip"),
        reported_domain=_first(fields, "reported-domain"),
        original_message_id=original.message_id,
        original_to=original.recipients,
    )


def read_jmrp(parts: list[tuple[Message, str]], defects: list[str]) -> ArfReport | None:
    """A Microsoft JMRP complaint: an attached message with ``X-HmXmrOriginalRecipient``.

    Returns
    -------
    ArfReport | None
        The report (feedback type ``abuse``), or ``None`` when no attached message carries
        the header.
    """
    for part, ctype in parts:
        if ctype not in NESTED_MESSAGE_TYPES:
            continue
        payload = part.get_payload()
        if not (isinstance(payload, list) and payload and isinstance(payload[0], Message)):
            continue
        recipient = clean_address(header_text(payload[0], JMRP_RECIPIENT, defects))
        if "@" not in recipient:
            continue
        original = find_original([(part, ctype)], None, defects)
        return ArfReport(
            feedback_type="abuse",
            user_agent=None,
            original_mail_from=original.senders[0] if original.senders else None,
            original_rcpt_to=(recipient,),
            arrival_date=None,
            source_ip=None,
            reported_domain=None,
            original_message_id=original.message_id,
            original_to=original.recipients,
        )
    return None
