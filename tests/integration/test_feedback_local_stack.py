"""End to end offline: a mail to the SES simulator's bounce address, sent through the local
relay, ends as a suppression entry written by the feedback function (run by the local stack's
SQS poller from the template) and an EmailBounced event on the shop bus."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.domain.smtp_password import smtp_password

from shopmail_local.stack.runner import LocalStack, RunConfig


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    moto, inbound, relay, web = _ports(4)
    config = RunConfig(
        state_dir=tmp_path_factory.mktemp("feedback-local-state"),
        moto_port=moto,
        inbound_port=inbound,
        relay_port=relay,
        web_port=web,
        retry_delays=(0.05, 0.05),
    )
    with LocalStack(config) as running:
        yield running


def _wait(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


def test_simulator_bounce_suppresses_the_address(local_stack: LocalStack) -> None:
    out = local_stack.outputs
    assert out is not None
    creds = out.smtp_credentials
    msg = EmailMessage()
    msg["From"] = "shop@shop.example"
    msg["To"] = "bounce@simulator.amazonses.com"
    msg["Subject"] = "feedback e2e"
    msg["Message-ID"] = "<sm.orderplaced.ORD-77.0123456789abcdef@shop.example>"
    msg["X-SES-CONFIGURATION-SET"] = str(out.outputs["ConfigurationSetName"])
    msg.set_content("hello")
    ctx = ssl.create_default_context(cafile=local_stack.ca_file)
    with smtplib.SMTP("127.0.0.1", local_stack.config.relay_port, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(creds["access_key_id"], smtp_password(creds["secret_access_key"], out.region))
        smtp.sendmail("shop@shop.example", ["bounce@simulator.amazonses.com"], msg.as_bytes())

    suppressions = DynamoDbSuppressionList(
        local_stack.client("dynamodb"), out.tables["SuppressionTable"]
    )
    entry = _wait(lambda: suppressions.get("bounce@simulator.amazonses.com"))
    assert entry is not None, "the feedback function did not suppress the bounced address"
    assert entry.suppression_class == "hard_bounce"
    assert entry.source == "ses-feedback"

    def shop_events() -> list[dict[str, Any]]:
        return [
            r["event"]
            for r in local_stack.state.event_log()
            if r["event"].get("source") == "shopmail.feedback"
        ]

    events = _wait(shop_events)
    assert [e["detail-type"] for e in events] == ["EmailBounced"]
    detail = events[0]["detail"]
    assert detail["suppressed"] is True
    assert detail["recipient"] == "bounce@simulator.amazonses.com"
    # correlated through the Message-ID SES keeps in mail.headers
    assert detail["order_id"] == "ORD-77" and detail["email_type"] == "OrderPlaced"
