"""Order numbers: default pattern family, custom patterns, plus tags, replies to our mail."""

from __future__ import annotations

import pytest
from shopmail.config import Settings
from shopmail.domain.inbound.order_numbers import (
    DEFAULT_ORDER_NUMBER_PATTERN,
    compile_order_pattern,
    find_order_numbers,
    order_numbers_for,
    plus_tag,
    reply_order_ids,
    reply_refs,
    split_plus_address,
)
from shopmail.domain.message import InboundMessage
from shopmail.domain.outbound.message_ids import make_message_id
from shopmail.errors import ConfigurationError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the shop's token stands as it is; plain numbers as they stand
        ("ORD-1001", ["ORD-1001"]),
        ("ord1001", ["ord1001"]),
        ("Rücksendung Bestellung ORD-1002", ["ORD-1002"]),
        ("siehe https://shop.example/account/orders/ORD-100234", ["ORD-100234"]),
        ("ORDER#100234", ["100234"]),
        ("Re: #100045", ["100045"]),
        ("ORD-1001 und Bestellung 2002 und ord-1001", ["ORD-1001", "2002"]),
        # en
        ("Order no. 100045 is late", ["100045"]),
        ("order number: 100045", ["100045"]),
        ("my order number is 100045", ["100045"]),
        # de
        ("Frage zu Bestellung 12345", ["12345"]),
        ("Bestellnummer: 12345", ["12345"]),
        ("Bestell-Nr. 12345", ["12345"]),
        ("Ihre Bestellung Nr. 123456 vom 2024", ["123456"]),
        ("Meine Bestellnummer lautet 66666", ["66666"]),
        ("Auftrag 55555", ["55555"]),
        ("Bestellungen 12345 und 12346", ["12345"]),
        # fr
        ("Re: Votre commande n° 100234 est en route", ["100234"]),
        ("Votre commande n°\xa0100234", ["100234"]),
        ("ma commande n°12345 n'est pas arrivée", ["12345"]),
        ("numéro de commande : 12345", ["12345"]),
        ("N° de commande 12345", ["12345"]),
        ("mon numéro de commande est le 12345", ["12345"]),
        # it
        ("Il Suo ordine n. 100234 è stato spedito", ["100234"]),
        ("numero d'ordine 12345", ["12345"]),
        ("numero d’ordine: 12345", ["12345"]),
        ("relativa all’ordine n. 100234", ["100234"]),
        ("il mio numero ordine è 12345", ["12345"]),
        # es
        ("Hemos recibido su pedido n.º 100234", ["100234"]),
        ("pedido nº 12345", ["12345"]),
        ("número de pedido: 12345", ["12345"]),
        ("mi número de pedido es 12345", ["12345"]),
        # nl
        ("Uw bestelling 100234 is onderweg", ["100234"]),
        ("bestelnummer 12345", ["12345"]),
        ("ordernummer: 12345", ["12345"]),
        ("mijn bestelnummer is 12345", ["12345"]),
        ("bestelling nr. 12345", ["12345"]),
        # pl (inflected, also typed without Polish letters)
        ("Dziękujemy za zamówienie nr 100234", ["100234"]),
        ("numer zamówienia 12345", ["12345"]),
        ("nr zamówienia: 12345", ["12345"]),
        ("w zamówieniu nr 12345 brakuje produktu", ["12345"]),
        ("zamowienie 12345", ["12345"]),
        ("mój numer zamówienia to 12345", ["12345"]),
        # ru
        ("заказ № 12345", ["12345"]),
        ("номер заказа 12345", ["12345"]),
    ],
)
def test_default_pattern_finds_order_numbers(text: str, expected: list[str]) -> None:
    assert find_order_numbers(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Ruf mich an: +49 1234567",
        "&#123456; entity",
        "Order of 5 items",
        "#123 too short",
        "ORD-12 too short",
        "im Jahr 2024",
        "Artikel KAF-0012, Rechnung RE-2026-000451",
        "ORD-1002x",
        "my-ORD-1002",
        "commande de 3 articles",
        "",
    ],
)
def test_default_pattern_ignores_non_order_numbers(text: str) -> None:
    assert find_order_numbers(text) == []


def test_custom_pattern_with_and_without_groups() -> None:
    assert find_order_numbers("ticket AB-77 and AB-78", r"AB-\d+") == ["AB-77", "AB-78"]
    assert find_order_numbers("ticket ab-77", r"ab-(\d+)") == ["77"]  # case-insensitive
    # the first group that took part in the match is the id; (?:...) groups are not
    pattern = r"(?:order|auftrag)\s(\d+)|\b(SO-\d+)"
    assert find_order_numbers("order 123 and SO-9", pattern) == ["123", "SO-9"]


def test_settings_default_is_empty_and_means_the_default_pattern() -> None:
    assert Settings().order_number_pattern == ""
    assert compile_order_pattern("").pattern == DEFAULT_ORDER_NUMBER_PATTERN


def test_invalid_pattern_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="order_number_pattern"):
        compile_order_pattern("(unclosed")


def test_input_is_cut_to_the_limit() -> None:
    text = "x" * 100 + " ORD-1001"
    assert find_order_numbers(text, limit=50) == []
    assert find_order_numbers(text, limit=200) == ["ORD-1001"]


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("support+ORD-1001", ("support", "ORD-1001")),
        ("support", ("support", None)),
        ("returns+", ("returns", None)),
        ("a+b+c", ("a", "b+c")),
    ],
)
def test_split_plus_address(local: str, expected: tuple[str, str | None]) -> None:
    assert split_plus_address(local) == expected


def test_plus_tag() -> None:
    assert plus_tag("support+ORD-1001@shop.example") == "ORD-1001"
    assert plus_tag("support@shop.example") is None
    assert plus_tag(None) is None
    assert plus_tag("no-at-sign+x") is None


def test_reply_refs_match_our_message_id_format_and_domain() -> None:
    ours = make_message_id("OrderShipped", "ORD-100234", "k1", "shop.example")
    foreign = make_message_id("OrderShipped", "ORD-999999", "k2", "other.example")
    account = make_message_id("CustomerRegistered", "CUST-1", "k3", "shop.example")
    message = InboundMessage(
        in_reply_to=(ours,), references=("<random@mua.example>", foreign, account)
    )
    refs = reply_refs(message, "shop.example")
    assert [r.aggregate_id for r in refs] == ["ORD-100234", "CUST-1"]
    assert reply_order_ids(refs) == ["ORD-100234"]  # customer kinds are not orders


def test_reply_refs_read_raw_headers_when_the_parsed_tuples_are_empty() -> None:
    mid = make_message_id("OrderPlaced", "ORD-1", "k", "shop.example")
    message = InboundMessage(headers=(("References", f"<a@b> {mid}"),))
    assert [r.aggregate_id for r in reply_refs(message, "shop.example")] == ["ORD-1"]


def test_order_numbers_for_combines_sources_in_order() -> None:
    mid = make_message_id("OrderPlaced", "ORD-100234", "k", "shop.example")
    message = InboundMessage(
        subject="Re: Bestellung 55555",
        text="Meine Bestellnummer ist 66666, siehe auch ORD-1001.",
        references=(mid,),
    )
    refs = reply_refs(message, "shop.example")
    numbers = order_numbers_for(message, tag="ORD-1001", refs=refs)
    assert numbers == ["ORD-1001", "ORD-100234", "55555", "66666"]


@pytest.mark.parametrize(
    "subject",
    [
        "Rücksendung Bestellung ORD-1002",
        "Re: We have received your order ORD-1002",
        "Re: Nous avons bien reçu votre commande n° ORD-1002",
        "Re: Abbiamo ricevuto il Suo ordine n. ORD-1002",
        "Re: Hemos recibido su pedido n.º ORD-1002",
        "Re: Wij hebben uw bestelling ORD-1002 ontvangen",
        "Re: Dziękujemy za zamówienie nr ORD-1002",
    ],
)
def test_a_reply_to_our_message_id_and_its_subject_give_one_id(subject: str) -> None:
    mid = make_message_id("OrderPlaced", "ORD-1002", "OrderPlaced:ORD-1002:k", "shop.example")
    message = InboundMessage(subject=subject, text="Danke.", in_reply_to=(mid,))
    refs = reply_refs(message, "shop.example")
    assert reply_order_ids(refs) == ["ORD-1002"]
    assert find_order_numbers(subject) == ["ORD-1002"]
    assert order_numbers_for(message, refs=refs) == ["ORD-1002"]


def test_replied_to_ids_are_taken_as_the_shop_wrote_them() -> None:
    mid = make_message_id("OrderPlaced", "SO/2026/17", "k", "shop.example")  # encoded aggregate
    message = InboundMessage(references=(mid,))
    refs = reply_refs(message, "shop.example")
    assert order_numbers_for(message, refs=refs, pattern=r"SO/(\d+)") == ["SO/2026/17"]


def test_order_numbers_for_keeps_id_like_tags_without_a_number() -> None:
    message = InboundMessage()
    assert order_numbers_for(message, tag="A7X-2") == ["A7X-2"]
    assert order_numbers_for(message, tag="a b") == []


def test_default_pattern_is_no_wider_than_the_search_windows() -> None:
    """The windowed search is exact only while every match fits ``DEFAULT_MAX_WIDTH``."""
    import re
    import re._parser as sre_parse  # the regex parser's width computation

    from shopmail.domain.inbound.order_numbers import DEFAULT_MAX_WIDTH

    low, high = sre_parse.parse(DEFAULT_ORDER_NUMBER_PATTERN, re.IGNORECASE).getwidth()
    assert 0 < low <= high <= DEFAULT_MAX_WIDTH


_PIECES = (
    "Bestellung",
    "bestellnummer",
    "Order no.",
    "order",
    "commande",
    "n°",
    "numéro de commande",
    "numero d'ordine",
    "zamówienie nr",
    "заказа",
    "№",
    "est",
    "est   le",
    "ist",
    "Auftrag",
    "ORD-",
    "ORD",
    "order_",
    "#",
    "# ",
    ":",
    " ",
    "  ",
    "\n",
    "-",
    ".",
    ",",
    "&#",
    "x",
    "1234",
    "12345",
    "100234",
    "1234567890123",
    "12",
    "٣٤٥٦٧",
    "2026",
    "+49 30 1234 5678",
    # every order word, in cases the anchors must see through
    "pedido",
    "Bestelling",
    "ZAMÓWIENIA",
    "zamowienie",
    "ORDINI",
    "Aufträge",
    "COMMANDES",
    "Beſtellung",  # long s: an "s" to the case-insensitive pattern
    "pedİdo",  # dotted capital I: an "i" to it, and two characters when lower-cased
    "zamówıenie",  # dotless i
    "ЗАКАЗ",
    # digits without an anchor near them
    "Tel.",
    "Nr.",
    "2026-12-04",
    "4111 1111 1111 1111",
)


@pytest.mark.parametrize("seed", range(40))
def test_windowed_search_finds_what_a_full_scan_finds(seed: int) -> None:
    """The default pattern is searched only near digit runs: the matches are a full scan's."""
    import random

    rng = random.Random(seed)
    rx = compile_order_pattern(None)
    for _ in range(50):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 120)))
        expected: list[str] = []
        for m in rx.finditer(text):
            value = next((g for g in m.groups() if g), m.group(0)).strip()
            if value and value.casefold() not in {v.casefold() for v in expected}:
                expected.append(value)
        assert find_order_numbers(text) == expected[:20], text


@pytest.mark.parametrize("seed", range(10))
def test_every_match_of_the_default_pattern_holds_an_anchor(seed: int) -> None:
    """Windows without an anchor are skipped: no match may lack one (in any case)."""
    import random

    from shopmail.domain.inbound.order_numbers import _ANCHORS_ANY_CASE, _anchor_starts

    rng = random.Random(seed)
    rx = compile_order_pattern(None)
    matched = 0
    for _ in range(100):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 60)))
        starts = _anchor_starts(text)
        assert starts == [m.start() for m in _ANCHORS_ANY_CASE.finditer(text)], text
        for m in rx.finditer(text):
            matched += 1
            assert _ANCHORS_ANY_CASE.search(m.group(0)), m.group(0)
            assert any(m.start() <= a < m.end() for a in starts), text
    assert matched > 20  # the pieces do make matches


def test_lower_casing_finds_every_case_insensitive_spelling_of_the_anchors() -> None:
    """``str.lower`` + a case-sensitive search equals the pattern's case-insensitive one.

    For each letter of the anchors, every character the case-insensitive pattern takes for it
    lower-cases to it, or is one of the characters whose text is searched the slow way.
    """
    import re

    from shopmail.domain.inbound.order_numbers import _ANCHORS, _CASE_SPECIALS

    everything = "".join(map(chr, range(0x110000)))
    letters = set(re.sub(r"[\[\]|]", "", _ANCHORS.pattern))
    assert {"o", "ó", "з", "#"} <= letters
    for letter in letters:
        for m in re.finditer(re.escape(letter), everything, re.IGNORECASE):
            char = m.group(0)
            assert char.lower() == letter or _CASE_SPECIALS.match(char), (letter, hex(ord(char)))
    for special in "\u017f\u0130\u0131":
        assert len(special.lower()) != 1 or special.lower() not in letters
