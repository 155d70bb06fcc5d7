"""Every address a received mail names: what the erasure index records for its raw object.

Addresses are collected from the parsed header fields, every other header value (but the
headers that carry Message-IDs, which look like addresses), the envelope, the text and HTML
bodies, every text part and report part (``message/delivery-status`` names the failed
recipient of a bounce) and the attached messages, recursively. They are normalized like
:func:`~shopmail.domain.erasure.matcher.normalize_address` (IDN domains as Punycode).
Addresses of the shop's own mail domain are left out: they are not customer data, and every
mail names them. What is scanned is bounded (:data:`MAX_SCAN_CHARS`, :data:`MAX_ADDRESSES`).

Example
-------
>>> from shopmail.domain.message import Address, InboundMessage
>>> msg = InboundMessage(from_=(Address("Kim", "Kim@Example.com"),),
...     to=(Address("", "support@shop.example"),), text="my friend ann@example.org")
>>> sorted(mentioned_addresses(msg, mail_domain="shop.example"))
['ann@example.org', 'kim@example.com']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from email.message import Message
from typing import Final

from shopmail.domain.addresses import is_on_domain, split_address
from shopmail.domain.erasure.matcher import normalize_address
from shopmail.domain.message import InboundMessage

#: Characters of text scanned per message (headers, bodies and parts together).
MAX_SCAN_CHARS: Final = 4_000_000
#: Distinct addresses recorded per message at most.
MAX_ADDRESSES: Final = 500
#: Headers whose values are Message-IDs, not addresses.
ID_HEADERS: Final = frozenset(
    {
        "message-id",
        "in-reply-to",
        "references",
        "content-id",
        "resent-message-id",
        "original-message-id",
        "x-shopmail-id",
        "x-original-message-id",
        "thread-index",
    }
)
_ADDRESS: Final = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
#: Part types whose payload is text worth scanning besides ``text/*``.
_REPORT_TYPES: Final = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/feedback-report",
        "message/disposition-notification",
        "message/global-disposition-notification",
        "message/rfc822-headers",
        "message/global-headers",
    }
)


def _punycode(address: str) -> str:
    local, domain = split_address(address)
    if domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii').lower()}"
    except UnicodeError:
        return address


def _texts(message: InboundMessage, depth: int = 0) -> Iterator[str]:
    """The texts to scan: the body once (the MIME tree's decoded parts, else the parsed text
    and HTML); attached messages (which may be encoded inside their part) on their own."""
    for address in (*message.from_, *message.sender, *message.reply_to, *message.to, *message.cc):
        yield address.address
    envelope = message.envelope
    if envelope is not None:
        yield envelope.sender
        yield from envelope.recipients
    for name, value in message.headers:
        if name.lower() not in ID_HEADERS:
            yield value
    if message.tree is not None:
        yield from _part_texts(message.tree)
    else:
        yield message.text
        yield message.html or ""
    if depth < 5:
        for attached in message.attached_messages:
            yield from _texts(attached, depth + 1)


def _part_texts(tree: Message) -> Iterator[str]:
    for part in tree.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        # a multipart leaf is a container whose boundary did not parse: its text is all there is
        if ctype.startswith(("text/", "multipart/")) or ctype in _REPORT_TYPES:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                try:
                    yield payload.decode(charset, "replace")
                except LookupError:
                    yield payload.decode("utf-8", "replace")


def addresses_in(texts: Iterable[str], mail_domain: str = "") -> frozenset[str]:
    """The normalized addresses found in ``texts`` (bounded as the module says)."""
    found: set[str] = set()
    budget = MAX_SCAN_CHARS
    for text in texts:
        if not text or budget <= 0:
            continue
        chunk = text[:budget]
        budget -= len(chunk)
        if "@" not in chunk:
            continue
        for match in _ADDRESS.finditer(chunk):
            address = normalize_address(match.group(0).rstrip("."))
            if not address or (mail_domain and is_on_domain(address, mail_domain)):
                continue
            found.add(_punycode(address))
            if len(found) >= MAX_ADDRESSES:
                return frozenset(found)
    return frozenset(found)


def mentioned_addresses(message: InboundMessage, *, mail_domain: str = "") -> frozenset[str]:
    """Every address ``message`` names but those of ``mail_domain`` (see the module docs)."""
    return addresses_in(_texts(message), mail_domain)
