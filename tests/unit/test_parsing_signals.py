"""The automatic-mail knowledge base (domain.inbound.parsing.signals) and its users agree."""

from __future__ import annotations

import pytest
from shopmail.domain.inbound.loop_guard import auto_reply_allowed
from shopmail.domain.inbound.parsing import parse_message, signals
from shopmail.domain.inbound.routing.feedback_gate import looks_like_feedback
from shopmail.domain.message import Address, Envelope, InboundMessage


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("", False),
        ("no", False),
        ("No", False),
        ("no (a person wrote this)", False),
        ("no; reason=none", False),
        ("auto-replied", True),
        ("Auto-Generated", True),
        ("auto-replied; owner-email=x@example.org", True),
        ("(vacation) auto-replied", True),
        ("auto-notified", True),  # an extension keyword (RFC 3834 5): still automatic
    ],
)
def test_auto_submitted(value: str | None, expected: bool) -> None:
    assert signals.is_auto_submitted(value) is expected


def test_auto_submitted_keyword() -> None:
    assert signals.auto_submitted_keyword(" Auto-Replied ; x=1") == "auto-replied"
    assert signals.auto_submitted_keyword(None) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [("<>", True), ("", True), (" < > ", True), (None, False), ("<a@b.c>", False)],
)
def test_null_sender(value: str | None, expected: bool) -> None:
    assert signals.is_null_sender(value) is expected


@pytest.mark.parametrize(
    ("local", "daemon", "system"),
    [
        ("MAILER-DAEMON", True, True),
        ("postmaster", True, True),
        ("mail-daemon", True, False),
        ("noreply", False, True),
        ("shop-no-reply", False, True),
        ("bounces+123", False, True),
        ("kunde", False, False),
    ],
)
def test_local_parts(local: str, daemon: bool, system: bool) -> None:
    assert signals.is_daemon_local_part(local) is daemon
    assert signals.is_system_local_part(local) is system


def test_bounce_local_part_and_daemon_sender() -> None:
    assert signals.is_bounce_local_part("news-return-12-x")
    assert not signals.is_bounce_local_part("returnsdesk")
    assert signals.looks_like_daemon("Mail Delivery Subsystem <mailer-daemon@example.org>")
    assert not signals.looks_like_daemon("Kunde <kunde@example.org>")


def test_precedence_and_suppress() -> None:
    assert signals.is_bulk_precedence(" List ")
    assert not signals.is_bulk_precedence("first-class")
    assert signals.is_auto_reply_precedence("auto_reply")
    assert signals.suppresses_auto_reply("DR, OOF")
    assert not signals.suppresses_auto_reply("DR, RN, NRN")
    assert not signals.suppresses_auto_reply("Callback")  # a token, not a substring


@pytest.mark.parametrize("header", signals.AUTO_REPLY_HEADERS)
def test_every_auto_reply_header_is_known_to_flags_loop_guard_and_gate(header: str) -> None:
    raw = (
        "From: kunde@kunde.example\r\nTo: a@shop.example\r\nSubject: Hallo\r\n"
        f"{header}: yes\r\n\r\nText\r\n"
    )
    message = parse_message(raw.encode(), Envelope("m", "kunde@kunde.example", ("a@shop.example",)))
    assert message.flags.auto_submitted
    assert auto_reply_allowed(message, None, "shop.example")[0] is False
    assert looks_like_feedback(message)


def test_loop_guard_follows_rfc_3834_for_auto_submitted_no() -> None:
    message = InboundMessage(
        subject="Hallo",
        from_=(Address("Kunde", "kunde@kunde.example"),),
        headers=(("From", "kunde@kunde.example"), ("Auto-Submitted", "no (written by hand)")),
        envelope=Envelope("m", "kunde@kunde.example", ("a@shop.example",)),
    )
    assert auto_reply_allowed(message, None, "shop.example") == (True, "ok")
