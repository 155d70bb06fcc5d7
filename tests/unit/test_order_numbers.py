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
        ("ORD-1001", ["1001"]),
        ("ord1001", ["1001"]),
        ("ORDER#100234", ["100234"]),
        ("Order no. 100045 is late", ["100045"]),
        ("order number: 100045", ["100045"]),
        ("Re: #100045", ["100045"]),
        ("Frage zu Bestellung 12345", ["12345"]),
        ("Bestellnummer: 12345", ["12345"]),
        ("Bestell-Nr. 12345", ["12345"]),
        ("Ihre Bestellung Nr. 123456 vom 2024", ["123456"]),
        ("Auftrag 55555", ["55555"]),
        ("ORD-1001 und Bestellung 2002 und ORD-1001", ["1001", "2002"]),
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
        "",
    ],
)
def test_default_pattern_ignores_non_order_numbers(text: str) -> None:
    assert find_order_numbers(text) == []


def test_custom_pattern_with_and_without_groups() -> None:
    assert find_order_numbers("ticket AB-77 and AB-78", r"AB-\d+") == ["AB-77", "AB-78"]
    assert find_order_numbers("ticket ab-77", r"ab-(\d+)") == ["77"]  # case-insensitive


def test_settings_default_is_empty_and_means_the_default_pattern() -> None:
    assert Settings().order_number_pattern == ""
    assert compile_order_pattern("").pattern == DEFAULT_ORDER_NUMBER_PATTERN


def test_invalid_pattern_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="order_number_pattern"):
        compile_order_pattern("(unclosed")


def test_input_is_cut_to_the_limit() -> None:
    text = "x" * 100 + " ORD-1001"
    assert find_order_numbers(text, limit=50) == []
    assert find_order_numbers(text, limit=200) == ["1001"]


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
    assert numbers == ["1001", "100234", "55555", "66666"]


def test_order_numbers_for_keeps_id_like_tags_without_a_number() -> None:
    message = InboundMessage()
    assert order_numbers_for(message, tag="A7X-2") == ["A7X-2"]
    assert order_numbers_for(message, tag="a b") == []
