"""Feedback kinds in routing: the gated, cached classifier, the ``feedback`` action in the
default routes, and auto-replies that are neither answered nor treated as customer replies."""

from __future__ import annotations

import pytest
from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.inbound.routing import ACTION_NAMES, Router, parse_routes
from shopmail.domain.inbound.routing.feedback_gate import GatedClassifier, looks_like_feedback
from shopmail.domain.message import Envelope, InboundMessage
from shopmail.errors import RouteConfigError

from tests.fixtures.inbound_feedback import (
    CountingClassifier,
    dsn_mail,
    order_message_id,
    out_of_office_mail,
)

DOMAIN = "shop.example"
CUSTOMER = "kunde@kunde.example"


def _parse(raw: bytes, sender: str, recipient: str) -> InboundMessage:
    return parse_message(raw, Envelope("ses-1", sender, (recipient,)))


def test_feedback_is_a_known_action_without_parameters() -> None:
    assert "feedback" in ACTION_NAMES
    table = parse_routes(
        '[[rules]]\nname = "r"\ncatch_all = true\nactions = [{ type = "feedback" }]\n'
    )
    assert [a.name for a in table.rules[0].actions] == ["feedback"]
    with pytest.raises(RouteConfigError) as info:
        parse_routes(
            '[[rules]]\nname = "r"\ncatch_all = true\n'
            'actions = [{ type = "feedback", detail_type = "X" }]\n'
        )
    assert any("actions[0].detail_type" in e for e in info.value.context["errors"])


def test_dsn_routes_to_reports_with_feedback() -> None:
    counting = CountingClassifier()
    gate = GatedClassifier(counting)
    router = Router.from_file(None, DOMAIN, classify=gate)
    msg = _parse(dsn_mail(order_message_id()), "", f"bounces@{DOMAIN}")
    decision = router.decide(msg, f"bounces@{DOMAIN}")
    assert decision.route == "reports"
    assert decision.action_names == ["publish", "feedback"]
    assert decision.detail_type == "MailFeedbackReceived"
    # the cached classification is what the feedback action gets: no second run
    classification = gate.full(msg)
    assert classification.kind == "bounce"
    assert [r.address for r in classification.recipients] == ["kunde@kunde.example"]
    assert counting.calls == 1


def test_out_of_office_reply_to_order_mail_is_not_a_customer_reply() -> None:
    gate = GatedClassifier(CountingClassifier())
    router = Router.from_file(None, DOMAIN, classify=gate)
    msg = _parse(out_of_office_mail(order_message_id()), "kunde@kunde.example", f"shop@{DOMAIN}")
    assert gate(msg) == "auto_reply"
    decision = router.decide(msg, f"shop@{DOMAIN}")
    assert decision.route == "auto-replies"
    assert decision.detail_type == "AutoReplyReceived"
    assert "auto_reply" not in decision.action_names
    assert "feedback" not in decision.action_names
    # the same mail without the classifier (flags only) routes the same way
    plain = Router.from_file(None, DOMAIN).decide(msg, f"shop@{DOMAIN}")
    assert plain.route == "auto-replies"


def test_out_of_office_to_support_is_never_auto_replied() -> None:
    router = Router.from_file(None, DOMAIN, classify=GatedClassifier())
    msg = _parse(out_of_office_mail("<x@kunde.example>"), "kunde@kunde.example", "x")
    decision = router.decide(msg, f"support@{DOMAIN}")
    assert decision.route == "auto-replies"
    assert "auto_reply" not in decision.action_names


def test_ordinary_mail_never_runs_the_classifier() -> None:
    counting = CountingClassifier()
    gate = GatedClassifier(counting)
    router = Router.from_file(None, DOMAIN, classify=gate)
    raw = (
        b"From: Kunde <kunde@kunde.example>\r\nTo: support@shop.example\r\n"
        b"Subject: Frage zu meiner Lieferung\r\nMessage-ID: <q1@kunde.example>\r\n\r\n"
        b"Wann kommt mein Paket?\r\n"
    )
    msg = _parse(raw, "kunde@kunde.example", f"support@{DOMAIN}")
    assert not looks_like_feedback(msg)
    decisions = router.decide_all(msg, [f"support@{DOMAIN}", f"help@{DOMAIN}"])
    assert [d.route for d in decisions] == ["support", "support"]
    assert "auto_reply" in decisions[0].action_names
    assert counting.calls == 0


def test_gate_caches_per_message() -> None:
    counting = CountingClassifier()
    gate = GatedClassifier(counting)
    one = _parse(dsn_mail(order_message_id()), "", f"bounces@{DOMAIN}")
    two = _parse(dsn_mail(order_message_id()), "", f"bounces@{DOMAIN}")
    assert gate(one) == gate(one) == "bounce"
    assert counting.calls == 1
    assert gate(two) == "bounce"
    assert counting.calls == 2


@pytest.mark.parametrize(
    ("sender", "subject", "headers", "expected"),
    [
        pytest.param("", "Hallo", "", True, id="null-sender"),
        pytest.param("MAILER-DAEMON@mx.example", "Hallo", "", True, id="mailer-daemon"),
        pytest.param(CUSTOMER, "Undeliverable: Ihre Bestellung", "", True, id="bounce-subject"),
        pytest.param(CUSTOMER, "Out of Office: Ihre Bestellung", "", True, id="ooo-subject"),
        pytest.param(CUSTOMER, "Hallo", "X-Autoreply: yes\r\n", True, id="autoreply-header"),
        pytest.param(CUSTOMER, "Frage zur Rechnung", "", False, id="a-customer-question"),
    ],
)
def test_gate_signals(sender: str, subject: str, headers: str, expected: bool) -> None:
    raw = (
        f"From: kunde@kunde.example\r\nTo: a@shop.example\r\nSubject: {subject}\r\n{headers}\r\n"
        "Text\r\n"
    ).encode()
    assert looks_like_feedback(_parse(raw, sender, f"a@{DOMAIN}")) is expected
