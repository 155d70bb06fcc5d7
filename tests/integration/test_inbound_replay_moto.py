"""``shopmail replay`` re-drives inbound dead letters (moto server over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from shopmail.bootstrap.clients import default_client_factory
from shopmail.bootstrap.inbound import build_inbound_service
from shopmail.config import Settings

from shopmail_local.cli.commands import replay as replay_command
from shopmail_local.cli.main import main
from tests.fixtures.inbound_aws import BUCKET, Stack
from tests.fixtures.paths import EVENTS


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, inbound_stack: Stack, moto: str) -> Stack:
    stack = inbound_stack
    for name, value in {
        "AWS_ENDPOINT_URL": moto,
        "MAIL_DOMAIN": "shop.example",
        "RAW_MAIL_BUCKET": BUCKET,
        "SHOP_EVENT_BUS_NAME": "shop",
        "IDEMPOTENCY_TABLE": "shopmail-idempotency",
        "RATE_LIMIT_TABLE": "shopmail-rate-limit",
        "INBOUND_DLQ_URL": stack.dlq_url,
        "SMTP_SECRET_ARN": "",
    }.items():
        monkeypatch.setenv(name, value)

    def service(settings: Settings) -> Any:  # the real wiring, with the recording sender
        clients = default_client_factory(moto, settings.region)
        return build_inbound_service(settings, clients, mail_sender=stack.sender)

    monkeypatch.setattr(replay_command, "_default_service", service)
    return stack


def _dlq_bodies(stack: Stack) -> list[dict[str, Any]]:
    return stack.drain(stack.dlq_url)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]


def test_replay_after_the_raw_mail_arrived(env: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    event = json.loads((EVENTS / "inbound" / "order_reply.json").read_text())
    assert env.handle(event)["dead_lettered"] == 1  # raw mail missing
    assert main(["replay", "--dry-run"]) == 0
    assert [x["status"] for x in _lines(capsys)] == ["would_replay"]
    assert env.drain(env.observed_url) == []

    env.put_sample("order_reply")  # the operator restored the object
    assert main(["replay", "--max", "5"]) == 0
    (line,) = _lines(capsys)
    assert (
        line["status"] == "replayed"
        and line["messageId"] == "rep1yil0e2ic28trm7dfhrc2v0clambda4nbp01"
    )
    assert [e["detail-type"] for e in env.drain(env.observed_url)] == ["CustomerReplied"]
    assert _dlq_bodies(env) == []


def test_replay_lambda_destination_record_and_unreadable(
    env: Stack, aws_client: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = aws_client("sqs")
    event = env.put_sample("support")
    record = {
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": event,
        "responsePayload": {"errorType": "ServiceUnavailableError"},
    }
    sqs.send_message(QueueUrl=env.dlq_url, MessageBody=json.dumps(record))
    sqs.send_message(QueueUrl=env.dlq_url, MessageBody="not json")
    assert main(["replay"]) == 1  # the unreadable entry is reported and kept
    statuses = sorted(x["status"] for x in _lines(capsys))
    assert statuses == ["replayed", "unreadable"]
    assert [e["detail-type"] for e in env.drain(env.observed_url)] == ["SupportMessageReceived"]
    left = sqs.receive_message(QueueUrl=env.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in left] == ["not json"]


def test_replay_permanent_again_writes_a_new_entry(
    env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    event = json.loads((EVENTS / "inbound" / "support.json").read_text())
    env.handle(event)  # raw mail missing -> DLQ
    assert main(["replay"]) == 0
    # the new entry is seen in the same run and left alone (no replay loop)
    assert [x["status"] for x in _lines(capsys)] == ["dead_lettered_again", "skipped"]
    (entry,) = env.dead_letter_entries()  # the old entry is gone, the new one has the reason
    assert entry.code == "raw_mail_missing"


def test_replay_needs_a_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOUND_DLQ_URL", raising=False)
    assert main(["replay"]) == 2
