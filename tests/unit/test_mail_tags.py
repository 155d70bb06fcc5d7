"""The SES message tags of outbound mail and what feedback reads from them."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from shopmail.domain.outbound.contracts import ShopEvent, idempotency_key
from shopmail.domain.outbound.mail_tags import mail_tags, tag_value, tagged_mail


def _event(**changes: Any) -> ShopEvent:
    values: dict[str, Any] = {
        "detail_type": "OrderShipped",
        "event_id": "0f8e-11aa",
        "source": "shop",
        "locale": "de-DE",
        "recipient": "Kunde@Example.org",
        "recipient_name": "",
        "aggregate_id": "ORD-7",
        "version": None,
        "email_class": "transactional",
        "priority": False,
        "template": "OrderShipped",
        "data": MappingProxyType({"order": {"id": "ORD-7"}}),
    }
    values.update(changes)
    return ShopEvent(*values.values())


def _read(event: ShopEvent) -> Any:
    return tagged_mail({name: (value,) for name, value in mail_tags(event)})


def test_complete_tags_give_back_the_event_and_its_business_key() -> None:
    for event in (_event(), _event(version="3"), _event(data=MappingProxyType({}))):
        tagged = _read(event)
        assert tagged is not None
        assert (tagged.detail_type, tagged.aggregate_id, tagged.event_id) == (
            event.detail_type,
            event.aggregate_id,
            event.event_id,
        )
        assert tagged.email_class == event.email_class
        assert tagged.key_for(event.recipient) == idempotency_key(event)


def test_a_value_changed_to_fit_the_alphabet_leaves_the_tags_incomplete() -> None:
    for event in (
        _event(aggregate_id="ORD 7/a", data=MappingProxyType({"order": {"id": "ORD 7/a"}})),
        _event(event_id="id:with:colons"),
        _event(version="1.2"),
    ):
        names = [name for name, _ in mail_tags(event)]
        assert "event" not in names and "v" not in names
        assert _read(event) is None  # feedback looks the sent-mail record up instead
        assert all(tag_value(v) == v for _, v in mail_tags(event))  # still valid SES tags


def test_order_tag_differs_from_the_aggregate_then_incomplete() -> None:
    event = _event(aggregate_id="CUST-1", data=MappingProxyType({"order": {"id": "ORD-7"}}))
    assert ("order", "ORD-7") in mail_tags(event) and _read(event) is None


def test_tags_without_an_event_tag_are_not_read() -> None:
    assert tagged_mail({"type": ("OrderPlaced",), "class": ("transactional",),
                        "order": ("ORD-1",)}) is None  # fmt: skip
    assert tagged_mail({}) is None
