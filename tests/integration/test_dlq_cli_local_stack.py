"""``shopmail dlq list|show|redrive`` on each dead-letter queue of the offline stack (and, with
``--stack``, of a stack found through CloudFormation), and ``shopmail test-send``."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from shopmail.domain.outbound.contracts import PRIORITY_TYPES

from shopmail_local.cli.main import main as cli
from shopmail_local.stack.runner import LocalStack
from tests.fixtures.e2e_stack import wait_until
from tests.fixtures.ops_stack import aggregate_of, bus_events, put_event, shop_event, wait_event
from tests.fixtures.paths import EVENTS, load_event

REDRIVEN_SES_ID = "0102019abc0001-dlq-redrive-000000"


@pytest.fixture(scope="module")
def stack(e2e_stack: LocalStack) -> LocalStack:
    return e2e_stack


def _run(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli([*args, "--state", str(stack.config.state_dir)])
    return code, capsys.readouterr().out


def _json_lines(out: str) -> list[dict[str, Any]]:
    """Our JSON lines (the in-process handlers also log JSON lines to stdout)."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "level" not in line and "_aws" not in line]


def _entries(stack: LocalStack, capsys: pytest.CaptureFixture[str], queue: str) -> list[Any]:
    code, out = _run(stack, capsys, "dlq", "list", "--queue", queue, "--json")
    assert code == 0
    return [line for line in _json_lines(out) if line.get("queue") == queue]


def _dlq(stack: LocalStack, logical: str) -> str:
    assert stack.outputs is not None
    return stack.outputs.dead_letter_queues[logical]


def _eventbridge_dead_letter(stack: LocalStack, url: str, body: dict[str, Any]) -> None:
    """What EventBridge writes when a rule cannot deliver to its target."""
    stack.client("sqs").send_message(
        QueueUrl=url,
        MessageBody=json.dumps(body),
        MessageAttributes={
            "ERROR_CODE": {"DataType": "String", "StringValue": "SQS_ACCESS_DENIED"},
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": "access denied on the queue"},
            "RULE_ARN": {"DataType": "String", "StringValue": "arn:aws:events:eu-west-1:1:rule/x"},
        },
    )


def _envelope(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {"version": "0", "id": event_id, "account": "123456789012", "region": "eu-west-1",
            "time": "2026-12-01T10:00:00Z", "resources": [], **event}  # fmt: skip


def test_outbound_entries_list_show_and_redrive(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    invalid = shop_event("OrderPlaced", "dlq.invalid@example.com")
    del invalid["detail"]["order"]["total"]
    put_event(stack, invalid)
    wait_event(stack, "EmailFailed", lambda d: d.get("code") == "invalid_event")
    good = _envelope(shop_event("OrderPlaced", "dlq.good@example.com"), "eb-1")
    reset = _envelope(shop_event("PasswordResetRequested", "dlq.reset@example.com"), "eb-2")
    assert reset["detail-type"] in PRIORITY_TYPES
    for body in (good, reset):
        _eventbridge_dead_letter(stack, _dlq(stack, "OutboundDeadLetterQueue"), body)

    entries = wait_until(lambda: _entries(stack, capsys, "outbound") if len(
        _entries(stack, capsys, "outbound")) >= 3 else None)  # fmt: skip
    assert entries is not None
    by_origin = {(e["origin"], e["detailType"]): e for e in entries}
    service = by_origin[("service", "OrderPlaced")]
    assert service["code"] == "invalid_event" and "total" in service["reason"]
    assert service["source"] == "shopmail.outbound" and service["redrivable"]
    bridge = by_origin[("eventbridge", "PasswordResetRequested")]
    assert (
        bridge["code"] == "SQS_ACCESS_DENIED" and bridge["reason"] == "access denied on the queue"
    )
    code, out = _run(stack, capsys, "dlq", "list", "--queue", "outbound")
    assert code == 0 and "invalid_event" in out and "access denied on the queue" in out

    code, out = _run(stack, capsys, "dlq", "show", service["messageId"])
    shown = json.loads(out[out.index('{\n  "queue"') :].split("\n}\n")[0] + "\n}")
    assert code == 0 and shown["queue"] == "outbound"
    assert shown["body"]["detail"]["order"]["id"] == invalid["detail"]["order"]["id"]
    assert shown["attributes"]["shopmail.code"] == "invalid_event"
    assert _run(stack, capsys, "dlq", "show", "no-such-id")[0] == 1

    code, out = _run(stack, capsys, "dlq", "redrive", "--queue", "outbound", "--dry-run")
    assert code == 0 and {line["status"] for line in _json_lines(out)} == {"would_redrive"}
    assert len(_entries(stack, capsys, "outbound")) == 3  # a dry run moves nothing

    code, out = _run(stack, capsys, "dlq", "redrive", "--queue", "outbound")
    assert code == 0 and {line["status"] for line in _json_lines(out)} == {"redriven"}
    for event in (good, reset):
        wait_event(stack, "EmailSent", lambda d, e=event: d["aggregateId"] == aggregate_of(e))
    # the invalid one reached the consumer as a normal record again: refused once more
    again = wait_until(lambda: [e for e in _entries(stack, capsys, "outbound")
                                if e["messageId"] != service["messageId"]])  # fmt: skip
    assert again and again[0]["code"] == "invalid_event" and again[0]["origin"] == "service"
    assert len(bus_events(stack, "EmailFailed", lambda d: d.get("code") == "invalid_event")) >= 2
    _run(stack, capsys, "dlq", "redrive", "--queue", "outbound")  # leave the queue as found


def _ses_event(stack: LocalStack) -> dict[str, Any]:
    assert stack.outputs is not None
    event = copy.deepcopy(load_event("feedback/delivery-eventbridge.json"))
    event["detail"]["mail"]["tags"]["ses:configuration-set"] = [
        stack.outputs.outputs["ConfigurationSetName"]
    ]
    event["detail"]["mail"]["messageId"] = REDRIVEN_SES_ID
    return event


def test_feedback_entries_redrive_to_the_feedback_queue(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.outputs is not None
    foreign = load_event("feedback/delivery-eventbridge.json")  # another configuration set
    stack.client("sqs").send_message(
        QueueUrl=stack.outputs.outputs["FeedbackQueueUrl"], MessageBody=json.dumps(foreign)
    )
    _eventbridge_dead_letter(stack, _dlq(stack, "FeedbackDeadLetterQueue"), _ses_event(stack))
    entries = wait_until(lambda: [e for e in _entries(stack, capsys, "feedback")
                                  if e["origin"] == "service"])  # fmt: skip
    assert entries and "configuration set" in entries[0]["reason"]
    code, out = _run(stack, capsys, "dlq", "redrive", "--queue", "feedback")
    assert code == 0
    assert {line["status"] for line in _json_lines(out)} == {"redriven"}
    delivered = wait_event(
        stack, "EmailDelivered",
        lambda d: (d.get("sesMessageId") or d.get("ses_message_id")) == REDRIVEN_SES_ID,
    )  # fmt: skip
    assert delivered
    refused = wait_until(lambda: _entries(stack, capsys, "feedback"))  # refused once more
    assert refused and all(e["origin"] == "service" for e in refused)
    _run(stack, capsys, "dlq", "redrive", "--queue", "feedback")


def test_inbound_entries_redrive_through_the_inbound_function(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.outputs is not None
    event = load_event("inbound/support.json")
    invoker = next(iter(stack.invokers.values()))
    outcome = invoker.invoke(event).result(timeout=30)
    assert outcome.ok  # a permanent failure is handled: dead-lettered with its reason
    (entry,) = wait_until(lambda: _entries(stack, capsys, "inbound")) or [None]
    assert entry["code"] == "raw_mail_missing" and entry["origin"] == "service"
    message_id = event["Records"][0]["ses"]["mail"]["messageId"]
    stack.client("s3").put_object(
        Bucket=stack.outputs.outputs["RawMailBucketName"],
        Key=f"{stack.outputs.outputs['RawMailPrefix']}{message_id}",
        Body=(EVENTS / "inbound" / "support.eml").read_bytes(),
    )
    code, out = _run(stack, capsys, "dlq", "redrive", "--queue", "inbound")
    assert code == 0 and [line["status"] for line in _json_lines(out)] == ["redriven"]
    assert _entries(stack, capsys, "inbound") == []
    wait_event(stack, "SupportMessageReceived", lambda d: d.get("messageId") == message_id)


def test_erasure_entries_redrive_to_the_erasure_queue(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    request = _envelope(
        {"source": "shop", "detail-type": "CustomerDataErasureRequested",
         "detail": {"email": "redriven.erasure@example.com", "requestId": "ER-REDRIVE"}},
        "eb-3",
    )  # fmt: skip
    _eventbridge_dead_letter(stack, _dlq(stack, "ErasureDeadLetterQueue"), request)
    (entry,) = wait_until(lambda: _entries(stack, capsys, "erasure")) or [None]
    assert entry["detailType"] == "CustomerDataErasureRequested"
    code, _out = _run(
        stack, capsys, "dlq", "redrive", "--queue", "erasure", "--id", entry["messageId"]
    )
    assert code == 0
    wait_event(stack, "CustomerDataErased", lambda d: d["requestId"] == "ER-REDRIVE")
    assert _run(stack, capsys, "dlq", "redrive", "--id", "no-such-id")[0] == 1


def test_an_unknown_queue_is_a_usage_error(stack: LocalStack) -> None:
    with pytest.raises(SystemExit) as info:
        cli(["dlq", "list", "--queue", "nope", "--state", str(stack.config.state_dir)])
    assert info.value.code == 2


@pytest.fixture
def deployed(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A CloudFormation stack in the same moto server whose outputs name the local resources:
    ``--stack`` reads them with DescribeStacks, as against a deployed stack."""
    assert stack.outputs is not None
    outputs = {k: v for k, v in stack.outputs.outputs.items() if isinstance(v, str) and v}
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    cfn = stack.client("cloudformation")
    cfn.create_stack(StackName="shopmail-deployed", TemplateBody=json.dumps(template))
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", stack.credentials[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", stack.credentials[1])
    yield "shopmail-deployed"
    cfn.delete_stack(StackName="shopmail-deployed")


def test_stack_option_reads_cloudformation_outputs(
    stack: LocalStack, deployed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _eventbridge_dead_letter(stack, _dlq(stack, "FeedbackDeadLetterQueue"), {"detail-type": "X"})
    capsys.readouterr()
    assert cli(["dlq", "list", "--stack", deployed, "--json"]) == 0
    lines = _json_lines(capsys.readouterr().out)
    assert any(line["queue"] == "feedback" and line["detailType"] == "X" for line in lines)
    assert cli(["dlq", "list", "--stack", "no-such-stack"]) == 1
    assert "no stack 'no-such-stack'" in capsys.readouterr().err
    assert cli(["erase", "someone@example.net", "--stack", deployed]) == 0
    assert "hash:" in capsys.readouterr().out


FEEDBACK_STEP = {"delivered": "EmailDelivered", "bounced": "EmailBounced"}


@pytest.mark.parametrize(
    ("to", "outcome"),
    [
        ("success@simulator.amazonses.com", "delivered"),
        ("bounce@simulator.amazonses.com", "bounced"),
    ],
)
def test_test_send_reports_the_ses_id_and_the_feedback(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], to: str, outcome: str
) -> None:
    code, out = _run(stack, capsys, "test-send", "OrderShipped", "--to", to, "--timeout", "40")
    lines = _json_lines(out)
    summary = lines[-1]
    assert code == 0, out
    assert summary["outcome"] == outcome and summary["sesMessageId"]
    assert [line.get("step") for line in lines[:-1]] == [
        "published", "EmailSent", FEEDBACK_STEP[outcome],
    ]  # fmt: skip
    rules = stack.client("events").list_rules(EventBusName="shop")["Rules"]
    assert not any(r["Name"].startswith("shopmail-test-send-") for r in rules)
    queues = stack.client("sqs").list_queues().get("QueueUrls", [])
    assert not any("shopmail-test-send-" in q for q in queues)


def test_test_send_refuses_unknown_types_and_bad_addresses(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    state = ["--state", str(stack.config.state_dir)]
    assert cli(["test-send", "NoSuchType", "--to", "a@example.com", *state]) == 1
    assert "no sample event for 'NoSuchType'" in capsys.readouterr().err
    assert cli(["test-send", "OrderPlaced", "--to", "not an address", *state]) == 1
    assert "does not validate" in capsys.readouterr().err
