"""Outbound event contracts: the supported shop events, their schemas and business keys.

Every supported detail-type has a JSON Schema (draft-07) for its ``detail`` in
``shopmail/schemas/<DetailType>.json`` (package data; ``events/schemas/`` in the repository
holds identical copies for the shop's developers). :func:`validate` checks an EventBridge event
against its schema (compiled once, lazily, per type with fastjsonschema), normalizes the
recipient and returns a frozen :class:`ShopEvent`.

Common fields of every ``detail``: ``locale`` (``de``, ``de-DE``, ``en``, ``en-GB``, ...),
``recipient`` (``{"email", "name"}``), optionally ``version``. Money is always
``{"amount": "1234.56", "currency": "EUR"}`` (a decimal string, never a float).

Business key (:func:`idempotency_key`): ``type:aggregate-id[:version]:recipient``. The
aggregate is the order (or customer, cart, reference) the mail is about; the version tells
apart several mails of one type about one aggregate (each shipment, refund, reset request...).

Example
-------
>>> ev = validate({"detail-type": "OrderDelivered", "id": "e-1", "source": "shop",
...     "detail": {"locale": "de-DE", "recipient": {"email": "kunde@example.com"},
...                "order": {"id": "ORD-1"}, "shipment": {"id": "S1",
...                "deliveredAt": "2026-11-28T10:00:00Z"}}})
>>> idempotency_key(ev)
'OrderDelivered:ORD-1:S1:kunde@example.com'
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from shopmail.domain.addresses import domain_of
from shopmail.domain.outbound.recipients import normalize_recipient
from shopmail.errors import InvalidEventError

if TYPE_CHECKING:
    import fastjsonschema

EmailClass = Literal["transactional", "marketing"]


@dataclass(frozen=True, slots=True)
class EventType:
    """What shopmail knows about one supported detail-type.

    Attributes
    ----------
    name
        The detail-type.
    email_class
        ``transactional`` or ``marketing`` (SendEmailRequested: the event's ``emailClass``).
    priority
        Time-critical mail (own queue, never behind a bulk wave).
    aggregate
        Dotted path in ``detail`` of the aggregate id.
    version
        Dotted path in ``detail`` of the version (``None``: only ``detail.version`` if given).
    """

    name: str
    email_class: EmailClass
    priority: bool
    aggregate: str
    version: str | None = None


_T: EmailClass = "transactional"
_M: EmailClass = "marketing"

#: Every supported detail-type (also the list the EventBridge rules must match).
EVENT_TYPES: Mapping[str, EventType] = MappingProxyType(
    {
        t.name: t
        for t in (
            EventType("CustomerRegistered", _T, True, "customer.id"),
            EventType("PasswordResetRequested", _T, True, "customer.id", "requestId"),
            EventType("EmailChangeRequested", _T, True, "customer.id", "requestId"),
            EventType("OrderPlaced", _T, False, "order.id"),
            EventType("OrderCanceled", _T, False, "order.id"),
            EventType("PaymentCaptured", _T, False, "order.id", "payment.id"),
            EventType("PaymentFailed", _T, False, "order.id", "payment.id"),
            EventType("InvoiceIssued", _T, False, "order.id", "invoice.number"),
            EventType("OrderShipped", _T, False, "order.id", "shipment.id"),
            EventType("OrderDelivered", _T, False, "order.id", "shipment.id"),
            EventType("ReadyForPickup", _T, False, "order.id"),
            EventType("RefundIssued", _T, False, "order.id", "refund.id"),
            EventType("ReturnRequested", _T, False, "order.id", "return.id"),
            EventType("ReturnReceived", _T, False, "order.id", "return.id"),
            EventType("CheckoutAbandoned", _M, False, "cart.id"),
            EventType("SendEmailRequested", _T, False, "reference", "requestId"),
        )
    }
)

#: Detail-types that go to the priority queue.
PRIORITY_TYPES: frozenset[str] = frozenset(n for n, t in EVENT_TYPES.items() if t.priority)

_LOCALE = re.compile(r"^([a-z]{2,3})(?:[-_]([A-Za-z]{2}))?$")

#: The longest business key (UTF-8 bytes) :func:`validate` accepts; the schemas keep every part
#: short, this bounds the sum well below DynamoDB's 2,048-byte partition key.
MAX_KEY_BYTES = 1024


@dataclass(frozen=True, slots=True)
class ShopEvent:
    """A validated outbound event.

    Attributes
    ----------
    detail_type
        The EventBridge detail-type (a key of :data:`EVENT_TYPES`).
    event_id
        The EventBridge event id (changes on re-publish: not the business key).
    source
        The event's source (``shop``).
    locale
        The customer locale in BCP 47 form (``de-DE``, ``en``).
    recipient
        The 7-bit recipient address (IDN domain as Punycode).
    recipient_name
        The display name (may be ``""``; never trusted in headers without encoding).
    aggregate_id
        The order / customer / cart / reference id the mail is about.
    version
        Distinguishes several mails about one aggregate (``None`` when not applicable).
    email_class
        ``transactional`` or ``marketing``.
    priority
        ``True`` for time-critical types.
    template
        The template name (the detail-type, or SendEmailRequested's ``template``).
    data
        The (read-only) ``detail`` object.
    time
        The event's ``time`` (``""`` when absent).
    """

    detail_type: str
    event_id: str
    source: str
    locale: str
    recipient: str
    recipient_name: str
    aggregate_id: str
    version: str | None
    email_class: EmailClass
    priority: bool
    template: str
    data: Mapping[str, Any]
    time: str = ""

    @property
    def language(self) -> str:
        """The language part of :attr:`locale` (``de``)."""
        return self.locale.split("-", 1)[0]

    @property
    def recipient_domain(self) -> str:
        """The recipient's domain (safe to log)."""
        return domain_of(self.recipient)


def validate(event: Mapping[str, Any]) -> ShopEvent:
    """Validate an EventBridge event of a supported type.

    Parameters
    ----------
    event
        The full EventBridge envelope (``detail-type``, ``id``, ``source``, ``detail``...), as
        found in the body of an SQS message.

    Returns
    -------
    ShopEvent

    Raises
    ------
    InvalidEventError
        The envelope or ``detail`` does not match the contract; ``reason`` names the field
        (e.g. ``detail.order.total.amount``) and why.
    InvalidRecipientError
        ``detail.recipient.email`` is not an address the relay can send to.

    Example
    -------
    >>> validate({"detail-type": "Nope", "detail": {}})
    Traceback (most recent call last):
    ...
    shopmail.errors.InvalidEventError: unsupported detail-type 'Nope'
    """
    if not isinstance(event, Mapping):
        raise InvalidEventError("event is not a JSON object")
    detail_type = event.get("detail-type", event.get("detailType"))
    if not isinstance(detail_type, str) or not detail_type:
        raise InvalidEventError("detail-type is missing")
    spec = EVENT_TYPES.get(detail_type)
    if spec is None:
        raise InvalidEventError(
            f"unsupported detail-type {detail_type[:80]!r}", detail_type=detail_type[:80]
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("detail is missing or not an object", detail_type=detail_type)
    event_id = event.get("id", "")
    source = event.get("source", "")
    if not isinstance(event_id, str) or not isinstance(source, str):
        raise InvalidEventError("id and source must be strings", detail_type=detail_type)
    validator = _validator(detail_type)
    from fastjsonschema import JsonSchemaValueException  # loaded with the first validator

    try:
        validator(detail)
    except JsonSchemaValueException as exc:
        raise InvalidEventError(_reason(exc), detail_type=detail_type, event_id=event_id) from exc

    locale = _normalize_locale(detail["locale"])
    recipient = normalize_recipient(detail["recipient"]["email"])
    aggregate = str(_lookup(detail, spec.aggregate))
    version_value = _lookup(detail, spec.version) if spec.version else None
    if version_value is None:
        version_value = detail.get("version")
    email_class: EmailClass = spec.email_class
    template = detail_type
    if detail_type == "SendEmailRequested":
        email_class = "marketing" if detail.get("emailClass") == "marketing" else "transactional"
        template = str(detail["template"])
    shop_event = ShopEvent(
        detail_type=detail_type,
        event_id=event_id,
        source=source,
        locale=locale,
        recipient=recipient.address,
        recipient_name=str(detail["recipient"].get("name", "")),
        aggregate_id=aggregate,
        version=None if version_value is None else str(version_value),
        email_class=email_class,
        priority=spec.priority,
        template=template,
        data=MappingProxyType(dict(detail)),
        time=str(event.get("time", "")),
    )
    if len(idempotency_key(shop_event).encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidEventError(
            f"the business key (type, aggregate id, version, recipient) is longer than "
            f"{MAX_KEY_BYTES} bytes",
            detail_type=detail_type,
            event_id=event_id,
        )
    return shop_event


def check_invoice_location(event: ShopEvent, bucket: str, prefix: str = "") -> None:
    """Refuse an invoice PDF that is not where the stack may read it.

    The outbound function may read one bucket (``InvoiceBucketName``, ``INVOICE_BUCKET``) under
    one prefix (``InvoiceKeyPrefix``); a PDF elsewhere could only fail with "access denied",
    on every delivery. Checking it here makes that a permanent, explained failure of the one
    event.

    Parameters
    ----------
    event
        A validated event (only ``InvoiceIssued`` mail carries a PDF).
    bucket
        The invoice bucket (``""``: not checked).
    prefix
        The key prefix (``""``: any key).

    Raises
    ------
    InvalidEventError
        ``detail.invoice.pdf`` names another bucket or a key outside the prefix.

    Example
    -------
    >>> ev = validate({"detail-type": "OrderDelivered", "id": "e-1", "source": "shop",
    ...     "detail": {"locale": "de", "recipient": {"email": "kunde@example.com"},
    ...                "order": {"id": "ORD-1"}, "shipment": {"id": "S1",
    ...                "deliveredAt": "2026-11-28T10:00:00Z"}}})
    >>> check_invoice_location(ev, "shop-invoices", "invoices/")  # no PDF: nothing to check
    """
    invoice = event.data.get("invoice")
    pdf = invoice.get("pdf") if isinstance(invoice, Mapping) else None
    if event.template != "InvoiceIssued" or not isinstance(pdf, Mapping) or not bucket:
        return
    if pdf.get("bucket") != bucket:
        raise InvalidEventError(
            f"detail.invoice.pdf.bucket {str(pdf.get('bucket'))[:63]!r} is not the invoice "
            f"bucket {bucket!r} the outbound function reads (InvoiceBucketName)",
            detail_type=event.detail_type,
            event_id=event.event_id,
        )
    if prefix and not str(pdf.get("key", "")).startswith(prefix):
        raise InvalidEventError(
            f"detail.invoice.pdf.key is outside the invoice prefix {prefix!r} (InvoiceKeyPrefix)",
            detail_type=event.detail_type,
            event_id=event.event_id,
        )


def idempotency_key(event: ShopEvent) -> str:
    """The business key of the mail: ``type:aggregate-id[:version]:recipient``.

    The recipient part is lower-cased (the same address in another case is the same
    customer). Re-publishing the same business event with a new EventBridge id yields the same
    key.

    Example
    -------
    >>> from types import MappingProxyType
    >>> ev = ShopEvent("OrderPlaced", "e", "shop", "de-DE", "Kunde@example.com", "",
    ...     "ORD-1", None, "transactional", False, "OrderPlaced", MappingProxyType({}))
    >>> idempotency_key(ev)
    'OrderPlaced:ORD-1:kunde@example.com'
    """
    parts = [event.detail_type, event.aggregate_id]
    if event.version is not None and event.version != "":
        parts.append(event.version)
    parts.append(event.recipient.lower())
    return ":".join(parts)


def with_locale(event: ShopEvent, locale: str) -> ShopEvent:
    """Return ``event`` with another customer locale (``de``, ``en-GB``...).

    Raises
    ------
    InvalidEventError
        ``locale`` does not look like a locale.

    Example
    -------
    >>> from types import MappingProxyType
    >>> ev = ShopEvent("OrderPlaced", "e", "shop", "de-DE", "k@example.com", "",
    ...     "ORD-1", None, "transactional", False, "OrderPlaced", MappingProxyType({}))
    >>> with_locale(ev, "en_gb").locale
    'en-GB'
    """
    return replace(event, locale=_normalize_locale(locale))


def load_schema(detail_type: str) -> dict[str, Any]:
    """Return the JSON Schema of ``detail_type``'s ``detail`` (package data)."""
    if detail_type not in EVENT_TYPES:
        raise InvalidEventError(f"unsupported detail-type {detail_type[:80]!r}")
    text = (
        resources.files("shopmail")
        .joinpath("schemas", f"{detail_type}.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


_lock = threading.Lock()


@cache
def _validator(detail_type: str) -> Callable[[Any], Any]:
    import fastjsonschema  # lazy: a handler that never validates shop events never loads it

    with _lock:
        validator: Callable[[Any], Any] = fastjsonschema.compile(load_schema(detail_type))
        return validator


def _reason(exc: fastjsonschema.JsonSchemaValueException) -> str:
    """``detail.order.total.amount must match pattern ...`` from a fastjsonschema error."""
    path = exc.path if isinstance(exc.path, list) else []
    field = ".".join(["detail", *(str(p) for p in path[1:])])
    message = str(exc.message)
    # fastjsonschema phrases it "data.order.total must contain ['amount'] properties".
    message = re.sub(r"^data(?:\.[\w\[\]]+|\[\d+\])*\s*", "", message)
    if exc.rule == "required" and isinstance(exc.rule_definition, list):
        value = exc.value if isinstance(exc.value, Mapping) else {}
        missing = [k for k in exc.rule_definition if k not in value]
        if missing:
            return f"{field}.{missing[0]} is required (missing)"
    if exc.rule == "pattern":
        message = f"has an invalid format ({message})"
    return f"{field} {message}"[:300]


def _normalize_locale(value: str) -> str:
    m = _LOCALE.match(value) if isinstance(value, str) else None
    if not m:
        raise InvalidEventError("detail.locale is not a locale like de-DE")
    lang, region = m.group(1), m.group(2)
    return f"{lang}-{region.upper()}" if region else lang


def _lookup(detail: Mapping[str, Any], path: str | None) -> Any:
    node: Any = detail
    for part in (path or "").split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
