"""The AWS fault hooks against moto over HTTP: a ``PutEvents`` partial failure keeps the failed
entries off the bus and answers them in their places."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shopmail_local.faults import FaultPlan, install
from shopmail_local.faults.profiles import parse_profile


def test_a_partial_putevents_failure_delivers_only_the_other_entries(
    aws_client: Callable[..., Any],
) -> None:
    sqs, events = aws_client("sqs"), aws_client("events")
    events.create_event_bus(Name="shop")
    url = sqs.create_queue(QueueName="seen")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="all", EventBusName="shop", EventPattern=json.dumps({"source": ["t"]}))
    events.put_targets(Rule="all", EventBusName="shop", Targets=[{"Id": "q", "Arn": arn}])
    profile = parse_profile(
        {"aws": [{"service": "events", "operation": "PutEvents", "partial": True,
                  "code": "ThrottlingException", "probability": 1, "limit": 1}]},
        "partial",
    )  # fmt: skip
    plan = FaultPlan(profile, seed=2)
    faulty = install(aws_client("events"), plan)
    entries = [
        {"EventBusName": "shop", "Source": "t", "DetailType": "n", "Detail": json.dumps({"n": n})}
        for n in range(6)
    ]
    answer = faulty.put_events(Entries=entries)
    failed = [i for i, e in enumerate(answer["Entries"]) if e.get("ErrorCode")]
    assert 0 < len(failed) < len(entries)  # seed 2: some fail, some go through
    assert answer["FailedEntryCount"] == len(failed) and len(answer["Entries"]) == len(entries)
    assert all(answer["Entries"][i]["ErrorCode"] == "ThrottlingException" for i in failed)
    assert all("EventId" in e for i, e in enumerate(answer["Entries"]) if i not in failed)
    seen = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            seen.append(json.loads(m["Body"])["detail"]["n"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert sorted(seen) == [n for n in range(6) if n not in failed]
    assert faulty.put_events(Entries=entries)["FailedEntryCount"] == 0  # limit 1: done
