"""When feedback about our mail suppresses an address (SES events and DSN/ARF mail alike).

| feedback | decision |
| --- | --- |
| Permanent / any (General, NoEmail, Suppressed, OnAccountSuppressionList) | ``hard_bounce`` |
| Transient / MessageTooLarge, ContentRejected, AttachmentRejected | ignore (fix the content) |
| Transient / General, MailboxFull (other), Undetermined | count: N -> ``transient_bounces`` |
| Complaint (any) | suppress, class ``complaint`` (the sender decides per email type) |
| DSN recipient ``hard`` | suppress now, ``hard_bounce`` |
| DSN recipient refused for policy/content/sender reasons | ignore |
| DSN recipient soft (mailbox full, expired, system, unknown) | count |
| ARF complaint | suppress, ``complaint`` |

Example
-------
>>> decide_bounce("Permanent", "General").action
'suppress'
>>> decide_bounce("Transient", "MessageTooLarge").action
'ignore'
>>> threshold_reached(["2026-01-01T00:00:00Z"] * 3, "2026-01-02T00:00:00Z", 3, 30)
True
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from shopmail.domain.feedback.model import KIND_BOUNCE, KIND_COMPLAINT, RecipientResult

ACTION_SUPPRESS: Final = "suppress"
ACTION_COUNT: Final = "count"
ACTION_IGNORE: Final = "ignore"

CLASS_HARD_BOUNCE: Final = "hard_bounce"
CLASS_TRANSIENT_BOUNCES: Final = "transient_bounces"
CLASS_COMPLAINT: Final = "complaint"

_CONTENT_SUBTYPES: Final = frozenset({"messagetoolarge", "contentrejected", "attachmentrejected"})
# DSN reasons where the address is fine but the message or the sender was refused.
_NOT_ADDRESS_REASONS: Final = frozenset(
    {
        "message_too_large",
        "content_rejected",
        "spam_detected",
        "virus_detected",
        "blocked",
        "auth_failure",
        "policy",
        "relay_denied",
        "rate_limited",
        "syntax",
    }
)


@dataclass(frozen=True, slots=True)
class SuppressionDecision:
    """What to do with an address after a piece of feedback.

    Attributes
    ----------
    action:
        ``suppress`` (now), ``count`` (a transient bounce: suppress after N in the window) or
        ``ignore``.
    suppression_class:
        ``hard_bounce``, ``transient_bounces`` (for ``count``: the class used once the
        threshold is reached) or ``complaint``; ``None`` for ``ignore``.
    reason:
        A short log-safe reason (``Permanent/General``, ``user_unknown``, ``abuse`` ...).
    """

    action: str
    suppression_class: str | None
    reason: str


def decide_bounce(bounce_type: str | None, sub_type: str | None) -> SuppressionDecision:
    """The decision for an SES bounce of ``bounce_type`` / ``sub_type``."""
    btype = (bounce_type or "Undetermined").strip()
    sub = (sub_type or "Undetermined").strip()
    reason = f"{btype}/{sub}"
    if btype.lower() == "permanent":
        return SuppressionDecision(ACTION_SUPPRESS, CLASS_HARD_BOUNCE, reason)
    if btype.lower() == "transient" and sub.replace(" ", "").lower() in _CONTENT_SUBTYPES:
        return SuppressionDecision(ACTION_IGNORE, None, reason)
    return SuppressionDecision(ACTION_COUNT, CLASS_TRANSIENT_BOUNCES, reason)


def decide_complaint(feedback_type: str | None) -> SuppressionDecision:
    """The decision for a complaint (SES or ARF); ``not-spam`` reports are ignored."""
    ftype = (feedback_type or "complaint").strip().lower()
    if ftype == "not-spam":
        return SuppressionDecision(ACTION_IGNORE, None, ftype)
    return SuppressionDecision(ACTION_SUPPRESS, CLASS_COMPLAINT, ftype)


def decide_dsn_recipient(kind: str, recipient: RecipientResult) -> SuppressionDecision:
    """The decision for one recipient row of a classified DSN/ARF message.

    ``kind`` is the classification kind; only bounces and complaints can suppress (delays,
    auto-replies and delivery reports are ignored).
    """
    if kind == KIND_COMPLAINT:
        return decide_complaint(None)
    if kind != KIND_BOUNCE:
        return SuppressionDecision(ACTION_IGNORE, None, kind)
    if recipient.hard is True:
        return SuppressionDecision(ACTION_SUPPRESS, CLASS_HARD_BOUNCE, recipient.reason)
    if recipient.reason in _NOT_ADDRESS_REASONS:
        return SuppressionDecision(ACTION_IGNORE, None, recipient.reason)
    return SuppressionDecision(ACTION_COUNT, CLASS_TRANSIENT_BOUNCES, recipient.reason)


def parse_timestamp(value: str | dt.datetime | None) -> dt.datetime | None:
    """An aware UTC datetime from an ISO 8601 string (``Z`` allowed); ``None`` when unreadable."""
    if isinstance(value, dt.datetime):
        stamp = value
    else:
        text = (value or "").strip()
        if not text:
            return None
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            stamp = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC)


def within_window(
    stamps: Iterable[str | dt.datetime], now: str | dt.datetime, window_days: int
) -> int:
    """How many of ``stamps`` fall within ``window_days`` before ``now`` (unreadable: skipped)."""
    end = parse_timestamp(now)
    if end is None:
        raise ValueError("now is not a timestamp")
    start = end - dt.timedelta(days=window_days)
    count = 0
    for raw in stamps:
        stamp = parse_timestamp(raw)
        if stamp is not None and start <= stamp <= end + dt.timedelta(minutes=5):
            count += 1
    return count


def threshold_reached(
    stamps: Iterable[str | dt.datetime],
    now: str | dt.datetime,
    threshold: int,
    window_days: int,
) -> bool:
    """Whether ``threshold`` transient bounces (``stamps``) fall within the window."""
    return within_window(stamps, now, window_days) >= max(1, threshold)
