"""Contract limits that keep an event from failing later: a bounded business key (DynamoDB's
2 KB partition key) and an invoice PDF only where the function may read it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from shopmail.domain.outbound.contracts import (
    EVENT_TYPES,
    MAX_KEY_BYTES,
    check_invoice_location,
    idempotency_key,
    load_schema,
    validate,
)
from shopmail.errors import InvalidEventError

from tests.fixtures.paths import EVENTS


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / "outbound" / f"{name}.json").read_text("utf-8"))
    return data


@pytest.mark.parametrize("detail_type", sorted(EVENT_TYPES))
def test_every_schema_bounds_the_version(detail_type: str) -> None:
    version = load_schema(detail_type)["properties"]["version"]
    assert version["maxLength"] <= 64 and version["maximum"] <= 2**53
    assert version["minimum"] >= -(2**53)


@pytest.mark.parametrize(
    "version",
    ["v" * 65, "line\nbreak", 2**60, -(2**60), 10**3000],
    ids=["long", "control", "big", "small", "huge"],
)
def test_unbounded_versions_are_refused_naming_the_field(version: Any) -> None:
    event = sample("OrderPlaced")
    event["detail"]["version"] = version
    with pytest.raises(InvalidEventError, match=r"detail\.version"):
        validate(event)


def test_the_longest_valid_event_has_a_short_key() -> None:
    event = sample("PaymentCaptured")
    event["detail"]["order"]["id"] = "ä" * 64  # 128 bytes in UTF-8
    event["detail"]["payment"]["id"] = "€" * 64  # 192 bytes
    event["detail"]["recipient"]["email"] = "k" * 64 + "@" + "d" * 60 + ".example"
    key = idempotency_key(validate(event))
    assert len(key.encode("utf-8")) <= MAX_KEY_BYTES <= 2048


def _invoice(**pdf: str) -> Any:
    event = sample("InvoiceIssued")
    event["detail"]["invoice"]["pdf"].update(pdf)
    return validate(event)


def test_invoice_in_the_bucket_and_prefix_passes() -> None:
    check_invoice_location(_invoice(), "shop-invoices", "invoices/")
    check_invoice_location(_invoice(bucket="anything-goes"), "", "")  # nothing configured


@pytest.mark.parametrize(
    ("pdf", "reason"),
    [
        ({"bucket": "other-bucket"}, "is not the invoice bucket 'shop-invoices'"),
        ({"key": "payroll/2026.pdf"}, "outside the invoice prefix 'invoices/'"),
    ],
)
def test_invoice_elsewhere_is_refused_with_the_reason(pdf: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidEventError, match=reason):
        check_invoice_location(_invoice(**pdf), "shop-invoices", "invoices/")


def test_events_without_a_pdf_are_not_checked() -> None:
    check_invoice_location(validate(sample("OrderPlaced")), "shop-invoices", "invoices/")
    other = copy.deepcopy(sample("SendEmailRequested"))
    check_invoice_location(validate(other), "shop-invoices", "invoices/")
