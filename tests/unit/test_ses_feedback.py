"""SES feedback events in every shape -> FeedbackEvent (shopmail.domain.feedback.ses_events)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from shopmail.domain.feedback.ses_events import FeedbackEvent, parse_feedback_event, unwrap
from shopmail.errors import InvalidEventError

from tests.fixtures.paths import load_event

OUR_ID = "<sm.orderplaced.ORD-1001.8f271952e1be4bf4@shop.example>"


def test_eventbridge_permanent_bounce() -> None:
    ev = parse_feedback_event(load_event("feedback/bounce-permanent-eventbridge.json"))
    assert ev.kind == "bounce"
    assert ev.event_type == "Bounce"
    assert ev.channel == "eventbridge"
    assert ev.bounce_type == "Permanent" and ev.bounce_sub_type == "General"
    assert ev.feedback_id == "0102019abc0001-perm-feedback-000000"
    assert ev.addresses == ("kunde@example.org",)
    assert ev.recipients[0].status == "5.1.1"
    assert ev.recipients[0].diagnostic == "smtp; 550 5.1.1 user unknown"
    assert ev.timestamp == "2026-11-28T10:00:03.000Z"
    assert ev.tags["ses:configuration-set"] == ("shopmail",)
    assert ev.our_message_id == OUR_ID
    ref = ev.message_ref
    assert ref is not None and (ref.kind, ref.aggregate_id) == ("orderplaced", "ORD-1001")
    assert ev.dedupe_key == "ses-feedback:0102019abc0001-perm-feedback-000000"


def test_event_publishing_shape_ignores_unknown_fields() -> None:
    raw = load_event("feedback/bounce-transient.json")
    assert "someFutureField" in raw
    ev = parse_feedback_event(raw)
    assert (ev.kind, ev.bounce_type, ev.bounce_sub_type) == ("bounce", "Transient", "MailboxFull")
    assert ev.channel == "event_publishing"


def test_sns_envelope_with_notification_type() -> None:
    raw = load_event("feedback/complaint-sns-notification.json")
    assert isinstance(raw["Message"], str)
    ev = parse_feedback_event(raw)
    assert ev.kind == "complaint"
    assert ev.channel == "notification"
    assert ev.complaint_type == "abuse"
    assert ev.complaint_sub_type is None
    assert ev.addresses == ("nospam@example.com",)
    assert ev.tags == {}
    assert ev.our_message_id == OUR_ID


def test_sqs_record_body_holding_an_sns_envelope() -> None:
    sns = load_event("feedback/complaint-sns-notification.json")
    record = {"messageId": "m1", "receiptHandle": "r", "body": json.dumps(sns)}
    assert parse_feedback_event(record).feedback_id == "0102019abc0003-complaint-feedback-000000"
    # also as a JSON string and as an SNS Lambda record
    assert parse_feedback_event(json.dumps(record)).kind == "complaint"
    assert parse_feedback_event({"Sns": {"Message": sns["Message"]}}).kind == "complaint"


def test_sqs_batch_records_unwrap_to_eventbridge() -> None:
    batch = load_event("feedback/sqs-delivery-then-bounce.json")
    kinds = [parse_feedback_event(r).kind for r in batch["Records"]]
    assert kinds == ["delivery", "bounce"]


def test_delivery_and_delay() -> None:
    d = parse_feedback_event(load_event("feedback/delivery-eventbridge.json"))
    assert d.kind == "delivery" and d.feedback_id is None
    assert d.addresses == ("kunde@example.org",)
    assert d.dedupe_key.startswith("ses-feedback:delivery:0102019abc0001")
    delay = parse_feedback_event(load_event("feedback/delivery-delay-eventbridge.json"))
    assert delay.kind == "delay"
    assert delay.delay_type == "TransientCommunicationFailure"
    assert delay.recipients[0].status == "4.4.1"


def test_detail_type_used_when_detail_lacks_event_type() -> None:
    raw = load_event("feedback/bounce-permanent-eventbridge.json")
    del raw["detail"]["eventType"]
    assert parse_feedback_event(raw).kind == "bounce"


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("Reject", "reject"),
        ("Send", "other"),
        ("Open", "other"),
        ("Rendering Failure", "other"),
        ("SomethingNew", "other"),
    ],
)
def test_other_event_types(event_type: str, kind: str) -> None:
    ev = parse_feedback_event(
        {"eventType": event_type, "mail": {"messageId": "x1", "destination": ["a@example.org"]}}
    )
    assert ev.kind == kind
    assert ev.addresses == ("a@example.org",)


def _bounce(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventType": "Bounce",
        "mail": {"messageId": "abc"},
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "feedbackId": "f",
            "bouncedRecipients": [{"emailAddress": "a@example.org"}],
        },
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ("not json", "event"),
        ([], "event"),
        ({"mail": {"messageId": "x"}}, "eventType"),
        ({"eventType": "", "mail": {"messageId": "x"}}, "eventType"),
        (_bounce(mail={}), "mail.messageId"),
        (_bounce(mail="x"), "mail"),
        (_bounce(bounce=None), "bounce"),
        (
            _bounce(bounce={"bounceType": "Permanent", "bouncedRecipients": []}),
            "bounce.bouncedRecipients",
        ),
        (
            {"eventType": "Complaint", "mail": {"messageId": "x"}, "complaint": {}},
            "complaint.complainedRecipients",
        ),
        ({"Type": "Notification", "Message": "{broken"}, "Message"),
        ({"body": "{broken", "receiptHandle": "r"}, "body"),
    ],
)
def test_invalid_events_name_the_field(event: Any, field: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_feedback_event(event)
    assert info.value.context["field"] == field


def test_recipient_entries_without_address_are_skipped() -> None:
    ev = parse_feedback_event(
        _bounce(
            bounce={
                "bounceType": "Transient",
                "bouncedRecipients": [{"status": "4.0.0"}, {"emailAddress": " b@example.org "}],
            }
        )
    )
    assert ev.addresses == ("b@example.org",)
    assert ev.bounce_sub_type is None


def test_foreign_message_id_is_not_ours() -> None:
    ev = parse_feedback_event(
        {
            "notificationType": "Delivery",
            "mail": {
                "messageId": "x",
                "headers": [{"name": "Message-ID", "value": "<abc@other.example>"}],
            },
            "delivery": {"recipients": ["a@example.org"]},
        }
    )
    assert ev.our_message_id is None and ev.message_ref is None


def test_unwrap_returns_the_ses_object() -> None:
    obj, channel = unwrap(load_event("feedback/delivery-eventbridge.json"))
    assert obj["eventType"] == "Delivery" and channel == "eventbridge"


def test_event_is_frozen() -> None:
    ev = parse_feedback_event(_bounce())
    assert isinstance(ev, FeedbackEvent)
    with pytest.raises(AttributeError):
        ev.kind = "x"  # type: ignore[misc]
