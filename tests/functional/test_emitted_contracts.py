"""Every inbound and feedback detail-type is published by the real services on fakes, and each
published detail matches its schema in ``events/schemas/emitted/`` (schema, declared keys,
camelCase). The fakes' publisher checks every publish of every functional test the same way;
here each detail-type is produced on purpose, so a schema nobody publishes is caught too.
(Outbound events: ``test_outbound_service.py``.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from shopmail.domain.feedback.outcome import FeedbackOutcome, MailFeedback
from shopmail.domain.inbound.routing import Router
from shopmail.domain.inbound.routing.feedback_gate import GatedClassifier

from shopmail_local.contracts.schemas import check_detail
from tests.fixtures.emitted import schemas
from tests.fixtures.feedback_fakes import FeedbackHarness
from tests.fixtures.inbound_fakes import InboundHarness
from tests.fixtures.inbound_feedback import dsn_mail, order_message_id, sent_mail, ses_event
from tests.fixtures.paths import load_event

#: (sample in events/inbound, envelope recipient or None for the sample's own, detail-type)
INBOUND_CASES = [
    ("support", None, "SupportMessageReceived"),
    ("support", "bestellung@shop.example", "OrderInquiryReceived"),
    ("return", None, "ReturnMailReceived"),
    ("support", "rechnung+2026-11@shop.example", "InvoiceMailReceived"),
    ("support", "nobody-here@shop.example", "MessageReceived"),
    ("order_reply", None, "CustomerReplied"),
    ("auto_reply", None, "AutoReplyReceived"),
    ("spam_fail", None, "MessageQuarantined"),
    ("dmarc_fail", None, "MessageQuarantined"),
    ("truncated_headers", None, "SupportMessageReceived"),
]
SES_FEEDBACK = [
    ("feedback/bounce-permanent-eventbridge.json", "EmailBounced"),
    ("feedback/bounce-transient.json", "EmailBounced"),
    ("feedback/complaint-sns-notification.json", "EmailComplained"),
    ("feedback/delivery-delay-eventbridge.json", "EmailDelayed"),
    ("feedback/delivery-eventbridge.json", "EmailDelivered"),
]


def _problems(events: list[tuple[str, dict[str, Any], str]]) -> list[str]:
    out: list[str] = []
    for detail_type, detail, source in events:
        out += check_detail(schemas(), detail_type, detail, source)
    return out


def _readdressed(harness: InboundHarness, sample: str, recipient: str | None) -> dict[str, Any]:
    event = harness.put_sample(sample)
    if recipient is not None:
        ses = event["Records"][0]["ses"]
        ses["receipt"]["recipients"] = [recipient]
        ses["mail"]["destination"] = [recipient]
    return event


@pytest.mark.parametrize(("sample", "recipient", "detail_type"), INBOUND_CASES)
def test_inbound_routes_publish_their_contract(
    inbound_harness: InboundHarness, sample: str, recipient: str | None, detail_type: str
) -> None:
    h = inbound_harness
    h.service.handle_event(_readdressed(h, sample, recipient))
    assert detail_type in h.publisher.types()
    assert {source for _, _, source in h.publisher.events} == {"shopmail.inbound"}
    assert _problems(h.publisher.events) == []
    detail = h.publisher.events[0][1]
    assert detail["version"] == 1
    assert "dmarcPolicy" in detail["verdicts"] and "isList" in detail["flags"]


class _Sink:
    """The inbound ``feedback`` action on the real feedback service (``handle_mail``)."""

    def __init__(self, feedback: FeedbackHarness) -> None:
        self.service = feedback.service()

    def apply(self, feedback: MailFeedback) -> FeedbackOutcome:
        return self.service.handle_mail(feedback)


def _with_feedback(harness: InboundHarness, feedback: FeedbackHarness) -> None:
    gate = GatedClassifier()
    harness.service.router = Router.from_file(None, harness.settings.mail_domain, classify=gate)
    harness.service.ports.feedback = _Sink(feedback)
    harness.service.ports.classify = gate.full


def test_bounce_mail_publishes_mail_feedback_and_feedback_events(
    inbound_harness: InboundHarness, feedback_harness: FeedbackHarness
) -> None:
    _with_feedback(inbound_harness, feedback_harness)
    ours = order_message_id()
    feedback_harness.sent_mail.add(
        sent_mail(
            "0102019abc0002-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee-000000",
            ours,
            "OrderPlaced",
            "ORD-4711",
            "kunde@kunde.example",
            event_id="evt-4711",
        )
    )
    forged = order_message_id("ORD-9999", "OrderPlaced:ORD-9999")
    for mid, quoted in (("ses-dsn-verified", ours), ("ses-dsn-unknown", forged)):
        inbound_harness.store.objects[f"inbound/{mid}"] = dsn_mail(quoted)
        inbound_harness.service.handle_event(ses_event(mid, "", ["bounces@shop.example"]))
    assert inbound_harness.publisher.types() == ["MailFeedbackReceived"] * 2
    published = feedback_harness.publisher.events
    assert [(t, d["channel"]) for t, d, _ in published] == [
        ("EmailBounced", "mail"),
        ("EmailFeedbackUnverified", "mail"),
    ]
    assert published[0][1]["orderId"] == "ORD-4711" and published[0][1]["hard"] is True
    assert _problems(inbound_harness.publisher.events + published) == []


@pytest.mark.parametrize(("sample", "detail_type"), SES_FEEDBACK)
def test_ses_feedback_publishes_its_contract(
    feedback_harness: FeedbackHarness, sample: str, detail_type: str
) -> None:
    body = json.dumps(load_event(sample))
    result = feedback_harness.service().handle_batch([{"messageId": "m1", "body": body}])
    assert result.failures == []
    assert [t for t, _, _ in feedback_harness.publisher.events] == [detail_type]
    assert _problems(feedback_harness.publisher.events) == []


def test_every_inbound_and_feedback_schema_is_produced_here() -> None:
    produced = {t for _, _, t in INBOUND_CASES} | {t for _, t in SES_FEEDBACK}
    produced |= {"MailFeedbackReceived", "EmailFeedbackUnverified"}
    expected = {
        name
        for name, spec in schemas().items()
        if spec.source in ("shopmail.inbound", "shopmail.feedback")
    }
    assert produced == expected
