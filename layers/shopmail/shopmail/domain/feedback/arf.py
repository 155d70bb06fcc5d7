"""RFC 5965 abuse reports (``message/feedback-report``)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import Final

from shopmail.domain.feedback import _mime
from shopmail.domain.feedback.dsn import clean_address

_ARF_TYPES: Final = ("message/feedback-report",)


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


def find_arf_part(tree: Message) -> Message | None:
    """The first ``message/feedback-report`` part, or ``None``."""
    for part in _mime.walk(tree):
        if _mime.content_type(part) in _ARF_TYPES:
            return part
    return None


def _fields(part: Message) -> list[tuple[str, str]]:
    try:
        payload = part.get_payload()
    except Exception:
        return []
    source: Message | None = None
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        source = payload[0]
        fields = [(str(k).lower(), _mime.decode_value(v)) for k, v in source.items()]
        try:
            rest = source.get_payload()
        except Exception:
            rest = None
        if isinstance(rest, str) and rest.strip():
            fields.extend(
                (str(k).lower(), _mime.decode_value(v))
                for k, v in _mime.parse_headers(rest).items()
            )
        return fields
    text = _mime.part_text(part)
    return [(str(k).lower(), _mime.decode_value(v)) for k, v in _mime.parse_headers(text).items()]


def _first(fields: list[tuple[str, str]], name: str) -> str | None:
    for key, value in fields:
        if key == name and value:
            return value
    return None


def read_arf(tree: Message, part: Message) -> ArfReport:
    """Read the report part and the returned original of an ARF message."""
    fields = _fields(part)
    rcpts = tuple(a for a in (clean_address(v) for k, v in fields if k == "original-rcpt-to") if a)
    original_to: list[str] = []
    for candidate in _mime.walk(tree):
        ctype = _mime.content_type(candidate)
        if ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            try:
                payload = candidate.get_payload()
                inner: Message | None = None
                if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                    inner = payload[0]
                else:
                    inner = _mime.parse_headers(_mime.part_text(candidate))
                to = _mime.header(inner, "To")
                for chunk in to.split(",")[:20]:
                    addr = clean_address(chunk)
                    if addr and "@" in addr:
                        original_to.append(addr)
            except Exception:  # noqa: S110
                pass
            break
    feedback_type = _first(fields, "feedback-type")
    return ArfReport(
        feedback_type=feedback_type.lower() if feedback_type else None,
        user_agent=_first(fields, "user-agent"),
        original_mail_from=clean_address(_first(fields, "original-mail-from") or "") or None,
        original_rcpt_to=rcpts,
        arrival_date=_first(fields, "arrival-date") or _first(fields, "received-date"),
        source_ip=_first(fields, "source-ip"),
        reported_domain=_first(fields, "reported-domain"),
        original_message_id=_mime.original_message_id(tree),
        original_to=tuple(original_to),
    )
