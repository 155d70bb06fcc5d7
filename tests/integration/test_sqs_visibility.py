"""The SQS visibility scheduler against the moto server: the queue URL from the record's ARN,
batches of ten, failures logged and never raised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shopmail.adapters.sqs_visibility import SqsVisibilityScheduler, queue_url
from shopmail.domain.outbound.retry_schedule import Postponement


def test_postponements_reach_every_message_in_batches_of_ten(
    aws_client: Callable[..., Any],
) -> None:
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName="outbound", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert queue_url(sqs.meta.endpoint_url, arn) == url
    for n in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    received: list[dict[str, Any]] = []
    while len(received) < 12:
        received += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None  # all in flight
    scheduler = SqsVisibilityScheduler(sqs)
    # 12 messages: two requests; delay 0 makes every one of them visible at once
    scheduler.postpone([Postponement(m["MessageId"], m["ReceiptHandle"], arn, 0) for m in received])
    again: list[dict[str, Any]] = []
    for _ in range(3):
        again += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert sorted(m["Body"] for m in again) == sorted(m["Body"] for m in received)
    scheduler.postpone([Postponement(m["MessageId"], m["ReceiptHandle"], arn, 900) for m in again])
    scheduler.postpone(
        [Postponement(m["MessageId"], m["ReceiptHandle"], arn, 0) for m in again[:2]]
    )
    back = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in back) == sorted(m["Body"] for m in again[:2])


def test_bad_handles_and_foreign_arns_are_logged_not_raised(
    aws_client: Callable[..., Any], caplog: Any
) -> None:
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName="outbound")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    scheduler = SqsVisibilityScheduler(sqs)
    scheduler.postpone(
        [
            Postponement("m1", "not-a-receipt-handle", arn, 30),
            Postponement("m2", "handle", "arn:aws:sns:eu-west-1:123456789012:topic", 30),
            Postponement("m3", "handle", arn.replace("outbound", "no-such-queue"), 30),
            Postponement("m4", "", arn, 30),  # a record without a handle: nothing to do
        ]
    )
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "could not postpone" in messages and "not an SQS queue ARN" in messages
