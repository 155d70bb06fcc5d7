"""Order numbers in inbound mail: text patterns, plus-address tags and replies to our mail.

Three sources, in this order of trust:

1. **Replies to shopmail's own mail**: ``In-Reply-To`` / ``References`` holding a Message-ID in
   the outbound format ``<sm.{kind}.{aggregate}.{digest}@{mail_domain}>`` (see
   :mod:`shopmail.domain.outbound.message_ids`). For order-related kinds the aggregate *is* the
   order id (e.g. ``ORD-100234``).
2. **Plus-address tags**: ``support+ORD-1001@shop.example`` carries the tag ``ORD-1001``.
3. **Text**: a configurable regular expression (``Settings.order_number_pattern``, environment
   ``ORDER_NUMBER_PATTERN``; empty means :data:`DEFAULT_ORDER_NUMBER_PATTERN`) searched in the
   subject and the start of the text.

**What the pattern returns** (group semantics): the id is the *first group that took part in
the match*; a pattern without groups gives the whole match. So ``AB-\\d+`` yields ``AB-77``,
``AB-(\\d+)`` yields ``77``, and a pattern of alternatives can put each alternative's id in
its own group (as the default does). Use ``(?:...)`` for groups that are not the id. Patterns
are compiled case-insensitively; inputs are cut to bounded lengths before matching.

**The default pattern keeps the id as the shop writes it**, so text, tags and replies to our
Message-IDs (whose aggregate is the shop's order id) agree:

* a shop token ``ORD-1002`` / ``ORD1002`` / ``ORDER-100234`` stands as it is, anywhere;
* an order word followed by an id: ``Bestellung 12345``, ``Bestellung ORD-1002``,
  ``Order no. 100045``, ``Bestellnummer: 12345``, ``Auftrag 55555``, ``commande n° 12345``,
  ``ordine n. 12345``, ``pedido n.º 12345``, ``bestelling 12345``, ``bestelnummer 12345``,
  ``zamówienie nr 12345``, ``заказ № 12345`` (the word in any case; Polish and Russian
  inflections; a verb such as "ist", "is", "est", "è", "es", "jest" may stand between);
* a number word, then the order word: ``numéro de commande : 12345``, ``n° de commande``,
  ``numero d'ordine 12345``, ``número de pedido 12345``, ``numer zamówienia 12345``,
  ``nr zamówienia 12345``, ``номер заказа 12345``;
* ``#100045`` (five digits or more).

Plain numbers are returned as they stand (4-12 digits). Ids are compared case-insensitively when
duplicates are removed; the first spelling wins.

Example
-------
>>> find_order_numbers("Rücksendung Bestellung ORD-1002, siehe auch Bestellung 12345")
['ORD-1002', '12345']
>>> find_order_numbers("Re: Votre commande n° 100234 / #100045")
['100234', '100045']
>>> split_plus_address("support+ORD-1001")
('support', 'ORD-1001')
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from shopmail.domain.outbound.message_ids import MessageRef, find_message_refs
from shopmail.errors import ConfigurationError

if TYPE_CHECKING:
    from shopmail.domain.message import InboundMessage

# Building blocks of the default pattern (verbose syntax; bounded quantifiers only).
_SHOP_ID = r"ord(?:er)?[-_]?\d{4,12}"
_ORDER_WORD = (
    r"(?:orders?|bestellung(?:en)?|bestell|auftr(?:ag|ags|äge)|commandes?|ordine|ordini"
    r"|pedidos?|bestelling(?:en)?|bestel"
    r"|zam[oó]wieni(?:e|a|u|em)|заказ(?:а|у|ом|е)?)"
)
_NUMBER_WORD = r"(?:nummer|number|num[eé]ro|número|numer|nr|no|n[°º]|n\.[°ºo]|n|id|номер|№)"
_VERB = r"(?:ist|is|lautet|est(?:\s{1,3}le)?|è|es|jest|to)"
_ID = rf"(?:{_SHOP_ID}|\d{{4,12}})"

#: The default order-number pattern (see the module docs; case-insensitive).
DEFAULT_ORDER_NUMBER_PATTERN: Final = (
    r"(?x)"
    # the shop's own token, anywhere
    rf" (?<![\w-])(?P<token>{_SHOP_ID})\b"
    # order word [number word] [verb] [: #] id
    rf"| (?<!\w){_ORDER_WORD}(?:[-\s]?{_NUMBER_WORD})?\.?\s{{0,3}}"
    rf"(?:{_VERB}\s{{1,3}})?(?:[:\#]|{_NUMBER_WORD}\.?)?\s{{0,3}}\#?\s{{0,3}}"
    rf"(?P<word>{_ID})\b"
    # number word [de / d' / of] order word [verb] [: #] id
    rf"| (?<!\w){_NUMBER_WORD}\.?\s{{0,3}}(?:(?:de|del|of|van)\s{{1,3}}|d['’]|dell['’])?"
    rf"{_ORDER_WORD}\s{{0,3}}(?:{_VERB}\s{{1,3}})?[:\#]?\s{{0,3}}(?P<number>{_ID})\b"
    # "#100045"
    r"| (?<![\w&\#])\#\s?(?P<hash>\d{5,12})\b"
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


#: A run of four digits or more: every match of the default pattern ends where one ends.
_DIGIT_RUN: Final = re.compile(r"\d{4,}")
#: The widest match of the default pattern, in characters (its quantifiers are bounded; a unit
#: test checks this against the pattern): every match lies in the ``DEFAULT_MAX_WIDTH``
#: characters before the end of a digit run, so only those windows are searched.
DEFAULT_MAX_WIDTH: Final = 66
#: What every match of the default pattern holds, lower-cased: the shop token's ``ord``, one of
#: the order words (each holds one of these: ``orders``, ``ordine`` and ``ordini`` hold ``ord``)
#: or the ``#`` of ``#100045``. A digit-run window without one of them holds no match.
_ANCHORS: Final = re.compile(r"ord|bestel|auftr|command|pedid|zam[oó]wieni|заказ|#")
#: The same, as the pattern compares (case-insensitively): for text holding a character whose
#: case-insensitive match ``str.lower`` does not give (``ſ`` is an ``s``, ``ı`` and ``İ`` are
#: an ``i``; ``İ`` also lower-cases to two characters, which would shift the positions).
_ANCHORS_ANY_CASE: Final = re.compile(_ANCHORS.pattern, re.IGNORECASE)
_CASE_SPECIALS: Final = re.compile("[\u017f\u0130\u0131]")
#: Characters an anchor found by ``finditer`` may start before one it skipped (they overlap).
_ANCHOR_SLACK: Final = len("zamówieni")


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
    for m in _finditer(rx, (text or "")[:limit]):
        value = _value(m).strip()
        if value and not _contains(found, value):
            found.append(value)
            if len(found) >= MAX_ORDER_NUMBERS:
                break
    return found


def _anchor_starts(text: str) -> list[int]:
    """Where an anchor of the default pattern starts in ``text``, in order (see ``_ANCHORS``).

    ``str.lower`` plus a case-sensitive search finds what the case-insensitive pattern would
    (it is several times faster); text with a character it would miss is searched as the
    pattern compares.
    """
    if text.isascii() or not _CASE_SPECIALS.search(text):
        return [m.start() for m in _ANCHORS.finditer(text.lower())]
    return [m.start() for m in _ANCHORS_ANY_CASE.finditer(text)]


def _finditer(rx: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """``rx.finditer(text)``; for the default pattern only near digit runs (same matches).

    Every match of the default pattern ends at the end of a run of at least four digits (each
    alternative ends in ``\\d{4,12}\\b``), is at most :data:`DEFAULT_MAX_WIDTH` characters
    long and holds an anchor (``_ANCHORS``), so the windows ``[end - width, end + 1)`` that hold
    an anchor start hold every match; overlapping windows are merged, and look-behinds still see
    the text before a window (``pos`` is no slice).
    """
    if rx.pattern != DEFAULT_ORDER_NUMBER_PATTERN:
        yield from rx.finditer(text)
        return
    anchors = _anchor_starts(text)
    if not anchors:
        return
    start = stop = -1
    for run in _DIGIT_RUN.finditer(text):
        end = run.end()
        first = bisect_left(anchors, end - DEFAULT_MAX_WIDTH - _ANCHOR_SLACK)
        if first == len(anchors) or anchors[first] >= end:
            continue  # no anchor in the window: no match ends here
        low, high = max(0, end - DEFAULT_MAX_WIDTH), min(len(text), end + 1)
        if start >= 0 and low < stop:
            stop = high
            continue
        if start >= 0:
            yield from rx.finditer(text, start, stop)
        start, stop = low, high
    if start >= 0:
        yield from rx.finditer(text, start, stop)


def _contains(values: Iterable[str], value: str) -> bool:
    """Whether ``value`` is among ``values``, ignoring case (``ord-1002`` is ``ORD-1002``)."""
    key = value.casefold()
    return any(v.casefold() == key for v in values)


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
        Shopmail Message-IDs the message replies to (see :func:`reply_refs`); the order ids
        they carry are the shop's own and are taken as they are.
    pattern
        The order-number pattern.
    """
    rx = compile_order_pattern(pattern)
    out: list[str] = []

    def add(values: Iterable[str]) -> None:
        for v in values:
            if v and not _contains(out, v) and len(out) < MAX_ORDER_NUMBERS:
                out.append(v)

    if tag:
        numbers = find_order_numbers(tag, rx, 200)
        add(numbers or ([tag] if _ID_LIKE.fullmatch(tag) else []))
    add(reply_order_ids(refs))
    add(find_order_numbers(message.subject, rx, MAX_SUBJECT_CHARS))
    add(find_order_numbers(message.text, rx, MAX_TEXT_CHARS))
    return out


_ID_LIKE: Final = re.compile(r"[A-Za-z0-9_-]{3,64}")
