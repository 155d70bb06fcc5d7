"""Outbound event contracts: schemas, samples, validation reasons, business keys."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from shopmail.domain.outbound.contracts import (
    EVENT_TYPES,
    PRIORITY_TYPES,
    ShopEvent,
    idempotency_key,
    load_schema,
    validate,
    with_locale,
)
from shopmail.errors import InvalidEventError, InvalidRecipientError, PermanentError

from tests.fixtures.paths import EVENTS, REPO

SAMPLES = sorted((EVENTS / "outbound").glob("*.json"))
LAYER_SCHEMAS = REPO / "layers" / "shopmail" / "shopmail" / "schemas"
REQUIRED_TYPES = {
    "CustomerRegistered", "PasswordResetRequested", "EmailChangeRequested", "OrderPlaced",
    "OrderCanceled", "PaymentCaptured", "PaymentFailed", "InvoiceIssued", "OrderShipped",
    "OrderDelivered", "ReadyForPickup", "RefundIssued", "ReturnRequested", "ReturnReceived",
    "SendEmailRequested",
}  # fmt: skip


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / "outbound" / f"{name}.json").read_text(encoding="utf-8"))


def reason_of(event: dict[str, Any]) -> str:
    with pytest.raises(InvalidEventError) as info:
        validate(event)
    assert info.value.permanent
    return info.value.reason


def test_every_required_type_is_supported_with_schema_and_sample() -> None:
    assert set(EVENT_TYPES) >= REQUIRED_TYPES
    names = {p.stem for p in SAMPLES}
    assert set(EVENT_TYPES) == names
    assert {p.stem for p in LAYER_SCHEMAS.glob("*.json")} == set(EVENT_TYPES)


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_events_schemas_are_identical_to_the_layer_copy(name: str) -> None:
    # the layer copy is the source of truth; events/schemas/ is for the shop's developers
    layer = (LAYER_SCHEMAS / f"{name}.json").read_bytes()
    assert (EVENTS / "schemas" / f"{name}.json").read_bytes() == layer


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_schema_is_draft07_and_loads(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["title"] == name
    assert {"locale", "recipient"} <= set(schema["required"])


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_is_valid(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert {"version", "id", "detail-type", "source", "account", "time", "region",
            "resources", "detail"} <= set(raw)  # fmt: skip
    assert raw["source"] == "shop"
    event = validate(raw)
    assert event.detail_type == path.stem == raw["detail-type"]
    assert event.event_id == raw["id"]
    assert event.language in {"de", "en"}
    assert event.recipient.isascii()
    assert event.aggregate_id
    assert event.email_class in {"transactional", "marketing"}
    assert idempotency_key(event).startswith(f"{event.detail_type}:{event.aggregate_id}:")


def test_money_is_a_decimal_string_with_currency() -> None:
    event = validate(sample("OrderPlaced"))
    assert event.data["order"]["total"] == {"amount": "1234.56", "currency": "EUR"}
    bad = sample("OrderPlaced")
    bad["detail"]["order"]["total"]["amount"] = 1234.56
    assert reason_of(bad) == "detail.order.total.amount must be string"
    bad["detail"]["order"]["total"]["amount"] = "1.234,56"
    assert reason_of(bad).startswith("detail.order.total.amount has an invalid format")
    bad["detail"]["order"]["total"] = {"amount": "1.00", "currency": "euro"}
    assert reason_of(bad).startswith("detail.order.total.currency")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["order"]["total"].pop("amount"), "detail.order.total.amount is required"),
        (lambda d: d["order"].pop("items"), "detail.order.items is required"),
        (lambda d: d["order"]["items"][1].update(quantity=0), "detail.order.items.1.quantity"),
        (lambda d: d["order"].update(id="ORD\r\nBcc: x@evil.example"), "detail.order.id"),
        (lambda d: d["order"].update(url="javascript:alert(1)"), "detail.order.url"),
        (lambda d: d["order"].update(url="https://x.example/a b"), "detail.order.url"),
        (lambda d: d.update(locale="German"), "detail.locale"),
        (lambda d: d.pop("locale"), "detail.locale is required"),
        (lambda d: d.pop("recipient"), "detail.recipient is required"),
        (lambda d: d["recipient"].update(email=42), "detail.recipient.email must be string"),
        (
            lambda d: d["order"].update(placedAt="yesterday"),
            "detail.order.placedAt must be date-time",
        ),
        (lambda d: d["order"]["shippingAddress"].update(country="Deutschland"), "detail.order.shi"),
    ],
)
def test_invalid_detail_names_the_field(mutate: Any, expected: str) -> None:
    event = sample("OrderPlaced")
    mutate(event["detail"])
    assert reason_of(event).startswith(expected)


def test_invoice_pdf_reference_is_checked() -> None:
    event = sample("InvoiceIssued")
    del event["detail"]["invoice"]["pdf"]["key"]
    assert reason_of(event) == "detail.invoice.pdf.key is required (missing)"
    event = sample("InvoiceIssued")
    event["detail"]["invoice"]["pdf"]["bucket"] = "Not A Bucket"
    assert reason_of(event).startswith("detail.invoice.pdf.bucket")


def test_envelope_errors() -> None:
    assert reason_of({"detail": {}}) == "detail-type is missing"
    assert reason_of({"detail-type": "Nope", "detail": {}}) == "unsupported detail-type 'Nope'"
    assert reason_of({"detail-type": "OrderPlaced"}) == "detail is missing or not an object"
    assert reason_of([]) == "event is not a JSON object"  # type: ignore[arg-type]


def test_send_email_requested_checks_template_data_and_marketing_unsubscribe() -> None:
    event = sample("SendEmailRequested")
    ok = validate(event)
    assert (ok.template, ok.aggregate_id, ok.version) == ("Notice", "TICKET-2044", "REQ-1")
    assert ok.email_class == "transactional"
    bad = copy.deepcopy(event)
    bad["detail"]["template"] = "Unknown"
    assert reason_of(bad).startswith("detail.template")
    bad = copy.deepcopy(event)
    del bad["detail"]["data"]["heading"]
    assert "heading" in reason_of(bad)
    marketing = copy.deepcopy(event)
    marketing["detail"]["emailClass"] = "marketing"
    # the stack's one-click endpoint gives marketing mail its link: the shop's is optional
    assert validate(marketing).email_class == "marketing"
    marketing["detail"]["unsubscribeUrl"] = "http://shop.example/u?t=1"
    assert "unsubscribeUrl" in reason_of(marketing)
    marketing["detail"]["unsubscribeUrl"] = "https://shop.example/u?t=1"
    assert validate(marketing).email_class == "marketing"


def test_invalid_recipient_is_a_permanent_recipient_error() -> None:
    event = sample("OrderPlaced")
    event["detail"]["recipient"]["email"] = "jürgen@example.com"
    with pytest.raises(InvalidRecipientError) as info:
        validate(event)
    assert isinstance(info.value, PermanentError)
    assert "not ASCII" in info.value.reason


def test_idn_recipient_is_punycode() -> None:
    event = validate(sample("EmailChangeRequested"))
    assert event.recipient == "j.mueller@xn--bro-hoa.example"


def test_idempotency_key_shapes() -> None:
    assert idempotency_key(validate(sample("OrderPlaced"))) == (
        "OrderPlaced:ORD-100234:juergen.mueller@example.com"
    )
    assert idempotency_key(validate(sample("OrderShipped"))) == (
        "OrderShipped:ORD-100234:SHP-1:juergen.mueller@example.com"
    )
    assert idempotency_key(validate(sample("PasswordResetRequested"))) == (
        "PasswordResetRequested:CUST-4711:PRR-9f8e7d:juergen.mueller@example.com"
    )


def test_idempotency_key_ignores_eventbridge_id_and_address_case() -> None:
    first = sample("OrderPlaced")
    again = copy.deepcopy(first)
    again["id"] = "another-eventbridge-id"
    again["detail"]["recipient"]["email"] = "Juergen.Mueller@EXAMPLE.com"
    assert idempotency_key(validate(first)) == idempotency_key(validate(again))


def test_idempotency_key_differs_per_version_and_recipient() -> None:
    base = sample("OrderShipped")
    second = copy.deepcopy(base)
    second["detail"]["shipment"]["id"] = "SHP-2"
    other = copy.deepcopy(base)
    other["detail"]["recipient"]["email"] = "someone@example.com"
    keys = {idempotency_key(validate(e)) for e in (base, second, other)}
    assert len(keys) == 3


def test_generic_version_field_is_used_when_type_has_no_version_path() -> None:
    event = sample("ReadyForPickup")
    event["detail"]["version"] = 2
    assert idempotency_key(validate(event)).split(":")[2] == "2"


def test_type_table_classes_and_priority() -> None:
    assert {"PasswordResetRequested", "EmailChangeRequested", "CustomerRegistered"} == set(
        PRIORITY_TYPES
    )
    assert EVENT_TYPES["CheckoutAbandoned"].email_class == "marketing"
    transactional = {n for n, t in EVENT_TYPES.items() if t.email_class == "transactional"}
    assert transactional >= REQUIRED_TYPES


def test_shop_event_is_frozen_and_data_read_only() -> None:
    event = validate(sample("OrderPlaced"))
    with pytest.raises(AttributeError):
        event.locale = "en"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.data["locale"] = "en"  # type: ignore[index]
    assert isinstance(event, ShopEvent)


def test_with_locale() -> None:
    event = validate(sample("OrderPlaced"))
    assert with_locale(event, "en_gb").locale == "en-GB"
    with pytest.raises(InvalidEventError):
        with_locale(event, "not a locale")
