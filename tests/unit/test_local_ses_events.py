"""SES event publishing as emulated by the local relay (mailbox simulator outcomes)."""

from __future__ import annotations

from shopmail_local.stack.ses_events import (
    SentMail,
    events_for,
    parse_message_tags,
    simulator_kind,
)

RAW = (
    b"From: shop@shop.example\r\n"
    b"To: bounce@simulator.amazonses.com\r\n"
    b"Subject: Ihre Bestellung\r\n"
    b"Message-ID: <sm.orderplaced.ORD-1.abc@shop.example>\r\n"
    b"X-SES-CONFIGURATION-SET: cs-1\r\n"
    b"X-SES-MESSAGE-TAGS: type=OrderPlaced, order=ORD-1\r\n"
    b"\r\nbody\r\n"
)


def _mail(raw: bytes = RAW, default: str = "") -> SentMail:
    return SentMail.from_raw(
        raw,
        ses_message_id="0102-id",
        mail_from="shop@shop.example",
        recipients=["bounce@simulator.amazonses.com"],
        default_configuration_set=default,
    )


def test_simulator_addresses_with_and_without_labels() -> None:
    assert simulator_kind("bounce@simulator.amazonses.com") == "bounce"
    assert simulator_kind("Complaint+x1@Simulator.AmazonSES.com") == "complaint"
    assert simulator_kind("suppressionlist@simulator.amazonses.com") == "suppressionlist"
    assert simulator_kind("other@simulator.amazonses.com") == ""
    assert simulator_kind("bounce@example.com") == ""


def test_message_tags_header() -> None:
    assert parse_message_tags("type=OrderPlaced, order=ORD-1") == {
        "type": ["OrderPlaced"],
        "order": ["ORD-1"],
    }
    assert parse_message_tags(None) == {}
    assert parse_message_tags("junk, =x") == {}


def test_bounce_event_shape_and_hidden_ses_headers() -> None:
    (event,) = events_for(_mail(), "bounce@simulator.amazonses.com")
    assert event["eventType"] == "Bounce"
    assert event["bounce"]["bounceType"] == "Permanent"
    assert event["bounce"]["bounceSubType"] == "General"
    assert event["bounce"]["bouncedRecipients"][0]["status"] == "5.1.1"
    mail = event["mail"]
    assert mail["messageId"] == "0102-id"
    assert mail["tags"]["ses:configuration-set"] == ["cs-1"]
    assert mail["tags"]["order"] == ["ORD-1"]
    assert mail["commonHeaders"]["messageId"] == "<sm.orderplaced.ORD-1.abc@shop.example>"
    assert all(not h["name"].upper().startswith("X-SES-") for h in mail["headers"])


def test_each_simulator_outcome() -> None:
    mail = _mail()
    kinds = {
        addr: [e["eventType"] for e in events_for(mail, addr + "@simulator.amazonses.com")]
        for addr in ("success", "ooto", "complaint", "suppressionlist", "bounce")
    }
    assert kinds == {
        "success": ["Delivery"],
        "ooto": ["Delivery"],
        "complaint": ["Delivery", "Complaint"],
        "suppressionlist": ["Bounce"],
        "bounce": ["Bounce"],
    }
    (supp,) = events_for(mail, "suppressionlist@simulator.amazonses.com")
    assert supp["bounce"]["bounceSubType"] == "OnAccountSuppressionList"
    complaint = events_for(mail, "complaint@simulator.amazonses.com")[1]["complaint"]
    assert complaint["complaintFeedbackType"] == "abuse"
    assert complaint["complainedRecipients"] == [
        {"emailAddress": "complaint@simulator.amazonses.com"}
    ]


def test_default_configuration_set_applies_without_header() -> None:
    raw = RAW.replace(b"X-SES-CONFIGURATION-SET: cs-1\r\n", b"")
    assert _mail(raw, default="identity-default").configuration_set == "identity-default"
    assert _mail(raw).configuration_set == ""
