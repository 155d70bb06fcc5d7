"""The outbound use case on in-memory fakes of its ports (real contracts, rendering, MIME)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from shopmail.config import Settings
from shopmail.domain.outbound.mime_build import Attachment
from shopmail.domain.outbound.rendering import AttachmentRef
from shopmail.domain.outbound.sent_mail import SentMail
from shopmail.domain.suppression.entries import SuppressionEntry
from shopmail.errors import (
    ConfigurationError,
    DeliveryDeferredError,
    MessageRejectedError,
    QuotaExceededError,
    ServiceUnavailableError,
    ShopmailError,
    TemplateError,
)
from shopmail.services.outbound import OutboundPorts, OutboundService

from tests.fixtures.emitted import assert_emitted
from tests.fixtures.inbound_fakes import FakeIdempotency
from tests.fixtures.paths import load_handler

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events" / "outbound"


def sample(name: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    for path, value in changes.items():
        node = event
        *parents, last = path.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    return event


def record(event: Any, message_id: str) -> dict[str, Any]:
    body = event if isinstance(event, str) else json.dumps(event)
    return {"messageId": message_id, "body": body, "eventSource": "aws:sqs"}


def order(n: int, email: str = "kunde@example.com") -> dict[str, Any]:
    ev = sample("OrderPlaced", id=f"evt-{n}")
    ev["detail"]["order"]["id"] = f"ORD-{n}"
    ev["detail"]["recipient"]["email"] = email
    return ev


# --- fakes ---------------------------------------------------------------------------------


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], str]] = []
        self.fail_types: dict[str, ShopmailError] = {}

    def publish(self, detail_type: str, detail: Mapping[str, Any], source: str) -> None:
        if detail_type in self.fail_types:
            raise self.fail_types.pop(detail_type)
        json.dumps(detail)
        assert_emitted(detail_type, detail, source)  # every event matches its contract
        self.events.append((detail_type, dict(detail), source))

    def of(self, detail_type: str) -> list[dict[str, Any]]:
        return [d for t, d, _ in self.events if t == detail_type]


class FakeDeadLetters:
    def __init__(self) -> None:
        self.items: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []

    def send(self, payload: Mapping[str, Any], reason: Mapping[str, Any]) -> None:
        json.dumps(payload, default=str)
        self.items.append((payload, reason))


class FakeSuppression:
    def __init__(self) -> None:
        self.entries: dict[str, SuppressionEntry] = {}

    def get(self, address: str) -> SuppressionEntry | None:
        return self.entries.get(address.lower())


class FakeSentMail:
    def __init__(self) -> None:
        self.records: dict[str, SentMail] = {}

    def put(self, record: SentMail) -> None:
        self.records[record.ses_message_id] = record


class FakeAttachments:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def fetch(self, ref: AttachmentRef) -> Attachment:
        data = self.objects.get((ref.bucket, ref.key))
        if data is None:
            raise ServiceUnavailableError("missing", key=ref.key)
        return Attachment(ref.filename, data, ref.content_type)


@dataclass
class FakeRelay:
    sent: list[tuple[str, tuple[str, ...], bytes]] = field(default_factory=list)
    fail: list[ShopmailError | None] = field(default_factory=list)  # per send, in order
    sessions: int = 0
    attempts: int = 0

    @contextmanager
    def session(self) -> Iterator[FakeRelay]:
        self.sessions += 1
        yield self

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        self.attempts += 1
        error = self.fail.pop(0) if self.fail else None
        if error is not None:
            raise error
        self.sent.append((envelope_from, tuple(recipients), message))
        return f"ses-{len(self.sent):04d}"


@dataclass
class Harness:
    service: OutboundService
    publisher: FakePublisher
    dlq: FakeDeadLetters
    idem: FakeIdempotency
    suppression: FakeSuppression
    sent_mail: FakeSentMail
    attachments: FakeAttachments
    relay: FakeRelay

    def run(self, *records: dict[str, Any]) -> Any:
        return self.service.handle_batch(list(records))


@pytest.fixture
def h() -> Harness:
    settings = Settings(mail_domain="shop.example", configuration_set="shopmail")
    parts = (
        FakePublisher(),
        FakeDeadLetters(),
        FakeIdempotency(),
        FakeSuppression(),
        FakeSentMail(),
        FakeAttachments(),
        FakeRelay(),
    )
    pub, dlq, idem, sup, sent, att, relay = parts
    ports = OutboundPorts(pub, dlq, idem, sup, sent, att, relay.session)
    return Harness(OutboundService(settings, ports), *parts)


def failures(result: Any) -> list[str]:
    return [f["itemIdentifier"] for f in result.response()["batchItemFailures"]]


# --- tests ---------------------------------------------------------------------------------


def test_one_event_one_mail_recorded_and_announced(h: Harness) -> None:
    result = h.run(record(order(1), "m1"))
    assert failures(result) == []
    assert result.counts["sent"] == 1
    assert len(h.relay.sent) == 1 and h.relay.sessions == 1
    envelope_from, rcpts, raw = h.relay.sent[0]
    assert envelope_from == "shop@shop.example" and rcpts == ("kunde@example.com",)
    assert b"X-SES-CONFIGURATION-SET: shopmail" in raw
    (sent,) = h.publisher.of("EmailSent")
    assert sent["sesMessageId"] == "ses-0001"
    assert sent["orderId"] == "ORD-1" and sent["emailType"] == "OrderPlaced"
    assert sent["messageId"].startswith("<sm.orderplaced.ORD-1.")
    assert all(src == "shopmail.outbound" for _, _, src in h.publisher.events)
    rec = h.sent_mail.records["ses-0001"]
    assert rec.message_id == sent["messageId"] and rec.aggregate_id == "ORD-1"
    assert rec.idempotency_key == "OrderPlaced:ORD-1:kunde@example.com"


def test_duplicate_delivery_three_times_and_republish_send_one_mail(h: Harness) -> None:
    ev = order(7)
    for _ in range(3):
        assert failures(h.run(record(ev, "m1"))) == []
    republished = copy.deepcopy(ev)
    republished["id"] = "a-brand-new-eventbridge-id"
    result = h.run(record(republished, "m2"), record(ev, "m3"))
    assert failures(result) == [] and result.counts["duplicate"] == 2
    assert len(h.relay.sent) == 1
    assert len(h.publisher.of("EmailSent")) == 1
    # a batch of duplicates never opens a relay connection
    assert h.relay.sessions == 1


def test_one_session_per_batch(h: Harness) -> None:
    result = h.run(*(record(order(i), f"m{i}") for i in range(4)))
    assert result.counts["sent"] == 4 and h.relay.sessions == 1


def test_partial_batch_failure_retries_only_the_deferred_item(h: Harness) -> None:
    h.relay.fail = [None, DeliveryDeferredError("451 try later"), None]
    result = h.run(record(order(1), "m1"), record(order(2), "m2"), record(order(3), "m3"))
    assert failures(result) == ["m2"]
    assert len(h.relay.sent) == 2
    # the deferred item's claim was released: its retry sends it
    retry = h.run(record(order(2), "m2"))
    assert failures(retry) == [] and len(h.relay.sent) == 3


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        json.dumps(sample("OrderPlaced", detail__locale=17)),
        json.dumps({"detail-type": "Unknown", "detail": {}}),
        json.dumps(sample("OrderPlaced", detail__recipient={"email": "not an address"})),
    ],
    ids=["json", "schema", "type", "recipient"],
)
def test_invalid_event_is_dead_lettered_once_not_retried(h: Harness, body: str) -> None:
    result = h.run(record(order(1), "ok"), record(body, "bad"))
    assert failures(result) == []
    assert result.counts["invalid"] == 1 and result.counts["sent"] == 1
    assert len(h.dlq.items) == 1
    payload, reason = h.dlq.items[0]
    # the record itself goes to the dead-letter queue: its body unchanged (redrivable as is)
    assert payload["messageId"] == "bad" and payload["body"] == body
    assert reason["permanent"] is True and reason["reason"]
    (failed,) = h.publisher.of("EmailFailed")
    assert failed["code"] in {"invalid_event", "invalid_recipient"}


def test_schema_reason_names_the_field(h: Harness) -> None:
    h.run(record(sample("OrderPlaced", detail__locale=17), "bad"))
    assert "locale" in h.dlq.items[0][1]["reason"]


def test_hard_bounced_address_is_suppressed_but_password_reset_goes(h: Harness) -> None:
    h.suppression.entries["juergen.mueller@example.com"] = SuppressionEntry(
        "juergen.mueller@example.com", "hard_bounce", "5.1.1 user unknown"
    )
    result = h.run(
        record(sample("OrderPlaced"), "m1"), record(sample("PasswordResetRequested"), "m2")
    )
    assert failures(result) == [] and result.counts["suppressed"] == 1
    assert len(h.relay.sent) == 1 and b"PRR" not in h.relay.sent[0][2][:0]
    (sup,) = h.publisher.of("EmailSuppressed")
    assert sup["emailType"] == "OrderPlaced" and sup["suppressionClass"] == "hard_bounce"
    assert [d["emailType"] for d in h.publisher.of("EmailSent")] == ["PasswordResetRequested"]
    # suppressed is a final outcome: a redelivery publishes nothing new
    h.run(record(sample("OrderPlaced"), "m1"))
    assert len(h.publisher.of("EmailSuppressed")) == 1


def test_unsubscribed_address_gets_transactional_but_not_marketing(h: Harness) -> None:
    h.suppression.entries["juergen.mueller@example.com"] = SuppressionEntry(
        "juergen.mueller@example.com", "unsubscribe", "one-click"
    )
    result = h.run(record(sample("OrderPlaced"), "m1"), record(sample("CheckoutAbandoned"), "m2"))
    assert failures(result) == []
    assert [d["emailType"] for d in h.publisher.of("EmailSent")] == ["OrderPlaced"]
    assert [d["emailType"] for d in h.publisher.of("EmailSuppressed")] == ["CheckoutAbandoned"]


def test_configuration_error_fails_the_batch_without_marking_messages(h: Harness) -> None:
    h.relay.fail = [ConfigurationError("535 Authentication Credentials Invalid")]
    recs = [record(order(i), f"m{i}") for i in range(3)]
    result = h.run(*recs)
    assert failures(result) == ["m0", "m1", "m2"]
    assert result.alarm == "configuration"
    assert h.relay.attempts == 1
    assert h.dlq.items == [] and h.publisher.events == []
    # nothing was claimed for good: once fixed, the batch sends everything
    result = h.run(*recs)
    assert failures(result) == [] and len(h.relay.sent) == 3


def test_configuration_error_from_session_factory_fails_batch(h: Harness) -> None:
    def broken() -> Any:
        raise ConfigurationError("SMTP_SECRET_ARN is not set")

    h.service.ports = replace(h.service.ports, relay=broken)
    result = h.run(record("{bad", "m0"), record(order(1), "m1"), record(order(2), "m2"))
    # the invalid record before the stop is handled; everything from the stop on fails
    assert failures(result) == ["m1", "m2"] and len(h.dlq.items) == 1
    assert result.alarm == "configuration"


def test_quota_stops_the_batch(h: Harness) -> None:
    h.relay.fail = [None, QuotaExceededError("454 Daily message quota exceeded")]
    result = h.run(*(record(order(i), f"m{i}") for i in range(4)))
    assert failures(result) == ["m1", "m2", "m3"]
    assert result.alarm == "quota" and h.relay.attempts == 2
    assert len(h.relay.sent) == 1 and h.dlq.items == []


def test_rejected_message_is_dead_lettered_with_email_failed(h: Harness) -> None:
    h.relay.fail = [MessageRejectedError("554 Transaction failed: bad content")]
    result = h.run(record(order(1), "m1"), record(order(2), "m2"))
    assert failures(result) == []
    assert result.counts["dead_lettered"] == 1 and result.counts["sent"] == 1
    (failed,) = h.publisher.of("EmailFailed")
    assert failed["orderId"] == "ORD-1" and failed["code"] == "message_rejected"
    assert h.dlq.items[0][1]["code"] == "message_rejected"
    # released: a replay from the DLQ can send it
    assert "OrderPlaced:ORD-1:kunde@example.com" not in h.idem.items


def test_unknown_template_is_permanent(h: Harness) -> None:
    ev = sample("SendEmailRequested")
    ev["detail"]["template"] = "NoSuchTemplate"
    result = h.run(record(ev, "m1"))
    assert failures(result) == [] and result.counts["dead_lettered"] == 1
    assert "template" in h.publisher.of("EmailFailed")[0]["reason"]


def test_template_error_is_permanent(h: Harness) -> None:
    def broken(event: Any, settings: Any) -> Any:
        raise TemplateError("template 'OrderPlaced' (de) failed: UndefinedError")

    h.service._render = broken
    result = h.run(record(order(1), "m1"))
    assert failures(result) == [] and result.counts["dead_lettered"] == 1
    assert h.publisher.of("EmailFailed")[0]["code"] == "template"
    assert h.relay.sessions == 0


def test_send_email_requested_is_sent(h: Harness) -> None:
    result = h.run(record(sample("SendEmailRequested"), "m1"))
    assert failures(result) == [] and len(h.relay.sent) == 1


def test_in_progress_elsewhere_fails_the_item(h: Harness) -> None:
    h.idem.items["OrderPlaced:ORD-1:kunde@example.com"] = {
        "status": "INPROGRESS",
        "in_progress_expiration": h.idem.clock() + 60,
    }
    result = h.run(record(order(1), "m1"), record(order(2), "m2"))
    assert failures(result) == ["m1"] and len(h.relay.sent) == 1


def test_failed_announcement_is_finished_on_retry_without_resending(h: Harness) -> None:
    h.publisher.fail_types["EmailSent"] = ServiceUnavailableError("events throttled")
    result = h.run(record(order(1), "m1"))
    assert failures(result) == ["m1"] and len(h.relay.sent) == 1
    retry = h.run(record(order(1), "m1"))
    assert failures(retry) == [] and retry.counts["announced_late"] == 1
    assert len(h.relay.sent) == 1
    assert len(h.publisher.of("EmailSent")) == 1
    assert h.run(record(order(1), "m1")).counts["announced_late"] == 0


def test_invoice_attachment_fetched_or_retried(h: Harness) -> None:
    ev = sample("InvoiceIssued")
    pdf = ev["detail"]["invoice"]["pdf"]
    result = h.run(record(ev, "m1"))
    assert failures(result) == ["m1"] and h.relay.sent == []  # PDF not there yet: retry
    h.attachments.objects[(pdf["bucket"], pdf["key"])] = b"%PDF-1.4 test"
    result = h.run(record(ev, "m1"))
    assert failures(result) == [] and b"application/pdf" in h.relay.sent[0][2]


def test_unexpected_exception_is_retried_not_raised(h: Harness) -> None:
    h.relay.fail = [None]

    class Boom:
        def get(self, address: str) -> None:
            raise RuntimeError("bug")

    h.service.ports = replace(h.service.ports, suppression=Boom())
    result = h.run(record(order(1), "m1"))
    assert failures(result) == ["m1"]
    assert h.idem.items == {}  # claim released


def test_handler_returns_batch_item_failures(h: Harness) -> None:
    app = load_handler("outbound", "outbound_app_ft")
    h.relay.fail = [None, DeliveryDeferredError("421")]
    event = {"Records": [record(order(1), "m1"), record(order(2), "m2")]}
    assert app.handle(event, h.service) == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert app.handle({"Records": []}, h.service) == {"batchItemFailures": []}
    app.metrics.clear_metrics()


# --- contracts and per-type counts ------------------------------------------------------------


def test_every_outbound_event_matches_its_contract(h: Harness) -> None:
    from shopmail.services.outbound import DETAIL_TYPES

    from shopmail_local.contracts.schemas import check_detail
    from tests.fixtures.emitted import schemas

    names = sorted(p.stem for p in EVENTS.glob("*.json"))
    pdf = sample("InvoiceIssued")["detail"]["invoice"]["pdf"]
    h.attachments.objects[(pdf["bucket"], pdf["key"])] = b"%PDF-1.4\n%%EOF\n"
    h.relay.fail = [None] * (len(names) - 1) + [MessageRejectedError("554 Transaction failed")]
    result = h.run(*(record(sample(n), f"m-{n}") for n in names))
    assert failures(result) == [] and result.counts["sent"] == len(names) - 1
    h.suppression.entries["gesperrt@example.com"] = SuppressionEntry(
        "gesperrt@example.com", "complaint", "abuse"
    )
    h.run(record(order(9, "gesperrt@example.com"), "m-sup"), record("{", "m-bad"))
    assert {t for t, _, _ in h.publisher.events} == set(DETAIL_TYPES)
    problems = [p for t, d, s in h.publisher.events for p in check_detail(schemas(), t, d, s)]
    assert problems == []
    assert all(d["version"] == 1 for _, d, _ in h.publisher.events)
    assert result.by_type[(names[-1], "EmailFailed")] == 1
    assert result.relay_errors == {}  # the fake's error carries no relay reply class
    versioned = [d for d in h.publisher.of("EmailSent") if d["emailType"] == "OrderShipped"]
    assert versioned and versioned[0]["aggregateVersion"]  # the shipment, not `version`


def test_outcomes_are_counted_per_type_and_relay_errors_per_reply_class(h: Harness) -> None:
    from shopmail.domain.smtp.replies import SmtpReply, error_for

    h.relay.fail = [None, error_for(SmtpReply(451, "Temporary service failure"), "data")]
    h.suppression.entries["kunde@example.com"] = SuppressionEntry(
        "kunde@example.com", "hard_bounce", "5.1.1"
    )
    result = h.run(
        record(sample("OrderPlaced"), "m1"),
        record(sample("OrderShipped"), "m2"),
        record(order(5), "m3"),
        record(json.dumps({"detail-type": "Nope", "id": "x", "detail": {}}), "m4"),
        record(json.dumps(sample("PaymentFailed", detail__locale=1)), "m5"),
    )
    assert failures(result) == ["m2"]
    assert result.by_type == {
        ("OrderPlaced", "EmailSent"): 1,
        ("OrderPlaced", "EmailSuppressed"): 1,
        ("unsupported", "EmailFailed"): 1,
        ("PaymentFailed", "EmailFailed"): 1,
    }
    assert result.relay_errors == {"transient": 1}


# --- reliability: ambiguity, postponement, the last delivery, per-item isolation -------------


class FakeRetries:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def postpone(self, items: Sequence[Any]) -> None:
        self.items.extend(items)


def sqs_record(event: Any, message_id: str, receives: int = 1) -> dict[str, Any]:
    return {
        **record(event, message_id),
        "receiptHandle": f"handle-{message_id}-{receives}",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:outbound",
        "attributes": {"ApproximateReceiveCount": str(receives), "SentTimestamp": "1800000000000"},
    }


def with_retries(h: Harness, **settings: Any) -> FakeRetries:
    retries = FakeRetries()
    h.service.ports = replace(h.service.ports, retries=retries)
    if settings:
        h.service.settings = replace(h.service.settings, **settings)
    return retries


def test_ambiguous_send_counts_as_sent_once_and_is_flagged(h: Harness) -> None:
    from shopmail.errors import DeliveryAmbiguousError

    h.relay.fail = [DeliveryAmbiguousError("connection lost after the final dot")]
    result = h.run(record(order(1), "m1"))
    assert failures(result) == [] and result.counts["sent"] == result.counts["ambiguous"] == 1
    (sent,) = h.publisher.of("EmailSent")
    assert sent["ambiguous"] is True and sent["sesMessageId"] == ""
    data = h.idem.data("OrderPlaced:ORD-1:kunde@example.com")
    assert data is not None and data["ambiguous"] is True and data["outcome"] == "sent"
    assert h.run(record(order(1), "m1")).counts["duplicate"] == 1  # never resent
    assert h.relay.attempts == 1


def test_a_key_the_store_refuses_is_dead_lettered_once(h: Harness) -> None:
    from shopmail.errors import StoreRejectedError

    def refuse(key: str, in_progress_seconds: float) -> bool:
        raise StoreRejectedError("dynamodb PutItem refused the request: key too long")

    h.idem.begin = refuse  # type: ignore[method-assign]
    result = h.run(record(order(1), "m1"), record(order(2), "m2"))
    assert failures(result) == [] and result.counts["dead_lettered"] == 2
    assert [f["code"] for f in h.publisher.of("EmailFailed")] == ["store_rejected"] * 2
    assert h.relay.attempts == 0


def test_failed_items_are_postponed_by_their_receive_count(h: Harness) -> None:
    from shopmail.domain.outbound.retry_schedule import retry_delay

    retries = with_retries(h)
    h.relay.fail = [DeliveryDeferredError("451 try later")]
    result = h.run(sqs_record(order(1), "m1", receives=4), sqs_record(order(2), "m2"))
    assert failures(result) == ["m1"]
    (item,) = retries.items
    assert (item.item_id, item.delay_seconds) == ("m1", retry_delay(4))
    assert item.receipt_handle == "handle-m1-4" and item.queue_arn.endswith(":outbound")


def test_a_stopped_batch_postpones_every_remaining_item(h: Harness) -> None:
    retries = with_retries(h)
    h.relay.fail = [QuotaExceededError("454 Daily message quota exceeded")]
    result = h.run(*(sqs_record(order(i), f"m{i}", receives=2) for i in range(3)))
    assert failures(result) == ["m0", "m1", "m2"] and result.alarm == "quota"
    assert [(p.item_id, p.delay_seconds) for p in retries.items] == [
        ("m0", 60),
        ("m1", 60),
        ("m2", 60),
    ]


def test_the_last_allowed_delivery_dead_letters_with_the_reason(h: Harness) -> None:
    retries = with_retries(h, outbound_max_receive_count=5)
    h.relay.fail = [ConfigurationError("535 Authentication Credentials Invalid")]
    result = h.run(sqs_record(order(1), "m1", receives=5), sqs_record(order(2), "m2", receives=4))
    assert failures(result) == ["m2"] and [p.item_id for p in retries.items] == ["m2"]
    assert result.counts["exhausted"] == 1
    (payload, reason) = h.dlq.items[0]
    assert payload["messageId"] == "m1" and reason["code"] == "retries_exhausted"
    assert "535" in reason["reason"] and reason["context"]["last_error"] == "configuration"
    (failed,) = h.publisher.of("EmailFailed")
    assert failed["orderId"] == "ORD-1" and failed["code"] == "retries_exhausted"


def test_a_relay_session_that_cannot_be_opened_stops_the_batch(h: Harness) -> None:
    def throttled() -> Any:
        raise ServiceUnavailableError("Secrets Manager failed (ThrottlingException)")

    h.service.ports = replace(h.service.ports, relay=throttled)
    result = h.run(record(order(1), "m1"), record(order(2), "m2"))
    assert failures(result) == ["m1", "m2"] and result.alarm == "unavailable"
    assert result.counts["stopped"] == 2


def test_an_unreadable_pdf_fails_that_item_only_and_alarms(h: Harness) -> None:
    def denied(ref: AttachmentRef) -> Attachment:
        raise ConfigurationError("access to the invoice denied (AccessDenied)")

    h.attachments.fetch = denied  # type: ignore[method-assign]
    result = h.run(
        record(order(1), "m1"), record(sample("InvoiceIssued"), "m2"), record(order(3), "m3")
    )
    assert failures(result) == ["m2"] and result.alarm == "configuration"
    assert result.counts["sent"] == 2 and h.dlq.items == []


def test_a_missing_pdf_waits_until_the_deadline_then_fails_for_good(h: Harness) -> None:
    from datetime import UTC, datetime, timedelta

    from shopmail.errors import AttachmentMissingError

    def missing(ref: AttachmentRef) -> Attachment:
        raise AttachmentMissingError("attachment not found (NoSuchKey)", key=ref.key)

    h.attachments.fetch = missing  # type: ignore[method-assign]
    retries = with_retries(h, invoice_wait_seconds=600)
    issued = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    now = [issued + timedelta(seconds=590)]
    h.service._clock = lambda: now[0]
    bill = sample("InvoiceIssued", time="2026-11-28T10:00:00Z")
    result = h.run(sqs_record(bill, "m1", receives=3))
    assert failures(result) == ["m1"]
    assert [p.delay_seconds for p in retries.items] == [10]  # not past the deadline
    now[0] = issued + timedelta(seconds=601)
    result = h.run(sqs_record(bill, "m1", receives=4))
    assert failures(result) == [] and result.counts["dead_lettered"] == 1
    assert "INVOICE_WAIT_SECONDS" in h.dlq.items[0][1]["reason"]
    assert h.relay.attempts == 0
