"""The suppression policy, row by row (shopmail.domain.suppression.policy).

Only the address's own fault suppresses. Every reason of the classifier's vocabulary is checked
for a permanent failure the classifier calls ``hard``, a permanent failure it does not, and a
transient failure; then SES's bounce types, complaints, deliveries and delays, the ranking of
classes and the window counting.
"""

from __future__ import annotations

import datetime as dt

import pytest
from shopmail.domain.feedback.model import REASONS
from shopmail.domain.feedback.report import FeedbackKind, RecipientReport
from shopmail.domain.suppression.entries import SuppressionClass, SuppressionEntry
from shopmail.domain.suppression.policy import (
    ADDRESS_REASONS,
    COUNTED_REASONS,
    PolicyAction,
    decide,
    decide_complaint,
    decide_reason,
    keeps,
    parse_timestamp,
    threshold_reached,
    within_window,
)

S, C, X = PolicyAction.SUPPRESS, PolicyAction.COUNT, PolicyAction.IGNORE

#: reason -> (permanent + hard, permanent + not hard, transient)
TABLE: dict[str, tuple[PolicyAction, PolicyAction, PolicyAction]] = {
    "user_unknown": (S, C, C),
    "host_unknown": (S, X, X),
    "mailbox_disabled": (S, C, C),
    "syntax": (S, X, X),
    "mailbox_full": (S, C, C),
    "message_too_large": (S, X, X),
    "content_rejected": (S, X, X),
    "spam_detected": (S, X, X),
    "virus_detected": (S, X, X),
    "blocked": (S, X, X),
    "auth_failure": (S, X, X),
    "policy": (S, X, X),
    "relay_denied": (S, X, X),
    "rate_limited": (S, X, X),
    "expired": (S, X, X),
    "network": (S, X, X),
    "system": (S, X, X),
    "other": (S, X, X),
}


def test_the_table_covers_every_reason_of_the_classifier() -> None:
    assert set(TABLE) == set(REASONS)
    assert set(REASONS) >= ADDRESS_REASONS | COUNTED_REASONS


@pytest.mark.parametrize("reason", sorted(TABLE))
def test_mail_bounce_rows(reason: str) -> None:
    hard, soft, transient = TABLE[reason]
    assert decide_reason(reason, permanent=True, hard=True).action is hard
    assert decide_reason(reason, permanent=True, hard=False).action is soft
    assert decide_reason(reason, permanent=True, hard=None).action is soft
    assert decide_reason(reason, permanent=False, hard=False).action is transient
    # a transient failure is never hard, whatever a classifier claims
    assert decide_reason(reason, permanent=False, hard=True).action is transient


@pytest.mark.parametrize("reason", sorted(TABLE))
def test_mail_bounce_rows_through_decide(reason: str) -> None:
    for hard, expected in ((True, TABLE[reason][0]), (False, TABLE[reason][1])):
        report = RecipientReport("a@example.org", FeedbackKind.BOUNCE, reason=reason, hard=hard)
        decision = decide(report)
        assert decision.action is expected
        assert decision.reason == reason
        if expected is S:
            assert decision.suppression_class is SuppressionClass.HARD_BOUNCE
        elif expected is C:
            assert decision.suppression_class is SuppressionClass.TRANSIENT_BOUNCES
        else:
            assert decision.suppression_class is None and not decision.suppresses


@pytest.mark.parametrize(
    ("btype", "sub", "reason", "hard", "action", "cls"),
    [
        ("Permanent", "NoEmail", None, None, S, "hard_bounce"),
        ("Permanent", "Suppressed", None, None, S, "hard_bounce"),
        ("Permanent", "OnAccountSuppressionList", "blocked", False, S, "hard_bounce"),
        # General: the diagnostic decides
        ("Permanent", "General", "user_unknown", True, S, "hard_bounce"),
        ("Permanent", "General", "other", None, S, "hard_bounce"),
        ("Permanent", "General", None, None, S, "hard_bounce"),
        ("Permanent", "General", "blocked", False, X, None),
        ("Permanent", "General", "spam_detected", False, X, None),
        ("Permanent", "General", "mailbox_full", False, C, "transient_bounces"),
        ("Transient", "MessageTooLarge", None, None, X, None),
        ("Transient", "ContentRejected", None, None, X, None),
        ("Transient", "AttachmentRejected", None, None, X, None),
        ("Transient", "MailboxFull", None, None, C, "transient_bounces"),
        ("Transient", "General", "mailbox_full", False, C, "transient_bounces"),
        ("Transient", "General", "expired", False, X, None),
        ("Transient", "General", "network", False, X, None),
        ("Transient", "General", None, None, X, None),
        ("Undetermined", "Undetermined", None, None, X, None),
    ],
)
def test_ses_bounce_rows(
    btype: str, sub: str, reason: str | None, hard: bool | None, action: PolicyAction, cls: str
) -> None:
    report = RecipientReport(
        "a@example.org",
        FeedbackKind.BOUNCE,
        reason=reason,
        hard=hard,
        bounce_type=btype,
        bounce_sub_type=sub,
    )
    decision = decide(report)
    assert (decision.action, decision.suppression_class) == (action, cls)


def test_complaints_suppress_except_not_spam() -> None:
    assert decide_complaint("abuse").suppression_class is SuppressionClass.COMPLAINT
    assert decide_complaint(None).action is S
    assert decide_complaint("not-spam").action is X
    row = RecipientReport("a@example.org", FeedbackKind.COMPLAINT, complaint_type="abuse")
    assert decide(row).suppression_class is SuppressionClass.COMPLAINT


@pytest.mark.parametrize("kind", [FeedbackKind.DELIVERY, FeedbackKind.DELAY])
def test_deliveries_and_delays_never_suppress(kind: FeedbackKind) -> None:
    row = RecipientReport("a@example.org", kind, reason="mailbox_full", hard=True)
    assert decide(row).action is X


def _entry(cls: str) -> SuppressionEntry:
    return SuppressionEntry("a@example.org", cls)


@pytest.mark.parametrize(
    ("existing", "new", "kept"),
    [
        (None, SuppressionClass.HARD_BOUNCE, False),
        ("unsubscribe", SuppressionClass.TRANSIENT_BOUNCES, False),
        ("transient_bounces", SuppressionClass.HARD_BOUNCE, False),
        ("transient_bounces", SuppressionClass.TRANSIENT_BOUNCES, True),
        ("hard_bounce", SuppressionClass.TRANSIENT_BOUNCES, True),
        ("complaint", SuppressionClass.HARD_BOUNCE, True),
        ("hard_bounce", SuppressionClass.COMPLAINT, True),
        ("manual", SuppressionClass.COMPLAINT, True),
        ("some-future-class", SuppressionClass.COMPLAINT, True),
    ],
)
def test_stronger_classes_are_kept(existing: str | None, new: SuppressionClass, kept: bool) -> None:
    assert keeps(_entry(existing) if existing else None, new) is kept


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
