"""The hash form of suppression entries (what an erasure leaves) and lookups of both forms."""

from __future__ import annotations

import hashlib

from shopmail.domain.suppression.entries import (
    HARD_BOUNCE,
    MANUAL,
    UNSUBSCRIBE,
    SuppressionEntry,
    effective_entry,
    hashed_suppression_key,
    is_blocked,
    is_hashed_key,
    suppression_keys,
)


def test_the_hash_key_is_sha256_of_the_normalized_address() -> None:
    digest = hashlib.sha256(b"kim@example.com").hexdigest()
    assert hashed_suppression_key(" Kim@Example.COM ") == f"hash:{digest}"
    assert hashed_suppression_key(f"hash:{digest}") == f"hash:{digest}"  # idempotent
    assert is_hashed_key(f"hash:{digest}") and not is_hashed_key("kim@example.com")
    assert suppression_keys("KIM@example.com") == ("kim@example.com", f"hash:{digest}")
    assert "kim" not in hashed_suppression_key("kim@example.com")


def test_the_entry_that_blocks_more_decides() -> None:
    unsub = SuppressionEntry("kim@example.com", UNSUBSCRIBE)
    erased = SuppressionEntry(hashed_suppression_key("kim@example.com"), MANUAL, "erased")
    hard = SuppressionEntry("kim@example.com", HARD_BOUNCE)
    assert effective_entry(unsub, erased) is erased
    assert effective_entry(hard, erased) is hard  # both block everything: the plain one
    assert effective_entry(None, erased) is erased
    assert effective_entry(unsub, None) is unsub
    assert effective_entry(None, None) is None


def test_an_erased_address_gets_no_mail_but_the_bypass_types() -> None:
    erased = SuppressionEntry(hashed_suppression_key("kim@example.com"), MANUAL, "erased")
    bypass = frozenset({"PasswordResetRequested"})
    assert is_blocked(erased, "transactional", "OrderPlaced", bypass)
    assert is_blocked(erased, "marketing", "CheckoutAbandoned", bypass)
    assert not is_blocked(erased, "transactional", "PasswordResetRequested", bypass)
    unsub = SuppressionEntry("kim@example.com", UNSUBSCRIBE)
    assert is_blocked(effective_entry(unsub, erased), "transactional", "OrderPlaced", bypass)
