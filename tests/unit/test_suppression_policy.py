"""The suppression policy (shopmail.domain.suppression.entries)."""

from __future__ import annotations

import pytest
from shopmail.domain.suppression.entries import (
    SuppressionEntry,
    is_blocked,
    parse_bypass_types,
    suppression_key,
)

BYPASS = frozenset({"PasswordResetRequested"})


def entry(cls: str, expires_at: int | None = None) -> SuppressionEntry:
    return SuppressionEntry("k@example.com", cls, "r", "2026-11-01T00:00:00Z", "test", expires_at)


def test_no_entry_never_blocks() -> None:
    assert not is_blocked(None, "marketing", "CheckoutAbandoned", BYPASS)
    assert not is_blocked(None, "transactional", "OrderPlaced", BYPASS)


def test_unsubscribe_blocks_marketing_only() -> None:
    e = entry("unsubscribe")
    assert is_blocked(e, "marketing", "CheckoutAbandoned", BYPASS)
    assert not is_blocked(e, "transactional", "OrderPlaced", BYPASS)
    assert not is_blocked(e, "transactional", "PasswordResetRequested", BYPASS)


@pytest.mark.parametrize("cls", ["hard_bounce", "complaint", "transient_bounces", "weird"])
def test_hard_classes_block_everything_but_bypass_types(cls: str) -> None:
    e = entry(cls)
    assert is_blocked(e, "transactional", "OrderPlaced", BYPASS)
    assert is_blocked(e, "marketing", "CheckoutAbandoned", BYPASS)
    assert not is_blocked(e, "transactional", "PasswordResetRequested", BYPASS)
    # bypass never lets marketing through
    assert is_blocked(e, "marketing", "PasswordResetRequested", BYPASS)
    # without a whitelist nothing goes
    assert is_blocked(e, "transactional", "PasswordResetRequested", frozenset())


def test_expired_entry_does_not_block() -> None:
    e = entry("transient_bounces", expires_at=1000)
    assert not is_blocked(e, "transactional", "OrderPlaced", BYPASS, now=1000)
    assert is_blocked(e, "transactional", "OrderPlaced", BYPASS, now=999)
    assert is_blocked(e, "transactional", "OrderPlaced", BYPASS)  # no clock: still applies


def test_parse_bypass_and_key() -> None:
    assert parse_bypass_types(" A, ,B,") == frozenset({"A", "B"})
    assert parse_bypass_types("") == frozenset()
    assert parse_bypass_types(["A", " "]) == frozenset({"A"})
    assert suppression_key(" Kunde@Example.COM ") == "kunde@example.com"
