"""Recipient validation for the 7-bit SES relay."""

from __future__ import annotations

import pytest
from shopmail.domain.outbound.recipients import normalize_recipient
from shopmail.errors import InvalidRecipientError


def test_plain_address_keeps_local_part_and_lowercases_domain() -> None:
    r = normalize_recipient("Kunde.Name+tag@Example.COM")
    assert r.address == "Kunde.Name+tag@example.com"
    assert r.domain == "example.com"


def test_idn_domain_becomes_punycode() -> None:
    r = normalize_recipient("kunde@bücher.example")
    assert r.address == "kunde@xn--bcher-kva.example"
    assert r.domain == "xn--bcher-kva.example"
    assert r.unicode_domain == "bücher.example"
    assert r.address.isascii()


def test_surrounding_whitespace_is_ignored() -> None:
    assert normalize_recipient("  a@example.com ").address == "a@example.com"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("jürgen@example.com", "not ASCII"),
        ("用户@例子.广告", "not ASCII"),
        ("", "empty"),
        ("   ", "empty"),
        ("no-at-sign", "@-sign"),
        ("a@@example.com", "invalid"),
        ("a b@example.com", "invalid"),
        ("a@localhost", "invalid"),
        ("a@example.com\r\nBcc: victim@example.org", "control characters"),
        ("a@exa\x00mple.com", "control characters"),
        ("a" * 65 + "@example.com", "invalid"),
    ],
)
def test_invalid_addresses_raise_with_reason(value: str, why: str) -> None:
    with pytest.raises(InvalidRecipientError) as info:
        normalize_recipient(value)
    assert why in info.value.reason
    assert info.value.permanent
    # the reason never quotes the whole address
    if "@" in value and value.strip():
        assert value not in info.value.reason


def test_reason_context_holds_only_the_domain() -> None:
    with pytest.raises(InvalidRecipientError) as info:
        normalize_recipient("jürgen@Example.com")
    assert info.value.context == {"domain": "example.com"}
