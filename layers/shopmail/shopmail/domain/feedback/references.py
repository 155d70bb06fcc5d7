"""Which of our mails a DSN or ARF report refers to: the ids it quotes.

A report about mail we sent quotes that mail somewhere: the returned message or its headers
(``message/rfc822``, ``text/rfc822-headers``), the ARF ``Original-Message-ID``... or, with MTAs
that return the original inline, header lines in the text. Two kinds of ids can be ours:

* **SES message ids**: SES replaces the Message-ID of every mail it sends with
  ``<{SES message id}@{region}.amazonses.com>``; the id is random, so quoting it is evidence
  that the reporter saw the mail.
* **shopmail ids** ``<sm.{kind}.{aggregate}.{digest}@{mail domain}>`` (see
  :mod:`shopmail.domain.outbound.message_ids`), which SES leaves in ``References`` and
  ``X-Shopmail-Id``.

:func:`find_references` collects both from everything the parser read (the message's own
headers excluded: the report's Message-ID is the reporter's, not ours), bounded in size.

Example
-------
>>> from shopmail.domain.inbound.parsing import attachment_bytes
from shopmail.domain.message import InboundMessage
>>> original = InboundMessage(message_id="<0102abc-000000@eu-west-1.amazonses.com>",
...     headers=(("X-Shopmail-Id", "<sm.orderplaced.ORD-1.0123456789abcdef@shop.example>"),))
>>> refs = find_references(InboundMessage(attached_messages=(original,)), "shop.example")
>>> refs.ses_message_ids, refs.our_message_ids
(('0102abc-000000',), ('<sm.orderplaced.ORD-1.0123456789abcdef@shop.example>',))
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from shopmail.domain.outbound.message_ids import parse_message_id

if TYPE_CHECKING:  # only DSN/ARF mail has one: the SES-event path never loads the mail model
    from shopmail.domain.message import InboundMessage

#: How much text is searched for quoted ids (a report quotes them near its start).
MAX_SCAN: Final = 200_000
#: At most this many distinct ids of each kind are kept.
MAX_IDS: Final = 10

_ID_RE: Final = re.compile(r"<([^<>\s@]{1,200})@([A-Za-z0-9.-]{1,200})>")
_SES_DOMAIN_RE: Final = re.compile(r"(?:^|\.)amazonses\.com$", re.IGNORECASE)
_REFERENCE_HEADERS: Final = frozenset(
    {"message-id", "x-shopmail-id", "references", "in-reply-to", "original-message-id"}
)
#: Attachment types that hold a returned header block or a report's fields.
_HEADER_PARTS: Final = frozenset(
    {
        "text/rfc822-headers",
        "text/rfc822-header",
        "message/rfc822-headers",
        "message/feedback-report",
        "message/delivery-status",
    }
)


@dataclass(frozen=True, slots=True)
class References:
    """Ids of our mail a report quotes, in the order found.

    Attributes
    ----------
    our_message_ids:
        shopmail Message-IDs (``<sm....@mail domain>``).
    ses_message_ids:
        SES message ids (the local part of ``<...@region.amazonses.com>``).
    """

    our_message_ids: tuple[str, ...] = ()
    ses_message_ids: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the report quotes no id we could have issued."""
        return not self.our_message_ids and not self.ses_message_ids


def _texts(message: InboundMessage, extra: Iterable[str]) -> Iterator[str]:
    yield from extra
    for attached in message.attached_messages:
        if attached.message_id:
            yield attached.message_id
        for name, value in attached.headers:
            if name.lower() in _REFERENCE_HEADERS:
                yield value
        yield from _texts(attached, ())
    # header blocks returned as parts (text/rfc822-headers) and originals returned inline
    for attachment in message.attachments:
        if attachment.content_type in _HEADER_PARTS and attachment.size <= MAX_SCAN:
            from shopmail.domain.inbound.parsing import attachment_bytes  # lazy: the parser

            data = attachment_bytes(message, attachment)
            yield data[:MAX_SCAN].decode("utf-8", errors="replace")
    yield message.text[:MAX_SCAN]


def references_in(texts: Iterable[str], mail_domain: str | None) -> References:
    """The ids of our mail in ``texts`` (see :func:`find_references`)."""
    ours: list[str] = []
    ses: list[str] = []
    budget = MAX_SCAN
    for text in texts:
        if budget <= 0:
            break
        chunk = text[:budget]
        budget -= len(chunk)
        for match in _ID_RE.finditer(chunk):
            local, domain = match.group(1), match.group(2)
            if _SES_DOMAIN_RE.search(domain):
                if local not in ses and len(ses) < MAX_IDS:
                    ses.append(local)
                continue
            candidate = f"<{local}@{domain}>"
            if parse_message_id(candidate, mail_domain) is not None:
                normalized = candidate.lower()
                if normalized not in (o.lower() for o in ours) and len(ours) < MAX_IDS:
                    ours.append(candidate)
    return References(our_message_ids=tuple(ours), ses_message_ids=tuple(ses))


def find_references(
    message: InboundMessage, mail_domain: str | None, extra: Iterable[str] = ()
) -> References:
    """The ids of our mail that the report ``message`` quotes.

    Parameters
    ----------
    message
        The parsed report (its attached messages are the returned originals).
    mail_domain
        Our Message-ID domain (``None``: any shopmail id counts).
    extra
        More texts to search first (e.g. the classifier's ``original_message_id``).
    """
    return references_in(_texts(message, extra), mail_domain)
