"""Trustworthy feedback, end to end offline: shop event -> outbound -> the local SES relay ->
the outbox; then bounce and complaint mail delivered over SMTP to the SES inbound emulator ->
the inbound function's ``feedback`` action -> moto's suppression table and the shop bus.

* a forged DSN and a forged ARF naming customers (quoting no mail we sent) suppress nobody and
  publish ``EmailFeedbackUnverified``;
* a 5.7.1 blocklist bounce quoting our real order mail does not suppress the customer and is
  counted as a non-address bounce;
* a 5.1.1 bounce quoting our real order mail suppresses the customer.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import uuid
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest

from shopmail_local.stack.runner import LocalStack
from tests.fixtures.e2e_stack import suppression_list, wait_until

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "shop.example"


@pytest.fixture(scope="module")
def stack(e2e_stack: LocalStack) -> LocalStack:
    """The offline stack on free ports (``tests/fixtures/e2e_stack.py``)."""
    return e2e_stack


def _order_mail(stack: LocalStack, customer: str) -> bytes:
    """Put an OrderPlaced event on the shop bus; return the confirmation as the outbox has it."""
    assert stack.outputs is not None
    order_id = f"ORD-T{uuid.uuid4().hex[:8].upper()}"
    event = json.loads((REPO / "events" / "outbound" / "OrderPlaced.json").read_text())
    detail = event["detail"]
    detail["order"]["id"] = order_id
    detail["recipient"]["email"] = customer
    stack.client("events").put_events(
        Entries=[
            {
                "Source": str(event.get("source", "shop")),
                "DetailType": "OrderPlaced",
                "Detail": json.dumps(detail),
                "EventBusName": str(stack.outputs.outputs.get("ShopEventBusName", "shop")),
            }
        ]
    )

    def relayed() -> dict[str, Any] | None:
        for record in stack.state.relay_log():
            if customer in (record.get("outbox") or []) and order_id in str(record):
                return record
        return None

    record = wait_until(relayed, timeout=30)
    assert record is not None, "the order confirmation was not relayed"
    stored = stack.state.get_relayed(str(record["key"]))
    assert stored is not None
    return stored.raw


def _header_block(raw: bytes) -> str:
    """The original's header block, as a receiving MTA returns it."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", errors="replace")
    return head + "\r\n"


def _dsn(recipient: str, status: str, diagnostic: str, returned_headers: str) -> bytes:
    boundary = "DSN-" + uuid.uuid4().hex
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.kunde.example>\r\n"
        f"To: bounces@{DOMAIN}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.kunde.example>\r\n"
        "Date: Tue, 01 Dec 2026 10:05:00 +0000\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.kunde.example.\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.kunde.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mx.kunde.example\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"{returned_headers}"
        f"--{boundary}--\r\n"
    ).encode()


def _arf(recipients: list[str]) -> bytes:
    boundary = "ARF-" + uuid.uuid4().hex
    rcpts = "".join(f"Original-Rcpt-To: {r}\r\n" for r in recipients)
    return (
        "From: abuse@isp.example\r\n"
        f"To: abuse@{DOMAIN}\r\n"
        "Subject: FW: complaint\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@isp.example>\r\n"
        "Date: Tue, 01 Dec 2026 10:05:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\n"
        f"{rcpts}\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/rfc822\r\n\r\n"
        f"From: Shop <shop@{DOMAIN}>\r\nTo: {recipients[0]}\r\nSubject: Angebot\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@somewhere.example>\r\n\r\nhi\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def _invocations(stack: LocalStack) -> dict[str, dict[str, Any]]:
    return {
        str(r["message_id"]): r
        for r in stack.state.inbound_log()
        if r.get("kind") == "invocation" and r.get("result")
    }


def _deliver(stack: LocalStack, raw: bytes, rcpt: str) -> str:
    """Send ``raw`` to the SES inbound emulator; return the SES message id of the receipt once
    the inbound function ran on it."""
    before = set(_invocations(stack))
    with smtplib.SMTP("127.0.0.1", stack.config.inbound_port, timeout=10) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context(cafile=stack.ca_file))
        smtp.sendmail("", [rcpt], raw)
    new = wait_until(lambda: sorted(set(_invocations(stack)) - before), timeout=30)
    assert new, "the inbound function did not run"
    (message_id,) = new
    assert _invocations(stack)[message_id]["result"]["actions"].get("feedback") == 1
    return message_id


def _feedback_events(stack: LocalStack, inbound_id: str | None = None) -> list[dict[str, Any]]:
    out = []
    for record in stack.state.event_log():
        event = record["event"]
        if event.get("source") != "shopmail.feedback":
            continue
        detail = event.get("detail", {})
        if inbound_id is None or detail.get("inboundMessageId") == inbound_id:
            out.append(event)
    return out


def _bounces(stack: LocalStack, customer: str) -> list[dict[str, Any]]:
    return [
        e
        for e in _feedback_events(stack)
        if e["detail-type"] == "EmailBounced" and e["detail"].get("recipient") == customer
    ]


def _invocation(stack: LocalStack, inbound_id: str) -> dict[str, Any]:
    records = [
        r
        for r in stack.state.inbound_log()
        if r.get("kind") == "invocation" and r.get("message_id") == inbound_id
    ]
    assert records, inbound_id
    return dict(records[-1]["result"])


def test_forged_dsn_and_arf_suppress_nobody(stack: LocalStack) -> None:
    customers = [f"kunde{i}@kunde.example" for i in range(3)]
    forged_dsn = _dsn(
        customers[0],
        "5.1.1",
        "550 5.1.1 <kunde0@kunde.example>: Recipient address rejected: User unknown",
        f"From: Shop <shop@{DOMAIN}>\r\nTo: {customers[0]}\r\nSubject: x\r\n"
        "Message-ID: <not-ours@elsewhere.example>\r\n",
    )
    dsn_id = _deliver(stack, forged_dsn, f"bounces@{DOMAIN}")
    arf_id = _deliver(stack, _arf(customers), f"abuse@{DOMAIN}")
    table = suppression_list(stack)
    for customer in customers:
        assert table.get(customer) is None
    for inbound_id, count in ((dsn_id, 1), (arf_id, 3)):
        events = wait_until(lambda i=inbound_id: _feedback_events(stack, i))
        assert events, f"no feedback event for {inbound_id}"
        assert [e["detail-type"] for e in events] == ["EmailFeedbackUnverified"]
        assert events[0]["detail"]["reason"] == "no_reference"
        assert events[0]["detail"]["recipientCount"] == count
        assert _invocation(stack, inbound_id)["feedback_unverified"] == {"no_reference": count}


def test_blocklist_bounce_of_our_order_mail_is_counted_not_suppressed(stack: LocalStack) -> None:
    customer = "stammkunde@kunde.example"
    original = _order_mail(stack, customer)
    dsn = _dsn(
        customer,
        "5.7.1",
        "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org",
        _header_block(original),
    )
    inbound_id = _deliver(stack, dsn, f"bounces@{DOMAIN}")
    events = wait_until(lambda: _bounces(stack, customer))
    assert events, "no EmailBounced for the customer"
    detail = events[0]["detail"]
    assert detail["verified"] is True and detail["suppressed"] is False
    assert detail["policy"] == "ignore" and detail["reason"] == "blocked"
    assert suppression_list(stack).get(customer) is None
    assert _invocation(stack, inbound_id)["feedback_not_address"] == {"kunde.example|blocked": 1}


def test_user_unknown_bounce_of_our_order_mail_suppresses(stack: LocalStack) -> None:
    customer = "weg@kunde.example"
    original = _order_mail(stack, customer)
    headers = BytesParser(policy=compat32).parsebytes(original)
    assert headers["X-Shopmail-Id"]  # what SES leaves for us to be found by
    dsn = _dsn(
        customer,
        "5.1.1",
        f"550 5.1.1 <{customer}>: Recipient address rejected: User unknown in virtual table",
        _header_block(original),
    )
    _deliver(stack, dsn, f"bounces@{DOMAIN}")
    entry = wait_until(lambda: suppression_list(stack).get(customer))
    assert entry is not None and entry.suppression_class == "hard_bounce"
    events = wait_until(lambda: _bounces(stack, customer))
    assert events is not None and len(events) == 1
    assert events[0]["detail"]["emailType"] == "OrderPlaced"
    assert events[0]["detail"]["suppressed"] is True
