"""EventBridge -> SQS -> handler, run by the local event source mapping against moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shopmail_local.stack.plumbing import Observer, QueuePoller, failed_ids, replay_dead_letters
from shopmail_local.stack.provision import StackOutputs


def _put(events: Any, detail_type: str, detail: dict[str, Any]) -> None:
    events.put_events(
        Entries=[
            {
                "Source": "shop",
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": "shop",
            }
        ]
    )


def test_partial_batch_failures_are_kept_and_redriven_to_the_dead_letter_queue(
    provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    sqs, events = aws_client("sqs"), aws_client("events")
    fn = provisioned.functions["OutboundFunction"]
    source = next(s for s in fn.sqs_sources if s.name == "PriorityQueue")
    seen: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for r in event["Records"]:
            assert r["eventSourceARN"] == source.queue_arn
            assert r["eventSource"] == "aws:sqs"
            body = json.loads(r["body"])
            seen.append(body["detail"]["name"])
            if body["detail"]["name"] == "bad":
                failures.append({"itemIdentifier": r["messageId"]})
        return {"batchItemFailures": failures}

    _put(events, "PasswordResetRequested", {"name": "good"})
    _put(events, "PasswordResetRequested", {"name": "bad"})
    poller = QueuePoller(sqs, source, fn, handler, wait_seconds=0, retry_backoff=0)
    receives = int(provisioned.parameters["OutboundMaxReceiveCount"])  # the template's
    for _ in range(receives + 3):
        poller.poll_once()
    assert seen.count("good") == 1
    assert seen.count("bad") == receives
    dlq = provisioned.outputs["OutboundDeadLetterQueueUrl"]
    msgs = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages") or []
    assert [json.loads(m["Body"])["detail"]["name"] for m in msgs] == ["bad"]


def test_an_exception_keeps_the_whole_batch(
    provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    sqs, events = aws_client("sqs"), aws_client("events")
    fn = provisioned.functions["OutboundFunction"]
    source = next(s for s in fn.sqs_sources if s.name == "BulkQueue")
    calls: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")

    _put(events, "OrderPlaced", {"name": "a"})
    poller = QueuePoller(sqs, source, fn, handler, wait_seconds=0, retry_backoff=0)
    poller.poll_once()
    poller.poll_once()
    assert calls == [1, 1]
    assert poller.poll_once() == 0  # deleted after the success


def test_malformed_partial_batch_response_fails_the_whole_batch() -> None:
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "x"}]}, ["a", "b"], True) == {
        "a",
        "b",
    }
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, ["a", "b"], True) == {"a"}
    assert failed_ids({"batchItemFailures": []}, ["a"], True) == set()
    assert failed_ids(None, ["a"], True) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, ["a"], False) == set()


def test_observer_sees_every_event_on_the_buses(
    provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    seen: list[tuple[str, str]] = []
    observer = Observer(
        aws_client("sqs"),
        aws_client("events"),
        ["shop", "default"],
        provisioned.account_id,
        lambda source, event: seen.append((source, event["detail-type"])),
    )
    _put(aws_client("events"), "CustomerReplied", {"x": 1})
    aws_client("events").put_events(
        Entries=[{"Source": "aws.ses", "DetailType": "Email Delivered", "Detail": "{}"}]
    )
    observer.drain_once(wait=1)
    assert sorted(seen) == [("aws.ses", "Email Delivered"), ("shop", "CustomerReplied")]


def test_replay_moves_redrive_dead_letters_back_and_reinvokes_destination_records(
    provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    sqs = aws_client("sqs")
    out = provisioned.outputs
    dlq = out["OutboundDeadLetterQueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody='{"n": 1}')
    assert replay_dead_letters(sqs, dlq, provisioned.redrive_sources[dlq]) == 1
    back = sqs.receive_message(QueueUrl=out["OutboundQueueUrl"])["Messages"]
    assert back[0]["Body"] == '{"n": 1}'
    assert not sqs.receive_message(QueueUrl=dlq).get("Messages")

    inbound_dlq = out["InboundDeadLetterQueueUrl"]
    record = {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": {"a": 1}}
    sqs.send_message(QueueUrl=inbound_dlq, MessageBody=json.dumps(record))
    sqs.send_message(QueueUrl=inbound_dlq, MessageBody="not json")
    invoked: list[Any] = []
    assert replay_dead_letters(sqs, inbound_dlq, [], reinvoke=invoked.append) == 1
    assert invoked == [{"a": 1}]
