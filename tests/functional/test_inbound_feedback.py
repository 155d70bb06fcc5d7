"""The inbound service with the ``feedback`` route action on in-memory fakes: a DSN reaches the
feedback sink once (also on re-delivery), an out-of-office reply does not, ordinary support
mail never runs the classifier."""

from __future__ import annotations

from typing import Any

from shopmail.domain.feedback.outcome import FeedbackOutcome, MailFeedback, OutcomeStatus
from shopmail.domain.inbound.routing import Router
from shopmail.domain.inbound.routing.feedback_gate import GatedClassifier

from tests.fixtures.inbound_fakes import InboundHarness
from tests.fixtures.inbound_feedback import (
    CountingClassifier,
    dsn_mail,
    order_message_id,
    out_of_office_mail,
    ses_event,
)


class FakeFeedbackSink:
    def __init__(self) -> None:
        self.calls: list[MailFeedback] = []

    def apply(self, feedback: MailFeedback) -> FeedbackOutcome:
        self.calls.append(feedback)
        return FeedbackOutcome(OutcomeStatus.PROCESSED)


def _wire(harness: InboundHarness) -> tuple[FakeFeedbackSink, CountingClassifier]:
    sink, counting = FakeFeedbackSink(), CountingClassifier()
    gate = GatedClassifier(counting)
    harness.service.router = Router.from_file(None, harness.settings.mail_domain, classify=gate)
    harness.service.ports.feedback = sink
    harness.service.ports.classify = gate.full
    return sink, counting


def _deliver(harness: InboundHarness, mid: str, raw: bytes, sender: str, rcpt: str) -> Any:
    harness.store.objects[f"{harness.settings.raw_mail_prefix}{mid}"] = raw
    return ses_event(mid, sender, [rcpt])


def test_dsn_reaches_the_feedback_sink_once(inbound_harness: InboundHarness) -> None:
    sink, counting = _wire(inbound_harness)
    event = _deliver(
        inbound_harness, "ses-dsn-1", dsn_mail(order_message_id()), "", "bounces@shop.example"
    )
    result = inbound_harness.service.handle_event(event).to_dict()
    assert result["actions"] == {"publish": 1, "feedback": 1}
    assert result["dead_lettered"] == 0
    [feedback] = sink.calls
    classification = feedback.classification
    assert classification.kind == "bounce"
    assert [r.address for r in classification.recipients] == ["kunde@kunde.example"]
    assert order_message_id().strip("<>") in (classification.original_message_id or "")
    assert feedback.inbound_message_id == "ses-dsn-1"
    # the ids of our mail the DSN quotes go along for verification
    assert order_message_id() in feedback.references.our_message_ids
    assert counting.calls == 1  # the router's classification was reused by the action
    assert inbound_harness.publisher.types() == ["MailFeedbackReceived"]
    # a re-delivered event runs nothing twice
    again = inbound_harness.service.handle_event(event).to_dict()
    assert again["duplicates"] == 2 and len(sink.calls) == 1


def test_out_of_office_is_informational_only(inbound_harness: InboundHarness) -> None:
    sink, _ = _wire(inbound_harness)
    event = _deliver(
        inbound_harness,
        "ses-ooo-1",
        out_of_office_mail(order_message_id()),
        "kunde@kunde.example",
        "shop@shop.example",
    )
    result = inbound_harness.service.handle_event(event).to_dict()
    assert result["actions"] == {"publish": 1}
    assert inbound_harness.publisher.types() == ["AutoReplyReceived"]
    assert inbound_harness.sender.sent == [] and sink.calls == []


def test_support_mail_never_calls_the_classifier(inbound_harness: InboundHarness) -> None:
    sink, counting = _wire(inbound_harness)
    raw = (
        b"From: Kunde <kunde@kunde.example>\r\nTo: support@shop.example\r\n"
        b"Subject: Frage zu meiner Lieferung\r\nMessage-ID: <q1@kunde.example>\r\n\r\n"
        b"Wann kommt mein Paket?\r\n"
    )
    event = _deliver(inbound_harness, "ses-q-1", raw, "kunde@kunde.example", "support@shop.example")
    result = inbound_harness.service.handle_event(event).to_dict()
    assert result["actions"]["publish"] == 1
    assert inbound_harness.publisher.types() == ["SupportMessageReceived"]
    assert counting.calls == 0 and sink.calls == []


def test_feedback_without_sink_is_dead_lettered(inbound_harness: InboundHarness) -> None:
    _, _ = _wire(inbound_harness)
    inbound_harness.service.ports.feedback = None
    event = _deliver(
        inbound_harness, "ses-dsn-2", dsn_mail(order_message_id()), "", "bounces@shop.example"
    )
    result = inbound_harness.service.handle_event(event).to_dict()
    assert result["actions"] == {"publish": 1}
    assert result["dead_lettered"] == 1
    assert inbound_harness.publisher.types() == ["MailFeedbackReceived"]
