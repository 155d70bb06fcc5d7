"""The SES-inbound emulator driven by smtplib over TCP, with and without STARTTLS."""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from shopmail_local.certs import LocalCerts, server_tls_context
from shopmail_local.stack.lambda_runtime import AsyncInvoker
from shopmail_local.stack.provision import StackOutputs
from shopmail_local.stack.ses_inbound import (
    SesInbound,
    SesInboundServer,
    parse_test_verdicts,
    receipt_verdicts,
    rule_covers,
)

MESSAGE = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.com>\r\n"
    b"To: Orders <orders@shop.example>, other@example.org\r\n"
    b"Cc: support@shop.example\r\n"
    b"Subject: =?utf-8?q?Bestellung_=C3=BCber?= ORD-100234\r\n"
    b"Date: Sat, 28 Nov 2026 11:30:00 +0100\r\n"
    b"Message-ID: <m1@example.com>\r\n"
    b"X-Shopmail-Test-Verdicts: spam=FAIL, dmarc=FAIL/reject\r\n"
    b"\r\n"
    b"Hello\r\n"
)


@dataclass
class Recorder:
    """A handler that records its events and fails ``fail_times`` times first."""

    fail_times: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        assert context.get_remaining_time_in_millis() > 0
        if len(self.events) <= self.fail_times:
            raise RuntimeError("boom")
        self.done.set()
        return {"ok": True}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def make_emulator(
    provisioned: StackOutputs, aws_client: Callable[..., Any], stack_certs: LocalCerts
) -> Iterator[Callable[..., tuple[SesInboundServer, AsyncInvoker]]]:
    started: list[tuple[SesInboundServer, AsyncInvoker]] = []
    sqs = aws_client("sqs")

    def make(handler: Recorder, max_size: int = 40 * 1024 * 1024) -> tuple[Any, AsyncInvoker]:
        fn = provisioned.functions["InboundFunction"]
        invoker = AsyncInvoker(
            handler,
            function_name=fn.name,
            function_arn=fn.arn,
            retry_delays=(0.01, 0.01),
            on_failure=lambda rec: sqs.send_message(
                QueueUrl=fn.on_failure_url, MessageBody=json.dumps(rec)
            ),
        )
        inbound = SesInbound(
            provisioned.receipt_rules, aws_client("s3"), {fn.arn: invoker}, max_size=max_size
        )
        server = SesInboundServer(
            inbound,
            port=_port(),
            tls_context=server_tls_context(str(stack_certs.cert_file), str(stack_certs.key_file)),
        )
        server.start()
        started.append((server, invoker))
        return server, invoker

    yield make
    for server, invoker in started:
        server.stop()
        invoker.close()


def _send(
    server: SesInboundServer, rcpts: list[str], data: bytes, *, tls_ca: str | None = None
) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as smtp:
        smtp.ehlo("client.example")
        if tls_ca:
            assert smtp.has_extn("starttls")
            smtp.starttls(context=ssl.create_default_context(cafile=tls_ca))
            smtp.ehlo("client.example")
        assert not smtp.has_extn("auth")  # SES inbound offers no AUTH, before or after TLS
        smtp.mail("bounce@example.com")
        for r in rcpts:
            code, _ = smtp.rcpt(r)
            assert code == 250
        code, msg = smtp.data(data)
        return code, msg.decode()


def test_uncovered_recipient_gets_550_in_session(make_emulator: Callable[..., Any]) -> None:
    server, _ = make_emulator(Recorder())
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("a@example.com")
        code, msg = smtp.rcpt("someone@elsewhere.example")
        assert code == 550
        assert b"mailbox unavailable" in msg
        code, _ = smtp.rcpt("orders@sub.shop.example")  # a domain entry excludes subdomains
        assert code == 550


def test_message_over_the_limit_gets_552(make_emulator: Callable[..., Any]) -> None:
    server, _ = make_emulator(Recorder(), max_size=2000)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("a@example.com")
        smtp.rcpt("orders@shop.example")
        code, _ = smtp.data(MESSAGE + (b"x" * 70 + b"\r\n") * 50)
    assert code == 552


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "starttls"])
def test_accepted_mail_lands_in_s3_and_the_handler_gets_the_ses_event(
    make_emulator: Callable[..., Any],
    provisioned: StackOutputs,
    aws_client: Callable[..., Any],
    stack_certs: LocalCerts,
    use_tls: bool,
) -> None:
    handler = Recorder()
    server, _ = make_emulator(handler)
    ca = str(stack_certs.ca_file) if use_tls else None
    code, reply = _send(server, ["orders@shop.example", "support@shop.example"], MESSAGE, tls_ca=ca)
    assert code == 250
    message_id = reply.split()[-1]
    assert handler.done.wait(10)

    key = provisioned.outputs["RawMailPrefix"] + message_id
    body = aws_client("s3").get_object(Bucket=provisioned.outputs["RawMailBucketName"], Key=key)
    stored = body["Body"].read()
    assert stored.endswith(MESSAGE)
    assert stored.startswith(b"Return-Path: <bounce@example.com>\r\n")

    (event,) = handler.events
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:ses"
    mail, receipt = record["ses"]["mail"], record["ses"]["receipt"]
    assert mail["messageId"] == message_id
    assert mail["source"] == "bounce@example.com"
    assert mail["destination"] == [
        "orders@shop.example",
        "other@example.org",
        "support@shop.example",
    ]
    assert mail["headersTruncated"] is False
    names = [h["name"] for h in mail["headers"]]
    assert names[0] == "Return-Path"
    assert "Subject" in names
    common = mail["commonHeaders"]
    assert common["subject"] == "Bestellung über ORD-100234"
    assert common["messageId"] == "<m1@example.com>"
    assert common["to"] == ["Orders <orders@shop.example>", "other@example.org"]
    assert common["returnPath"] == "bounce@example.com"
    assert "bcc" not in common
    assert receipt["recipients"] == ["orders@shop.example", "support@shop.example"]
    assert receipt["spamVerdict"] == {"status": "FAIL"}
    assert receipt["virusVerdict"] == {"status": "GRAY"}
    assert receipt["dmarcVerdict"] == {"status": "FAIL"}
    assert receipt["dmarcPolicy"] == "reject"
    assert receipt["action"] == {
        "type": "Lambda",
        "functionArn": provisioned.functions["InboundFunction"].arn,
        "invocationType": "Event",
    }


def test_a_failing_handler_is_retried_twice_then_dead_lettered(
    make_emulator: Callable[..., Any], provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    handler = Recorder(fail_times=99)
    server, _ = make_emulator(handler)
    code, reply = _send(server, ["orders@shop.example"], MESSAGE)
    assert code == 250
    sqs = aws_client("sqs")
    url = provisioned.outputs["InboundDeadLetterQueueUrl"]
    msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages") or []
    assert len(msgs) == 1
    assert len(handler.events) == 3
    record = json.loads(msgs[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == handler.events[0]
    assert record["requestPayload"]["Records"][0]["ses"]["mail"]["messageId"] == reply.split()[-1]
    assert record["responsePayload"]["errorType"] == "RuntimeError"


def test_a_handler_that_recovers_is_not_dead_lettered(
    make_emulator: Callable[..., Any], provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    handler = Recorder(fail_times=1)
    server, _ = make_emulator(handler)
    assert _send(server, ["orders@shop.example"], MESSAGE)[0] == 250
    assert handler.done.wait(10)
    assert len(handler.events) == 2
    url = provisioned.outputs["InboundDeadLetterQueueUrl"]
    assert not aws_client("sqs").receive_message(QueueUrl=url).get("Messages")


def test_rule_recipient_matching() -> None:
    assert rule_covers(["shop.example"], "A@Shop.Example")
    assert not rule_covers(["shop.example"], "a@sub.shop.example")
    assert rule_covers([".shop.example"], "a@sub.shop.example")
    assert rule_covers(["x@shop.example"], "x@shop.example")
    assert not rule_covers(["x@shop.example"], "y@shop.example")
    assert rule_covers([], "anyone@anywhere.example")


def test_verdict_header_parsing() -> None:
    v = parse_test_verdicts("spam=fail; virus=PASS, dkim=bogus, dmarc=FAIL/quarantine")
    assert (v.spam, v.virus, v.dkim, v.dmarc, v.dmarc_policy) == (
        "FAIL",
        "PASS",
        "GRAY",
        "FAIL",
        "quarantine",
    )
    assert parse_test_verdicts(None, scan_enabled=False).spam == "DISABLED"
    assert "dmarcPolicy" not in receipt_verdicts(parse_test_verdicts("dmarc=PASS/reject"))
