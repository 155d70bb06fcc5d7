"""``shopmail test-send`` follows one event whatever order the bus delivers its steps in."""

from __future__ import annotations

from typing import Any

from shopmail_local.cli.commands.test_send import Follower

AGGREGATE, EVENT_ID, SES_ID = "test-abc", "eb-1", "0102-ses-1"


def _sent(ses_id: str = SES_ID) -> dict[str, Any]:
    return {
        "detail-type": "EmailSent",
        "detail": {"aggregateId": AGGREGATE, "sesMessageId": ses_id},
    }


def _delivered(ses_id: str = SES_ID) -> dict[str, Any]:
    return {"detail-type": "EmailDelivered", "detail": {"sesMessageId": ses_id}}


def test_feedback_after_the_sent_event_ends_the_test() -> None:
    follow = Follower(AGGREGATE, EVENT_ID)
    assert [s["step"] for s in follow.see(_sent())] == ["EmailSent"]
    assert not follow.done and follow.outcome == "sent"
    assert [s["step"] for s in follow.see(_delivered())] == ["EmailDelivered"]
    assert follow.done and follow.outcome == "delivered" and follow.ses_id == SES_ID


def test_feedback_before_the_sent_event_is_held_and_matched_afterwards() -> None:
    follow = Follower(AGGREGATE, EVENT_ID)
    assert follow.see(_delivered()) == [] and follow.outcome == "timeout"
    steps = follow.see(_sent())
    assert [s["step"] for s in steps] == ["EmailSent", "EmailDelivered"]
    assert follow.outcome == "delivered"


def test_feedback_of_other_messages_and_other_aggregates_is_ignored() -> None:
    follow = Follower(AGGREGATE, EVENT_ID)
    assert follow.see(_delivered("0102-other")) == []
    other = _sent()
    other["detail"]["aggregateId"] = "test-other"
    assert follow.see(other) == [] and follow.outcome == "timeout"
    assert [s["step"] for s in follow.see(_sent())] == ["EmailSent"]
    assert follow.outcome == "sent"  # the held feedback named another SES message


def test_failed_and_suppressed_end_the_test_without_feedback() -> None:
    follow = Follower(AGGREGATE, EVENT_ID)
    event = {"detail-type": "EmailSuppressed", "detail": {"eventId": EVENT_ID}}
    assert [s["step"] for s in follow.see(event)] == ["EmailSuppressed"]
    assert follow.done and follow.outcome == "suppressed"
    assert follow.see(_sent()) == []
