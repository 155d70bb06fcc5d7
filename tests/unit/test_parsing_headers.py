"""Header decoding: encoded words, RFC 2231 parameters, addresses, dates, message ids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message

import pytest
from shopmail.domain.inbound.parsing.charsets import decode_bytes, normalize_charset
from shopmail.domain.inbound.parsing.headers import (
    decode_param,
    decode_words,
    first_msg_id,
    parse_addresses,
    parse_date,
    parse_msg_ids,
    unfold,
)
from shopmail.domain.message import Address


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain text", "plain text"),
        ("=?utf-8?q?R=C3=BCcksendung?=", "Rücksendung"),
        ("=?UTF-8?B?UsO8Y2tzZW5kdW5n?=", "Rücksendung"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # white space between words is dropped
        ("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"),
        ("Re: =?iso-8859-1?q?M=FCller?= und Co", "Re: Müller und Co"),
        ("=?utf-8?q?hello_world?=", "hello world"),
        # a multi-byte character split across two words
        ("=?utf-8?b?w6Q=?= =?utf-8?b?w7Y=?=", "äö"),
        ("=?utf-8?q?=C3?= =?utf-8?q?=A4?=", "ä"),
        ("=?x-unknown?q?abc?=", "abc"),
        ("=?utf-8*de?q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
        ("folded\r\n line", "folded line"),
    ],
)
def test_decode_words(raw: str, expected: str) -> None:
    assert decode_words(raw) == expected


def test_decode_words_reads_8bit_bytes_as_utf8() -> None:
    raw = "Säying".encode().decode("ascii", "surrogateescape")
    assert decode_words(raw) == "Säying"
    broken = b"caf\xe9".decode("ascii", "surrogateescape")
    assert decode_words(broken) == "caf\ufffd"


def test_unknown_charset_is_recorded() -> None:
    defects: list[str] = []
    assert decode_words("=?no-such-charset?q?abc?=", defects) == "abc"
    assert any("UnknownCharset" in d for d in defects)


def test_charsets() -> None:
    assert normalize_charset("UTF8") == "utf-8"
    assert normalize_charset('"us-ascii"') == ""
    assert normalize_charset("base64") is None  # not a text encoding
    assert normalize_charset("x-nonsense") is None
    defects: list[str] = []
    assert decode_bytes(b"caf\xe9", None, defects, strict_unknown=True) == "café"
    assert defects == ["UndeclaredEightBitText: decoded as windows-1252"]
    assert decode_bytes("café".encode(), "us-ascii", strict_unknown=True) == "café"
    assert decode_bytes(b"\x82\xa0", "Shift_JIS", strict_unknown=True) == "あ"
    assert decode_bytes(b"\x93quoted\x94", "iso-8859-1", strict_unknown=True) == "“quoted”"


def test_decode_param_rfc2231_and_2047() -> None:
    part = Message()
    part["Content-Disposition"] = "attachment; filename*=utf-8'de'R%C3%BCcksendung.pdf"
    assert decode_param(part.get_param("filename", None, "content-disposition")) == (
        "Rücksendung.pdf"
    )
    part = Message()
    part["Content-Disposition"] = (
        "attachment; filename*0*=utf-8''Rechnung%20M%C3%A4; filename*1*=rz.pdf"
    )
    assert decode_param(part.get_param("filename", None, "content-disposition")) == (
        "Rechnung März.pdf"
    )
    assert decode_param("=?utf-8?q?Rechnung_M=C3=A4rz.pdf?=") == "Rechnung März.pdf"
    assert decode_param(None) is None
    assert decode_param(("no-such-charset", "", "caf\xc3\xa9")) == "café"


def test_parse_addresses() -> None:
    values = ['"Müller, Jürgen" <j@example.de>, =?utf-8?q?B=C3=A4r?= <b@example.de>']
    assert parse_addresses(values) == (
        Address("Müller, Jürgen", "j@example.de"),
        Address("Bär", "b@example.de"),
    )
    # a decoded name holding a comma does not split the list
    assert parse_addresses(["=?utf-8?q?A=2C_B?= <ab@example.de>"]) == (
        Address("A, B", "ab@example.de"),
    )
    assert parse_addresses(["a@example.com", "b@example.com"]) == (
        Address("", "a@example.com"),
        Address("", "b@example.com"),
    )
    assert parse_addresses(["undisclosed-recipients:;"]) == ()
    assert parse_addresses(["<Undisclosed-Recipient:@mailman.example.com;>"]) == ()


def test_mangled_address_lists_are_scanned() -> None:
    defects: list[str] = []
    assert parse_addresses(["tim@example.com concierge@example.com"], defects) == (
        Address("", "tim@example.com"),
        Address("", "concierge@example.com"),
    )
    assert defects == ["InvalidAddressList: addresses scanned from the text"]
    assert parse_addresses(["Big Bug bb@bug.example"]) == (Address("Big Bug", "bb@bug.example"),)
    assert parse_addresses([]) == ()


def test_parse_date() -> None:
    assert parse_date("Tue, 03 Mar 2026 10:15:00 +0100") == datetime(
        2026, 3, 3, 10, 15, tzinfo=timezone(timedelta(hours=1))
    )
    defects: list[str] = []
    assert parse_date("not a date", defects) is None
    assert defects == ["InvalidDateHeader"]
    assert parse_date(None) is None
    assert parse_date("Wed, 15 Dec 2010    59:10 -0500") is None


def test_msg_ids() -> None:
    assert parse_msg_ids("<a@x> <b@y>\r\n <c@z>") == ("<a@x>", "<b@y>", "<c@z>")
    assert parse_msg_ids("a@x") == ("<a@x>",)
    assert parse_msg_ids("") == ()
    assert parse_msg_ids("garbage words") == ()
    assert first_msg_id("<sm.order.ORD-1.abc@shop.example>") == "<sm.order.ORD-1.abc@shop.example>"
    assert first_msg_id(None) is None


def test_unfold() -> None:
    assert unfold("a\r\n b\n\tc") == "a b\tc"


_ADDRESS_PIECES = (
    "a",
    "b.c",
    "J.",
    "Doe",
    "=?utf-8?q?J=C3=BC?=",
    "O'Neil",
    " ",
    "  ",
    "\t",
    "<",
    ">",
    "@",
    "x.example",
    "de",
    ",",
    ";",
    ":",
    '"',
    "(c)",
    "\\",
    ".",
    "..",
    "-",
    "+tag",
    "ü",
    "[1.2.3.4]",
)


@pytest.mark.parametrize("seed", range(20))
def test_quick_address_reading_agrees_with_getaddresses(seed: int) -> None:
    """The quick reading of plain addresses gives getaddresses' pairs, or leaves the value to it."""
    import random
    from email.utils import getaddresses

    from shopmail.domain.inbound.parsing.headers import quick_addresses

    rng = random.Random(seed)
    quick = 0
    for _ in range(300):
        local = "".join(rng.choice(_ADDRESS_PIECES) for _ in range(rng.randint(1, 3)))
        domain = "".join(rng.choice(_ADDRESS_PIECES) for _ in range(rng.randint(1, 3)))
        name = "".join(rng.choice(_ADDRESS_PIECES) for _ in range(rng.randint(0, 5)))
        addr = f"{local}@{domain}"
        shapes = (addr, f"<{addr}>", f"{name} <{addr}>", f'"{name}" <{addr}>', f"{addr} ({name})")
        value = rng.choice(shapes)
        for candidate in (
            value,
            "john.doe@shop.example",
            f"{name} <john@shop.example>",
            f' "{name}"<john@shop.example> ',  # a quoted name (getaddresses keeps it as it is)
            f"john@shop.example ({name})",  # an old-style comment name
        ):
            found = quick_addresses(candidate)
            if found is not None:
                quick += 1
                assert found == getaddresses([candidate]), candidate
    assert quick > 600  # the plain shapes are read quickly


def test_quick_address_reading_agrees_on_the_corpus_headers() -> None:
    from email.parser import BytesHeaderParser
    from email.policy import compat32
    from email.utils import getaddresses

    from shopmail.domain.inbound.parsing.headers import quick_addresses, unfold

    from tests.fixtures.paths import CORPUS

    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".json")[:400]
    if not files:
        pytest.skip("corpus not available")
    checked = 0
    for path in files:
        head = BytesHeaderParser(policy=compat32).parsebytes(path.read_bytes())
        for name, value in head.raw_items():
            if name.lower() in ("from", "to", "cc", "reply-to", "sender"):
                raw = unfold(str(value))
                found = quick_addresses(raw)
                if found is not None:
                    checked += 1
                    assert found == getaddresses([raw]), path.name
    assert checked > 0


def _date_reading(read: Callable[[str], datetime | None], value: str) -> object:
    """What ``read`` gives for ``value``: the datetime and its zone, ``None``, or an error."""
    try:
        found = read(value)
    except ValueError:
        return "ValueError"
    return None if found is None else (found, found.tzinfo)


@pytest.mark.parametrize("seed", range(10))
def test_quick_date_reading_agrees_with_parsedate_to_datetime(seed: int) -> None:
    """Dates in the RFC 5322 form are read as the standard function reads them, errors too."""
    import random
    from email.utils import parsedate_to_datetime

    from shopmail.domain.inbound.parsing.headers import quick_date

    rng = random.Random(seed)
    quick = 0
    for _ in range(2_000):
        day = rng.choice(["Mon, ", "Sun, ", "Xyz, ", "", "Tue,"])
        value = (
            f"{day}{rng.randint(0, 35)} {rng.choice(['Jan', 'Feb', 'Dec', 'jan', 'Foo'])} "
            f"{rng.choice(['2026', '1999', '0099', '9999', '26'])} "
            f"{rng.randint(0, 25):02d}:{rng.randint(0, 61):02d}:{rng.randint(0, 61):02d} "
            f"{rng.choice('+-')}{rng.choice(['0000', '0100', '0530', '2359', '2400', '0075'])}"
        )
        found = _date_reading(quick_date, value)
        if found is None:
            continue
        quick += 1
        expected = _date_reading(parsedate_to_datetime, value)
        assert found == expected, value
        assert parse_date(value) == (None if expected == "ValueError" else expected[0])  # type: ignore[index]
    assert quick > 300  # a fifth of the values have the RFC 5322 form


def test_a_date_without_zone_information_is_naive_and_plus_zero_is_utc() -> None:
    naive = parse_date("Tue, 01 Dec 2026 14:28:21 -0000")
    utc = parse_date("Tue, 01 Dec 2026 14:28:21 +0000")
    assert naive is not None and naive.tzinfo is None
    assert utc is not None and utc.tzinfo == UTC
    defects: list[str] = []
    assert parse_date("Tue, 31 Feb 2026 14:28:21 +0100", defects) is None
    assert defects == ["InvalidDateHeader"]


@pytest.mark.parametrize("seed", range(10))
def test_quick_address_list_reading_agrees_with_getaddresses(seed: int) -> None:
    """Comma-separated plain addresses are read quickly, and as getaddresses reads them."""
    import random
    from email.utils import getaddresses

    from shopmail.domain.inbound.parsing.headers import quick_address_list

    rng = random.Random(seed)
    lists = 0
    for _ in range(2_000):
        items = []
        for _ in range(rng.randint(1, 4)):
            name = rng.choice(["", "Kim", "J. Doe", "Doe, Kim", "(c)", 'a"b', "ü", "a\\b", "K  D"])
            addr = rng.choice(
                ["a@x.example", "b.c@shop.example", "k+t@a-b.example"] * 3 + ["x@y", "a@"]
            )
            shapes = (
                addr,
                f"<{addr}>",
                f"{name} <{addr}>",
                f'"{name}" <{addr}>',
                f"{addr} ({name})",
            )
            items.append(rng.choice((*shapes, *shapes, *shapes, "", " ")))
        value = rng.choice([",", ", ", " ,", ",\t"]).join(items)
        found = quick_address_list(value)
        if found is not None:
            lists += "," in value
            assert found == getaddresses([value]), value
    assert lists > 50  # lists of plain addresses are read quickly
