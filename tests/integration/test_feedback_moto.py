"""The feedback path against a real moto server over HTTP.

SES event on the default bus -> rule (source aws.ses) -> FeedbackQueue -> feedback handler ->
suppression table + shop bus (observed through a rule into an SQS queue). And a DSN mail,
classified and applied through ``handle_classification``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from shopmail.adapters.dynamodb_bounce_counter import DynamoDbBounceCounter
from shopmail.adapters.dynamodb_sent_mail import DynamoDbSentMailStore
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.bootstrap.feedback import build_feedback_service
from shopmail.config import Settings
from shopmail.domain.feedback import classify_message
from shopmail.domain.feedback.outcome import MailFeedback
from shopmail.domain.feedback.references import find_references
from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.outbound.message_ids import make_message_id
from shopmail.services.feedback import FeedbackService

from tests.fixtures.emitted import assert_bus_events
from tests.fixtures.inbound_feedback import dsn_mail, sent_mail
from tests.fixtures.moto_resources import create_tables, route_to_queue
from tests.fixtures.paths import load_event, load_handler

SES_ID = "0102019abc0001-11111111-2222-3333-4444-555555555555-000000"
OUR_ID = "<sm.orderplaced.ORD-1001.8f271952e1be4bf4@shop.example>"


def _queue_to_rule(sqs: Any, events: Any, name: str, bus: str, pattern: dict[str, Any]) -> str:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    route_to_queue(events, sqs, f"rule-{name}", pattern, url, bus)
    return url


@dataclass
class FeedbackStack:
    client: Callable[..., Any]
    settings: Settings
    feedback_url: str
    observed_url: str
    service: FeedbackService
    app: ModuleType

    def receive(self, url: str) -> list[dict[str, Any]]:
        """All messages as SQS Lambda records (deleted from the queue)."""
        sqs = self.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append({"messageId": m["MessageId"], "receiptHandle": "x", "body": m["Body"]})
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def shop_events(self) -> list[dict[str, Any]]:
        events = [json.loads(r["body"]) for r in self.receive(self.observed_url)]
        assert_bus_events(events)  # each matches its contract (detail and whole event)
        return events


@pytest.fixture
def feedback_stack(aws_client: Callable[..., Any], moto: str) -> FeedbackStack:
    sqs, events, ddb = (aws_client(n) for n in ("sqs", "events", "dynamodb"))
    tables = create_tables(
        ddb, idempotency_table="idem", suppression_table="suppression", sent_mail_table="sent-mail"
    )
    events.create_event_bus(Name="shop")
    feedback_url = _queue_to_rule(sqs, events, "feedback", "default", {"source": ["aws.ses"]})
    observed = _queue_to_rule(sqs, events, "observed", "shop", {"source": ["shopmail.feedback"]})
    settings = Settings(
        mail_domain="shop.example",
        event_bus_name="shop",
        transient_bounce_threshold=2,
        **tables,
    )
    service = build_feedback_service(settings, lambda name: aws_client(name))
    return FeedbackStack(
        aws_client,
        settings,
        feedback_url,
        observed,
        service,
        load_handler("feedback", "feedback_app_moto"),
    )


def _put_ses_event(stack: FeedbackStack, event: dict[str, Any]) -> None:
    resp = stack.client("events").put_events(
        Entries=[
            {
                "Source": "aws.ses",
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "EventBusName": "default",
            }
        ]
    )
    assert resp["FailedEntryCount"] == 0


def _record_sent(stack: FeedbackStack) -> None:
    DynamoDbSentMailStore(stack.client("dynamodb"), "sent-mail").put(
        sent_mail(SES_ID, OUR_ID, "OrderPlaced", "ORD-1001", "kunde@example.org", "evt-1")
    )


def test_permanent_bounce_ends_as_suppression_and_event(feedback_stack: FeedbackStack) -> None:
    stack = feedback_stack
    _record_sent(stack)
    bounce = load_event("feedback/bounce-permanent-eventbridge.json")
    _put_ses_event(stack, bounce)
    _put_ses_event(stack, bounce)  # SES delivers at least once: a duplicate
    records = stack.receive(stack.feedback_url)
    assert len(records) == 2
    out = stack.app.handle({"Records": records}, stack.service)
    assert out["batchItemFailures"] == []
    assert out["summary"]["processed"] == 1 and out["summary"]["duplicates"] == 1

    entry = DynamoDbSuppressionList(stack.client("dynamodb"), "suppression").get(
        "Kunde@Example.org"
    )
    assert entry is not None and entry.suppression_class == "hard_bounce"
    assert entry.source == "ses-feedback"
    [shop_event] = stack.shop_events()
    assert shop_event["detail-type"] == "EmailBounced"
    assert shop_event["source"] == "shopmail.feedback"
    detail = shop_event["detail"]
    assert detail["orderId"] == "ORD-1001" and detail["emailType"] == "OrderPlaced"
    assert detail["suppressed"] is True and detail["matchedBy"] == "sent_mail"


def test_delivery_then_bounce_and_transient_counting(feedback_stack: FeedbackStack) -> None:
    stack = feedback_stack
    _record_sent(stack)
    _put_ses_event(stack, load_event("feedback/delivery-eventbridge.json"))
    _put_ses_event(stack, load_event("feedback/bounce-permanent-eventbridge.json"))
    transient = load_event("feedback/bounce-transient.json")
    for n in (1, 2):
        ev = json.loads(json.dumps(transient))
        ev["bounce"]["feedbackId"] = f"t-{n}"
        # the service counts within the window before the real clock: use "now"
        ev["bounce"]["timestamp"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        _put_ses_event(stack, {"detail-type": "Email Bounced", "detail": ev})
    records = stack.receive(stack.feedback_url)
    out = stack.app.handle({"Records": records}, stack.service)
    assert out["batchItemFailures"] == [] and out["summary"]["processed"] == 4
    types = sorted(e["detail-type"] for e in stack.shop_events())
    assert types == ["EmailBounced", "EmailBounced", "EmailBounced", "EmailDelivered"]
    sl = DynamoDbSuppressionList(stack.client("dynamodb"), "suppression")
    voll = sl.get("voll@example.net")
    assert voll is not None and voll.suppression_class == "transient_bounces"  # threshold 2
    # the counter item lives in the idempotency table
    item = stack.client("dynamodb").get_item(
        TableName="idem", Key={"id": {"S": "transient-bounce#voll@example.net"}}
    )["Item"]
    assert len(item["bounces"]["SS"]) == 2


def test_bounce_counter_is_idempotent(feedback_stack: FeedbackStack) -> None:
    now = dt.datetime(2026, 11, 28, 13, 0, tzinfo=dt.UTC).timestamp()
    counter = DynamoDbBounceCounter(feedback_stack.client("dynamodb"), "idem", clock=lambda: now)
    a = counter.record("x@example.org", "b1", "2026-11-28T10:00:00Z", 30)
    b = counter.record("x@example.org", "b1", "2026-11-28T10:00:00Z", 30)
    c = counter.record("x@example.org", "b2", "2026-11-28T11:00:00Z", 30)
    assert (len(a), len(b), len(c)) == (1, 1, 2)
    # an entry older than the window is pruned after it has been returned
    counter.record("x@example.org", "old", "2026-01-01T00:00:00Z", 30)
    d = counter.record("x@example.org", "b3", "2026-11-28T12:00:00Z", 30)
    assert "2026-01-01T00:00:00Z" not in d and len(d) == 3


def test_dsn_mail_ends_as_suppression_and_event(feedback_stack: FeedbackStack) -> None:
    stack = feedback_stack
    mid = make_message_id(
        "OrderShipped", "ORD-2002", "OrderShipped:ORD-2002:weg@example.org", "shop.example"
    )
    classification = classify_message(parse_message(dsn_mail(mid, "weg@example.org")))
    assert classification.kind == "bounce"
    assert classification.original_message_id is not None
    assert mid.strip("<>") in classification.original_message_id
    assert [r.hard for r in classification.recipients] == [True]
    message = parse_message(dsn_mail(mid, "weg@example.org"))
    feedback = MailFeedback(
        classification, find_references(message, "shop.example"), "inbound-dsn-1"
    )
    # a DSN about a mail we have no record of suppresses nobody
    out = stack.service.handle_mail(feedback)
    assert out.suppressed == 0 and out.unverified == ("unknown_mail",)
    assert [e["detail-type"] for e in stack.shop_events()] == ["EmailFeedbackUnverified"]
    # once the mail is on record (as outbound writes it), the same DSN counts
    DynamoDbSentMailStore(stack.client("dynamodb"), "sent-mail").put(
        sent_mail("0102-2002", mid, "OrderShipped", "ORD-2002", "weg@example.org")
    )
    feedback = dataclasses.replace(feedback, inbound_message_id="inbound-dsn-2")
    out = stack.service.handle_mail(feedback)
    assert out.status == "processed" and out.suppressed == 1
    entry = DynamoDbSuppressionList(stack.client("dynamodb"), "suppression").get("weg@example.org")
    assert entry is not None and entry.suppression_class == "hard_bounce"
    assert entry.source == "mail-feedback"
    [shop_event] = stack.shop_events()
    assert shop_event["detail-type"] == "EmailBounced"
    detail = shop_event["detail"]
    assert detail["orderId"] == "ORD-2002" and detail["emailType"] == "OrderShipped"
    assert detail["suppressed"] is True and detail["channel"] == "mail"
    # the same DSN again (e.g. the inbound retry) is a duplicate
    again = stack.service.handle_mail(feedback)
    assert again.status == "duplicate"
    assert stack.shop_events() == []


def test_suppression_cli_against_moto(
    feedback_stack: FeedbackStack, moto: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from shopmail_local.cli.main import main

    base = ["--table", "suppression", "--endpoint-url", moto]
    assert main(["suppression", "add", "Kunde@Example.org", "--reason", "asked", *base]) == 0
    assert main(["suppression", "add", "zwei@example.org", "--class", "complaint", *base]) == 0
    assert main(["suppression", "add", "not-an-address", *base]) == 1
    capsys.readouterr()
    assert main(["suppression", "list", "--json", *base]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["address"], r["class"]) for r in rows} == {
        ("kunde@example.org", "manual"),
        ("zwei@example.org", "complaint"),
    }
    # what the CLI wrote is what the outbound side reads
    entry = DynamoDbSuppressionList(feedback_stack.client("dynamodb"), "suppression").get(
        "kunde@example.org"
    )
    assert entry is not None and entry.source == "cli" and entry.reason == "asked"
    out = tmp_path / "export.csv"
    assert main(["suppression", "export", "-o", str(out), *base]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "address,class,reason,since,source,expires_at" and len(lines) == 3
    assert main(["suppression", "remove", "kunde@example.org", *base]) == 0
    assert main(["suppression", "remove", "kunde@example.org", *base]) == 1
    capsys.readouterr()
    assert main(["suppression", "export", "--format", "jsonl", *base]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["address"] for r in exported] == ["zwei@example.org"]
