"""Outbound end to end: shop bus (moto, HTTP) -> SQS -> handler with real adapters -> the
SES-like relay (TCP, STARTTLS + AUTH) -> EmailSent on the bus, a sent-mail row."""

from __future__ import annotations

import json
from typing import Any

from shopmail.adapters.dynamodb_sent_mail import DynamoDbSentMailStore
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.outbound.message_ids import parse_message_id
from shopmail.domain.outbound.sent_mail import SentMail
from shopmail.domain.suppression.entries import SuppressionEntry

from tests.fixtures.outbound_aws import INVOICE_BUCKET, OutboundStack


def failures(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def types(observed: list[dict[str, Any]]) -> list[str]:
    return [e["detail-type"] for e in observed]


def test_order_placed_on_the_bus_ends_as_exactly_one_mail(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    event = st.sample("OrderPlaced")
    st.put_event(event)
    records = st.receive()
    assert len(records) == 1

    assert failures(st.handle(records)) == []
    (mail,) = st.relay.messages
    assert mail.envelope.mail_from == "shop@shop.example"
    assert mail.envelope.rcpt_tos == ("juergen.mueller@example.com",)
    parsed = parse_message(mail.data)
    assert "100234" in parsed.subject
    assert parsed.to[0].address == "juergen.mueller@example.com"
    assert parsed.header("X-SES-CONFIGURATION-SET") == "shopmail"
    assert parsed.message_id is not None
    ref = parse_message_id(parsed.message_id)
    assert ref is not None
    assert (ref.kind, ref.aggregate_id, ref.domain) == ("orderplaced", "ORD-100234", "shop.example")
    assert "1.234,56" in parsed.text

    (sent,) = st.observed()
    assert sent["detail-type"] == "EmailSent" and sent["source"] == "shopmail.outbound"
    detail = sent["detail"]
    assert detail["sesMessageId"] == mail.message_id
    assert detail["orderId"] == "ORD-100234" and detail["emailType"] == "OrderPlaced"
    assert detail["messageId"] == parsed.message_id

    store = DynamoDbSentMailStore(st.client("dynamodb"), st.settings.sent_mail_table)
    row = store.get(mail.message_id)
    assert isinstance(row, SentMail)
    assert row.aggregate_id == "ORD-100234" and row.message_id == parsed.message_id
    assert row.idempotency_key == "OrderPlaced:ORD-100234:juergen.mueller@example.com"
    assert row.expires_at > 0
    assert store.get_by_message_id(parsed.message_id.upper()) == row

    # the same SQS record again, twice -> nothing new
    assert failures(st.handle(records)) == []
    assert failures(st.handle(records)) == []
    # re-published: a new EventBridge id, same business event -> nothing new
    st.put_event(event)
    again = st.receive()
    assert json.loads(again[0]["body"])["id"] != json.loads(records[0]["body"])["id"]
    assert failures(st.handle(again)) == []
    assert len(st.relay.messages) == 1
    assert st.observed() == []


def test_454_defers_the_item_and_sends_nothing(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    st.put_event(st.sample("OrderPlaced"))
    records = st.receive()
    st.relay.script("data", "454 Throttling failure: Maximum sending rate exceeded.")
    assert failures(st.handle(records)) == [records[0]["messageId"]]
    assert st.relay.messages == [] and st.observed() == [] and st.dead_letters() == []
    # the retry goes through
    assert failures(st.handle(records)) == []
    assert len(st.relay.messages) == 1


def test_535_fails_the_whole_batch(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    st.put_event(st.sample("OrderPlaced"))
    st.put_event(st.sample("OrderShipped"))
    records = st.receive()
    assert len(records) == 2
    st.relay.script("auth", "535 Authentication Credentials Invalid")
    response = st.handle(records)
    assert sorted(failures(response)) == sorted(r["messageId"] for r in records)
    assert st.relay.messages == [] and st.observed() == [] and st.dead_letters() == []


def test_daily_quota_stops_the_batch(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    st.put_event(st.sample("OrderPlaced"))
    st.put_event(st.sample("OrderShipped"))
    records = st.receive()
    st.relay.script("data", "454 Throttling failure: Daily message quota exceeded.")
    response = st.handle(records)
    assert sorted(failures(response)) == sorted(r["messageId"] for r in records)
    assert st.relay.messages == [] and st.observed() == [] and st.dead_letters() == []


def test_rotated_secret_is_read_again_after_535(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    sm = st.client("secretsmanager")
    good = sm.get_secret_value(SecretId=st.settings.smtp_secret_arn)["SecretString"]
    wrong = json.dumps({"AccessKeyId": st.relay.access_key_id, "SecretAccessKey": "old-key"})
    sm.put_secret_value(SecretId=st.settings.smtp_secret_arn, SecretString=wrong)
    st.put_event(st.sample("OrderPlaced"))
    records = st.receive()
    assert failures(st.handle(records)) == [records[0]["messageId"]]  # real 535
    sm.put_secret_value(SecretId=st.settings.smtp_secret_arn, SecretString=good)
    assert failures(st.handle(records)) == []
    assert len(st.relay.messages) == 1


def test_554_transaction_failed_dead_letters_with_email_failed(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    st.put_event(st.sample("OrderPlaced"))
    records = st.receive()
    st.relay.script("data", "554 Transaction failed: Duplicate header 'Subject'.")
    assert failures(st.handle(records)) == []
    assert st.relay.messages == []
    (failed,) = st.observed()
    assert failed["detail-type"] == "EmailFailed"
    assert failed["detail"]["code"] == "message_rejected"
    assert failed["detail"]["orderId"] == "ORD-100234"
    (dead,) = st.dead_letter_entries()
    # the original body, unchanged (a plain SQS redrive puts it back), the reason beside it
    assert dead.body == records[0]["body"] and dead.redrive_body == records[0]["body"]
    assert (dead.origin, dead.source, dead.code) == (
        "service",
        "shopmail.outbound",
        "message_rejected",
    )
    assert dead.attributes["shopmail.messageId"] == records[0]["messageId"]
    assert dead.detail_type == "OrderPlaced"


def test_invalid_event_is_dead_lettered_once(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    bad = st.sample("OrderPlaced")
    del bad["detail"]["order"]["total"]
    st.put_event(bad)
    records = st.receive()
    assert failures(st.handle(records)) == []
    (dead,) = st.dead_letter_entries()
    assert dead.code == "invalid_event" and "total" in dead.reason
    assert types(st.observed()) == ["EmailFailed"]
    assert st.relay.messages == []


def test_suppressed_address_gets_no_mail(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    suppression = DynamoDbSuppressionList(st.client("dynamodb"), st.settings.suppression_table)
    suppression.put(
        SuppressionEntry(
            "Juergen.Mueller@example.com", "hard_bounce", "5.1.1 user unknown", "2026-11-01"
        )
    )
    st.put_event(st.sample("OrderPlaced"))
    st.put_event(st.sample("PasswordResetRequested"))
    records = st.receive()
    assert failures(st.handle(records)) == []
    observed = st.observed()
    assert sorted(types(observed)) == ["EmailSent", "EmailSuppressed"]
    (sup,) = [e["detail"] for e in observed if e["detail-type"] == "EmailSuppressed"]
    assert sup["emailType"] == "OrderPlaced" and sup["suppressionClass"] == "hard_bounce"
    (mail,) = st.relay.messages  # only the password reset (whitelisted)
    mid = parse_message(mail.data).message_id
    assert mid is not None
    ref = parse_message_id(mid)
    assert ref is not None and ref.kind == "passwordresetrequested"


def test_invoice_pdf_from_s3_is_attached(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    event = st.sample("InvoiceIssued")
    pdf = event["detail"]["invoice"]["pdf"]
    assert pdf["bucket"] == INVOICE_BUCKET
    content = b"%PDF-1.4\n% shopmail test invoice\n" + bytes(range(256)) * 8
    st.client("s3").put_object(Bucket=INVOICE_BUCKET, Key=pdf["key"], Body=content)
    st.put_event(event)
    assert failures(st.handle(st.receive())) == []
    (mail,) = st.relay.messages
    parsed = parse_message(mail.data)
    (att,) = parsed.attachments
    assert att.content_type == "application/pdf"
    assert att.filename == pdf["filename"]
    assert att.size == len(content)


def test_suppression_adapter_roundtrip(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    sl = DynamoDbSuppressionList(st.client("dynamodb"), st.settings.suppression_table)
    assert sl.get("a@example.com") is None
    sl.put(SuppressionEntry("A@Example.com", "complaint", "abuse", "2026-11-01", "ses"))
    sl.put(SuppressionEntry("b@example.com", "transient_bounces", "", "", "", expires_at=1))
    entry = sl.get("a@EXAMPLE.com")
    assert entry == SuppressionEntry("a@example.com", "complaint", "abuse", "2026-11-01", "ses")
    assert sl.get("b@example.com") is None  # expired
    assert [e.address for e in sl.list()] == ["a@example.com"]
    assert len(list(sl.list(include_expired=True))) == 2
    assert sl.delete("a@example.com") is True
    assert sl.delete("a@example.com") is False
    assert sl.get("a@example.com") is None


def test_dropped_connection_after_the_final_dot_is_not_resent(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    st.put_event(st.sample("OrderPlaced"))
    records = st.receive()
    st.relay.script("data", drop=True)  # lost before the 250: the relay may have it
    assert failures(st.handle(records)) == []  # counted as sent: no retry, no resend
    assert st.relay.server.connections == 1 and st.relay.messages == []
    (sent,) = st.observed()
    assert sent["detail-type"] == "EmailSent" and sent["detail"]["ambiguous"] is True
    assert st.dead_letters() == []


class _Context:
    function_name = "shopmail-outbound"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:shopmail-outbound"
    aws_request_id = "req-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def test_lambda_handler_from_environment(
    outbound_stack: OutboundStack, monkeypatch: Any, moto: str, capsys: Any
) -> None:
    from shopmail.config import ENV_NAMES

    st = outbound_stack
    s = st.settings
    env = {
        "AWS_ENDPOINT_URL": moto,
        "MAIL_DOMAIN": s.mail_domain,
        "SHOP_EVENT_BUS_NAME": s.event_bus_name,
        "IDEMPOTENCY_TABLE": s.idempotency_table,
        "SUPPRESSION_TABLE": s.suppression_table,
        "SENT_MAIL_TABLE": s.sent_mail_table,
        "SES_CONFIGURATION_SET": s.configuration_set,
        "SMTP_SECRET_ARN": s.smtp_secret_arn,
        "SMTP_MAX_RATE": "50",
        "SMTP_HOST": s.smtp_host,
        "SMTP_PORT": str(s.smtp_port),
        "SMTP_CA_FILE": s.smtp_ca_file,
        "OUTBOUND_DLQ_URL": s.outbound_dlq_url,
    }
    assert set(env) - {"AWS_ENDPOINT_URL"} <= set(ENV_NAMES.values())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    st.app._service.cache_clear()
    monkeypatch.setenv("SENT_MAIL_TABLE", "")
    bad = st.app.lambda_handler({"Records": [{"messageId": "x", "body": "{}"}]}, _Context())
    assert bad == {"batchItemFailures": [{"itemIdentifier": "x"}]}
    assert '"ConfigurationError":[1.0]' in capsys.readouterr().out.replace(" ", "")
    monkeypatch.setenv("SENT_MAIL_TABLE", s.sent_mail_table)
    st.app._service.cache_clear()
    st.put_event(st.sample("OrderPlaced"))
    st.put_event(st.sample("OrderShipped"))
    st.relay.script("data", "451 4.4.2 Timeout waiting for data from client.")
    st.relay.script("data", "451 4.4.2 Timeout waiting for data from client.")
    records = st.receive()
    st.app.metrics.clear_metrics()  # Powertools keeps metrics in shared, module-wide state
    capsys.readouterr()
    response = st.app.lambda_handler({"Records": records}, _Context())
    assert len(failures(response)) == 1  # reconnect once, second 451 defers that item
    assert len(st.relay.messages) == 1
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    dims = [tuple(m["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) for m in emf]
    (metrics,) = [m for m, d in zip(emf, dims, strict=True) if d == ("service",)]
    assert metrics["EmailsSent"] == [1.0] and metrics["OutboundRetried"] == [1.0]
    assert metrics["service"] == "shopmail-test"
    by_type = {(d, m.get("EmailType"), m.get("ReplyClass")) for m, d in zip(emf, dims, strict=True)}
    sent_types = {t for d, t, _ in by_type if d == ("EmailType", "service")}
    assert len(sent_types) == 1 and sent_types <= {"OrderPlaced", "OrderShipped"}  # per type
    assert (("ReplyClass", "service"), None, "reconnect") in by_type  # 451 4.4.2 twice
    st.app._service.cache_clear()
