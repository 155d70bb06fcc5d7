"""End to end offline: a mail to the SES simulator's bounce address, sent through the local
relay, ends as a suppression entry written by the feedback function (run by the local stack's
SQS poller from the template) and an EmailBounced event on the shop bus."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import pytest
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.domain.smtp.password import smtp_password

from shopmail_local.stack.runner import LocalStack
from tests.fixtures.e2e_stack import wait_until


@pytest.fixture(scope="module")
def local_stack(e2e_stack: LocalStack) -> LocalStack:
    """The offline stack on free ports (``tests/fixtures/e2e_stack.py``)."""
    return e2e_stack


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
    entry = wait_until(lambda: suppressions.get("bounce@simulator.amazonses.com"))
    assert entry is not None, "the feedback function did not suppress the bounced address"
    assert entry.suppression_class == "hard_bounce"
    assert entry.source == "ses-feedback"

    def shop_events() -> list[dict[str, Any]]:
        return [
            r["event"]
            for r in local_stack.state.event_log()
            if r["event"].get("source") == "shopmail.feedback"
        ]

    events = wait_until(shop_events)
    assert [e["detail-type"] for e in events] == ["EmailBounced"]
    detail = events[0]["detail"]
    assert detail["suppressed"] is True
    assert detail["recipient"] == "bounce@simulator.amazonses.com"
    # correlated through the Message-ID SES keeps in mail.headers
    assert detail["orderId"] == "ORD-77" and detail["emailType"] == "OrderPlaced"
