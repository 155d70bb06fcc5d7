"""Header decoding: RFC 2047 encoded words, RFC 2231 parameters, address lists, dates, msg-ids.

Works on the raw ``str`` values that a ``compat32`` tree holds (8-bit bytes appear there as
surrogate escapes). The results agree with what ``email.policy.default`` yields for the same
header (encoded words decoded, whitespace between adjacent encoded words dropped, 8-bit bytes
read as UTF-8 with replacement), at a fraction of the cost of building header objects.
"""

from __future__ import annotations

import binascii
import re
from datetime import datetime, timedelta, timezone

# ``email.policy`` re-exports these from ``email._policybase`` (which ``email.feedparser``
# imports anyway); importing ``email.policy`` would also load the header registry, which a
# compat32 tree never uses (a cold-start cost, see bench/bench_init.py).
from email._policybase import compat32
from email.message import Message
from email.parser import HeaderParser
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime

from shopmail.domain.inbound.parsing.charsets import REPLACEMENT, SURROGATE, decode_bytes
from shopmail.domain.inbound.parsing.feed import first_raw_value
from shopmail.domain.message import Address

_FOLD = re.compile(r"\r?\n|\r")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"[ \t]*")
_MSG_ID = re.compile(r"<[^<>\s]*>")
_QP_UNDERSCORE = re.compile(rb"_")
_SURROGATES = re.compile("[\udc80-\udcff]")
_WHITE_SPACE = re.compile(r"\s")
_NOT_ESCAPE = re.compile("[\ud800-\udc7f\udd00-\udfff]")
_ADDR_SPEC = re.compile(r"[^\s@]+@[^\s@]+")
_ADDR_SCAN = re.compile(r"[^\s<>,;:\"()\[\]@]+@[^\s<>,;:\"()\[\]@]+")
# The common shapes of an address list value, read without the full RFC 5322 parser:
# ``local@domain``, ``<local@domain>``, ``Display Name <local@domain>`` with a name of plain
# atoms (dot-atom text, white space between), ``"Quoted Name" <local@domain>`` (no quote,
# backslash or line break inside the quotes) and ``local@domain (Comment Name)`` (no
# parenthesis, comma, quote, backslash or line break inside: the comment is the name).
# :func:`quick_addresses` gives what ``getaddresses`` gives for them (tests compare the two);
# anything else goes to ``getaddresses``.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_QUICK_ADDR = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_QUICK_NAME = rf"(?:{_ATEXT}|\.)+(?:[ \t]+(?:{_ATEXT}|\.)+)*"
_QUICK_ADDRESS = re.compile(
    rf"[ \t]*(?:(?P<name>{_QUICK_NAME})?[ \t]*<(?P<angle>{_QUICK_ADDR})>"
    rf'|"(?P<quoted>[^"\\\r\n]*)"[ \t]*<(?P<quoted_angle>{_QUICK_ADDR})>'
    rf'|(?P<bare>{_QUICK_ADDR})(?:[ \t]*\((?P<comment>[^(),"\\\r\n]*)\))?)[ \t]*'
)
MAX_HEADER_VALUE = 4000  # characters of one value decoded by header_text
MAX_HEADER_BLOCK = 100_000  # characters of a header block read by parse_header_block


def unfold(value: str) -> str:
    """Remove line breaks from a folded header value (as ``policy.default`` does)."""
    if "\n" in value or "\r" in value:
        return _FOLD.sub("", value)
    return value


def _sanitize(value: str) -> str:
    """Turn surrogate-escaped 8-bit bytes into text (UTF-8, replacement on errors); any other
    lone surrogate (not a byte escape) becomes U+FFFD."""
    if value.isascii() or SURROGATE.search(value) is None:
        return value
    value = _NOT_ESCAPE.sub(REPLACEMENT, value)
    if _SURROGATES.search(value) is None:
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _word_bytes(encoding: str, text: str, defects: list[str] | None) -> bytes | None:
    try:
        raw = text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # an encoded word holds only ASCII; this one is not one
        if defects is not None:
            defects.append("NonAsciiEncodedWord")
        return None
    if encoding in "bB":
        pad = len(raw) % 4
        try:
            return binascii.a2b_base64(raw + b"==="[: (4 - pad) % 4])
        except (binascii.Error, ValueError):
            if defects is not None:
                defects.append("InvalidBase64EncodedWord")
            return None
    return binascii.a2b_qp(_QP_UNDERSCORE.sub(b" ", raw))


def decode_words(value: str, defects: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded words in ``value`` (unfolded first); never raises.

    Adjacent encoded words in the same charset are joined as bytes before decoding (senders
    split multi-byte characters across words), as ``policy.default`` does.

    Parameters
    ----------
    value
        A raw header value or a fragment of one (display name, parameter).
    defects
        Receives a short description of each problem found.

    Returns
    -------
    str
        The decoded text, free of surrogates.
    """
    if "=?" not in value and value.isascii() and "\n" not in value and "\r" not in value:
        return value  # one ASCII line without encoded words (most fields): nothing to do
    value = unfold(value)
    if "=?" not in value:
        return _sanitize(value)
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    pos = 0

    def flush() -> None:
        if pending:
            out.append(
                decode_bytes(b"".join(pending), pending_charset, defects, strict_unknown=False)
            )
            pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        pos = match.end()
        charset = match.group(1).partition("*")[0].lower()  # RFC 2231 language: utf-8*en
        data = _word_bytes(match.group(2), match.group(3), defects)
        if not (pending and _BETWEEN_WORDS.fullmatch(gap)):
            flush()
            out.append(_sanitize(gap))
        elif charset != pending_charset:
            flush()
        if data is None:
            flush()
            out.append(match.group(0))
            continue
        pending.append(data)
        pending_charset = charset
    flush()
    out.append(_sanitize(value[pos:]))
    return "".join(out)


def decode_param(value: str | tuple[str | None, str | None, str] | None) -> str | None:
    """Decode a MIME parameter as ``Message.get_param`` returns it (RFC 2231 or 2047).

    Returns
    -------
    str | None
        The decoded value, or ``None`` when the parameter is absent.
    """
    if value is None:
        return None
    if isinstance(value, tuple):
        charset, _language, text = value
        if charset is None:
            return decode_words(collapse_rfc2231_value(value))
        data = text.encode("raw-unicode-escape")  # what collapse_rfc2231_value does
        return decode_words(decode_bytes(data, charset, None, strict_unknown=False))
    return decode_words(value)


def _plausible(address: str) -> bool:
    if not address:
        return True
    if _WHITE_SPACE.search(address):  # \s is str.isspace, in one C scan
        return False
    return "@" not in address or _ADDR_SPEC.fullmatch(address) is not None


def _scan_addresses(value: str) -> list[tuple[str, str]]:
    """Fallback for values ``getaddresses`` mangles: every ``local@domain`` in the text."""
    found = _ADDR_SCAN.findall(value)
    if len(found) == 1:
        name = value.replace(found[0], "").strip().strip("<>\"' \t,;")
        return [(name, found[0])]
    return [("", address) for address in found]


def quick_addresses(value: str) -> list[tuple[str, str]] | None:
    """``getaddresses([value])`` for one plain address (``_QUICK_ADDRESS``), else ``None``."""
    match = _QUICK_ADDRESS.fullmatch(value)
    if match is None:
        return None
    bare, quoted = match.group("bare", "quoted")
    if bare:
        return [(match.group("comment") or "", bare)]
    if quoted is not None:
        return [(quoted, match.group("quoted_angle"))]
    return [(" ".join((match.group("name") or "").split()), match.group("angle"))]


def quick_address_list(value: str) -> list[tuple[str, str]] | None:
    """``getaddresses([value])`` for plain addresses (see :func:`quick_addresses`) or a list
    of them separated by commas (no quoted names or comments, which may hold commas), else
    ``None``."""
    single = quick_addresses(value)
    if single is not None or "," not in value or '"' in value or "(" in value:
        return single
    pairs: list[tuple[str, str]] = []
    for piece in value.split(","):
        found = quick_addresses(piece)
        if found is None:
            return None
        pairs.extend(found)
    return pairs


def parse_addresses(values: list[str], defects: list[str] | None = None) -> tuple[Address, ...]:
    """Parse address-list header values into decoded :class:`Address` objects.

    Display names are decoded after the list is split, so a decoded name holding ``,`` or
    ``<`` cannot break the list. Empty entries (group syntax, garbage) are skipped. A value
    that yields an implausible address (white space inside, nothing before or after ``@``) is
    scanned for ``local@domain`` tokens instead (and a defect recorded).
    """
    if not values:
        return ()
    result: list[Address] = []
    for value in values:
        raw = unfold(value)
        try:
            pairs = quick_address_list(raw) or getaddresses([raw])
        except Exception:
            pairs = [("", "@")]
        if not all(_plausible(addr) for _, addr in pairs):
            if defects is not None:
                defects.append("InvalidAddressList: addresses scanned from the text")
            pairs = _scan_addresses(raw)
        for name, addr in pairs:
            if not addr and not name:
                continue
            result.append(Address(decode_words(name, defects).strip(), _sanitize(addr).strip()))
    return tuple(result)


#: The date as RFC 5322 3.3 writes it (``Tue, 1 Dec 2026 14:28:21 +0100``, the day name
#: optional), single spaces, ASCII digits, a four-digit year not starting with 0: read by
#: :func:`quick_date`.
_QUICK_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([1-9][0-9]{3}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{4})"
)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_ZONES: dict[str, timezone] = {}


def quick_date(value: str) -> datetime | None:
    """``parsedate_to_datetime(value)`` for the RFC 5322 form (``_QUICK_DATE``), else ``None``.

    The same fields and zone as the standard function: ``-0000`` (RFC 5322: no zone
    information) gives a naive datetime, an offset of 24 hours or more and an impossible day
    or time raise ``ValueError`` as it does.
    """
    match = _QUICK_DATE.fullmatch(value)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, zone = match.groups()
    stamp = (int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))
    if zone == "0000" and sign == "-":
        return datetime(*stamp)
    tz = _ZONES.get(sign + zone)
    if tz is None:
        number = int(zone)
        seconds = (number // 100) * 3600 + (number % 100) * 60
        tz = timezone(timedelta(seconds=-seconds if sign == "-" else seconds))
        if len(_ZONES) < 64:  # the offsets senders use are few
            _ZONES[sign + zone] = tz
    return datetime(*stamp, tzinfo=tz)


def parse_date(value: str | None, defects: list[str] | None = None) -> datetime | None:
    """Parse an RFC 5322 date; ``None`` (and a defect) when it cannot be read."""
    if not value:
        return None
    try:
        text = _sanitize(unfold(value)).strip()
        return quick_date(text) or parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        if defects is not None:
            defects.append("InvalidDateHeader")
        return None


def parse_msg_ids(value: str | None) -> tuple[str, ...]:
    """Every ``<id>`` in a Message-ID / In-Reply-To / References value, in order."""
    if not value:
        return ()
    value = _sanitize(unfold(value))
    found = tuple(m for m in _MSG_ID.findall(value) if len(m) > 2)
    if found:
        return found
    bare = value.strip()
    if bare and " " not in bare and "@" in bare:  # an id sent without its angle brackets
        return (f"<{bare}>",)
    return ()


def first_msg_id(value: str | None) -> str | None:
    """The first ``<id>`` of a Message-ID value, or ``None``."""
    ids = parse_msg_ids(value)
    return ids[0] if ids else None


def raw_header(part: Message, name: str) -> str | None:
    """The first value of header ``name`` as parsed (``raw_items``), or ``None``.

    ``Message.get`` would wrap values with 8-bit bytes in ``Header`` objects; this gives the
    string that :func:`decode_words` expects.
    """
    value = first_raw_value(part, name.lower())
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def header_text(part: Message, name: str, defects: list[str] | None = None) -> str:
    """Header ``name`` of ``part``, decoded (RFC 2047), white space collapsed; ``""`` if absent.

    At most ``MAX_HEADER_VALUE`` characters of the raw value are decoded. Never raises.
    """
    value = raw_header(part, name)
    if value is None:
        return ""
    return " ".join(decode_words(value[:MAX_HEADER_VALUE], defects).split())


def parse_header_block(text: str, defects: list[str] | None = None) -> list[tuple[str, str]]:
    """Decoded ``(name, value)`` pairs of a header block given as text.

    For header-only parts such as ``text/rfc822-headers`` (RFC 6522) or report fields; the
    block ends at the first empty line. Values are decoded as :func:`header_text` does.
    """
    block = HeaderParser(policy=compat32).parsestr(text[:MAX_HEADER_BLOCK], headersonly=True)
    if defects is not None:
        defects.extend(type(d).__name__ for d in block.defects)
    return [
        (name, " ".join(decode_words(str(value)[:MAX_HEADER_VALUE], defects).split()))
        for name, value in block.raw_items()
    ]
