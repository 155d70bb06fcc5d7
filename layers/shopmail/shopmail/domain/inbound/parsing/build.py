"""Build an :class:`InboundMessage` from raw bytes: the parser's entry points."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from email.message import Message

from shopmail.domain.inbound.parsing import attachments as att
from shopmail.domain.inbound.parsing.bodies import (
    body_text,
    disposition,
    is_body_part,
    raw_filename,
)
from shopmail.domain.inbound.parsing.charsets import valid_text
from shopmail.domain.inbound.parsing.feed import feed_parse
from shopmail.domain.inbound.parsing.flags import compute_flags, find_report_type
from shopmail.domain.inbound.parsing.headers import (
    decode_words,
    first_msg_id,
    parse_addresses,
    parse_date,
    parse_msg_ids,
)
from shopmail.domain.inbound.parsing.html_text import html_to_text
from shopmail.domain.inbound.parsing.structure import part_at, walk
from shopmail.domain.message import Address, Attachment, Envelope, InboundMessage
from shopmail.errors import InvalidMessageError

MAX_MESSAGE_DEPTH = 3  # levels of nested message/rfc822 parsed into attached_messages
MAX_DEFECTS = 200

_ADDRESS_FIELDS = (
    ("from", "from_"),
    ("to", "to"),
    ("cc", "cc"),
    ("reply-to", "reply_to"),
    ("sender", "sender"),
)


def _defect_names(part: Message, index: int) -> list[str]:
    found = getattr(part, "defects", None) or []
    return [f"{type(d).__name__} (part {index})" for d in found]


def _nested_message(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _default_name(part: Message, nested: Message | None, content_type: str) -> str | None:
    if content_type == "message/rfc822":
        subject = ""
        if nested is not None:
            subject = next((v for k, v in nested.raw_items() if k.lower() == "subject"), "")
            subject = decode_words(subject)
        return f"{subject[:100]}.eml" if subject.strip() else None
    return None


def _addresses(found: object, defects: list[str], where: str) -> tuple[Address, ...]:
    items: tuple[Address, ...] = found  # type: ignore[assignment]
    return tuple(
        Address(valid_text(a.name, defects, f"{where} name"), valid_text(a.address, defects, where))
        for a in items
    )


def _capped(defects: list[str]) -> tuple[str, ...]:
    if len(defects) > MAX_DEFECTS:
        return (*defects[:MAX_DEFECTS], f"TooManyDefects: {len(defects) - MAX_DEFECTS} more")
    return tuple(defects)


def _valid_attachment(a: Attachment, defects: list[str]) -> Attachment:
    fields = (a.filename, a.content_type, a.content_id or "", a.original_filename or "")
    if all(valid_text(f) is f for f in fields):
        return a
    return Attachment(
        index=a.index,
        filename=valid_text(a.filename, defects, "attachment filename"),
        content_type=valid_text(a.content_type, defects, "attachment content type"),
        size=a.size,
        sha256=a.sha256,
        disposition=a.disposition,
        content_id=valid_text(a.content_id, defects, "content id") if a.content_id else None,
        original_filename=(
            valid_text(a.original_filename, defects, "attachment filename")
            if a.original_filename
            else a.original_filename
        ),
    )


def _build(tree: Message, size: int, envelope: Envelope | None, level: int) -> InboundMessage:
    defects: list[str] = []
    headers: list[tuple[str, str]] = []
    # The surrogate defects of the header fields, recorded where the message's own fields
    # record theirs (after the date), though the fields are checked in this first loop.
    header_defects: list[str] = []
    raw: dict[str, list[str]] = {}
    # raw_items(): the values as parsed; get() would wrap 8-bit values in Header objects.
    for name, value in tree.raw_items():
        text = value if isinstance(value, str) else str(value)
        if "=?" in text or not text.isascii() or "\n" in text or "\r" in text:
            decoded = decode_words(text, defects)
        else:  # decode_words' own shortcut, without the call (most fields)
            decoded = text
        if name.isascii() and decoded.isascii():  # nothing to replace
            headers.append((name, decoded))
        else:
            headers.append(
                (
                    valid_text(name, header_defects, "header name"),
                    valid_text(decoded, header_defects, f"header {name[:40]!r}"),
                )
            )
        raw.setdefault(name.lower(), []).append(text)

    def first(name: str) -> str | None:
        values = raw.get(name)
        return values[0] if values else None

    fields: dict[str, object] = {}
    for header, key in _ADDRESS_FIELDS:
        values = raw.get(header)
        fields[key] = parse_addresses(values, defects) if values else ()

    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    nested: list[InboundMessage] = []
    for index, part, content_type in walk(tree, defects):
        defects.extend(_defect_names(part, index))
        if content_type.startswith("multipart/") and isinstance(part._payload, list):  # type: ignore[attr-defined]
            continue
        original = raw_filename(part)
        if is_body_part(part, content_type, original, index):
            (htmls if content_type == "text/html" else texts).append(body_text(part, defects))
            continue
        if content_type.startswith("message/"):
            size_, sha = att.digest_message_part(part, defects)
            inner = _nested_message(part)
            if content_type == "message/rfc822" and att.encoded_message_part(part):
                try:
                    inner, _ = feed_parse(att.message_part_bytes(part))
                except InvalidMessageError:
                    inner = None
            if content_type == "message/rfc822" and inner is not None:
                if level < MAX_MESSAGE_DEPTH:
                    nested.append(_build(inner, size_, None, level + 1))
                else:
                    defects.append(f"NestedMessageTooDeep: level {level + 1} not parsed")
        else:
            inner = None
            size_, sha = att.digest_part(part, defects)
        fallback = original or _default_name(part, inner, content_type)
        content_id = part.get("content-id")
        attachments.append(
            Attachment(
                index=index,
                filename=att.safe_filename(fallback, index, content_type),
                content_type=content_type,
                size=size_,
                sha256=sha,
                disposition="inline" if disposition(part) == "inline" else "attachment",
                content_id=decode_words(str(content_id)).strip() or None if content_id else None,
                original_filename=original,
            )
        )

    html = "".join(htmls) if htmls else None
    text = "".join(texts)
    if not texts and html:
        text = html_to_text(html, defects)
    report_type = find_report_type(tree)
    subject = first("subject")
    references = raw.get("references", [])
    # Every text leaving the parser is valid Unicode (lone surrogates -> U+FFFD, a defect each).
    message_id = first_msg_id(first("message-id"))
    date = parse_date(first("date"), defects)
    defects.extend(header_defects)
    return InboundMessage(
        subject=valid_text(decode_words(subject), defects, "subject")
        if subject is not None
        else "",
        from_=_addresses(fields["from_"], defects, "from"),
        to=_addresses(fields["to"], defects, "to"),
        cc=_addresses(fields["cc"], defects, "cc"),
        reply_to=_addresses(fields["reply_to"], defects, "reply-to"),
        sender=_addresses(fields["sender"], defects, "sender"),
        date=date,
        message_id=valid_text(message_id, defects, "message-id") if message_id else message_id,
        in_reply_to=tuple(
            valid_text(i, defects, "in-reply-to") for i in parse_msg_ids(first("in-reply-to"))
        ),
        references=tuple(
            valid_text(i, defects, "references") for r in references for i in parse_msg_ids(r)
        ),
        headers=tuple(headers),
        text=valid_text(text, defects, "text"),
        html=valid_text(html, defects, "html") if html is not None else None,
        attachments=tuple(_valid_attachment(a, defects) for a in attachments),
        attached_messages=tuple(nested),
        defects=_capped(defects),  # evaluated after the fields above added theirs
        flags=compute_flags(tree, report_type),
        content_type=tree.get_content_type(),
        report_type=report_type,
        size=size,
        envelope=envelope,
        tree=tree,
    )


def parse_message(
    source: bytes | Iterable[bytes], envelope: Envelope | None = None
) -> InboundMessage:
    """Parse a raw message into an :class:`InboundMessage`.

    Parameters
    ----------
    source
        The raw message: ``bytes`` or an iterable of byte chunks (e.g. an S3 body's
        ``iter_chunks()``); fed to the parser 64 KiB at a time, never joined.
    envelope
        What SES knows about the SMTP transaction, kept on the result.

    Returns
    -------
    InboundMessage
        Decoded headers, addresses, bodies, attachments (described, decoded on demand),
        nested messages, flags; problems are recorded in ``defects``, never raised.

    Raises
    ------
    InvalidMessageError
        When the input has no usable header block (empty, not a message, or nested beyond
        what can be parsed).
    """
    tree, size = feed_parse(source)
    if not tree.keys():
        raise InvalidMessageError(
            "no usable header block: the input does not start with header fields", size=size
        )
    return _build(tree, size, envelope, 0)


def _locate(message: InboundMessage, attachment: Attachment) -> Message:
    if message.tree is None:
        raise InvalidMessageError("message has no MIME tree to decode attachments from")
    part = part_at(message.tree, attachment.index)
    if part is None or part.get_content_type() != attachment.content_type:
        raise InvalidMessageError(
            "attachment does not belong to this message", index=attachment.index
        )
    return part


def iter_attachment_chunks(
    message: InboundMessage, attachment: Attachment, chunk_size: int = 1 << 20
) -> Iterator[bytes]:
    """Yield the decoded bytes of ``attachment`` in chunks of at most ``chunk_size`` bytes.

    Decoding happens slice by slice from the encoded payload, so memory stays bounded by the
    chunk size. ``message/*`` parts yield the nested message serialised as bytes.

    Raises
    ------
    InvalidMessageError
        When ``attachment`` does not belong to ``message``.
    """
    part = _locate(message, attachment)
    if attachment.content_type.startswith("message/"):
        source: Iterable[bytes] = [att.message_part_bytes(part)]
    else:
        source = att.iter_part_bytes(part)
    for piece in source:
        for start in range(0, len(piece), chunk_size):
            yield piece[start : start + chunk_size]


def attachment_bytes(message: InboundMessage, attachment: Attachment) -> bytes:
    """The whole decoded content of ``attachment`` (prefer ``iter_attachment_chunks``)."""
    return b"".join(iter_attachment_chunks(message, attachment))
