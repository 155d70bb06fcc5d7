"""One dead-letter body format per queue, and reading every entry with its reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from shopmail.domain.dead_letters import (
    MAX_MESSAGE_BYTES,
    DeadLetterBody,
    DeadLetterOrigin,
    dead_letter_message,
    read_dead_letter,
)

EVENT = {"id": "e-1", "source": "shop", "detail-type": "OrderPlaced", "detail": {"x": 1}}
REASON = {"error": "InvalidEventError", "code": "invalid_event", "reason": "detail.x is wrong"}
SES_EVENT = {"Records": [{"ses": {"mail": {"messageId": "m-1"}}}]}


def _sqs(body: str, attributes: dict[str, Any] | None = None, **system: str) -> dict[str, Any]:
    return {
        "MessageId": "d-1",
        "Body": body,
        "MessageAttributes": attributes or {},
        "Attributes": {"SentTimestamp": "1796169395902", "ApproximateReceiveCount": "2", **system},
    }


def test_a_record_dead_letter_keeps_the_original_body_and_puts_the_reason_beside_it() -> None:
    original = json.dumps(EVENT)
    body, attrs = dead_letter_message(
        {"messageId": "sqs-1", "body": original}, REASON, source="shopmail.outbound",
        failed_at="2026-12-01T10:00:00+00:00",
    )  # fmt: skip
    assert body == original
    values = {k: v["StringValue"] for k, v in attrs.items()}
    assert values == {
        "shopmail.source": "shopmail.outbound",
        "shopmail.failedAt": "2026-12-01T10:00:00+00:00",
        "shopmail.code": "invalid_event",
        "shopmail.reason": "detail.x is wrong",
        "shopmail.error": "InvalidEventError",
        "shopmail.messageId": "sqs-1",
    }
    assert all(v["DataType"] == "String" for v in attrs.values()) and len(attrs) <= 10
    entry = read_dead_letter(_sqs(body, attrs))
    assert entry.origin is DeadLetterOrigin.SERVICE
    assert (entry.code, entry.reason, entry.detail_type) == (
        "invalid_event", "detail.x is wrong", "OrderPlaced",
    )  # fmt: skip
    assert entry.redrive_body == original and entry.receive_count == 2


def test_a_record_without_a_body_is_kept_as_json() -> None:
    body, _ = dead_letter_message({"body": None}, REASON, source="s", failed_at="t")
    assert json.loads(body) == {"body": None}


def test_an_inbound_dead_letter_is_an_invocation_record() -> None:
    body, attrs = dead_letter_message(
        SES_EVENT, {**REASON, "messageId": "m-1", "stage": "parse"}, source="shopmail.inbound",
        failed_at="2026-12-01T10:00:00+00:00", body=DeadLetterBody.INVOCATION,
    )  # fmt: skip
    record = json.loads(body)
    assert record["requestPayload"] == SES_EVENT
    assert record["requestContext"]["condition"] == "PermanentFailure"
    assert record["responsePayload"]["errorCode"] == "invalid_event"
    assert attrs["shopmail.messageId"]["StringValue"] == "m-1"
    entry = read_dead_letter(_sqs(body, attrs), DeadLetterBody.INVOCATION)
    assert entry.origin is DeadLetterOrigin.SERVICE
    assert json.loads(entry.redrive_body or "") == SES_EVENT


def test_lambdas_own_destination_record_reads_the_same_way() -> None:
    record = {
        "version": "1.0",
        "timestamp": "2026-12-01T10:00:00.000Z",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3,
                           "functionArn": "arn:aws:lambda:eu-west-1:1:function:f:$LATEST"},
        "requestPayload": SES_EVENT,
        "responsePayload": {"errorType": "ServiceUnavailableError", "errorMessage": "s3 failed"},
    }  # fmt: skip
    entry = read_dead_letter(_sqs(json.dumps(record)), DeadLetterBody.INVOCATION)
    assert entry.origin is DeadLetterOrigin.LAMBDA
    assert entry.code == "ServiceUnavailableError"
    assert entry.reason == "RetriesExhausted: s3 failed"
    assert entry.failed_at == "2026-12-01T10:00:00.000Z"
    assert json.loads(entry.redrive_body or "") == SES_EVENT


def test_eventbridge_target_dead_letters_and_redrive_policy_moves() -> None:
    attrs = {
        "ERROR_CODE": {"DataType": "String", "StringValue": "SQS_ACCESS_DENIED"},
        "ERROR_MESSAGE": {"DataType": "String", "StringValue": "denied"},
        "RULE_ARN": {"DataType": "String", "StringValue": "arn:rule"},
    }
    entry = read_dead_letter(_sqs(json.dumps(EVENT), attrs))
    assert (entry.origin, entry.code, entry.reason, entry.source) == (
        DeadLetterOrigin.EVENTBRIDGE, "SQS_ACCESS_DENIED", "denied", "arn:rule",
    )  # fmt: skip
    assert entry.redrive_body == json.dumps(EVENT)
    moved = read_dead_letter(_sqs(json.dumps(EVENT), DeadLetterQueueSourceArn="arn:q"))
    assert moved.origin is DeadLetterOrigin.REDRIVE and moved.code == "receives_exhausted"
    assert moved.source == "arn:q" and moved.failed_at.startswith("2026-")


@pytest.mark.parametrize(
    ("legacy_event", "kind", "expected"),
    [
        ({"sqsMessageId": "m", "event": EVENT}, DeadLetterBody.RECORD, json.dumps(EVENT)),
        ({"sqsMessageId": "m", "event": "{not json"}, DeadLetterBody.RECORD, "{not json"),
        ({"messageId": "m", "body": json.dumps(EVENT)}, DeadLetterBody.RECORD, json.dumps(EVENT)),
        (SES_EVENT, DeadLetterBody.INVOCATION, json.dumps(SES_EVENT)),
    ],
    ids=["outbound", "outbound-text", "feedback", "inbound"],
)
def test_earlier_envelopes_are_read_and_redriven_in_todays_format(
    legacy_event: Any, kind: DeadLetterBody, expected: str
) -> None:
    legacy = {"source": "shopmail.x", "failedAt": "2026-11-01T00:00:00+00:00",
              "reason": REASON, "event": legacy_event}  # fmt: skip
    entry = read_dead_letter(_sqs(json.dumps(legacy)), kind)
    assert entry.origin is DeadLetterOrigin.LEGACY
    assert (entry.code, entry.source, entry.failed_at) == (
        "invalid_event", "shopmail.x", "2026-11-01T00:00:00+00:00",
    )  # fmt: skip
    assert entry.redrive_body == expected


def test_an_oversized_input_keeps_its_reason_but_cannot_be_redriven() -> None:
    huge = {"messageId": "sqs-1", "body": "x" * MAX_MESSAGE_BYTES}
    body, attrs = dead_letter_message(huge, REASON, source="s", failed_at="t")
    assert len(body) < 200 and attrs["shopmail.truncated"]["StringValue"] == "true"
    entry = read_dead_letter(_sqs(body, attrs))
    assert entry.redrive_body is None and entry.code == "invalid_event"
    assert entry.summary()["redrivable"] is False


def test_unreadable_messages_never_crash() -> None:
    for message in ({}, {"Body": None, "MessageAttributes": "x", "Attributes": 3},
                    _sqs("\\x00 not json")):  # fmt: skip
        entry = read_dead_letter(message)
        assert entry.origin is DeadLetterOrigin.REDRIVE
    assert read_dead_letter(_sqs("{}"), DeadLetterBody.INVOCATION).redrive_body is None
