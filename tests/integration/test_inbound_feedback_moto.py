"""A DSN mail through the inbound handler on the real moto server: the ``feedback`` route action
ends as a suppression entry and an ``EmailBounced`` event with the order id (matched through
the returned shopmail Message-ID) when it quotes a mail we sent to that recipient, and as an
``EmailFeedbackUnverified`` event that suppresses nobody when it does not."""

from __future__ import annotations

from shopmail.adapters.dynamodb_sent_mail import DynamoDbSentMailStore
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList

from tests.fixtures.inbound_feedback import (
    FeedbackInboundStack,
    dsn_mail,
    order_message_id,
    out_of_office_mail,
    sent_mail,
    ses_event,
)

CUSTOMER = "kunde@kunde.example"


def test_dsn_mail_ends_as_suppression_and_email_bounced(
    inbound_feedback_stack: FeedbackInboundStack,
) -> None:
    stack = inbound_feedback_stack
    base = stack.base
    mid = order_message_id("ORD-4711", f"OrderPlaced:ORD-4711:{CUSTOMER}")
    DynamoDbSentMailStore(base.client("dynamodb"), "shopmail-sent-mail").put(
        sent_mail("0102-4711", mid, "OrderPlaced", "ORD-4711", CUSTOMER)
    )
    stack.put_raw("ses-dsn-4711", dsn_mail(mid, CUSTOMER))
    event = ses_event("ses-dsn-4711", "", ["bounces@shop.example"])

    result = base.handle(event)
    assert result["actions"] == {"publish": 1, "feedback": 1}, result
    assert result["dead_lettered"] == 0

    entry = DynamoDbSuppressionList(base.client("dynamodb"), "shopmail-suppression").get(CUSTOMER)
    assert entry is not None and entry.suppression_class == "hard_bounce"
    assert entry.source == "mail-feedback"

    [bounced] = base.drain(stack.feedback_url)
    assert bounced["detail-type"] == "EmailBounced"
    assert bounced["source"] == "shopmail.feedback"
    detail = bounced["detail"]
    assert detail["orderId"] == "ORD-4711"
    assert detail["emailType"] == "OrderPlaced"
    assert detail["suppressed"] is True and detail["channel"] == "mail"
    assert detail["verified"] is True and detail["sesMessageId"] == "0102-4711"
    inbound = base.drain(base.observed_url)
    assert [e["detail-type"] for e in inbound] == ["MailFeedbackReceived"]

    # SES re-delivers the event: nothing is applied or published twice
    again = base.handle(event)
    assert again["duplicates"] == 2, again
    assert base.drain(stack.feedback_url) == [] and base.drain(base.observed_url) == []


def test_out_of_office_reply_publishes_only_auto_reply_received(
    inbound_feedback_stack: FeedbackInboundStack,
) -> None:
    stack = inbound_feedback_stack
    base = stack.base
    stack.put_raw("ses-ooo-4711", out_of_office_mail(order_message_id(), CUSTOMER))
    result = base.handle(ses_event("ses-ooo-4711", CUSTOMER, ["support@shop.example"]))
    assert result["actions"] == {"publish": 1}, result
    assert [e["detail-type"] for e in base.drain(base.observed_url)] == ["AutoReplyReceived"]
    assert base.drain(stack.feedback_url) == []
    assert base.sender.sent == []
    table = DynamoDbSuppressionList(base.client("dynamodb"), "shopmail-suppression")
    assert table.get(CUSTOMER) is None


def test_forged_dsn_suppresses_nobody(inbound_feedback_stack: FeedbackInboundStack) -> None:
    """The same DSN, quoting a Message-ID of our form for a mail we never sent."""
    stack = inbound_feedback_stack
    base = stack.base
    mid = order_message_id("ORD-4711", f"OrderPlaced:ORD-4711:{CUSTOMER}")
    stack.put_raw("ses-forged-4711", dsn_mail(mid, CUSTOMER))
    result = base.handle(ses_event("ses-forged-4711", "", ["bounces@shop.example"]))
    assert result["actions"] == {"publish": 1, "feedback": 1}, result
    assert result["feedback_unverified"] == {"unknown_mail": 1}
    table = DynamoDbSuppressionList(base.client("dynamodb"), "shopmail-suppression")
    assert table.get(CUSTOMER) is None
    [event] = base.drain(stack.feedback_url)
    assert event["detail-type"] == "EmailFeedbackUnverified"
    assert event["detail"]["reason"] == "unknown_mail"
    assert event["detail"]["inboundMessageId"] == "ses-forged-4711"
