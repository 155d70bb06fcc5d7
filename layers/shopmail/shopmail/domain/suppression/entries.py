"""Suppression list entries and the policy that decides whether a mail may go to an address.

Policy:

* ``unsubscribe`` (the customer left the marketing stream): marketing mail is blocked,
  transactional mail still goes.
* ``hard_bounce``, ``complaint``, ``transient_bounces`` and any other (unknown) class: nothing
  goes, except detail-types whitelisted by configuration (``SUPPRESSION_BYPASS_TYPES``, by
  default ``PasswordResetRequested``: a customer must always be able to reset a password).
* An entry whose ``expires_at`` lies in the past no longer suppresses.

Example
-------
>>> entry = SuppressionEntry("kunde@example.com", "unsubscribe", "one-click", "2026-11-01")
>>> is_blocked(entry, "transactional", "OrderPlaced", frozenset())
False
>>> is_blocked(entry, "marketing", "CheckoutAbandoned", frozenset())
True
"""

from __future__ import annotations

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
        The suppression entry (``None``: the address is not suppressed).
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
