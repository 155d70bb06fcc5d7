"""Small, defensive helpers over a compat32 ``email.message.Message`` tree (private)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from typing import Final

MAX_PARTS: Final = 300
MAX_DEPTH: Final = 12
MAX_PART_TEXT: Final = 100_000
MAX_BODY_TEXT: Final = 200_000
MAX_HEADER: Final = 4000

_TAG_RE: Final = re.compile(
    r"<(?:script|style)\b.*?</(?:script|style)>|<[^>]{0,2000}>", re.I | re.S
)
_BR_RE: Final = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|p|div|tr|li)\b[^>]*>", re.I)
_MSGID_RE: Final = re.compile(r"<[^<>\s@]+@[^<>\s]+>")


def walk(tree: Message, into_messages: bool = False) -> Iterator[Message]:
    """Depth-first walk with bounded depth and part count.

    ``message/rfc822`` (and other ``message/*`` wrappers except the report parts) are not
    entered unless ``into_messages`` is true.
    """
    count = 0
    stack: list[tuple[Message, int]] = [(tree, 0)]
    while stack and count < MAX_PARTS:
        part, depth = stack.pop()
        count += 1
        yield part
        if depth >= MAX_DEPTH:
            continue
        try:
            payload = part.get_payload()
        except Exception:  # noqa: S112
            continue
        if not isinstance(payload, list):
            continue
        ctype = content_type(part)
        if (
            not into_messages
            and ctype.startswith("message/")
            and ctype
            not in (
                "message/delivery-status",
                "message/feedback-report",
                "message/global-delivery-status",
            )
        ):
            continue
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            continue  # its sub-"messages" are the status groups
        children = [p for p in payload if isinstance(p, Message)]
        for child in reversed(children):
            stack.append((child, depth + 1))


def content_type(part: Message) -> str:
    """Lower-case content type; ``text/plain`` when broken."""
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def header(part: Message, name: str) -> str:
    """A header's decoded value (RFC 2047), whitespace collapsed; ``""`` when absent."""
    try:
        raw = part.get(name)
    except Exception:
        return ""
    if raw is None:
        return ""
    return decode_value(raw)


def decode_value(raw: object) -> str:
    """Decode an RFC 2047 header value defensively."""
    text = str(raw)[:MAX_HEADER]
    if "=?" in text:
        try:  # noqa: SIM105
            text = str(make_header(decode_header(text)))
        except Exception:  # noqa: S110
            pass
    return " ".join(text.split())


def part_text(part: Message, limit: int = MAX_PART_TEXT) -> str:
    """The decoded text of a leaf part (transfer encoding and charset), bounded."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        try:
            raw = part.get_payload()
        except Exception:
            return ""
        if isinstance(raw, str):
            return raw[:limit]
        if isinstance(raw, list):
            try:
                return "\n\n".join(p.as_string() for p in raw[:50] if isinstance(p, Message))[
                    :limit
                ]
            except Exception:
                return ""
        return ""
    if not isinstance(payload, bytes):
        return ""
    payload = payload[: limit * 2]
    charset = "utf-8"
    try:  # noqa: SIM105
        charset = part.get_content_charset() or "utf-8"
    except Exception:  # noqa: S110
        pass
    for cs in (charset, "utf-8", "latin-1"):
        try:
            return payload.decode(cs, errors="replace")[:limit]
        except (LookupError, ValueError):
            continue
    return payload.decode("latin-1")[:limit]


def html_to_text(markup: str) -> str:
    """A rough HTML to text conversion (enough for pattern matching)."""
    text = _BR_RE.sub("\n", markup)
    text = _TAG_RE.sub(" ", text)
    return html.unescape(text)


def body_text(tree: Message, limit: int = MAX_BODY_TEXT) -> str:
    """The human-readable text of the message (not the returned original), bounded.

    All ``text/plain`` leaf parts outside ``message/*`` are joined; when there are none the
    ``text/html`` parts are converted. Non-multipart messages of any text-like type count.
    """
    plain: list[str] = []
    htmls: list[str] = []
    size = 0
    for part in walk(tree):
        ctype = content_type(part)
        if part.is_multipart():
            continue
        if ctype in ("text/rfc822-headers", "message/delivery-status", "message/feedback-report"):
            continue
        if ctype.startswith("message/"):
            continue
        if ctype == "text/html":
            htmls.append(part_text(part, limit))
        elif ctype.startswith("text/") or part is tree:
            text = part_text(part, limit)
            plain.append(text)
            size += len(text)
        if size > limit:
            break
    if plain and any(p.strip() for p in plain):
        return "\n".join(plain)[:limit]
    if htmls:
        return html_to_text("\n".join(htmls))[:limit]
    return ""


def parse_headers(text: str) -> Message:
    """Parse a header block (e.g. ``text/rfc822-headers``) into a ``Message``."""
    return HeaderParser(policy=compat32).parsestr(text[:MAX_PART_TEXT], headersonly=True)


def clean_message_id(value: str) -> str | None:
    """``<id@host>`` from a Message-ID header value, or ``None``."""
    if not value:
        return None
    match = _MSGID_RE.search(value)
    if match:
        return match.group(0)
    value = value.strip()
    if "@" in value and " " not in value and len(value) < 250:
        return f"<{value.strip('<>')}>"
    return None


def original_message_id(tree: Message) -> str | None:
    """The Message-ID of the returned original (``message/rfc822`` or headers part)."""
    for part in walk(tree):
        ctype = content_type(part)
        try:
            if ctype in ("message/rfc822", "message/global", "message/rfc822-headers"):
                payload = part.get_payload()
                if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                    found = clean_message_id(header(payload[0], "Message-ID"))
                    if found:
                        return found
                elif isinstance(payload, str):
                    found = clean_message_id(header(parse_headers(payload), "Message-ID"))
                    if found:
                        return found
            elif ctype in ("text/rfc822-headers", "text/rfc822-header"):
                found = clean_message_id(header(parse_headers(part_text(part)), "Message-ID"))
                if found:
                    return found
        except Exception:  # noqa: S112
            continue
    return None
