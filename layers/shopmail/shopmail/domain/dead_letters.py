"""Dead-letter messages: one body format per queue, the reason beside it.

Every dead-letter queue holds messages a redrive can put back where they came from, whoever
wrote them:

* **record** queues (outbound, feedback, erasure): the body is the original SQS message body
  (the EventBridge event), exactly as the consumer reads it. SQS's redrive policy and an
  EventBridge target's dead-letter config write that already; shopmail's own dead letters
  (an invalid or refused event) write the same body and put the reason in message attributes
  (:data:`REASON_ATTRIBUTES`), so a plain SQS redrive (``StartMessageMoveTask`` or
  ``shopmail dlq redrive``) works for every entry.
* **invocation** queue (inbound): the body is a Lambda asynchronous-invocation record
  (``requestPayload`` = the SES event), as Lambda's on-failure destination writes it; the
  inbound service's own dead letters write the same shape (``requestContext.condition``
  ``PermanentFailure``, ``responsePayload`` = the reason) plus the reason attributes. A redrive
  invokes the function again with ``requestPayload``.

:func:`read_dead_letter` reads any entry (also the envelope earlier versions wrote,
``{"source", "failedAt", "reason", "event"}``) into a :class:`DeadLetterEntry` with its origin,
its reason and the body a redrive sends back.

Example
-------
>>> body, attrs = dead_letter_message({"messageId": "m-1", "body": '{"detail-type": "X"}'},
...     {"code": "invalid_event", "reason": "detail.order is missing", "error": "E"},
...     source="shopmail.outbound", failed_at="2026-12-01T10:00:00+00:00")
>>> body, attrs["shopmail.code"]["StringValue"]
('{"detail-type": "X"}', 'invalid_event')
>>> entry = read_dead_letter({"MessageId": "d-1", "Body": body, "MessageAttributes": attrs})
>>> entry.origin, entry.reason, entry.redrive_body == body
(<DeadLetterOrigin.SERVICE: 'service'>, 'detail.order is missing', True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from shopmail.domain.times import iso_utc

#: Message attribute names shopmail writes (at most 10 per message; SQS's limit).
SOURCE_ATTRIBUTE: Final = "shopmail.source"
FAILED_AT_ATTRIBUTE: Final = "shopmail.failedAt"
CODE_ATTRIBUTE: Final = "shopmail.code"
REASON_ATTRIBUTE: Final = "shopmail.reason"
ERROR_ATTRIBUTE: Final = "shopmail.error"
MESSAGE_ID_ATTRIBUTE: Final = "shopmail.messageId"
TRUNCATED_ATTRIBUTE: Final = "shopmail.truncated"
REASON_ATTRIBUTES: Final = (
    SOURCE_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    CODE_ATTRIBUTE,
    REASON_ATTRIBUTE,
    ERROR_ATTRIBUTE,
    MESSAGE_ID_ATTRIBUTE,
    TRUNCATED_ATTRIBUTE,
)
#: The message attributes an EventBridge target's dead-letter queue gets from EventBridge.
EVENTBRIDGE_ERROR_CODE: Final = "ERROR_CODE"
EVENTBRIDGE_ERROR_MESSAGE: Final = "ERROR_MESSAGE"
EVENTBRIDGE_RULE_ARN: Final = "RULE_ARN"
#: The ``requestContext.condition`` of a dead letter the inbound service wrote itself.
PERMANENT_CONDITION: Final = "PermanentFailure"
#: SQS's limit for body plus attributes (256 KiB), less a margin.
MAX_MESSAGE_BYTES: Final = 256 * 1024 - 1024
MAX_REASON_CHARS: Final = 1000


class DeadLetterBody(StrEnum):
    """The body format of a dead-letter queue."""

    RECORD = "record"
    INVOCATION = "invocation"


class DeadLetterOrigin(StrEnum):
    """Who wrote a dead-letter message."""

    SERVICE = "service"  # shopmail (reason in shopmail.* attributes)
    EVENTBRIDGE = "eventbridge"  # a rule target could not deliver the event
    REDRIVE = "redrive"  # the source queue's redrive policy (receives exhausted)
    LAMBDA = "lambda"  # an asynchronous invocation's on-failure destination
    LEGACY = "legacy"  # the envelope of earlier shopmail versions


def _attribute(value: object, limit: int = MAX_REASON_CHARS) -> dict[str, str]:
    text = " ".join(str(value).split())[:limit] or "-"
    return {"DataType": "String", "StringValue": text}


def invocation_record(event: Any, reason: Mapping[str, Any], failed_at: str) -> dict[str, Any]:
    """The Lambda asynchronous-invocation record for an inbound event that failed for good."""
    return {
        "version": "1.0",
        "timestamp": failed_at,
        "requestContext": {
            "requestId": "",
            "functionArn": "",
            "condition": PERMANENT_CONDITION,
            "approximateInvokeCount": 1,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "functionError": "Handled"},
        "responsePayload": {
            "errorType": str(reason.get("error", "")),
            "errorCode": str(reason.get("code", "")),
            "errorMessage": str(reason.get("reason", ""))[:2000],
            "stage": reason.get("stage"),
        },
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def dead_letter_message(
    payload: Any,
    reason: Mapping[str, Any],
    *,
    source: str,
    failed_at: str,
    body: DeadLetterBody = DeadLetterBody.RECORD,
) -> tuple[str, dict[str, dict[str, str]]]:
    """``(message body, message attributes)`` of a dead letter shopmail writes.

    Parameters
    ----------
    payload
        ``record``: the SQS record that failed (its ``body`` is written as it is);
        ``invocation``: the Lambda event (written as ``requestPayload``).
    reason
        :meth:`shopmail.errors.ShopmailError.to_dict` (plus context).
    source, failed_at
        Who failed and when (ISO 8601).
    body
        The queue's :class:`DeadLetterBody`.
    """
    original_id: Any = None
    if body is DeadLetterBody.INVOCATION:
        text = _json(invocation_record(payload, reason, failed_at))
        original_id = reason.get("messageId")
    elif isinstance(payload, Mapping) and isinstance(payload.get("body"), str) and payload["body"]:
        text = payload["body"]
        original_id = payload.get("messageId")
    else:
        text = _json(payload)
    attributes = {
        SOURCE_ATTRIBUTE: _attribute(source),
        FAILED_AT_ATTRIBUTE: _attribute(failed_at),
        CODE_ATTRIBUTE: _attribute(reason.get("code", "")),
        REASON_ATTRIBUTE: _attribute(reason.get("reason", "")),
        ERROR_ATTRIBUTE: _attribute(reason.get("error", "")),
    }
    if original_id:
        attributes[MESSAGE_ID_ATTRIBUTE] = _attribute(original_id, 200)
    size = len(text.encode("utf-8")) + len(_json(attributes).encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:  # only the reason is kept; the input is not redrivable
        text = _json({"truncated": True, "messageId": original_id})
        attributes[TRUNCATED_ATTRIBUTE] = _attribute("true")
    return text, attributes


# ------------------------------------------------------------------ reading entries


@dataclass(frozen=True)
class DeadLetterEntry:
    """One dead-letter message as an operator sees it.

    Attributes
    ----------
    message_id
        The SQS message id in the dead-letter queue.
    origin
        Who wrote it (:class:`DeadLetterOrigin`).
    code, reason
        Why it failed (one line each).
    source
        The function or rule that gave up (``""`` when unknown).
    failed_at
        When (ISO 8601; SQS's sent time when nothing says better).
    detail_type
        The detail-type of the event inside (``""`` for SES events and unreadable bodies).
    redrive_body
        What a redrive sends back (the record body, or the SES event as JSON for the inbound
        queue); ``None`` when the entry cannot be redriven (truncated, unreadable).
    receive_count
        SQS's approximate receive count of the dead-letter message.
    body, attributes
        The message as stored (attributes: string values).
    """

    message_id: str
    origin: DeadLetterOrigin
    code: str
    reason: str
    source: str
    failed_at: str
    detail_type: str
    redrive_body: str | None
    receive_count: int
    body: str
    attributes: Mapping[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The ``dlq list`` line (no body)."""
        return {
            "messageId": self.message_id,
            "origin": str(self.origin),
            "code": self.code,
            "reason": self.reason,
            "source": self.source,
            "failedAt": self.failed_at,
            "detailType": self.detail_type,
            "redrivable": self.redrive_body is not None,
            "receiveCount": self.receive_count,
        }


def _strings(attributes: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(attributes, Mapping):
        for name, value in attributes.items():
            if isinstance(value, Mapping):
                text = value.get("StringValue", value.get("stringValue"))
                if text is not None:
                    out[str(name)] = str(text)
    return out


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _ses_event(data: Any) -> Any:
    """The SES Lambda event inside an invocation record, a legacy envelope or a bare event."""
    if not isinstance(data, Mapping):
        return None
    if data.get("Records"):
        return data
    for key in ("requestPayload", "event"):
        inner = data.get(key)
        if isinstance(inner, Mapping) and inner.get("Records"):
            return inner
    return None


def _legacy_body(data: Mapping[str, Any]) -> str | None:
    """The record body inside an earlier version's envelope (outbound or feedback)."""
    event = data.get("event")
    if isinstance(event, Mapping) and isinstance(event.get("body"), str):
        return str(event["body"])  # feedback: the whole SQS record
    if isinstance(event, Mapping) and "sqsMessageId" in event:
        event = event.get("event")  # outbound: {"sqsMessageId", "event": payload}
    if event is None:
        return None
    return event if isinstance(event, str) else _json(event)


def _is_legacy(data: Any) -> bool:
    return isinstance(data, Mapping) and {"source", "failedAt", "reason", "event"} <= set(data)


def _failed_at(system: Mapping[str, Any]) -> str:
    try:
        millis = int(system.get("SentTimestamp", ""))
    except (TypeError, ValueError):
        return ""
    return iso_utc(millis / 1000)


def _origin_and_reason(
    data: Any, attrs: Mapping[str, str], system: Mapping[str, Any]
) -> tuple[DeadLetterOrigin, str, str, str, str]:
    """``(origin, code, reason, source, failed_at)``."""
    sent = _failed_at(system)
    if CODE_ATTRIBUTE in attrs or REASON_ATTRIBUTE in attrs:
        return (
            DeadLetterOrigin.SERVICE,
            attrs.get(CODE_ATTRIBUTE, ""),
            attrs.get(REASON_ATTRIBUTE, ""),
            attrs.get(SOURCE_ATTRIBUTE, ""),
            attrs.get(FAILED_AT_ATTRIBUTE, sent),
        )
    if EVENTBRIDGE_ERROR_CODE in attrs:
        return (
            DeadLetterOrigin.EVENTBRIDGE,
            attrs[EVENTBRIDGE_ERROR_CODE],
            attrs.get(EVENTBRIDGE_ERROR_MESSAGE, ""),
            attrs.get(EVENTBRIDGE_RULE_ARN, ""),
            sent,
        )
    if isinstance(data, Mapping) and isinstance(data.get("requestContext"), Mapping):
        context = data["requestContext"]
        response = data.get("responsePayload")
        response = response if isinstance(response, Mapping) else {}
        condition = str(context.get("condition", ""))
        message = str(response.get("errorMessage", ""))
        return (
            DeadLetterOrigin.LAMBDA,
            str(response.get("errorCode") or response.get("errorType") or condition),
            f"{condition}: {message}" if message else condition,
            str(context.get("functionArn", "")),
            str(data.get("timestamp") or sent),
        )
    if _is_legacy(data):
        reason = data.get("reason")
        reason = reason if isinstance(reason, Mapping) else {}
        return (
            DeadLetterOrigin.LEGACY,
            str(reason.get("code", "")),
            str(reason.get("reason", "")),
            str(data.get("source", "")),
            str(data.get("failedAt") or sent),
        )
    return (
        DeadLetterOrigin.REDRIVE,
        "receives_exhausted",
        "the source queue's redrive policy moved it after repeated failed receives",
        str(system.get("DeadLetterQueueSourceArn", "")),
        sent,
    )


def _redrive_body(
    text: str, data: Any, origin: DeadLetterOrigin, attrs: Mapping[str, str], kind: DeadLetterBody
) -> str | None:
    if attrs.get(TRUNCATED_ATTRIBUTE) == "true":
        return None
    if kind is DeadLetterBody.INVOCATION:
        event = _ses_event(data)
        return _json(event) if event is not None else None
    if origin is DeadLetterOrigin.LEGACY and isinstance(data, Mapping):
        return _legacy_body(data)
    return text if text else None


def read_dead_letter(
    message: Mapping[str, Any], kind: DeadLetterBody = DeadLetterBody.RECORD
) -> DeadLetterEntry:
    """Read one message of SQS ``ReceiveMessage`` (``MessageId``, ``Body``, ``Attributes``,
    ``MessageAttributes``) from a queue of body format ``kind``."""
    text = str(message.get("Body") or "")
    attrs = _strings(message.get("MessageAttributes"))
    system = message.get("Attributes")
    system = system if isinstance(system, Mapping) else {}
    data = _loads(text)
    origin, code, reason, source, failed_at = _origin_and_reason(data, attrs, system)
    redrive = _redrive_body(text, data, origin, attrs, kind)
    detail_type = ""
    inner = _loads(redrive) if redrive else None
    if isinstance(inner, Mapping) and isinstance(inner.get("detail-type"), str):
        detail_type = inner["detail-type"][:128]
    try:
        count = int(system.get("ApproximateReceiveCount", 0))
    except (TypeError, ValueError):
        count = 0
    return DeadLetterEntry(
        message_id=str(message.get("MessageId", "")),
        origin=origin,
        code=" ".join(code.split())[:200],
        reason=" ".join(reason.split())[:MAX_REASON_CHARS],
        source=source,
        failed_at=failed_at,
        detail_type=detail_type,
        redrive_body=redrive,
        receive_count=count,
        body=text,
        attributes=MappingProxyType(attrs),
    )
