"""The outbound MIME message: headers, encodings, limits, streams, header injection, round trip."""

from __future__ import annotations

import copy
import dataclasses
import email
import json
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from types import MappingProxyType
from typing import Any

import pytest
from shopmail.config import Settings
from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.outbound.contracts import ShopEvent, idempotency_key, validate, with_locale
from shopmail.domain.outbound.message_ids import find_message_refs, parse_message_id
from shopmail.domain.outbound.mime_build import (
    OPTIONAL_SINGLE_HEADERS,
    SINGLE_HEADERS,
    Attachment,
    BuiltMessage,
    build_message,
    clean_header_text,
    tag_value,
)
from shopmail.domain.outbound.rendering import render
from shopmail.errors import ConfigurationError, InvalidEventError

from tests.fixtures.paths import EVENTS

SETTINGS = Settings(mail_domain="shop.example", configuration_set="shopmail-events")
DATE = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
SAMPLES = sorted((EVENTS / "outbound").glob("*.json"))
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
ALLOWED_HEADERS = {h.lower() for h in SINGLE_HEADERS + OPTIONAL_SINGLE_HEADERS}
HOSTILE = [
    "Evil\r\nBcc: victim@example.org",
    "Evil\nX-Injected: yes",
    "Evil\rX-Injected: yes",
    "Evil\r\n\r\n<html>body injection</html>",
    "Evil\x00\x0b\x0c\x1b[31m",
    "Evil\u2028X-Injected: yes\u2029",
    "Evil\x85X-Injected: yes",
    "Ünïcödé \r\n Bcc: victim@example.org " + "x" * 300,
]


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / "outbound" / f"{name}.json").read_text(encoding="utf-8"))


def build(ev: ShopEvent, settings: Settings = SETTINGS, **kw: Any) -> BuiltMessage:
    mail = render(ev, settings)
    if mail.attachments_refs and "attachments" not in kw:
        kw["attachments"] = [Attachment(r.filename, PDF) for r in mail.attachments_refs]
    return build_message(ev, mail, settings, date=DATE, **kw)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def assert_well_formed(raw: bytes) -> EmailMessage:
    """7-bit, CRLF, short lines, only our headers, each once, no defects."""
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    msg = parse(raw)
    names = [k.lower() for k in msg]
    assert set(names) <= ALLOWED_HEADERS, set(names) - ALLOWED_HEADERS
    for name in SINGLE_HEADERS:
        assert names.count(name.lower()) == 1, name
    for name in OPTIONAL_SINGLE_HEADERS:
        assert names.count(name.lower()) <= 1, name
    for part in msg.walk():
        assert not part.defects, part.defects
        for key in part:
            assert key.lower() not in {"bcc", "cc", "x-injected"}
        if part is not msg:
            assert {k.lower() for k in part} <= {
                "content-type", "content-transfer-encoding", "content-disposition",
            }  # fmt: skip
    return msg


# --- headers ---------------------------------------------------------------------------


def test_transactional_headers() -> None:
    ev = validate(sample("OrderPlaced"))
    built = build(ev)
    msg = assert_well_formed(built.raw)
    assert msg["From"] == "shop@shop.example"
    assert msg["To"].addresses[0].addr_spec == "juergen.mueller@example.com"
    assert msg["To"].addresses[0].display_name == "Jürgen Müller"
    assert msg["Reply-To"] == "support@shop.example"
    assert msg["Subject"] == "Ihre Bestellung 100234 ist eingegangen"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-SES-CONFIGURATION-SET"] == "shopmail-events"
    assert msg["X-SES-MESSAGE-TAGS"] == (
        "type=OrderPlaced, class=transactional, order=ORD-100234, "
        "event=005e0000-0000-0040-0080-000000000003"  # complete tags: feedback needs no lookup
    )
    assert msg["List-Unsubscribe"] is None and msg["List-Unsubscribe-Post"] is None
    assert msg["Message-ID"] == built.message_id
    assert msg["References"] == built.message_id
    assert msg["X-Shopmail-Id"] == built.message_id
    assert msg.get_content_type() == "multipart/alternative"
    assert built.envelope_from == "shop@shop.example"
    assert built.recipients == ("juergen.mueller@example.com",)
    assert built.idempotency_key == idempotency_key(ev)


def test_message_id_is_deterministic_and_names_the_order() -> None:
    ev = validate(sample("OrderShipped"))
    first, second = build(ev), build(ev)
    assert first.raw == second.raw  # same event, same date: same bytes (boundaries too)
    ref = parse_message_id(first.message_id, "shop.example")
    assert ref is not None
    assert (ref.kind, ref.aggregate_id) == ("ordershipped", "ORD-100234")
    other = copy.deepcopy(sample("OrderShipped"))
    other["detail"]["shipment"]["id"] = "SHP-2"
    assert build(validate(other)).message_id != first.message_id


def test_message_id_digest_is_keyed_with_the_stack_key() -> None:
    ev = validate(sample("OrderShipped"))
    keyed = dataclasses.replace(SETTINGS, message_id_key="stack-key")
    first, second = build(ev), build(ev, keyed)
    assert first.message_id != second.message_id
    assert first.message_id.split(".")[:3] == second.message_id.split(".")[:3]  # kind, order
    assert second.message_id.encode() in second.raw


def test_no_configuration_set_header_when_not_configured() -> None:
    built = build(validate(sample("OrderPlaced")), Settings(mail_domain="shop.example"))
    assert parse(built.raw)["X-SES-CONFIGURATION-SET"] is None


def test_marketing_uses_marketing_sender_and_one_click_unsubscribe() -> None:
    built = build(validate(sample("CheckoutAbandoned")))
    msg = assert_well_formed(built.raw)
    assert msg["From"] == "news@shop.example"
    assert built.envelope_from == "news@shop.example"
    assert msg["List-Unsubscribe"] == ("<https://shop.example/newsletter/unsubscribe?token=u-8812>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "class=marketing" in msg["X-SES-MESSAGE-TAGS"]


def test_generic_marketing_request_gets_unsubscribe_too() -> None:
    raw = sample("SendEmailRequested")
    raw["detail"]["emailClass"] = "marketing"
    raw["detail"]["unsubscribeUrl"] = "https://shop.example/u?t=9"
    msg = parse(build(validate(raw)).raw)
    assert msg["List-Unsubscribe"] == "<https://shop.example/u?t=9>"
    assert msg["From"] == "news@shop.example"


def test_senders_with_display_names_are_used() -> None:
    settings = dataclasses.replace(SETTINGS, transactional_from="Schöner Shop <shop@shop.example>")
    msg = parse(build(validate(sample("OrderPlaced")), settings).raw)
    assert msg["From"].addresses[0].display_name == "Schöner Shop"
    assert "=?utf-8?" in build(validate(sample("OrderPlaced")), settings).raw.decode()


def test_non_ascii_subject_is_rfc2047_encoded() -> None:
    built = build(validate(sample("PasswordResetRequested")))
    head = built.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    (subject_line,) = [line for line in head.split("\r\n") if line.startswith("Subject:")]
    assert "=?utf-8?q?" in subject_line
    assert parse(built.raw)["Subject"] == "Ihr Link zum Zurücksetzen des Passworts"


def test_long_html_lines_are_encoded() -> None:
    ev = validate(sample("OrderPlaced"))
    mail = render(ev, SETTINGS)
    long_html = mail.html.replace("\n", "")  # a minified HTML: one line of several KB
    assert len(long_html) > 998
    built = build_message(ev, dataclasses.replace(mail, html=long_html), SETTINGS, date=DATE)
    msg = assert_well_formed(built.raw)
    html_part = msg.get_body(("html",))
    assert html_part is not None
    assert html_part["Content-Transfer-Encoding"] in {"quoted-printable", "base64"}
    assert html_part.get_content().rstrip("\r\n") == long_html


def test_invoice_has_pdf_attachment() -> None:
    built = build(validate(sample("InvoiceIssued")))
    msg = assert_well_formed(built.raw)
    assert msg.get_content_type() == "multipart/mixed"
    (att,) = list(msg.iter_attachments())
    assert att.get_content_type() == "application/pdf"
    assert att.get_filename() == "Rechnung RE-2026-000451.pdf"
    assert att.get_content() == PDF
    assert att["Content-Transfer-Encoding"] == "base64"


@pytest.mark.parametrize("locale", ["de", "en"])
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_builds_well_formed(path: Any, locale: str) -> None:
    ev = with_locale(validate(json.loads(path.read_text(encoding="utf-8"))), locale)
    assert_well_formed(build(ev).raw)


def test_tags_and_cleaning_helpers() -> None:
    assert tag_value("ORD 1/ä\r\n") == "ORD_1____"
    assert tag_value("") == "_"
    assert clean_header_text("a\r\n\tb\x00c\u2028d") == "a b c d"
    assert len(clean_header_text("x" * 500, 200)) == 200


def test_unsafe_settings_are_configuration_errors() -> None:
    ev = validate(sample("OrderPlaced"))
    for field, value in [
        ("transactional_from", "shop@shop.example\r\nBcc: x@evil.example"),
        ("transactional_from", "not an address"),
        ("support_address", "süpport@shop.example"),
        ("configuration_set", "set\r\nX-Injected: 1"),
    ]:
        with pytest.raises(ConfigurationError):
            build(ev, dataclasses.replace(SETTINGS, **{field: value}))


# --- header injection ------------------------------------------------------------------


def hostile_event(name: str, value: str, **fields: Any) -> ShopEvent:
    """A validated sample with ``value`` forced into fields (bypassing the schema)."""
    ev = validate(sample(name))
    return dataclasses.replace(ev, **{k: (value if v is None else v) for k, v in fields.items()})


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_recipient_name(value: str) -> None:
    ev = hostile_event("OrderPlaced", value, recipient_name=None)
    msg = assert_well_formed(build(ev).raw)
    (addr,) = msg["To"].addresses
    assert addr.addr_spec == "juergen.mueller@example.com"
    assert "\n" not in addr.display_name and "\r" not in addr.display_name


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_order_id_and_number(value: str) -> None:
    ev = validate(sample("OrderShipped"))
    data = copy.deepcopy(dict(ev.data))
    data["order"] = {**data["order"], "id": value, "number": value}
    ev = dataclasses.replace(ev, aggregate_id=value, data=MappingProxyType(data))
    built = build(ev)
    msg = assert_well_formed(built.raw)
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    tags = msg["X-SES-MESSAGE-TAGS"]
    assert tags.startswith("type=OrderShipped, class=transactional, order=")
    assert set(tags.replace(", ", ",").replace("=", "")) <= set(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-,"
    )
    for header in ("Message-ID", "References", "X-Shopmail-Id"):
        assert msg[header] == built.message_id  # one line, not RFC 2047-encoded
        ref = parse_message_id(msg[header])
        assert ref is not None and ref.aggregate_id == value  # encoded, read back intact


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_subject_from_generic_request(value: str) -> None:
    raw = sample("SendEmailRequested")
    raw["detail"]["data"]["subject"] = value[:200]
    raw["detail"]["data"]["heading"] = value[:200]
    raw["detail"]["reference"] = "T-1"
    msg = assert_well_formed(build(validate(raw)).raw)
    assert "Bcc" not in msg or msg["Bcc"] is None
    assert "\n" not in msg["Subject"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_rendered_subject_is_cleaned_by_the_builder(value: str) -> None:
    ev = validate(sample("OrderPlaced"))
    mail = dataclasses.replace(render(ev, SETTINGS), subject=value)
    msg = assert_well_formed(build_message(ev, mail, SETTINGS, date=DATE).raw)
    assert msg["Subject"] == clean_header_text(value, 250)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_customer_name_only_reaches_the_body(value: str) -> None:
    ev = validate(sample("OrderPlaced"))
    data = copy.deepcopy(dict(ev.data))
    data["customer"] = {**data["customer"], "firstName": value}
    built = build(dataclasses.replace(ev, data=MappingProxyType(data)))
    assert_well_formed(built.raw)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_attachment_filename(value: str) -> None:
    ev = validate(sample("InvoiceIssued"))
    built = build(ev, attachments=[Attachment(value + ".pdf", PDF)])
    msg = assert_well_formed(built.raw)
    (att,) = list(msg.iter_attachments())
    assert "\n" not in att.get_filename() and "\r" not in att.get_filename()


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/u?t=1\r\nBcc: victim@example.org",
        "https://shop.example/u>, <mailto:evil@example.org",
        "https://shop.example/u t",
        "http://shop.example/u",
        "javascript:alert(1)",
        "https://shop.example/ü",
        "https://shop.example/" + "a" * 1000,
    ],
)
def test_hostile_unsubscribe_url_is_rejected(url: str) -> None:
    ev = validate(sample("CheckoutAbandoned"))
    data = {**dict(ev.data), "unsubscribeUrl": url}
    ev = dataclasses.replace(ev, data=MappingProxyType(data))
    with pytest.raises(InvalidEventError, match="unsubscribeUrl"):
        build(ev)


def test_schema_already_rejects_control_characters_in_ids_and_urls() -> None:
    for mutate in (
        lambda d: d["order"].update(id="ORD\r\nBcc: x@example.org"),
        lambda d: d["shipment"].update(trackingUrl="https://x.example/\r\nBcc: x"),
    ):
        raw = sample("OrderShipped")
        mutate(raw["detail"])
        with pytest.raises(InvalidEventError):
            validate(raw)


def test_hostile_recipient_address_never_reaches_a_header() -> None:
    ev = validate(sample("OrderPlaced"))
    for bad in ("a@example.com\r\nBcc: x@example.org", "jürgen@example.com"):
        with pytest.raises(InvalidEventError):
            build(dataclasses.replace(ev, recipient=bad))


def test_long_ids_stay_readable_in_every_id_header() -> None:
    raw = sample("OrderPlaced")
    raw["detail"]["order"]["id"] = "Bestellung Nr. 2026/ÄÖÜ/" + "9" * 39  # 64 chars, encoded
    built = build(validate(raw))
    msg = assert_well_formed(built.raw)
    assert len(built.message_id) > 78
    for header in ("Message-ID", "References", "X-Shopmail-Id"):
        assert msg[header] == built.message_id
        assert f"{header}: {built.message_id}\r\n".encode() in built.raw
    ref = parse_message_id(msg["References"])
    assert ref is not None and ref.aggregate_id == raw["detail"]["order"]["id"]


# --- round trip ------------------------------------------------------------------------


def _parse_back(raw: bytes) -> dict[str, Any]:
    """Parse with the inbound parser (the one that reads customers' replies)."""
    parsed = parse_message(raw)
    assert parsed.flags.auto_submitted  # our own mail is recognisably automatic
    return {
        "subject": parsed.subject,
        "from": parsed.from_[0].address,
        "text": parsed.text,
        "html": parsed.html,
        "ids": [parsed.message_id or "", *parsed.references, parsed.header("X-Shopmail-Id") or ""],
        "attachments": [(a.filename, a.content_type, a.size) for a in parsed.attachments],
    }


@pytest.mark.parametrize("locale", ["de-DE", "en"])
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_round_trip(path: Any, locale: str) -> None:
    ev = with_locale(validate(json.loads(path.read_text(encoding="utf-8"))), locale)
    mail = render(ev, SETTINGS)
    attachments = [Attachment(r.filename, PDF) for r in mail.attachments_refs]
    built = build_message(ev, mail, SETTINGS, attachments=attachments, date=DATE)
    back = _parse_back(built.raw)
    assert back["subject"] == mail.subject
    assert back["from"] == (
        SETTINGS.marketing_from if ev.email_class == "marketing" else SETTINGS.transactional_from
    )
    assert back["text"].replace("\r\n", "\n").strip() == mail.text.strip()
    assert back["html"].replace("\r\n", "\n").strip() == mail.html.strip()
    assert back["attachments"] == [(a.filename, "application/pdf", len(PDF)) for a in attachments]
    refs = find_message_refs(back["ids"], SETTINGS.mail_domain)
    assert refs, "our Message-ID did not survive"
    assert refs[0].aggregate_id == ev.aggregate_id
    assert refs[0].kind == ev.detail_type.lower()


_NAMES = ["", "Jürgen Müller", "Doe, John", 'Jo "JJ" Smith', "=?utf-8?q?x?= y", "a" * 150]
_SUBJECTS = [
    "Plain subject",
    "Größe und Maß",
    "=?utf-8?q?looks_encoded?=",
    "x" * 70,
    "word " * 40,
    "Re: (Bestellung) <100234> ; a@b",
]
_FILES = ["invoice.pdf", "Rechnung ä 1.pdf", "a" * 140 + ".pdf", 'we"ird name.pdf']


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_direct_serialisation_gives_the_bytes_emailmessage_gives(
    path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text + HTML (+ attachments) are written without EmailMessage: byte for byte the same."""
    from shopmail.domain.outbound import mime_build

    base = validate(json.loads(path.read_text(encoding="utf-8")))
    cases: list[tuple[ShopEvent, Settings, Any, list[Attachment]]] = []
    for number, name in enumerate(_NAMES):
        event = dataclasses.replace(base, recipient_name=name)
        settings = SETTINGS if number % 2 else Settings(mail_domain="shop.example")
        mail = render(event, settings)
        subject = _SUBJECTS[number % len(_SUBJECTS)]
        files = [Attachment(_FILES[number % len(_FILES)], PDF)] if number % 3 == 0 else []
        cases.append((event, settings, dataclasses.replace(mail, subject=subject), files))
    direct = [build_message(e, m, s, attachments=a, date=DATE).raw for e, s, m, a in cases]
    monkeypatch.setattr(mime_build, "_lean_raw", mime_build._stdlib_raw)
    stdlib = [build_message(e, m, s, attachments=a, date=DATE).raw for e, s, m, a in cases]
    assert direct == stdlib
