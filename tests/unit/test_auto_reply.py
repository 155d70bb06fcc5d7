"""The acknowledgement message (RFC 3834 headers, de/en templates)."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from shopmail.domain.inbound.acknowledgement import build_auto_reply, render_body, resolve_template
from shopmail.domain.message import Address, Envelope, InboundMessage
from shopmail.errors import InvalidRecipientError

ENV = Envelope("sesid9", "kim@example.org", ("support@shop.example",))


def _msg(**kw: object) -> InboundMessage:
    base: dict[str, object] = {
        "subject": "Wo ist meine Bestellung?",
        "from_": (Address("Kim", "kim@example.org"),),
        "message_id": "<orig-9@example.org>",
        "references": ("<older@example.org>",),
    }
    base.update(kw)
    return InboundMessage(**base)  # type: ignore[arg-type]


def test_headers() -> None:
    out = build_auto_reply(
        _msg(),
        ENV,
        recipient="support@shop.example",
        mail_domain="shop.example",
        support_address="help@shop.example",
    )
    assert out.recipients == ("kim@example.org",)
    assert out.envelope_from == "support@shop.example"
    parsed = message_from_bytes(out.message, policy=policy.default)
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Auto-Response-Suppress"] == "All"
    assert parsed["In-Reply-To"] == "<orig-9@example.org>"
    assert parsed["References"] == "<older@example.org> <orig-9@example.org>"
    assert parsed["To"].addresses[0].addr_spec == "kim@example.org"
    assert "Re: Wo ist meine Bestellung?" in parsed["Subject"]
    assert parsed["Message-ID"].startswith("<sm.autoreply.sesid9.")


def test_reply_goes_to_envelope_sender_not_from() -> None:
    env = Envelope("sesid9", "bounces+kim@lists.example.org", ("support@shop.example",))
    out = build_auto_reply(
        _msg(),
        env,
        recipient="support@shop.example",
        mail_domain="shop.example",
        support_address="support@shop.example",
    )
    assert out.recipients == ("bounces+kim@lists.example.org",)


def test_foreign_or_tagged_recipient_uses_support_address() -> None:
    out = build_auto_reply(
        _msg(),
        ENV,
        recipient="support+ORD-1@shop.example",
        mail_domain="shop.example",
        support_address="help@shop.example",
    )
    assert out.envelope_from == "help@shop.example"


def test_language_choice() -> None:
    de = build_auto_reply(
        _msg(headers=(("Content-Language", "de-DE"),)),
        ENV,
        recipient="support@shop.example",
        mail_domain="shop.example",
        support_address="support@shop.example",
    )
    body = message_from_bytes(de.message, policy=policy.default).get_content()
    assert "vielen Dank" in body and "thank you" not in body
    both = build_auto_reply(
        _msg(),
        ENV,
        recipient="support@shop.example",
        mail_domain="shop.example",
        support_address="support@shop.example",
    )
    body = message_from_bytes(both.message, policy=policy.default).get_content()
    assert "vielen Dank" in body and "thank you" in body
    en = build_auto_reply(
        _msg(),
        ENV,
        recipient="support@shop.example",
        mail_domain="shop.example",
        support_address="support@shop.example",
        language="en",
        template="returns",
    )
    body = message_from_bytes(en.message, policy=policy.default).get_content()
    assert "your return" in body and "vielen Dank" not in body


def test_templates() -> None:
    assert resolve_template("returns_ack") == "return"
    assert resolve_template(None) == "acknowledgement"
    assert resolve_template("no-such-template") == "acknowledgement"
    subject, body = render_body("support", "de")
    assert subject == "Eingangsbestätigung" and "Kundenservice" in body


def test_empty_envelope_sender_is_refused() -> None:
    with pytest.raises(InvalidRecipientError):
        build_auto_reply(
            _msg(),
            Envelope("x", "", ("support@shop.example",)),
            recipient="support@shop.example",
            mail_domain="shop.example",
            support_address="support@shop.example",
        )


def test_subject_injection_is_cleaned() -> None:
    out = build_auto_reply(
        _msg(subject="x\r\nBcc: a@example.com"),
        ENV,
        recipient="support@shop.example",
        mail_domain="shop.example",
        support_address="support@shop.example",
    )
    parsed = message_from_bytes(out.message, policy=policy.default)
    assert parsed["Bcc"] is None
