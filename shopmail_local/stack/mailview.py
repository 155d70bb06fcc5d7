"""What the web inbox shows of one raw mail: decoded headers, text, HTML, attachments.

Everything here is tolerant: a header that does not decode is shown as it is, a part whose
charset is unknown is decoded as UTF-8 with replacement characters, a broken MIME structure
gives what could be read. Nothing raises for bad mail.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

log = logging.getLogger(__name__)

SUMMARY_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID")
MAX_RAW_SHOWN = 2 * 1024 * 1024
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def decode_header_value(value: Any) -> str:
    """An RFC 2047 header value decoded to text (unfolded); the input when it cannot be.

    Examples
    --------
    >>> decode_header_value("=?utf-8?q?Eingangsbest=C3=A4tigung?= / 100234")
    'Eingangsbestätigung / 100234'
    """
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "").replace("\n", "")
    if not _ENCODED_WORD.search(text):
        return text
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError, TypeError):
        return text


@dataclass(frozen=True)
class AttachmentInfo:
    """One attachment: its position (for the download URL), name, type and size."""

    index: int
    filename: str
    content_type: str
    size: int


def _content(part: Message) -> str:
    try:
        return str(part.get_content())  # type: ignore[attr-defined]
    except (LookupError, ValueError, AttributeError, AssertionError, KeyError):
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        return data.decode("utf-8", "replace")


def _filename(part: Message, index: int) -> str:
    try:
        name = part.get_filename() or ""
    except (ValueError, LookupError, TypeError):
        name = ""
    name = decode_header_value(name).replace("/", "_").replace("\\", "_").strip()
    return name or f"attachment-{index + 1}"


class MailView:
    """A parsed mail for display (``email.policy.default``; see module docs)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.message: EmailMessage = BytesParser(policy=default_policy).parsebytes(raw)

    def header(self, name: str) -> str:
        """The decoded value of the first ``name`` header ('' when absent or unreadable)."""
        try:
            value = self.message.get(name)
        except (ValueError, LookupError, TypeError, IndexError):
            value = self._raw_header(name)
        return decode_header_value(value) if value is not None else ""

    def _raw_header(self, name: str) -> str | None:
        for k, v in self.message.raw_items():
            if k.lower() == name.lower():
                return str(v)
        return None

    def headers(self) -> list[tuple[str, str]]:
        """Every header, decoded, in order."""
        out: list[tuple[str, str]] = []
        for k, v in self.message.raw_items():
            try:
                value = str(self.message.policy.header_fetch_parse(k, v))
            except (ValueError, LookupError, TypeError, IndexError):
                value = str(v)
            out.append((k, decode_header_value(value)))
        return out

    def summary(self) -> list[tuple[str, str]]:
        """The headers a reader looks at first (those present)."""
        return [(h, self.header(h)) for h in SUMMARY_HEADERS if self.header(h)]

    @property
    def subject(self) -> str:
        """The decoded subject."""
        return self.header("Subject")

    def _body(self, kind: str) -> Message | None:
        try:
            return self.message.get_body(preferencelist=(kind,))
        except (ValueError, LookupError, TypeError, AttributeError, KeyError):
            return None

    @property
    def html(self) -> str:
        """The HTML body ('' when there is none)."""
        part = self._body("html")
        return _content(part) if part is not None else ""

    @property
    def text(self) -> str | None:
        """The plain-text body (``None`` when there is none)."""
        part = self._body("plain")
        return _content(part) if part is not None else None

    def _attachment_parts(self) -> list[Message]:
        try:
            return list(self.message.iter_attachments())
        except (ValueError, LookupError, TypeError, AttributeError, KeyError):
            return []

    def attachments(self) -> list[AttachmentInfo]:
        """The attachments, numbered from 0."""
        out = []
        for i, part in enumerate(self._attachment_parts()):
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else len(part.as_bytes())
            out.append(AttachmentInfo(i, _filename(part, i), part.get_content_type(), size))
        return out

    def attachment(self, index: int) -> tuple[AttachmentInfo, bytes] | None:
        """The ``index``-th attachment and its decoded bytes (``None`` when out of range)."""
        parts = self._attachment_parts()
        if not 0 <= index < len(parts):
            return None
        part = parts[index]
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else part.as_bytes()
        info = AttachmentInfo(index, _filename(part, index), part.get_content_type(), len(data))
        return info, data

    def raw_text(self, limit: int = MAX_RAW_SHOWN) -> tuple[str, bool]:
        """The raw source as text (cut at ``limit`` bytes) and whether it was cut."""
        cut = len(self.raw) > limit
        return self.raw[:limit].decode("utf-8", "replace"), cut
