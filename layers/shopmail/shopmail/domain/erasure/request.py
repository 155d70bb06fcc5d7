"""The shop's erasure request: ``CustomerDataErasureRequested`` (GDPR Art. 17).

Contract (``events/schemas/CustomerDataErasureRequested.json``)::

    {"detail-type": "CustomerDataErasureRequested", "source": "<ShopEventSource>",
     "detail": {"email": "kim@example.com", "requestId": "ER-1", "customerId": "C-1"}}

``email`` is required; ``requestId`` (echoed in the report, default: the event id) and
``customerId`` are optional.

Example
-------
>>> req = parse_erasure_request({"id": "e-1", "detail-type": "CustomerDataErasureRequested",
...     "detail": {"email": " Kim@Example.com "}})
>>> req.address, req.request_id
('kim@example.com', 'e-1')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from shopmail.domain.erasure.matcher import normalize_address
from shopmail.errors import InvalidEventError

DETAIL_TYPE: Final = "CustomerDataErasureRequested"
_MAX_ID: Final = 128


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    """Whose data to erase, and the shop's reference of the request.

    Attributes
    ----------
    address
        The normalized address.
    request_id
        The shop's request id (or the event id), echoed in the report.
    requested_by
        ``event`` (the shop's event) or ``cli`` (an operator).
    customer_id
        The shop's customer id, when given (echoed in the report).
    """

    address: str
    request_id: str
    requested_by: str = "event"
    customer_id: str = ""


def _text(detail: Mapping[str, Any], name: str) -> str:
    value = detail.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidEventError(f"detail.{name} must be a string", field=f"detail.{name}")
    text = str(value)
    if len(text) > _MAX_ID or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidEventError(
            f"detail.{name} is longer than {_MAX_ID} or has control characters",
            field=f"detail.{name}",
        )
    return text.strip()


def parse_erasure_request(event: Any) -> ErasureRequest:
    """The request in an EventBridge event of type :data:`DETAIL_TYPE`.

    Raises
    ------
    InvalidEventError
        Another detail-type, no ``detail``, or an ``email`` that is not an address.
    """
    if not isinstance(event, Mapping):
        raise InvalidEventError("event is not a JSON object")
    if event.get("detail-type") != DETAIL_TYPE:
        raise InvalidEventError(f"detail-type is not {DETAIL_TYPE}", field="detail-type")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("detail is missing or not an object", field="detail")
    email = detail.get("email")
    address = normalize_address(email) if isinstance(email, str) else ""
    if not address:
        raise InvalidEventError("detail.email is not an address", field="detail.email")
    event_id = event.get("id")
    request_id = _text(detail, "requestId") or (str(event_id)[:_MAX_ID] if event_id else "")
    return ErasureRequest(address, request_id, "event", _text(detail, "customerId"))
