"""The returned original message of a report: its Message-ID and recipients.

Reports return the original as ``message/rfc822`` (or ``message/global``), as its header
block (``text/rfc822-headers``, RFC 6522), or inline in the text after a separator line. The
parser has already read nested ``message/rfc822`` parts into
:attr:`~shopmail.domain.message.InboundMessage.attached_messages`; a bare tree is read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING, Final

from shopmail.domain.inbound.parsing.bodies import body_text
from shopmail.domain.inbound.parsing.headers import (
    first_msg_id,
    header_text,
    parse_header_block,
    raw_header,
)
from shopmail.domain.inbound.parsing.structure import NESTED_MESSAGE_TYPES

if TYPE_CHECKING:
    from shopmail.domain.message import InboundMessage

HEADER_TYPES: Final = frozenset(
    {"text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers"}
)
MAX_RECIPIENTS: Final = 20
MAX_INLINE: Final = 20_000
_INLINE_FIELD: Final = re.compile(
    r"^[ \t>]*(To|From|Sender|Return-Path|Message-ID):[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class OriginalMessage:
    """What is known about the message a report is about."""

    message_id: str | None = None
    recipients: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()  # its From, Sender and Return-Path: our own addresses


def _addresses(values: list[str]) -> tuple[str, ...]:
    """Every ``local@domain`` in address-list values (display names and groups skipped)."""
    found: list[str] = []
    for value in values:
        found.extend(m.strip(".") for m in _ADDRESS.findall(value))
    return tuple(dict.fromkeys(found))[:MAX_RECIPIENTS]


_ADDRESS: Final = re.compile(r"[^\s<>,;:\"()\[\]@]+@[^\s<>,;:\"()\[\]@]+")
_SENDER_FIELDS: Final = frozenset({"from", "sender", "return-path"})


def _from_fields(fields: list[tuple[str, str]]) -> OriginalMessage:
    message_id = next((v for k, v in fields if k.lower() == "message-id"), None)
    to = [v for k, v in fields if k.lower() == "to"]
    senders = [v for k, v in fields if k.lower() in _SENDER_FIELDS]
    return OriginalMessage(first_msg_id(message_id), _addresses(to), _addresses(senders))


def _from_nested(part: Message, defects: list[str]) -> OriginalMessage | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        inner = payload[0]
        fields = [
            (name, header_text(inner, name, defects))
            for name in ("Message-ID", "To", "From", "Sender", "Return-Path")
            if raw_header(inner, name) is not None
        ]
        return _from_fields(fields)
    if isinstance(payload, str):
        return _from_fields(parse_header_block(payload, defects))
    return None


def find_original(
    parts: list[tuple[Message, str]],
    message: InboundMessage | None = None,
    defects: list[str] | None = None,
) -> OriginalMessage:
    """The returned original, as far as the report carries it.

    Parameters
    ----------
    parts:
        ``(part, content type)`` of the report's top-level walk (nested messages not entered).
    message:
        The parsed report, when there is one (its ``attached_messages`` are used first).
    defects:
        Receives a description of each problem met.
    """
    found_defects: list[str] = [] if defects is None else defects
    if message is not None and message.attached_messages:
        nested = message.attached_messages[0]
        return_path = nested.header("Return-Path")
        senders = [*nested.from_, *nested.sender]
        return OriginalMessage(
            nested.message_id,
            tuple(a.address for a in nested.to if "@" in a.address)[:MAX_RECIPIENTS],
            tuple(a.address for a in senders if "@" in a.address)
            + (_addresses([return_path]) if return_path else ()),
        )
    for part, ctype in parts:
        original: OriginalMessage | None = None
        if ctype in NESTED_MESSAGE_TYPES:
            original = _from_nested(part, found_defects)
        elif ctype in HEADER_TYPES:
            original = _from_fields(
                parse_header_block(body_text(part, found_defects), found_defects)
            )
        if original is not None and (original.message_id or original.recipients):
            return original
    return OriginalMessage()


def inline_original(rest: str) -> OriginalMessage:
    """The original returned inline: ``rest`` is the text after the report's own part, where
    the original's header lines are quoted (``To:``, ``From:``, ``Message-ID:`` ...)."""
    head = rest[:MAX_INLINE]
    fields = [(m.group(1), m.group(2).strip()) for m in _INLINE_FIELD.finditer(head)]
    return _from_fields(fields)
