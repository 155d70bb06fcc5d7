"""Erasure: finding an address in every stored form, what a mail names, request and report."""

from __future__ import annotations

import json

import fastjsonschema
import pytest
from shopmail.domain.addresses import address_hash
from shopmail.domain.erasure.matcher import AddressMatcher, address_forms, normalize_address
from shopmail.domain.erasure.mentions import mentioned_addresses
from shopmail.domain.erasure.report import ErasureReport
from shopmail.domain.erasure.request import parse_erasure_request
from shopmail.domain.inbound.parsing import parse_message
from shopmail.errors import InvalidEventError

from tests.fixtures.mails import bounce_naming
from tests.fixtures.paths import EVENTS

KIM = "kim.doe@example.com"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"From: Kim <{KIM}>", True),
        ("KIM.DOE@EXAMPLE.COM wrote:", True),
        (f'"recipient": "{KIM}"', True),
        (f"OrderPlaced:ORD-1:{KIM}", True),
        (f"mailto:{KIM}?subject=x", True),
        (f"{KIM}.", True),
        ("joakim.doe@example.com", False),
        ("kim.doe@example.com.au", False),
        ("kim.doe@example.community", False),
        ("x.kim.doe@example.com", False),
        ("kim.doe@sub.example.com", False),
        (f"auto_reply#{address_hash(KIM)}", True),
        (f"auto_reply#{address_hash(KIM)}ff", False),
        ("nothing here", False),
    ],
)
def test_matcher_finds_whole_addresses_and_hashes(text: str, found: bool) -> None:
    assert AddressMatcher.of(KIM).matches(text) is found


def test_idn_domains_in_both_spellings() -> None:
    assert address_forms("Jörg@Müller.de") == ("jörg@müller.de", "jörg@xn--mller-kva.de")
    matcher = AddressMatcher.of("jörg@xn--mller-kva.de")
    assert matcher.matches("to jörg@müller.de") and matcher.matches("jörg@XN--MLLER-KVA.DE")
    assert len(matcher.hashes) == 2


def test_json_values_escapes_and_redaction() -> None:
    matcher = AddressMatcher.of("jörg@example.com")
    escaped = json.dumps({"detail": {"recipient": {"email": "jörg@example.com"}}})
    assert "\\u00f6" in escaped and not matcher.matches(escaped)
    assert matcher.in_text_or_json(escaped)
    assert matcher.in_value({"k": ["a", {"deep": ("x", "JÖRG@example.com")}]})
    assert matcher.in_value({"jörg@example.com": 1})  # keys count
    assert not matcher.in_value({"n": 5, "b": None})
    assert matcher.redact("a jörg@example.com b") == "a [erased] b"


@pytest.mark.parametrize("bad", ["", "kim", "@example.com", "kim@", "k im@example.com", "a" * 330])
def test_not_an_address(bad: str) -> None:
    assert normalize_address(bad) == ""
    with pytest.raises(InvalidEventError):
        AddressMatcher.of(bad)


def test_mentions_cover_headers_bodies_and_report_parts_but_not_ids_or_the_shop() -> None:
    message = parse_message(bounce_naming("Kim.Doe@Example.com").as_bytes())
    found = mentioned_addresses(message, mail_domain="shop.example")
    assert "kim.doe@example.com" in found and "mailer-daemon@mx.example.net" in found
    assert not any(a.endswith("@shop.example") for a in found)
    assert "looks.like@an.address" not in found  # a Message-ID


def test_mentions_of_a_sample_support_mail() -> None:
    message = parse_message((EVENTS / "inbound" / "support.eml").read_bytes())
    found = mentioned_addresses(message, mail_domain="shop.example")
    senders = {a.address.lower() for a in message.from_}
    assert senders <= found and found


def test_erasure_request_from_the_shop() -> None:
    sample = json.loads((EVENTS / "erasure" / "CustomerDataErasureRequested.json").read_text())
    request = parse_erasure_request(sample)
    assert request.address == sample["detail"]["email"]
    assert (request.request_id, request.customer_id) == ("GDPR-2026-0042", "CUST-4711")
    schema = json.loads((EVENTS / "schemas" / "CustomerDataErasureRequested.json").read_text())
    fastjsonschema.compile(schema)(sample["detail"])
    no_id = {**sample, "detail": {"email": "x@example.com"}}
    assert parse_erasure_request(no_id).request_id == sample["id"]
    for detail in ({}, {"email": "nope"}, {"email": 5}, {"email": "a@b.c", "requestId": {"x": 1}},
                   {"email": "a@b.c", "requestId": "x\n"}):  # fmt: skip
        with pytest.raises(InvalidEventError):
            parse_erasure_request({**sample, "detail": detail})
    with pytest.raises(InvalidEventError):
        parse_erasure_request({**sample, "detail-type": "OrderPlaced"})


def test_report_detail_validates_and_never_names_the_address() -> None:
    report = ErasureReport(
        address_hash="ab" * 32, request_id="ER-1", requested_by="event",
        erased_at="2026-12-01T10:00:00+00:00",
        object_keys=("inbound/m1", "attachments/m1/0-Kim.pdf"),
        object_versions=3, items={"sentMail": 2, "idempotency": 1}, dead_letters={"outbound": 1},
        previous_class="unsubscribe", customer_id="C-1",
    )  # fmt: skip
    detail = report.to_detail()
    schema = json.loads((EVENTS / "schemas" / "emitted" / "CustomerDataErased.json").read_text())
    fastjsonschema.compile(schema)(detail)
    assert detail["objects"] == {"deleted": 2, "versions": 3}
    assert detail["items"]["rateLimit"] == 0 and detail["deadLetters"]["inbound"] == 0
    assert detail["suppression"]["key"] == "hash:" + "ab" * 32
    assert "Kim" not in json.dumps(detail)  # object keys only in the printed report
    assert report.to_dict()["objectKeys"] == ["inbound/m1", "attachments/m1/0-Kim.pdf"]
    broken = ErasureReport("ab" * 32, "r", "cli", "t", errors=("objects: s3 failed",))
    assert not broken.complete and broken.to_detail()["complete"] is False


def test_mentions_in_a_report_whose_boundary_does_not_parse() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@shop.example\r\n"
        b"Subject: Returned mail\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="nowhere"\r\n\r\n'
        b"--elsewhere\r\n\r\n   ----- The following addresses had permanent errors -----\r\n"
        b"<Kim.Doe@example.com>  (unrecoverable error)\r\n"
    )
    assert KIM in mentioned_addresses(parse_message(raw), mail_domain="shop.example")
