"""Suppression list entries and the policy that decides whether a mail may go to an address.

Policy:

* ``unsubscribe`` (the customer left the marketing stream): marketing mail is blocked,
  transactional mail still goes.
* ``hard_bounce``, ``complaint``, ``transient_bounces`` and any other (unknown) class: nothing
  goes, except detail-types whitelisted by configuration (``SUPPRESSION_BYPASS_TYPES``, by
  default ``PasswordResetRequested``: a customer must always be able to reset a password).
* An entry whose ``expires_at`` lies in the past no longer suppresses.

Hash form: after an erasure an address is kept only as ``hash:`` + the SHA-256 of its
normalized form (:func:`hashed_suppression_key`), so the shop still never mails it while nothing
stored names it. Every lookup reads both forms (:func:`suppression_keys`) and decides on the
entry that blocks more (:func:`effective_entry`); :func:`is_blocked` then applies the policy.

Example
-------
>>> entry = SuppressionEntry("kunde@example.com", "unsubscribe", "one-click", "2026-11-01")
>>> is_blocked(entry, "transactional", "OrderPlaced", frozenset())
False
>>> is_blocked(entry, "marketing", "CheckoutAbandoned", frozenset())
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class SuppressionClass(StrEnum):
    """Why an address is suppressed (stored as the item's ``class``)."""

    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    TRANSIENT_BOUNCES = "transient_bounces"
    MANUAL = "manual"

    @classmethod
    def of(cls, value: str) -> SuppressionClass | None:
        """The member named ``value``, or ``None`` for a class this version does not know."""
        try:
            return cls(value)
        except ValueError:
            return None


HARD_BOUNCE: Final = SuppressionClass.HARD_BOUNCE
COMPLAINT: Final = SuppressionClass.COMPLAINT
UNSUBSCRIBE: Final = SuppressionClass.UNSUBSCRIBE
TRANSIENT_BOUNCES: Final = SuppressionClass.TRANSIENT_BOUNCES
MANUAL: Final = SuppressionClass.MANUAL

#: Classes that only suppress marketing mail.
MARKETING_ONLY: Final = frozenset({SuppressionClass.UNSUBSCRIBE})


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    """One suppressed address.

    Attributes
    ----------
    address
        The address, lower-cased and 7-bit (IDN domain as Punycode): the table key.
    suppression_class
        ``hard_bounce`` | ``complaint`` | ``unsubscribe`` | ``transient_bounces`` | ``manual``
        (stored as attribute ``class``).
    reason
        A short readable reason (e.g. the bounce's ``5.1.1 user unknown``).
    since
        ISO 8601 timestamp of the suppression.
    source
        Who suppressed it (``ses-feedback``, ``dsn``, ``cli``, ...).
    expires_at
        Epoch seconds after which the entry no longer applies (``None``: never).
    """

    address: str
    suppression_class: str
    reason: str = ""
    since: str = ""
    source: str = ""
    expires_at: int | None = None

    def expired(self, now: float) -> bool:
        """Whether the entry no longer applies at epoch time ``now``."""
        return self.expires_at is not None and self.expires_at <= now


def suppression_key(address: str) -> str:
    """The table key of ``address``: stripped and lower-cased.

    Example
    -------
    >>> suppression_key(" Kunde@Example.COM ")
    'kunde@example.com'
    """
    return address.strip().lower()


#: Prefix of a suppression key that holds a hash instead of the address.
HASH_PREFIX: Final = "hash:"


def is_hashed_key(key: str) -> bool:
    """Whether ``key`` is the hash form of an address (``hash:<sha256>``)."""
    return key.startswith(HASH_PREFIX)


def hashed_suppression_key(address: str) -> str:
    """``hash:`` + the SHA-256 (hex) of :func:`suppression_key` of ``address``.

    A key that already is in hash form is returned as it is.

    Example
    -------
    >>> hashed_suppression_key("Kunde@Example.com") == hashed_suppression_key("kunde@example.com")
    True
    >>> hashed_suppression_key("kunde@example.com")[:13]
    'hash:fb61a1c0'
    """
    key = suppression_key(address)
    if is_hashed_key(key):
        return key
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def suppression_keys(address: str) -> tuple[str, str]:
    """The two keys an address may be suppressed under: plain and hashed."""
    return suppression_key(address), hashed_suppression_key(address)


def effective_entry(*entries: SuppressionEntry | None) -> SuppressionEntry | None:
    """The entry that decides for an address found under several keys.

    An entry that blocks every stream wins over one that blocks marketing only; otherwise the
    first one given (the plain entry before the hashed one).
    """
    present = [e for e in entries if e is not None]
    for entry in present:
        if entry.suppression_class not in MARKETING_ONLY:
            return entry
    return present[0] if present else None


def parse_bypass_types(value: str | Iterable[str]) -> frozenset[str]:
    """Parse ``SUPPRESSION_BYPASS_TYPES`` (comma-separated detail-types).

    Example
    -------
    >>> sorted(parse_bypass_types("PasswordResetRequested, EmailChangeRequested,"))
    ['EmailChangeRequested', 'PasswordResetRequested']
    """
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(s.strip() for s in items if s.strip())


def is_blocked(
    entry: SuppressionEntry | None,
    email_class: str,
    detail_type: str,
    bypass_types: Iterable[str],
    *,
    now: float | None = None,
) -> bool:
    """Whether a mail of ``detail_type``/``email_class`` must not go to ``entry``'s address.

    Parameters
    ----------
    entry
        The suppression entry (``None``: the address is not suppressed); for an address that
        may be suppressed in both forms, :func:`effective_entry` of the two.
    email_class
        ``transactional`` or ``marketing``.
    detail_type
        The event's detail-type.
    bypass_types
        Detail-types sent even to hard-bounced/complained addresses (never marketing mail).
    now
        Epoch seconds; when given, an expired entry does not block.
    """
    if entry is None:
        return False
    if now is not None and entry.expired(now):
        return False
    if entry.suppression_class in MARKETING_ONLY:
        return email_class == "marketing"
    if email_class == "marketing":
        return True
    return detail_type not in frozenset(bypass_types)


# How strong a suppression class is: a weaker entry is replaced, a stronger one kept.
_RANK: Final = {
    SuppressionClass.UNSUBSCRIBE: 0,
    SuppressionClass.TRANSIENT_BOUNCES: 1,
    SuppressionClass.HARD_BOUNCE: 2,
    SuppressionClass.COMPLAINT: 2,
    SuppressionClass.MANUAL: 3,
}


def keeps(existing: SuppressionEntry | None, new_class: SuppressionClass) -> bool:
    """Whether ``existing`` stays as it is when feedback asks for ``new_class``.

    A stronger or equal class is kept (a complaint is never downgraded to a transient-bounce
    entry; a manual entry is never overwritten); a weaker one is replaced.
    """
    if existing is None:
        return False
    known = SuppressionClass.of(existing.suppression_class)
    current = _RANK[known] if known is not None else _RANK[SuppressionClass.MANUAL]
    return current >= _RANK[new_class]
