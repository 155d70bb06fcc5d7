"""Loop guard for auto-replies: every RFC 3834 / practice rule refuses, a plain mail passes."""

from __future__ import annotations

import functools

import pytest
from shopmail.domain.inbound.loop_guard import auto_reply_allowed, effective_sender
from shopmail.domain.message import InboundMessage, MessageFlags, Verdicts

from tests.fixtures.inbound_messages import CUSTOMER, DOMAIN, inbound_message

#: A customer's mail to support (keywords: ``headers``, ``sender`` (``None``: no envelope),
#: ``author`` (the From address), ``verdicts``, ``flags``, ``content_type``, ``report_type``).
make = functools.partial(
    inbound_message,
    subject="Hallo",
    author=CUSTOMER,
    recipients=("support@shop.example",),
    envelope_id="id",
)


def test_plain_customer_mail_is_allowed() -> None:
    assert auto_reply_allowed(make(), "kunde@kunde.example", DOMAIN) == (True, "ok")


def test_auto_submitted_no_is_allowed() -> None:
    message = make(headers=(("Auto-Submitted", "no"),))
    assert auto_reply_allowed(message, None, DOMAIN)[0] is True


@pytest.mark.parametrize(
    ("message", "reason_part"),
    [
        (make(headers=(("Auto-Submitted", "auto-replied"),)), "Auto-Submitted"),
        (make(headers=(("Auto-Submitted", "auto-generated"),)), "Auto-Submitted"),
        (make(flags=MessageFlags(auto_submitted=True)), "auto-submitted"),
        (make(headers=(("Precedence", "bulk"),)), "Precedence: bulk"),
        (make(headers=(("Precedence", "List"),)), "Precedence: list"),
        (make(headers=(("Precedence", "junk"),)), "Precedence: junk"),
        (make(headers=(("List-Id", "<news.kunde.example>"),)), "List-Id"),
        (make(headers=(("List-Unsubscribe", "<mailto:u@x>"),)), "List-Unsubscribe"),
        (make(headers=(("List-Post", "<mailto:l@x>"),)), "List-Post"),
        (make(headers=(("X-Autoreply", "yes"),)), "X-Autoreply"),
        (make(headers=(("X-Autorespond", "yes"),)), "X-Autorespond"),
        (make(headers=(("X-Auto-Response-Suppress", "DR, OOF"),)), "X-Auto-Response-Suppress"),
        (make(headers=(("X-Auto-Response-Suppress", "All"),)), "X-Auto-Response-Suppress"),
        (make(flags=MessageFlags(is_dsn=True), report_type="delivery-status"), "report"),
        (make(flags=MessageFlags(is_arf=True)), "report"),
        (make(content_type="multipart/report"), "report"),
        (make(verdicts=Verdicts(spam="FAIL")), "spam"),
        (make(verdicts=Verdicts(virus="FAIL")), "virus"),
        (make(verdicts=Verdicts(dmarc="FAIL", dmarc_policy="none")), "DMARC"),
        (make(verdicts=Verdicts(dmarc="FAIL", dmarc_policy="reject")), "DMARC"),
    ],
)
def test_refusals(message: InboundMessage, reason_part: str) -> None:
    allowed, reason = auto_reply_allowed(message, None, DOMAIN)
    assert allowed is False
    assert reason_part in reason


def test_x_auto_response_suppress_without_autoreply_tokens_is_allowed() -> None:
    message = make(headers=(("X-Auto-Response-Suppress", "DR, RN, NRN"),))
    assert auto_reply_allowed(message, None, DOMAIN)[0] is True


@pytest.mark.parametrize(
    "sender",
    [
        "",
        "<>",
        "MAILER-DAEMON@mx.kunde.example",
        "postmaster@kunde.example",
        "no-reply@kunde.example",
        "noreply@kunde.example",
        "do-not-reply@kunde.example",
        "donotreply@kunde.example",
        "shop-noreply@kunde.example",
        "bounces+123@kunde.example",
    ],
)
def test_system_and_null_envelope_senders_are_refused(sender: str) -> None:
    allowed, reason = auto_reply_allowed(make(sender=sender), sender, DOMAIN)
    assert allowed is False
    assert "sender" in reason
    assert "@" not in reason  # never a full address in a reason


@pytest.mark.parametrize(
    "sender", ["support@shop.example", "x@mail.shop.example", "SHOP@Shop.Example"]
)
def test_own_domain_and_subdomains_are_refused(sender: str) -> None:
    allowed, reason = auto_reply_allowed(make(sender=sender), sender, DOMAIN)
    assert allowed is False
    assert "own domain" in reason


def test_own_domain_in_from_is_refused_even_with_a_foreign_envelope_sender() -> None:
    message = make(author="shop@shop.example")
    assert auto_reply_allowed(message, "bounce-relay@relay.example", DOMAIN)[0] is False


def test_own_domain_in_from_is_refused_for_an_ordinary_envelope_sender() -> None:
    # the envelope sender passes every other rule: only the From check can refuse it
    message = make(author="Shop <shop@Shop.Example>")
    assert auto_reply_allowed(make(), "kim@relay.example", DOMAIN) == (True, "ok")
    allowed, reason = auto_reply_allowed(message, "kim@relay.example", DOMAIN)
    assert allowed is False and reason == "sender is on our own domain (shop.example)"


def test_classifier_kind_refuses() -> None:
    for kind in ("bounce", "complaint", "auto_reply", "delay"):
        assert auto_reply_allowed(make(), None, DOMAIN, kind=kind)[0] is False
    assert auto_reply_allowed(make(), None, DOMAIN, kind="none")[0] is True


def test_effective_sender_resolution() -> None:
    message = make(sender=None, headers=(("Return-Path", "<rp@kunde.example>"),))
    assert effective_sender(message, None) == "rp@kunde.example"
    assert effective_sender(message, "") == ""
    assert effective_sender(make(sender=None), None) == "kunde@kunde.example"
    assert effective_sender(make(sender="env@kunde.example"), None) == "env@kunde.example"


def test_report_check_comes_first_even_for_allowed_looking_bounces() -> None:
    message = make(headers=(("Auto-Submitted", "auto-replied"),), flags=MessageFlags(is_dsn=True))
    allowed, reason = auto_reply_allowed(message, None, DOMAIN)
    assert (allowed, reason.startswith("message is a report")) == (False, True)
