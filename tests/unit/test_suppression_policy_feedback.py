"""The suppression policy for SES feedback and DSN/ARF mail (shopmail.domain.suppression.policy)."""

from __future__ import annotations

import datetime as dt

import pytest
from shopmail.domain.feedback.model import RecipientResult
from shopmail.domain.suppression.policy import (
    decide_bounce,
    decide_complaint,
    decide_dsn_recipient,
    parse_timestamp,
    threshold_reached,
    within_window,
)


@pytest.mark.parametrize(
    ("btype", "sub", "action", "cls"),
    [
        ("Permanent", "General", "suppress", "hard_bounce"),
        ("Permanent", "NoEmail", "suppress", "hard_bounce"),
        ("Permanent", "Suppressed", "suppress", "hard_bounce"),
        ("Permanent", "OnAccountSuppressionList", "suppress", "hard_bounce"),
        ("Transient", "MessageTooLarge", "ignore", None),
        ("Transient", "ContentRejected", "ignore", None),
        ("Transient", "AttachmentRejected", "ignore", None),
        ("Transient", "General", "count", "transient_bounces"),
        ("Transient", "MailboxFull", "count", "transient_bounces"),
        ("Undetermined", "Undetermined", "count", "transient_bounces"),
        (None, None, "count", "transient_bounces"),
    ],
)
def test_ses_bounce_table(btype: str | None, sub: str | None, action: str, cls: str | None) -> None:
    d = decide_bounce(btype, sub)
    assert (d.action, d.suppression_class) == (action, cls)
    assert d.reason == f"{btype or 'Undetermined'}/{sub or 'Undetermined'}"


def test_complaints_suppress_except_not_spam() -> None:
    assert decide_complaint("abuse").suppression_class == "complaint"
    assert decide_complaint(None).action == "suppress"
    assert decide_complaint("not-spam").action == "ignore"


@pytest.mark.parametrize(
    ("hard", "reason", "action", "cls"),
    [
        (True, "user_unknown", "suppress", "hard_bounce"),
        (True, "host_unknown", "suppress", "hard_bounce"),
        (False, "mailbox_full", "count", "transient_bounces"),
        (None, "other", "count", "transient_bounces"),
        (False, "expired", "count", "transient_bounces"),
        (False, "spam_detected", "ignore", None),
        (False, "blocked", "ignore", None),
        (False, "auth_failure", "ignore", None),
        (False, "message_too_large", "ignore", None),
    ],
)
def test_dsn_bounce_rows(hard: bool | None, reason: str, action: str, cls: str | None) -> None:
    row = RecipientResult("a@example.org", action="failed", hard=hard, reason=reason)
    d = decide_dsn_recipient("bounce", row)
    assert (d.action, d.suppression_class) == (action, cls)


def test_dsn_other_kinds() -> None:
    row = RecipientResult("a@example.org", hard=True, reason="user_unknown")
    assert decide_dsn_recipient("complaint", row).suppression_class == "complaint"
    for kind in ("delay", "auto_reply", "delivery_report", "none"):
        assert decide_dsn_recipient(kind, row).action == "ignore"


def test_window_counting() -> None:
    now = "2026-11-28T12:00:00Z"
    stamps = ["2026-11-27T12:00:00Z", "2026-11-01T12:00:00.000Z", "2026-10-01T00:00:00Z", "junk"]
    assert within_window(stamps, now, 30) == 2
    assert threshold_reached(stamps, now, 2, 30)
    assert not threshold_reached(stamps, now, 3, 30)
    assert threshold_reached(stamps, now, 3, 90)
    # a day window only sees the last one
    assert within_window(stamps, now, 1) == 1


def test_parse_timestamp() -> None:
    t = parse_timestamp("2026-11-28T10:00:00.123Z")
    assert t == dt.datetime(2026, 11, 28, 10, 0, 0, 123000, tzinfo=dt.UTC)
    assert parse_timestamp("2026-11-28T10:00:00") is not None
    assert parse_timestamp("") is None and parse_timestamp("nope") is None
    with pytest.raises(ValueError):
        within_window([], "nope", 30)
