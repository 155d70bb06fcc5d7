"""The inbound handler with the real AWS adapters against a moto server over HTTP.

Published events are OBSERVED through an EventBridge rule on the shop bus that targets an SQS
queue; the dead-letter queue is a second queue.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from shopmail.adapters.dynamodb_idempotency import DynamoDbIdempotencyStore
from shopmail.adapters.dynamodb_rate_limit import DynamoDbRateLimiter
from shopmail.adapters.eventbridge import EventBridgePublisher
from shopmail.adapters.s3_raw_mail import S3RawMailStore
from shopmail.adapters.sqs_dead_letter import SqsDeadLetterSink
from shopmail.bootstrap.inbound import build_inbound_service
from shopmail.errors import (
    ConfigurationError,
    InProgressError,
    RawMailMissingError,
    ServiceUnavailableError,
)

from tests.fixtures.inbound_aws import BUCKET, Stack
from tests.fixtures.moto_resources import route_to_queue
from tests.fixtures.paths import EVENTS


def test_support_mail_event_arrives_on_the_bus(inbound_stack: Stack) -> None:
    event = inbound_stack.put_sample("support")
    result = inbound_stack.handle(event)
    assert result["dead_lettered"] == 0
    (ev,) = inbound_stack.drain(inbound_stack.observed_url)
    assert ev["source"] == "shopmail.inbound"
    assert ev["detail-type"] == "SupportMessageReceived"
    assert ev["detail"]["from"]["address"] == "kim.meyer@example.org"
    assert ev["detail"]["raw"] == {"bucket": BUCKET, "key": f"inbound/{ev['detail']['messageId']}"}
    assert len(inbound_stack.sender.sent) == 1  # acknowledgement


def test_redelivery_publishes_nothing_twice(inbound_stack: Stack) -> None:
    event = inbound_stack.put_sample("support")
    inbound_stack.handle(event)
    second = inbound_stack.handle(copy.deepcopy(event))
    assert second["duplicates"] == 3
    assert len(inbound_stack.drain(inbound_stack.observed_url)) == 1
    assert len(inbound_stack.sender.sent) == 1
    item = inbound_stack.client("dynamodb").scan(TableName="shopmail-idempotency")["Items"][0]
    assert item["status"]["S"] == "COMPLETED"
    assert int(item["expiration"]["N"]) > 0


def test_attachments_stored_under_safe_keys(inbound_stack: Stack) -> None:
    event = inbound_stack.put_sample("return")
    mid = event["Records"][0]["ses"]["mail"]["messageId"]
    inbound_stack.handle(event)
    listed = inbound_stack.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="attachments/")
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert len(keys) == 1
    assert keys[0].startswith(f"attachments/{mid}/") and ".." not in keys[0]
    assert keys[0].endswith("return_label.pdf")
    obj = inbound_stack.client("s3").get_object(Bucket=BUCKET, Key=keys[0])
    assert obj["Body"].read().startswith(b"%PDF-1.4")
    assert obj["ContentType"] == "application/pdf"
    (ev,) = inbound_stack.drain(inbound_stack.observed_url)
    assert ev["detail-type"] == "ReturnMailReceived"
    assert ev["detail"]["attachments"][0]["s3Key"] == keys[0]


def test_spam_fail_is_quarantined(inbound_stack: Stack) -> None:
    event = inbound_stack.put_sample("spam_fail")
    mid = event["Records"][0]["ses"]["mail"]["messageId"]
    inbound_stack.handle(event)
    copied = (
        inbound_stack.client("s3").get_object(Bucket=BUCKET, Key=f"quarantine/{mid}")["Body"].read()
    )
    assert copied == (EVENTS / "inbound" / "spam_fail.eml").read_bytes()
    (ev,) = inbound_stack.drain(inbound_stack.observed_url)
    assert ev["detail-type"] == "MessageQuarantined"
    assert ev["detail"]["quarantineKey"] == f"quarantine/{mid}"
    assert inbound_stack.sender.sent == []


def test_missing_raw_object_goes_to_dlq_with_reason(inbound_stack: Stack) -> None:
    event = json.loads((EVENTS / "inbound" / "support.json").read_text())  # nothing in S3
    result = inbound_stack.handle(event)
    assert result["dead_lettered"] == 1
    (entry,) = inbound_stack.dead_letter_entries()
    # one format in the inbound queue: a Lambda invocation record, the reason in attributes
    assert entry.origin == "service" and entry.source == "shopmail.inbound"
    assert entry.code == "raw_mail_missing" and "does not exist" in entry.reason
    body = json.loads(entry.body)
    assert body["requestPayload"] == event
    assert body["requestContext"]["condition"] == "PermanentFailure"
    assert json.loads(entry.redrive_body or "") == event
    assert inbound_stack.drain(inbound_stack.observed_url) == []


def test_transient_failure_raises_and_retry_publishes_once(
    inbound_stack: Stack, aws_client: Callable[..., Any]
) -> None:
    event = inbound_stack.put_sample("support")
    dead = Config(retries={"max_attempts": 1}, connect_timeout=2)

    def unreachable_events(name: str) -> Any:
        if name == "events":  # EventBridge unreachable: a transient failure
            return boto3.client(
                name, region_name="eu-west-1", config=dead, endpoint_url="http://127.0.0.1:9"
            )
        return aws_client(name)

    broken = build_inbound_service(
        inbound_stack.settings, unreachable_events, mail_sender=inbound_stack.sender
    )
    with pytest.raises(ServiceUnavailableError):
        inbound_stack.app.handle(event, broken)
    assert inbound_stack.sender.sent == []  # mail goes out only after the event is published
    # the failed claim was released: Lambda's retry publishes exactly once
    inbound_stack.handle(event)
    assert [e["detail-type"] for e in inbound_stack.drain(inbound_stack.observed_url)] == [
        "SupportMessageReceived"
    ]
    assert len(inbound_stack.sender.sent) == 1


def _observe_bus(stack: Stack) -> None:
    events, sqs = stack.client("events"), stack.client("sqs")
    route_to_queue(
        events, sqs, "observe-inbound", {"source": ["shopmail.inbound"]}, stack.observed_url
    )


def test_missing_bus_is_a_configuration_error_that_is_retried(inbound_stack: Stack) -> None:
    """A bus that does not exist is the operator's to fix, not the mail's fault: the event is
    not dead-lettered by the service but raised, so Lambda retries it (and after the retries
    its on-failure destination keeps it); once the bus exists again the same event publishes."""
    event = inbound_stack.put_sample("support")
    inbound_stack.client("events").delete_event_bus(Name="shop")
    with pytest.raises(ConfigurationError, match="ResourceNotFoundException"):
        inbound_stack.handle(event)
    assert inbound_stack.drain(inbound_stack.dlq_url) == []
    inbound_stack.client("events").create_event_bus(Name="shop")
    _observe_bus(inbound_stack)
    result = inbound_stack.handle(event)
    assert result["dead_lettered"] == 0 and result["actions"].get("publish") == 1
    assert [e["detail-type"] for e in inbound_stack.drain(inbound_stack.observed_url)] == [
        "SupportMessageReceived"
    ]


# --- adapters one by one ------------------------------------------------------------------


def test_s3_store_streams_and_maps_errors(inbound_stack: Stack) -> None:
    store = S3RawMailStore(inbound_stack.client("s3"), BUCKET)
    store.put("inbound/x", b"a" * 200_000)
    chunks = list(store.iter_chunks("inbound/x", 65536))
    assert len(chunks) >= 3 and b"".join(chunks) == b"a" * 200_000
    with pytest.raises(RawMailMissingError) as info:
        store.iter_chunks("inbound/nope")
    assert info.value.context["key"] == "inbound/nope"
    store.upload_stream("big", iter([b"x" * (3 << 20)] * 4))  # 12 MB: multipart upload
    assert (
        inbound_stack.client("s3").head_object(Bucket=BUCKET, Key="big")["ContentLength"]
        == 12 << 20
    )
    store.copy("inbound/x", "quarantine/x")
    assert store.read("quarantine/x") == b"a" * 200_000
    with pytest.raises(RawMailMissingError):
        store.copy("inbound/nope", "quarantine/nope")
    other = S3RawMailStore(inbound_stack.client("s3"), "no-such-bucket")
    with pytest.raises(RawMailMissingError):
        other.iter_chunks("inbound/x")


def test_idempotency_store_claims(inbound_stack: Stack) -> None:
    clock = [1_800_000_000.0]
    store = DynamoDbIdempotencyStore(
        inbound_stack.client("dynamodb"), "shopmail-idempotency", 3600, clock=lambda: clock[0]
    )
    assert store.begin("k", 30) is True
    with pytest.raises(InProgressError):
        store.begin("k", 30)
    clock[0] += 31  # the attempt that claimed it crashed
    assert store.begin("k", 30) is True
    store.complete("k", {"route": "support"})
    assert store.begin("k", 30) is False
    assert store.data("k") == {"route": "support"}
    store.release("k")  # never deletes a COMPLETED record
    assert store.begin("k", 30) is False
    clock[0] += 3601  # expired (TTL deletion lags)
    assert store.begin("k", 30) is True
    store.release("k")
    assert store.begin("k", 30) is True


def test_rate_limiter(inbound_stack: Stack) -> None:
    clock = [1_800_000_000.0]
    limiter = DynamoDbRateLimiter(
        inbound_stack.client("dynamodb"), "shopmail-rate-limit", clock=lambda: clock[0]
    )
    assert limiter.acquire("s", 100) is True
    assert limiter.acquire("s", 100) is False
    limiter.release("s")
    assert limiter.acquire("s", 100) is True
    clock[0] += 101
    assert limiter.acquire("s", 100) is True
    # an owner takes its own slot again (a retry whose release was lost), no one else does
    assert limiter.acquire("o", 100, "msg-1#r") is True
    assert limiter.acquire("o", 100, "msg-1#r") is True
    assert limiter.acquire("o", 100, "msg-2#r") is False
    assert limiter.acquire("o", 100) is False


def test_eventbridge_failed_entry_is_transient(inbound_stack: Stack) -> None:
    publisher = EventBridgePublisher(inbound_stack.client("events"), "shop")
    with pytest.raises(ServiceUnavailableError) as info:
        publisher.publish("", {"a": 1}, "shopmail.inbound")  # entry fails: InvalidArgument
    assert info.value.context["code"] == "InvalidArgument"
    missing = EventBridgePublisher(inbound_stack.client("events"), "no-such-bus")
    with pytest.raises(ConfigurationError):
        missing.publish("X", {"a": 1}, "shopmail.inbound")


def test_dead_letter_sink_and_missing_queue(inbound_stack: Stack) -> None:
    sink = SqsDeadLetterSink(inbound_stack.client("sqs"), inbound_stack.dlq_url)
    sink.send({"Records": []}, {"code": "invalid_event", "reason": "Records is missing"})
    (entry,) = inbound_stack.dead_letter_entries()
    assert json.loads(entry.body)["requestPayload"] == {"Records": []}
    assert (entry.code, entry.reason) == ("invalid_event", "Records is missing")
    bad = SqsDeadLetterSink(inbound_stack.client("sqs"), inbound_stack.dlq_url + "-missing")
    with pytest.raises((ClientError, ServiceUnavailableError)):
        bad.send({}, {})
