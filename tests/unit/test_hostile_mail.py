"""Never crash on hostile mail: what the inbound fuzzer found, one regression test each.

* lone surrogates (from ``utf-7``, ``unicode-escape``, ... text) reached the event detail and
  failed when it was sized (``UnicodeEncodeError``);
* lone surrogates and broken encoded words reached the forward's headers;
* malformed addresses reached the standard library's header builder (``HeaderParseError``,
  ``AttributeError``) in the forward and the auto-reply.
"""

from __future__ import annotations

import json
import re
from email import message_from_bytes, policy

import pytest
from shopmail.domain.inbound import events as inbound_events
from shopmail.domain.inbound.acknowledgement import build_auto_reply
from shopmail.domain.inbound.built_headers import header_address
from shopmail.domain.inbound.forwarding import OutgoingMail, build_forward
from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.message import Envelope, InboundMessage
from shopmail.errors import InvalidRecipientError

DOMAIN = "shop.example"
ENV = Envelope("sesid1", "kim@kunde.example", (f"support@{DOMAIN}",))
SURROGATE = re.compile("[\ud800-\udfff]")


def _raw(*headers: str, body: bytes = b"Hallo\r\n", charset: str = "utf-8") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (
        head.encode("utf-8", "surrogateescape")
        + f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n\r\n".encode()
        + body
    )


def _forward_mail(message: InboundMessage, raw: bytes) -> OutgoingMail:
    return build_forward(
        message,
        ENV,
        raw,
        from_address=f"shop@{DOMAIN}",
        to=["team@partner.example"],
        route="support",
        mail_domain=DOMAIN,
    )


def _forward(message: InboundMessage, raw: bytes) -> bytes:
    return _forward_mail(message, raw).message


def _auto_reply(message: InboundMessage, envelope: Envelope = ENV) -> OutgoingMail:
    here = f"support@{DOMAIN}"
    return build_auto_reply(
        message, envelope, recipient=here, mail_domain=DOMAIN, support_address=here
    )


def _texts(message: InboundMessage) -> list[str]:
    out = [message.subject, message.text, message.html or "", message.message_id or ""]
    out += [v for pair in message.headers for v in pair]
    for a in (*message.from_, *message.to, *message.reply_to, *message.sender, *message.cc):
        out += [a.name, a.address]
    out += [x for a in message.attachments for x in (a.filename, a.original_filename or "")]
    return out


def _assert_header_block_safe(data: bytes) -> None:
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", head) is None
    assert re.search(rb"^bcc:", head, re.IGNORECASE | re.MULTILINE) is None
    assert len(re.findall(rb"^from:", head, re.IGNORECASE | re.MULTILINE)) == 1


# --- every text leaving the parser is valid Unicode -----------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            _raw(
                "From: kim@kunde.example",
                "Subject: x",
                charset="raw-unicode-escape",
                body=b"\\ud83d",
            ),
            "text",
        ),
        (_raw("From: kim@kunde.example", "Subject: =?unicode-escape?q?\\ud800?= ORD-1"), "subject"),
        (_raw("From: =?raw-unicode-escape?q?\\udfff?= <kim@kunde.example>", "Subject: x"), "name"),
        (
            _raw(
                "From: kim@kunde.example", "Subject: x", charset="unicode-escape", body=b"\\ud800"
            ),
            "text",
        ),
    ],
)
def test_lone_surrogates_are_replaced_and_recorded(raw: bytes, field: str) -> None:
    message = parse_message(raw)
    assert not any(SURROGATE.search(t) for t in _texts(message))
    assert "\ufffd" in " ".join(_texts(message))
    assert any(d.startswith("SurrogatesReplaced") for d in message.defects), message.defects


def test_surrogate_text_no_longer_breaks_sizing_the_event_detail() -> None:
    raw = _raw("From: kim@kunde.example", "Subject: x", charset="unicode-escape", body=b"\\ud800")
    message = parse_message(raw)
    detail = inbound_events.build_detail(
        message, ENV, recipient=f"support@{DOMAIN}", route="support", text=message.text
    )
    detail = inbound_events.fit_detail(detail, "SupportMessageReceived")
    assert inbound_events.entry_size(detail, "SupportMessageReceived") > 0
    json.dumps(detail, ensure_ascii=False).encode("utf-8")


def test_a_header_value_holding_escaped_8bit_and_lone_surrogates_decodes() -> None:
    from shopmail.domain.inbound.parsing.headers import decode_words

    assert decode_words("a\udcff b\ud800 c") == "a\ufffd b\ufffd c"
    assert decode_words("K\udcc3\udca4m") == "Käm"


# --- every header we build survives what the parser produced --------------------------------


def test_a_forward_of_a_name_decoding_to_surrogates_builds() -> None:
    raw = _raw(
        "From: =?unicode-escape?q?\\ud800?= <kim@kunde.example>",
        "Subject: =?unicode-escape?q?\\udbff?=",
    )
    out = _forward(parse_message(raw), raw)
    _assert_header_block_safe(out)
    parsed = message_from_bytes(out, policy=policy.default)
    assert parsed["Reply-To"].addresses[0].addr_spec == "kim@kunde.example"


def test_a_broken_encoded_word_in_an_odd_charset_survives_the_forward_subject() -> None:
    # found by the fuzzer (seed 2, case 2642): the stdlib re-encodes the token in its charset
    subject = "=?ISO-2022-JP?B?GyRCRnxLXDhsJWEhPCVrJUYlOSVIGyhCI@h0ZXN0aW5nIEph?= panese"
    raw = _raw("From: Kim <kim@kunde.example>", f"Subject: {subject}")
    out = _forward(parse_message(raw), raw)
    _assert_header_block_safe(out)
    parsed = message_from_bytes(out, policy=policy.default)
    assert parsed["Subject"].startswith("Fwd: ")
    assert "panese" in parsed["Subject"]


def test_an_encoded_word_lookalike_in_a_subject_is_not_decoded_again_in_the_forward() -> None:
    # found by the fuzzer (seed 1, case 63352): the stdlib re-parsed our own encoded subject,
    # decoded the customer's lookalike inside it into undecodable bytes and could not fold it
    lookalike = "=?UTF-8?B?0J/QvtC3 L3QsNC60L7QvNGM0YLQtdGB0Ywg0YEg0L/RgNC+0LXQutGC0LA=?="
    subject = f"Mail.Ru – больше. {lookalike} Group"
    raw = _raw("From: Kim <kim@kunde.example>", f"Subject: {subject}")
    message = parse_message(raw)
    out = _forward(message, raw)
    _assert_header_block_safe(out)
    parsed = message_from_bytes(out, policy=policy.default)
    assert parsed["Subject"] == f"Fwd: {message.subject}"
    assert SURROGATE.search(parsed["Subject"]) is None


def test_an_encoded_word_holding_non_ascii_text_is_recorded_not_crashed() -> None:
    # found by the fuzzer (seed 1, case 83892): a word of 8-bit text inside =?..?=
    from shopmail.domain.inbound.parsing.headers import decode_words

    defects: list[str] = []
    text = decode_words("=?utf-8?q?Gr�=C3=BC?= Kim", defects)
    assert "Kim" in text and SURROGATE.search(text) is None
    assert "NonAsciiEncodedWord" in defects


@pytest.mark.parametrize(
    "reply_to",
    [
        "Kim <@kunde.example>",  # HeaderParseError in the stdlib Address
        "Kim <kim@.kunde.example>",  # HeaderParseError
        "Kim <kim@kunde..example>",  # HeaderParseError
        "Kim <kim@[1.2.3>",  # AttributeError
        '"Kim\r\n Bcc: victim@example.com" <kim@kunde.example>',  # CR/LF in the name
        "=?utf-8?q?Kim=0D=0ABcc:_victim@example.com?= <kim@kunde.example>",
        "Kim <k\xe4m@kunde.example>",  # a non-ASCII local part
    ],
)
def test_malformed_addresses_are_left_out_of_the_forward(reply_to: str) -> None:
    raw = _raw(f"Reply-To: {reply_to}", "From: x", "Subject: Hallo")
    message = parse_message(raw)
    mail = _forward_mail(message, raw)
    _assert_header_block_safe(mail.message)
    parsed = message_from_bytes(mail.message, policy=policy.default)
    assert parsed["X-Shopmail-Hops"] == "1"
    if parsed["Reply-To"] is not None:  # only an address the stdlib could write
        assert header_address(parsed["Reply-To"].addresses[0].addr_spec) is not None


def test_a_reply_to_the_stdlib_cannot_write_is_left_out_with_a_note() -> None:
    raw = _raw("Reply-To: Kim <kim@.kunde.example>", "From: x", "Subject: Hallo")
    message = parse_message(raw)
    assert message.reply_to[0].address == "kim@.kunde.example"
    mail = _forward_mail(message, raw)
    assert b"Reply-To:" not in mail.message.split(b"\r\n\r\n", 1)[0]
    assert mail.notes == ("Reply-To: the customer's address cannot be written; left out",)


@pytest.mark.parametrize(
    "address", ["@kunde.example", "kim@.kunde.example", "kim@[1.2.3", "kim@kunde..example"]
)
def test_header_address_refuses_what_the_stdlib_cannot_write(address: str) -> None:
    assert header_address(address, "Kim") is None


def test_an_encoded_word_lookalike_in_a_display_name_is_dropped_not_crashed() -> None:
    # found by the fuzzer (seed 1): the stdlib re-encodes the ISO-2022-JP token and fails
    name = "=?ISO-2022-JP?B?GyRCRnxLXDhsJWEhPCVrJUYlOSVIGyhCI@h0ZXN0aW5nIEph?= panese"
    kept = header_address("kim@kunde.example", name)
    assert kept is not None and kept.addr_spec == "kim@kunde.example"
    raw = _raw(f"From: {name} <kim@kunde.example>", "Subject: Hallo")
    _assert_header_block_safe(_forward(parse_message(raw), raw))


def test_header_address_drops_only_a_name_it_cannot_write() -> None:
    kept = header_address("kim@kunde.example", "Kim\r\nBcc: x@y.example")
    assert kept is not None and kept.addr_spec == "kim@kunde.example"
    assert "\n" not in kept.display_name and "\r" not in kept.display_name


@pytest.mark.parametrize("sender", ["@kunde.example", "kim@.kunde.example", "kim@[1.2.3"])
def test_an_auto_reply_to_a_malformed_sender_is_refused_not_crashed(sender: str) -> None:
    message = parse_message(_raw("From: x@kunde.example", "Subject: Hallo"))
    with pytest.raises(InvalidRecipientError):
        _auto_reply(message, Envelope("sesid1", sender, (f"support@{DOMAIN}",)))


def test_an_auto_reply_drops_ids_it_cannot_repeat_and_keeps_headers_safe() -> None:
    raw = _raw(
        "From: =?unicode-escape?q?\\ud800?= <kim@kunde.example>",
        "Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsJWEhPCVrJUYlOSVIGyhCI@h0ZXN0aW5nIEph?=",
        "Message-ID: <\xff\xfe@Kunde.Example>",
        "References: <ok-1@kunde.example> <bad id@x>",
    )
    message = parse_message(raw)
    mail = _auto_reply(message)
    _assert_header_block_safe(mail.message)
    parsed = message_from_bytes(mail.message, policy=policy.default)
    assert parsed["In-Reply-To"] is None  # the original id is not plain ASCII
