"""Order numbers in inbound mail: text patterns, plus-address tags and replies to our mail.

Three sources, in this order of trust:

1. **Replies to shopmail's own mail**: ``In-Reply-To`` / ``References`` holding a Message-ID in
   the outbound format ``<sm.{kind}.{aggregate}.{digest}@{mail_domain}>`` (see
   :mod:`shopmail.domain.outbound.message_ids`). For order-related kinds the aggregate *is* the
   order id (e.g. ``ORD-100234``).
2. **Plus-address tags**: ``support+ORD-1001@shop.example`` carries the tag ``ORD-1001``.
3. **Text**: a configurable regular expression (``Settings.order_number_pattern``; empty means
   :data:`DEFAULT_ORDER_NUMBER_PATTERN`) searched in the subject and the start of the text.

An *order number* is what the pattern captures: the first group that matched (the whole match
when the pattern has no groups). The default pattern family captures the digits of
``ORD-1001``, ``ORDER#1001``, ``Order no. 100045``, ``#100045``, ``Bestellung 12345``,
``Bestellnummer: 12345``, ``Bestell-Nr. 12345``, ``Auftrag 12345``. Patterns are compiled
case-insensitively, and inputs are cut to bounded lengths before matching.

Example
-------
>>> find_order_numbers("Frage zu Bestellung 12345 und ORD-1001")
['12345', '1001']
>>> split_plus_address("support+ORD-1001")
('support', 'ORD-1001')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from shopmail.domain.outbound.message_ids import MessageRef, find_message_refs
from shopmail.errors import ConfigurationError

if TYPE_CHECKING:
    from shopmail.domain.message import InboundMessage

#: The default order-number pattern (verbose syntax; case-insensitive; bounded quantifiers).
DEFAULT_ORDER_NUMBER_PATTERN: Final = (
    r"(?x)"
    r" \b(?:ord|order)[-_\#:]?\s?(?P<a>\d{4,12})\b"
    r"| \b(?:order|bestellung|bestell|auftrag|auftrags)"
    r"(?:[-\s]?(?:nummer|nr|no|number|id))?\.?\s{0,3}(?:(?:ist|is|lautet)\s{1,3})?"
    r"(?:[:\#]|no\.?|nr\.?)?\s{0,3}\#?\s{0,3}"
    r"(?P<b>\d{4,12})\b"
    r"| (?<![\w&\#])\#\s?(?P<c>\d{5,12})\b"
)

#: Outbound Message-ID kinds (lower-cased detail-types) whose aggregate is an order id.
ORDER_KINDS: Final = frozenset(
    {
        "orderplaced",
        "ordercanceled",
        "paymentcaptured",
        "paymentfailed",
        "invoiceissued",
        "ordershipped",
        "orderdelivered",
        "readyforpickup",
        "refundissued",
        "returnrequested",
        "returnreceived",
    }
)

#: Characters of subject / text given to the pattern (bounds regex work on hostile input).
MAX_SUBJECT_CHARS: Final = 1_000
MAX_TEXT_CHARS: Final = 20_000
MAX_ORDER_NUMBERS: Final = 20
PLUS_SEPARATOR: Final = "+"


@lru_cache(maxsize=32)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def compile_order_pattern(pattern: str | re.Pattern[str] | None = None) -> re.Pattern[str]:
    """Compile an order-number pattern (``None``/``""``: the default), case-insensitively.

    Raises
    ------
    ConfigurationError
        When the pattern is not a valid regular expression.
    """
    if isinstance(pattern, re.Pattern):
        return pattern
    try:
        return _compile(pattern or DEFAULT_ORDER_NUMBER_PATTERN)
    except re.error as exc:
        raise ConfigurationError(f"order_number_pattern is not a valid regex: {exc}") from exc


def _value(m: re.Match[str]) -> str:
    for group in m.groups():
        if group:
            return group
    return m.group(0)


def find_order_numbers(
    text: str,
    pattern: str | re.Pattern[str] | None = None,
    limit: int = MAX_TEXT_CHARS,
) -> list[str]:
    """Distinct order numbers in ``text`` (first ``limit`` characters), in order of appearance.

    Parameters
    ----------
    text
        Subject, body or tag.
    pattern
        The order-number pattern (default :data:`DEFAULT_ORDER_NUMBER_PATTERN`).
    limit
        How many characters of ``text`` are searched.
    """
    rx = compile_order_pattern(pattern)
    found: list[str] = []
    for m in rx.finditer((text or "")[:limit]):
        value = _value(m).strip()
        if value and value not in found:
            found.append(value)
            if len(found) >= MAX_ORDER_NUMBERS:
                break
    return found


def split_plus_address(local_part: str) -> tuple[str, str | None]:
    """Split ``base+tag`` into ``(base, tag)``; ``tag`` is ``None`` without a (non-empty) tag.

    >>> split_plus_address("returns+")
    ('returns', None)
    """
    base, sep, tag = local_part.partition(PLUS_SEPARATOR)
    return base, (tag if sep and tag else None)


def plus_tag(address: str | None) -> str | None:
    """The plus-address tag of ``address`` (``support+ORD-1001@x`` gives ``ORD-1001``)."""
    if not address or "@" not in address:
        return None
    return split_plus_address(address.rpartition("@")[0])[1]


def reply_refs(message: InboundMessage, mail_domain: str | None = None) -> list[MessageRef]:
    """Shopmail Message-IDs in ``In-Reply-To`` then ``References`` (our domain when given)."""
    values: list[str] = [*message.in_reply_to, *message.references]
    if not values:
        # The parser may leave the tuples empty on odd input: read the raw headers too.
        values = [*message.header_all("In-Reply-To"), *message.header_all("References")]
    return find_message_refs((v[:4_000] for v in values), mail_domain or None)


def reply_order_ids(refs: Iterable[MessageRef]) -> list[str]:
    """Order ids (aggregates of order-related kinds) among ``refs``, distinct, in order."""
    out: list[str] = []
    for ref in refs:
        if ref.kind in ORDER_KINDS and ref.aggregate_id not in out:
            out.append(ref.aggregate_id)
    return out


def order_numbers_for(
    message: InboundMessage,
    *,
    tag: str | None = None,
    refs: Iterable[MessageRef] = (),
    pattern: str | re.Pattern[str] | None = None,
) -> list[str]:
    """All distinct order numbers of a message: tag, replied-to order ids, subject, text.

    Parameters
    ----------
    message
        The parsed message.
    tag
        The recipient's plus-address tag, if any (its number if the pattern finds one, else
        the tag itself when it looks like an id: 3-64 characters of ``[A-Za-z0-9_-]``).
    refs
        Shopmail Message-IDs the message replies to (see :func:`reply_refs`).
    pattern
        The order-number pattern.
    """
    rx = compile_order_pattern(pattern)
    out: list[str] = []

    def add(values: Iterable[str]) -> None:
        for v in values:
            if v and v not in out and len(out) < MAX_ORDER_NUMBERS:
                out.append(v)

    if tag:
        numbers = find_order_numbers(tag, rx, 200)
        add(numbers or ([tag] if _ID_LIKE.fullmatch(tag) else []))
    for order_id in reply_order_ids(refs):
        add(find_order_numbers(order_id, rx, 200) or [order_id])
    add(find_order_numbers(message.subject, rx, MAX_SUBJECT_CHARS))
    add(find_order_numbers(message.text, rx, MAX_TEXT_CHARS))
    return out


_ID_LIKE: Final = re.compile(r"[A-Za-z0-9_-]{3,64}")
