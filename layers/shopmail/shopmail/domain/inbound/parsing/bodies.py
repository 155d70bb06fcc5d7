"""Which parts are the message body (text/plain, text/html) and how their text is decoded."""

from __future__ import annotations

import re
from email.message import Message

from shopmail.domain.inbound.parsing.attachments import part_bytes
from shopmail.domain.inbound.parsing.charsets import decode_bytes
from shopmail.domain.inbound.parsing.feed import first_raw_value
from shopmail.domain.inbound.parsing.headers import decode_param
from shopmail.domain.inbound.parsing.html_text import html_to_text
from shopmail.domain.inbound.parsing.structure import walk

MAX_BODY_CHARS = 4_000_000  # encoded characters of one text part decoded into the body
MAX_READABLE_CHARS = 200_000  # characters of text readable_text collects

_SURROGATES = re.compile("[\udc80-\udcff]")
BODY_TYPES = frozenset({"text/plain", "text/html"})


def disposition(part: Message) -> str | None:
    """The lower-cased Content-Disposition type (``attachment``, ``inline``) or ``None``."""
    value = part.get("content-disposition")
    if value is None:
        return None
    kind = str(value).split(";", 1)[0].strip().lower()
    return kind or None


def _get_param(part: Message, param: str, header: str) -> object:
    """``part.get_param`` that reads 8-bit header values as UTF-8 (compat32 would mangle them)."""
    value = first_raw_value(part, header)
    if value is None:
        return None
    if isinstance(value, str):
        if param not in value.lower():
            return None  # a parameter's name (RFC 2231 sections too) is in its field
        if not value.isascii() and _SURROGATES.search(value):
            clean = Message()
            text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            clean[header] = text
            return clean.get_param(param, None, header)
    return part.get_param(param, None, header)


def raw_filename(part: Message) -> str | None:
    """The decoded ``filename`` (Content-Disposition) or ``name`` (Content-Type) parameter."""
    try:
        value = _get_param(part, "filename", "content-disposition")
        if value is None:
            value = _get_param(part, "name", "content-type")
        decoded = decode_param(value)  # type: ignore[arg-type]
    except Exception:
        return None
    if decoded is None:
        return None
    return decoded.strip() or None


def is_body_part(
    part: Message, content_type: str, filename: str | None, index: int | None = None
) -> bool:
    """A text/plain or text/html part that is not an attachment belongs to the body.

    With ``index == 0`` (the top-level part of a walk) a single-part text message is its own
    body unless it names a file, whatever its Content-Disposition says.
    """
    if index == 0 and filename is None and content_type in BODY_TYPES:
        return True
    if filename is not None or disposition(part) == "attachment":
        return False
    if content_type in BODY_TYPES:
        return True
    # A multipart without usable boundary is kept as one text blob by the parser.
    return content_type.startswith("multipart/") and isinstance(
        getattr(part, "_payload", None), str
    )


def body_text(part: Message, defects: list[str]) -> str:
    """Decode a body part to ``str`` (transfer encoding, then charset with fallbacks)."""
    payload = getattr(part, "_payload", None)  # as parsed (see attachments._encoded_text)
    if isinstance(payload, str) and len(payload) > MAX_BODY_CHARS:
        defects.append(f"BodyTooLong: text part cut at {MAX_BODY_CHARS} characters")
        clone = Message()
        for key, value in part.items():
            clone[key] = value
        clone.set_payload(payload[:MAX_BODY_CHARS])
        part = clone
    data = part_bytes(part, defects)
    charset = part.get_param("charset")
    if isinstance(charset, tuple):  # RFC 2231 charset*=''utf-8
        charset = charset[2]
    return decode_bytes(
        data, charset if isinstance(charset, str) else None, defects, strict_unknown=True
    )


def readable_text(tree: Message, defects: list[str], limit: int = MAX_READABLE_CHARS) -> str:
    """The body text of ``tree`` as :func:`~shopmail.domain.inbound.parsing.parse_message` picks it.

    The ``text/plain`` body parts (outside nested messages and attachments) joined, or, when
    there are none, the ``text/html`` parts converted to text; bounded by ``limit``. For code
    that holds a tree but no parsed message (the text is ``InboundMessage.text`` otherwise).
    """
    texts: list[str] = []
    htmls: list[str] = []
    size = 0
    for index, part, content_type in walk(tree, defects):
        if content_type.startswith("multipart/") and isinstance(
            getattr(part, "_payload", None), list
        ):
            continue
        if not is_body_part(part, content_type, raw_filename(part), index):
            continue
        text = body_text(part, defects)
        (htmls if content_type == "text/html" else texts).append(text)
        size += len(text)
        if size >= limit:
            break
    if texts:
        return "".join(texts)[:limit]
    if htmls:
        return html_to_text("".join(htmls), defects)[:limit]
    return ""
