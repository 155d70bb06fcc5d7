"""The EventBridge events that inbound mail produces (source ``shopmail.inbound``).

The ``detail`` of a published event carries what the shop needs to act on a mail without
reading it: who wrote (the customer's address is part of the EVENT; logs never carry it), the
subject, the new text of a reply (quotes and signatures stripped), order numbers, the route's
tag and captures, attachment S3 keys, the SES verdicts and where the raw mail is.

EventBridge accepts at most 256 KB per entry. :func:`fit_detail` shortens the text (then the
attachment list) until the entry fits and sets ``"truncated": true``; the full message is
always at ``raw.bucket``/``raw.key``.

Example
-------
>>> d = fit_detail({"text": "x" * 300_000, "truncated": False}, "SupportMessageReceived")
>>> d["truncated"], entry_size(d, "SupportMessageReceived") <= MAX_ENTRY_BYTES
(True, True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from shopmail.domain.addresses import domain_of
from shopmail.domain.message import Address, Envelope, InboundMessage

SOURCE = "shopmail.inbound"
QUARANTINE_DETAIL_TYPE = "MessageQuarantined"
#: The ``version`` of every inbound detail (``events/schemas/emitted/``); a change that is not
#: a new optional field bumps it.
SCHEMA_VERSION = 1
MAX_ENTRY_BYTES = 256 * 1024
# Room for Source, DetailType, Time and Resources in the entry size calculation.
_ENTRY_OVERHEAD = 512
_TRUNCATION_MARK = "\n[…]"


def _address(addr: Address) -> dict[str, str]:
    return {"name": addr.name, "address": addr.address, "domain": addr.domain}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_keys(record: Any) -> dict[str, Any]:
    """A dataclass (verdicts, flags) as a dict with camelCase keys (``dmarc_policy`` ->
    ``dmarcPolicy``): every published detail uses one key style."""
    return {_camel(k): v for k, v in asdict(record).items()}


def attachment_entries(
    message: InboundMessage, keys: Mapping[int, str] | None
) -> list[dict[str, Any]]:
    """Describe each attachment (with its S3 key when it was stored)."""
    out = []
    for att in message.attachments:
        entry: dict[str, Any] = {
            "index": att.index,
            "filename": att.filename,
            "contentType": att.content_type,
            "size": att.size,
            "sha256": att.sha256,
            "disposition": att.disposition,
        }
        if keys is not None and att.index in keys:
            entry["s3Key"] = keys[att.index]
        out.append(entry)
    return out


def build_detail(
    message: InboundMessage,
    envelope: Envelope,
    *,
    recipient: str,
    route: str,
    text: str,
    order_numbers: Sequence[str] = (),
    tag: str | None = None,
    order_id: str | None = None,
    captures: Mapping[str, Any] | None = None,
    attachment_keys: Mapping[int, str] | None = None,
    raw_bucket: str = "",
    raw_key: str = "",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the ``detail`` of an inbound event (JSON-ready, not yet size-checked).

    Parameters
    ----------
    message, envelope
        The parsed mail and the SES envelope.
    recipient
        The envelope recipient this event is about (one event per recipient).
    route
        The name of the route that decided.
    text
        The text to publish (normally the stripped reply text).
    attachment_keys
        S3 key per attachment index, when ``store_attachments`` ran. Attachments it left out
        (beyond :data:`~shopmail.domain.inbound.attachment_keys.MAX_ATTACHMENTS` per message)
        are counted in ``attachmentsNotStored`` and flagged ``attachmentsTruncated``.
    extra
        Additional top-level fields (e.g. ``quarantineKey``, ``reason``).
    """
    sender = message.from_[0] if message.from_ else None
    reply_to = message.reply_to[0] if message.reply_to else sender
    not_stored = len(message.attachments) - len(attachment_keys) if attachment_keys else 0
    detail: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "messageId": envelope.message_id,
        "receivedAt": envelope.timestamp or None,
        "recipient": recipient,
        "recipientDomain": domain_of(recipient),
        "route": route,
        "tag": tag,
        "orderId": order_id,
        "orderNumbers": list(order_numbers),
        "captures": dict(captures or {}),
        "from": _address(sender) if sender else None,
        "replyTo": _address(reply_to) if reply_to else None,
        "to": [a.address for a in message.to],
        "cc": [a.address for a in message.cc],
        "envelopeSender": envelope.sender,
        "envelopeSenderDomain": domain_of(envelope.sender),
        "subject": message.subject,
        "date": message.date.isoformat() if message.date else None,
        "headerMessageId": message.message_id,
        "inReplyTo": list(message.in_reply_to),
        "references": list(message.references[-20:]),
        "text": text,
        "hasHtml": message.html is not None,
        "attachments": attachment_entries(message, attachment_keys),
        "attachmentsTruncated": not_stored > 0,
        "attachmentsNotStored": max(0, not_stored),
        "verdicts": camel_keys(envelope.verdicts),
        "flags": camel_keys(message.flags),
        "headersTruncated": envelope.headers_truncated,
        "size": message.size,
        "raw": {"bucket": raw_bucket, "key": raw_key},
        "truncated": False,
    }
    if extra:
        detail.update(extra)
    return detail


def entry_size(detail: Mapping[str, Any], detail_type: str, source: str = SOURCE) -> int:
    """EventBridge's size of an entry carrying ``detail`` (UTF-8 bytes, with overhead)."""
    body = json.dumps(detail, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(body.encode("utf-8")) + len(detail_type) + len(source) + _ENTRY_OVERHEAD


def _cut_text(text: str, max_bytes: int) -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes (whole characters) plus a mark."""
    if max_bytes <= 0:
        return _TRUNCATION_MARK.strip()
    encoded = text.encode("utf-8")[:max_bytes]
    return encoded.decode("utf-8", errors="ignore") + _TRUNCATION_MARK


def fit_detail(
    detail: Mapping[str, Any],
    detail_type: str,
    source: str = SOURCE,
    max_bytes: int = MAX_ENTRY_BYTES,
) -> dict[str, Any]:
    """Return ``detail`` shortened to fit one EventBridge entry.

    Order of cuts: ``text``, then ``html``-like long strings in ``captures``, then the
    attachment list (``attachmentsOmitted`` says how many were dropped), then ``references``
    and ``subject``. Whatever was cut sets ``"truncated": true``; the raw mail in S3
    (``raw.key``) is the full record.
    """
    out = dict(detail)
    size = entry_size(out, detail_type, source)
    if size <= max_bytes:
        return out
    out["truncated"] = True
    text = str(out.get("text") or "")
    if text:
        text_bytes = len(text.encode("utf-8"))
        over = size - max_bytes + len(_TRUNCATION_MARK.encode("utf-8")) + 64
        out["text"] = _cut_text(text, text_bytes - over)
        out["textTruncated"] = True
        size = entry_size(out, detail_type, source)
        if size <= max_bytes:
            return out
        out["text"] = _cut_text(text, 0)
        size = entry_size(out, detail_type, source)
    captures = out.get("captures")
    if size > max_bytes and isinstance(captures, Mapping):
        out["captures"] = {k: str(v)[:200] for k, v in list(captures.items())[:50]}
        size = entry_size(out, detail_type, source)
    attachments = list(out.get("attachments") or [])
    if size > max_bytes and attachments:
        keep = len(attachments)
        while keep > 0 and size > max_bytes:
            keep //= 2
            out["attachments"] = attachments[:keep]
            out["attachmentsOmitted"] = len(attachments) - keep
            size = entry_size(out, detail_type, source)
    if size > max_bytes:
        out["references"] = []
        out["inReplyTo"] = list(out.get("inReplyTo") or [])[:1]
        out["subject"] = str(out.get("subject") or "")[:1000]
        out["to"] = list(out.get("to") or [])[:20]
        out["cc"] = list(out.get("cc") or [])[:20]
        out["orderNumbers"] = list(out.get("orderNumbers") or [])[:50]
    return out
