"""The whole offline stack started in-process on free ports (what ``shopmail run`` starts)."""

from __future__ import annotations

import io
import json
import logging
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests
from shopmail.domain.smtp.password import smtp_password

from shopmail_local.cli.main import main as cli
from shopmail_local.stack import lambda_runtime
from shopmail_local.stack.runner import LocalStack
from tests.fixtures.e2e_stack import deliver, inbound_records, wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(e2e_stack: LocalStack) -> LocalStack:
    """The offline stack on free ports (``tests/fixtures/e2e_stack.py``)."""
    return e2e_stack


def _relay_send(stack: LocalStack, rcpts: list[str], subject: str) -> str:
    out = stack.outputs
    assert out is not None
    creds = out.smtp_credentials
    msg = EmailMessage()
    msg["From"] = "shop@shop.example"
    msg["To"] = ", ".join(rcpts)
    msg["Subject"] = subject
    msg["X-SES-CONFIGURATION-SET"] = str(out.outputs["ConfigurationSetName"])
    msg["X-SES-MESSAGE-TAGS"] = "type=OrderPlaced, order=ORD-1"
    msg.set_content("hello")
    ctx = ssl.create_default_context(cafile=stack.ca_file)
    with smtplib.SMTP("127.0.0.1", stack.config.relay_port, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(creds["access_key_id"], smtp_password(creds["secret_access_key"], out.region))
        smtp.sendmail("shop@shop.example", rcpts, msg.as_bytes())
    records = wait_until(lambda: [r for r in stack.state.relay_log() if r["subject"] == subject])
    return str(records[0]["ses_message_id"])


def test_relay_routes_to_outbox_loopback_and_simulator(stack: LocalStack) -> None:
    rcpts = ["kunde@example.com", "success@simulator.amazonses.com", "orders@shop.example"]
    ses_id = _relay_send(stack, rcpts, "routing test")
    (record,) = [r for r in stack.state.relay_log() if r["ses_message_id"] == ses_id]
    assert record["outbox"] == ["kunde@example.com"]
    assert record["simulator"] == ["success@simulator.amazonses.com"]
    assert record["loopback"] == ["orders@shop.example"]
    assert record["events"] == ["Delivery", "Delivery", "Delivery"]
    outbox = [m.message()["Subject"] for m in stack.state.iter_outbox()]
    assert "routing test" in outbox
    loop_id = record["loopback_ids"][0]
    received = [r for r in stack.state.inbound_log() if r["message_id"] == loop_id]
    assert received[0]["recipients"] == ["orders@shop.example"]


def test_bounce_simulator_puts_a_bounce_event_for_the_feedback_rule(stack: LocalStack) -> None:
    ses_id = _relay_send(stack, ["bounce@simulator.amazonses.com"], "bounce test")

    def bounced() -> list[dict[str, Any]]:
        return [
            r["event"]
            for r in stack.state.event_log()
            if r["event"].get("detail-type") == "Email Bounced"
            and r["event"]["detail"]["mail"]["messageId"] == ses_id
        ]

    (event,) = wait_until(bounced)
    assert event["source"] == "aws.ses"
    detail = event["detail"]
    assert detail["bounce"]["bounceType"] == "Permanent"
    assert detail["mail"]["tags"]["order"] == ["ORD-1"]
    assert not any(h["name"].startswith("X-SES-") for h in detail["mail"]["headers"])


def test_deliver_and_send_event_commands_reach_the_stack(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = stack.config
    eml = REPO / "events" / "inbound" / "order_reply.eml"
    message_id = deliver(stack, capsys, eml, "orders@shop.example")
    invocations = inbound_records(stack, message_id, "invocation")
    assert invocations, "the inbound handler was not invoked"
    assert invocations[0]["ok"], invocations[0]["error"]
    decisions = inbound_records(stack, message_id, "decision")
    assert decisions and decisions[0]["route"] not in ("", "unknown")
    assert decisions[0]["recipient_domain"] == "shop.example"
    page = requests.get(f"http://127.0.0.1:{cfg.web_port}/inbound", timeout=10).text
    assert f"<strong>{decisions[0]['route']}</strong>" in page
    rejected = cli(["deliver", str(eml), "--to", "x@elsewhere.example", "--port",
                    str(cfg.inbound_port), "--no-tls"])  # fmt: skip
    assert rejected == 1

    event_file = REPO / "events" / "outbound" / "OrderPlaced.json"
    assert cli(["send-event", str(event_file), "--endpoint", stack.endpoint]) == 0
    seen = wait_until(
        lambda: [
            r for r in stack.state.event_log() if r["event"].get("detail-type") == "OrderPlaced"
        ]
    )
    assert json.dumps(seen[0]["event"]["detail"]).find("ORD-100234") >= 0


@contextmanager
def _function_logs() -> Iterator[io.StringIO]:
    """What the stack's functions log (their Powertools handlers) while the block runs."""
    buffer = io.StringIO()
    handlers = {
        handler
        for _level, handlers in lambda_runtime.LOG_ROUTER.routes.values()
        for handler in handlers
        if isinstance(handler, logging.StreamHandler)
    }
    assert handlers, "no function registered its log handlers with the router"
    previous = {handler: handler.setStream(buffer) for handler in handlers}
    try:
        yield buffer
    finally:
        for handler, stream in previous.items():
            handler.setStream(stream)


def test_the_layers_log_records_of_an_invocation_name_the_invoked_function(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # All the stack's functions share this process; in Lambda each has its own, and what the
    # layer logs carries that function's service and context (lambda_runtime.FunctionLogRouter).
    eml = REPO / "events" / "inbound" / "order_reply.eml"
    with _function_logs() as logs:
        message_id = deliver(stack, capsys, eml, "orders@shop.example")
        assert inbound_records(stack, message_id, "invocation")
    records = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    layer = [
        r
        for r in records
        if str(r.get("name", "")).startswith("shopmail.") and r.get("message_id") == message_id
    ]
    assert {r["message"] for r in layer} >= {"inbound message", "routing decision"}
    assert {r["service"] for r in layer} == {"shopmail-inbound"}
    assert {r["function_name"] for r in layer} == {"shopmail-local-InboundFunction"}


def test_web_inbox_serves_the_stack(stack: LocalStack) -> None:
    base = f"http://127.0.0.1:{stack.config.web_port}"
    for path in ("/", "/inbound", "/events", "/dlq", "/suppression"):
        assert requests.get(base + path, timeout=10).status_code == 200
    assert "InboundDeadLetterQueue" in requests.get(base + "/dlq", timeout=10).text
