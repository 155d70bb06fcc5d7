"""The ``forward`` message: new message from the shop, Reply-To customer, original attached."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from shopmail.domain.inbound.forwarding import build_forward, clean_header_text
from shopmail.domain.message import Address, Envelope, InboundMessage
from shopmail.errors import InvalidRecipientError

RAW = (
    b"From: Kim <kim@example.org>\nTo: support@shop.example\nSubject: Hallo\n"
    b"Message-ID: <orig-1@example.org>\nContent-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe aus Berlin\n"
)
ENV = Envelope("sesid1", "bounce-kim@example.org", ("support@shop.example",))


def _msg(**kw: object) -> InboundMessage:
    base: dict[str, object] = {
        "subject": "Hallo",
        "from_": (Address("Kim Meyer", "kim@example.org"),),
        "message_id": "<orig-1@example.org>",
        "text": "Grüße aus Berlin",
    }
    base.update(kw)
    return InboundMessage(**base)  # type: ignore[arg-type]


def _build(msg: InboundMessage, raw: bytes = RAW, to: list[str] | None = None) -> bytes:
    out = build_forward(
        msg,
        ENV,
        raw,
        from_address="shop@shop.example",
        to=to or ["team@shop.example"],
        route="support",
        mail_domain="shop.example",
    )
    assert out.envelope_from == "shop@shop.example"
    return out.message


def test_structure_and_headers() -> None:
    out = _build(_msg())
    parsed = message_from_bytes(out, policy=policy.default)
    assert parsed["From"].addresses[0].addr_spec == "shop@shop.example"
    assert "Kim Meyer via shop" in str(parsed["From"])
    assert parsed["Reply-To"].addresses[0].addr_spec == "kim@example.org"
    assert parsed["To"].addresses[0].addr_spec == "team@shop.example"
    assert parsed["Subject"] == "Fwd: Hallo"
    assert parsed["Message-ID"].startswith("<sm.forward.sesid1.")
    assert parsed.get_content_type() == "multipart/mixed"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/rfc822"]
    assert parts[1].get_filename() == "original.eml"
    assert "Grüße aus Berlin" in parts[0].get_content()
    inner = parts[1].get_payload()[0]
    assert inner["Message-ID"] == "<orig-1@example.org>"
    assert not parsed.defects


def test_original_is_attached_byte_for_byte_with_crlf() -> None:
    out = _build(_msg())
    assert RAW.replace(b"\n", b"\r\n") in out
    assert b"Content-Transfer-Encoding: 8bit" in out  # the original has 8-bit text
    assert b"\n" not in out.replace(b"\r\n", b"")  # only CRLF line endings


def test_reply_to_prefers_original_reply_to() -> None:
    msg = _msg(reply_to=(Address("Kim privat", "kim.private@example.net"),))
    parsed = message_from_bytes(_build(msg), policy=policy.default)
    assert parsed["Reply-To"].addresses[0].addr_spec == "kim.private@example.net"


def test_no_header_injection_from_subject_or_name() -> None:
    msg = _msg(
        subject="Hi\r\nBcc: victim@example.com",
        from_=(Address("Evil\nBcc: x@example.com", "kim@example.org"),),
    )
    out = _build(msg)
    head = out.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head
    parsed = message_from_bytes(out, policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Fwd: Hi Bcc: victim@example.com"


def test_unusable_customer_address_has_no_reply_to() -> None:
    msg = _msg(from_=(Address("", "not-an-address"),))
    parsed = message_from_bytes(_build(msg), policy=policy.default)
    assert parsed["Reply-To"] is None


def test_long_lines_fall_back_to_base64_octet_stream() -> None:
    raw = b"Subject: x\r\n\r\n" + b"a" * 5000 + b"\r\n"
    out = _build(_msg(), raw=raw)
    parsed = message_from_bytes(out, policy=policy.default)
    att = list(parsed.iter_parts())[1]
    assert att.get_content_type() == "application/octet-stream"
    assert att.get_filename() == "original.eml"
    assert att.get_content() == raw
    assert max(len(line) for line in out.split(b"\r\n")) <= 998


def test_no_usable_target_is_an_error() -> None:
    with pytest.raises(InvalidRecipientError):
        _build(_msg(), to=["not an address"])


def test_clean_header_text() -> None:
    assert clean_header_text("a\r\nb\x00c\u2028d  e") == "a b c d e"
    assert len(clean_header_text("x" * 500, 100)) == 100
