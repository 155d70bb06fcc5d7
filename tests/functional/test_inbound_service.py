"""The inbound handler and service with in-memory fakes (real parser, real default routes)."""

from __future__ import annotations

import copy
import json
from email import message_from_bytes, policy
from types import ModuleType
from typing import Any

import pytest
from shopmail.domain.inbound.routing import Router, parse_routes
from shopmail.errors import (
    DeliveryDeferredError,
    InProgressError,
    MessageRejectedError,
    ServiceUnavailableError,
    ShopmailError,
)

from tests.fixtures.inbound_fakes import InboundHarness, inbound_settings
from tests.fixtures.paths import load_handler


@pytest.fixture(scope="module")
def app() -> ModuleType:
    return load_handler("inbound", "inbound_app")


def _run(app: ModuleType, h: InboundHarness, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = app.handle(event, h.service)
    return result


def test_support_mail_publishes_and_acknowledges(
    app: ModuleType, inbound_harness: InboundHarness
) -> None:
    event = inbound_harness.put_sample("support")
    result = _run(app, inbound_harness, event)
    assert result["dead_lettered"] == 0
    assert inbound_harness.publisher.types() == ["SupportMessageReceived"]
    _, detail, source = inbound_harness.publisher.events[0]
    assert source == "shopmail.inbound"
    assert detail["route"] == "support"
    assert detail["from"]["address"] == "kim.meyer@example.org"
    assert detail["subject"] == "Frage zu meiner Bestellung ORD-100234"
    assert "ORD-100234" in " ".join(detail["orderNumbers"]) or "100234" in detail["orderNumbers"]
    assert detail["raw"] == {"bucket": "raw-mail", "key": "inbound/" + detail["messageId"]}
    assert detail["verdicts"]["spam"] == "PASS"
    assert "wann wird meine Bestellung" in detail["text"]
    # the acknowledgement goes to the envelope sender, marked as auto-reply
    assert len(inbound_harness.sender.sent) == 1
    env_from, rcpts, raw = inbound_harness.sender.sent[0]
    assert rcpts == ("kim.meyer@example.org",)
    assert env_from == "support@shop.example"
    reply = message_from_bytes(raw, policy=policy.default)
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == "<CAF1234support@mail.example.org>"
    assert "vielen Dank" in reply.get_content()  # Content-Language: de-DE
    assert result["actions"] == {"publish": 1, "store_attachments": 1, "auto_reply": 1}


def test_return_with_attachment_stored_under_safe_key(
    app: ModuleType, inbound_harness: InboundHarness
) -> None:
    event = inbound_harness.put_sample("return")
    mid = event["Records"][0]["ses"]["mail"]["messageId"]
    _run(app, inbound_harness, event)
    keys = [k for k in inbound_harness.store.objects if k.startswith("attachments/")]
    assert keys == [f"attachments/{mid}/{keys[0].split('/')[-1]}"]
    name = keys[0].rsplit("/", 1)[1]
    assert ".." not in keys[0] and name.endswith("return_label.pdf")
    assert inbound_harness.store.objects[keys[0]].startswith(b"%PDF-1.4")
    assert inbound_harness.store.content_types[keys[0]] == "application/pdf"
    (detail_type, detail, _) = inbound_harness.publisher.events[0]
    assert detail_type == "ReturnMailReceived"
    assert detail["attachments"][0]["s3Key"] == keys[0]
    assert len(inbound_harness.sender.sent) == 1  # acknowledgement


def test_reply_to_order_mail(app: ModuleType, inbound_harness: InboundHarness) -> None:
    _run(app, inbound_harness, inbound_harness.put_sample("order_reply"))
    (detail_type, detail, _) = inbound_harness.publisher.events[0]
    assert detail_type == "CustomerReplied"
    assert detail["orderId"] == "ORD-100234"
    assert detail["inReplyTo"][0].startswith("<sm.ordershipped.ORD-100234.")
    assert inbound_harness.sender.sent == []


def test_auto_reply_is_never_answered(app: ModuleType, inbound_harness: InboundHarness) -> None:
    result = _run(app, inbound_harness, inbound_harness.put_sample("auto_reply"))
    assert inbound_harness.sender.sent == []
    assert result["dead_lettered"] == 0
    assert inbound_harness.publisher.events  # still visible to the shop


@pytest.mark.parametrize("name", ["spam_fail", "dmarc_fail"])
def test_failed_verdicts_are_quarantined(
    app: ModuleType, inbound_harness: InboundHarness, name: str
) -> None:
    event = inbound_harness.put_sample(name)
    mid = event["Records"][0]["ses"]["mail"]["messageId"]
    _run(app, inbound_harness, event)
    assert (
        inbound_harness.store.objects[f"quarantine/{mid}"]
        == inbound_harness.store.objects[f"inbound/{mid}"]
    )
    assert inbound_harness.publisher.types() == ["MessageQuarantined"]
    detail = inbound_harness.publisher.events[0][1]
    assert detail["quarantineKey"] == f"quarantine/{mid}"
    assert detail["reason"]
    assert inbound_harness.sender.sent == []


def test_truncated_headers_two_recipients(app: ModuleType, inbound_harness: InboundHarness) -> None:
    result = _run(app, inbound_harness, inbound_harness.put_sample("truncated_headers"))
    routes = sorted(d["route"] for _, d, _ in inbound_harness.publisher.events)
    assert routes == ["orders", "support"]
    assert all(d["headersTruncated"] for _, d, _ in inbound_harness.publisher.events)
    assert result["dead_lettered"] == 0


def test_redelivery_publishes_and_sends_nothing_twice(
    app: ModuleType, inbound_harness: InboundHarness
) -> None:
    event = inbound_harness.put_sample("return")
    _run(app, inbound_harness, event)
    uploads = inbound_harness.store.uploads
    second = _run(app, inbound_harness, copy.deepcopy(event))
    assert len(inbound_harness.publisher.events) == 1
    assert len(inbound_harness.sender.sent) == 1
    assert inbound_harness.store.uploads == uploads
    assert second["duplicates"] == 3 and second["actions"] == {}


def test_missing_raw_object_is_dead_lettered(
    app: ModuleType, inbound_harness: InboundHarness
) -> None:
    event = inbound_harness.put_sample("support")
    inbound_harness.store.objects.clear()
    result = _run(app, inbound_harness, event)
    assert result["dead_lettered"] == 1
    ((payload, reason),) = inbound_harness.dead_letters.entries
    assert payload == event
    assert reason["code"] == "raw_mail_missing" and reason["stage"] == "parse"
    assert "does not exist" in reason["reason"]
    assert inbound_harness.publisher.events == []


def test_invalid_event_is_dead_lettered_with_field(
    app: ModuleType, inbound_harness: InboundHarness
) -> None:
    event = inbound_harness.put_sample("support")
    del event["Records"][0]["ses"]["receipt"]["recipients"]
    result = _run(app, inbound_harness, event)
    assert result["dead_lettered"] == 1
    reason = inbound_harness.dead_letters.entries[0][1]
    assert reason["code"] == "invalid_event"
    assert reason["context"]["field"] == "Records[0].ses.receipt.recipients"


def test_message_without_headers_is_dead_lettered(
    app: ModuleType, inbound_harness: InboundHarness
) -> None:
    event = inbound_harness.put_sample("support")
    mid = event["Records"][0]["ses"]["mail"]["messageId"]
    inbound_harness.store.objects[f"inbound/{mid}"] = b"\x00\x01\x02 garbage without a header block"
    result = _run(app, inbound_harness, event)
    assert result["dead_lettered"] == 1
    assert inbound_harness.dead_letters.entries[0][1]["code"] == "invalid_message"


def test_transient_failure_raises_and_retry_completes_once(
    app: ModuleType, inbound_harness: InboundHarness
) -> None:
    event = inbound_harness.put_sample("return")
    inbound_harness.publisher.fail.append(ServiceUnavailableError("throttled"))
    with pytest.raises(ServiceUnavailableError):
        _run(app, inbound_harness, event)
    assert inbound_harness.publisher.events == [] and inbound_harness.sender.sent == []
    uploads = inbound_harness.store.uploads
    assert uploads == 1  # attachments ran before publish and are recorded as done
    result = _run(app, inbound_harness, event)  # Lambda's retry
    assert inbound_harness.publisher.types() == ["ReturnMailReceived"]
    assert len(inbound_harness.sender.sent) == 1
    assert inbound_harness.store.uploads == uploads
    assert result["duplicates"] == 1
    assert inbound_harness.dead_letters.entries == []


def test_crashed_attempt_is_retried_after_claim_expiry(inbound_harness: InboundHarness) -> None:
    event = inbound_harness.put_sample("support")
    assert inbound_harness.idempotency is not None
    # a previous attempt claimed every action and died (no release)
    inbound_harness.publisher.fail.append(ServiceUnavailableError("boom"))
    with pytest.raises(ServiceUnavailableError):
        inbound_harness.service.handle_event(event)
    # one ledger record per (message, recipient), holding each action's state
    (record,) = inbound_harness.idempotency.items.values()
    statuses = {a.split(":", 1)[1]: "COMPLETED" for a in record["done"]}
    assert statuses == {"store_attachments": "COMPLETED"}  # the failed claim was released
    assert record["status"] == "RELEASED"
    inbound_harness.idempotency.claim(
        next(iter(_claim_keys(inbound_harness, event))), lease_seconds=60
    )  # simulate a crash while publishing
    with pytest.raises(InProgressError):
        inbound_harness.service.handle_event(event)
    inbound_harness.clock.now += 61
    inbound_harness.service.handle_event(event)
    assert inbound_harness.publisher.types() == ["SupportMessageReceived"]


def _claim_keys(h: InboundHarness, event: dict[str, Any]) -> list[str]:
    from shopmail.domain.addresses import address_hash as hash_key

    mid = event["Records"][0]["ses"]["mail"]["messageId"]
    return [f"inbound#{mid}#{hash_key('support@shop.example')}"]


def test_one_auto_reply_per_sender_and_period(
    app: ModuleType, inbound_harness: InboundHarness
) -> None:
    event = inbound_harness.put_sample("support")
    second = copy.deepcopy(event)
    second["Records"][0]["ses"]["mail"]["messageId"] = "another0message0id"
    inbound_harness.store.objects["inbound/another0message0id"] = inbound_harness.store.objects[
        "inbound/" + event["Records"][0]["ses"]["mail"]["messageId"]
    ]
    _run(app, inbound_harness, event)
    result = _run(app, inbound_harness, second)
    assert len(inbound_harness.publisher.events) == 2
    assert len(inbound_harness.sender.sent) == 1
    assert result["skipped"] == {"auto_reply": 1}
    inbound_harness.clock.now += 3 * 86400 + 1  # auto_reply_period_days = 3
    third = copy.deepcopy(second)
    third["Records"][0]["ses"]["mail"]["messageId"] = "third0message0id"
    inbound_harness.store.objects["inbound/third0message0id"] = inbound_harness.store.objects[
        "inbound/another0message0id"
    ]
    _run(app, inbound_harness, third)
    assert len(inbound_harness.sender.sent) == 2


FORWARD_ROUTES = """
version = 1
[[rules]]
name = "billing"
match = { recipient_local = ["invoices"] }
actions = [
  { type = "forward", to = ["accounting@shop.example"] },
  { type = "publish", detail_type = "InvoiceReceived" },
]
[[rules]]
name = "catch-all"
catch_all = true
actions = [{ type = "drop", reason = "nobody reads this" }]
"""


def _forward_harness() -> InboundHarness:
    settings = inbound_settings()
    router = Router(parse_routes(FORWARD_ROUTES), settings.mail_domain)
    return InboundHarness(settings, router=router)


def _invoice_event(h: InboundHarness) -> dict[str, Any]:
    event = h.put_sample("dmarc_fail")
    receipt = event["Records"][0]["ses"]["receipt"]
    receipt["dmarcVerdict"] = {"status": "PASS"}
    receipt.pop("dmarcPolicy")
    return event


def test_forward_to_team_inbox(app: ModuleType) -> None:
    h = _forward_harness()
    _run(app, h, _invoice_event(h))
    ((env_from, rcpts, raw),) = h.sender.sent
    assert rcpts == ("accounting@shop.example",)
    assert env_from == "shop@shop.example"
    fwd = message_from_bytes(raw, policy=policy.default)
    assert fwd["Reply-To"].addresses[0].addr_spec == "service@paypal.example"
    assert [p.get_content_type() for p in fwd.iter_parts()] == ["text/plain", "message/rfc822"]
    assert h.publisher.types() == ["InvoiceReceived"]


def test_permanent_action_failure_is_dead_lettered_others_run(app: ModuleType) -> None:
    h = _forward_harness()
    h.sender.fail.append(MessageRejectedError("554 Message rejected"))
    event = _invoice_event(h)
    result = _run(app, h, event)
    assert h.publisher.types() == ["InvoiceReceived"]  # publish still ran
    assert result["dead_lettered"] == 1
    payload, reason = h.dead_letters.entries[0]
    assert payload == event
    assert reason["stage"] == "actions" and "forward" in reason["reason"]
    # replaying the dead-lettered event later only re-runs the failed action
    _run(app, h, event)
    assert len(h.sender.sent) == 1 and h.publisher.types() == ["InvoiceReceived"]


def test_drop_is_logged_only(app: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    h = _forward_harness()
    event = h.put_sample("support")
    with caplog.at_level("INFO"):
        result = _run(app, h, event)
    assert result["actions"] == {"drop": 1}
    assert h.publisher.events == [] and h.sender.sent == []
    assert any("nobody reads this" in str(getattr(r, "reason", "")) for r in caplog.records)


def test_logs_never_carry_full_addresses(
    app: ModuleType, inbound_harness: InboundHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"):
        _run(app, inbound_harness, inbound_harness.put_sample("support"))
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "kim.meyer@example.org" not in text
    assert "support@shop.example" not in text
    assert "wann wird meine Bestellung" not in text
    assert "example.org" in text  # domains are fine


class _Context:
    function_name = "shopmail-inbound"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:shopmail-inbound"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 100_000


def test_lambda_handler_counts_dead_letters(
    app: ModuleType,
    inbound_harness: InboundHarness,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = inbound_harness.put_sample("support")
    inbound_harness.store.objects.clear()  # raw mail missing: dead-lettered, no retry
    monkeypatch.setattr(app, "_service", lambda: inbound_harness.service)
    result = app.lambda_handler(event, _Context())
    assert result["dead_lettered"] == 1
    out = capsys.readouterr().out
    emf = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert emf
    assert emf[-1]["InboundDeadLettered"] in (1.0, [1.0])
    assert emf[-1]["InboundRecords"] in (1.0, [1.0])


def test_finished_redelivery_reads_no_raw_mail(inbound_harness: InboundHarness) -> None:
    """One ledger record per (message, recipient): a redelivery of a finished message is
    recognised before the raw mail is read."""
    event = inbound_harness.put_sample("support")
    reads: list[str] = []
    iter_chunks = inbound_harness.store.iter_chunks

    def counted(key: str, chunk_size: int = 65536) -> Any:
        reads.append(key)
        return iter_chunks(key, chunk_size)

    inbound_harness.store.iter_chunks = counted  # type: ignore[method-assign]
    first = inbound_harness.service.handle_event(copy.deepcopy(event)).to_dict()
    assert len(reads) == 1 and sum(first["actions"].values()) == 3
    again = inbound_harness.service.handle_event(copy.deepcopy(event)).to_dict()
    assert len(reads) == 1  # no second read
    assert again["duplicates"] == 3 and again["actions"] == {}
    assert inbound_harness.publisher.types() == ["SupportMessageReceived"]
    assert inbound_harness.idempotency is not None
    (record,) = inbound_harness.idempotency.items.values()
    assert record["status"] == "COMPLETED" and len(record["done"]) == 3


def test_a_claim_held_elsewhere_releases_the_other_recipients(
    inbound_harness: InboundHarness,
) -> None:
    event = inbound_harness.put_sample("support")
    mail = event["Records"][0]["ses"]["mail"]
    mail["destination"] = ["orders@shop.example", "support@shop.example"]
    event["Records"][0]["ses"]["receipt"]["recipients"] = list(mail["destination"])
    assert inbound_harness.idempotency is not None
    held = _claim_keys(inbound_harness, event)[0]  # support@: another attempt works on it
    inbound_harness.idempotency.claim(held, lease_seconds=60)
    with pytest.raises(InProgressError):
        inbound_harness.service.handle_event(copy.deepcopy(event))
    assert inbound_harness.publisher.events == []
    statuses = sorted(v["status"] for v in inbound_harness.idempotency.items.values())
    assert statuses == ["INPROGRESS", "RELEASED"]  # orders@ was released, not left claimed
    inbound_harness.clock.now += 61
    result = inbound_harness.service.handle_event(copy.deepcopy(event)).to_dict()
    assert result["routes"] == {"orders": 1, "support": 1}
    assert len(inbound_harness.publisher.events) == 2


def test_a_failed_final_ledger_write_is_tried_again(inbound_harness: InboundHarness) -> None:
    """If the write that finishes the records failed, the claims would lapse and a retry
    would run every action again: it is tried a second time."""
    event = inbound_harness.put_sample("support")
    ledger = inbound_harness.idempotency
    assert ledger is not None
    finish_all = ledger.finish_all
    attempts: list[int] = []

    def flaky(finishes: Any, mentions: Any = None) -> None:
        attempts.append(len(finishes))
        if len(attempts) == 1:
            raise ServiceUnavailableError("dynamodb BatchWriteItem failed transiently")
        finish_all(finishes, mentions)

    ledger.finish_all = flaky  # type: ignore[method-assign]
    inbound_harness.service.handle_event(copy.deepcopy(event))
    assert attempts == [1, 1]
    again = inbound_harness.service.handle_event(copy.deepcopy(event)).to_dict()
    assert again["duplicates"] == 3
    assert inbound_harness.publisher.types() == ["SupportMessageReceived"]


def test_a_final_ledger_write_that_fails_twice_is_logged_not_raised(
    inbound_harness: InboundHarness,
) -> None:
    """Found by the fault harness: the actions ran (the auto-reply is out); raising would make
    Lambda retry and, once the claims lapsed, send it a second time."""
    h = inbound_harness
    assert h.idempotency is not None
    attempts: list[int] = []

    def failing(finishes: Any, mentions: Any = None) -> None:
        attempts.append(len(finishes))
        raise ServiceUnavailableError("dynamodb BatchWriteItem failed transiently (fault)")

    h.idempotency.finish_all = failing  # type: ignore[method-assign]
    result = h.service.handle_event(h.put_sample("support"))  # does not raise
    assert attempts == [1, 1]
    assert len(h.sender.sent) == 1 and result.actions["auto_reply"] == 1
    assert h.publisher.types() == ["SupportMessageReceived"]


def test_a_failed_release_write_is_tried_again(inbound_harness: InboundHarness) -> None:
    """Found by the fault harness (``chaos``, seed 1): the auto-reply was deferred by the relay
    after the event was published; the write that records the published event failed once, so
    the claim lapsed and the retry published it again. It is tried a second time, as the
    final write is."""
    h = inbound_harness
    event = h.put_sample("support")
    assert h.idempotency is not None
    finish_all = h.idempotency.finish_all
    attempts: list[int] = []

    def flaky(finishes: Any, mentions: Any = None) -> None:
        attempts.append(len(finishes))
        if len(attempts) == 1:
            raise ServiceUnavailableError("dynamodb BatchWriteItem failed transiently (fault)")
        finish_all(finishes, mentions)

    h.idempotency.finish_all = flaky  # type: ignore[method-assign]
    h.sender.fail = [DeliveryDeferredError("454 Throttling failure (fault)")]
    with pytest.raises(DeliveryDeferredError):
        h.service.handle_event(copy.deepcopy(event))
    assert attempts == [1, 1]  # the release, tried twice
    assert h.publisher.types() == ["SupportMessageReceived"] and h.sender.sent == []
    h.clock.now += 3600  # the claim would have lapsed by now
    again = h.service.handle_event(copy.deepcopy(event)).to_dict()
    assert again["actions"] == {"auto_reply": 1}  # only the deferred action runs again
    assert h.publisher.types() == ["SupportMessageReceived"] and len(h.sender.sent) == 1


def test_a_retry_replies_although_the_rate_limit_release_failed(
    inbound_harness: InboundHarness,
) -> None:
    """Found by the fault harness (``chaos``, seed 1): the relay deferred the auto-reply and the
    release of its rate-limit slot failed (DynamoDB 500); the retry found the slot taken and
    skipped the reply, which was then lost. The slot is the message's own: the retry takes it
    again, another message from the same sender does not."""
    h = inbound_harness
    event = h.put_sample("support")
    h.sender.fail = [DeliveryDeferredError("454 Throttling failure (fault)")]
    h.rate_limiter.fail_release = [ServiceUnavailableError("dynamodb DeleteItem failed (fault)")]
    with pytest.raises(ShopmailError):
        h.service.handle_event(copy.deepcopy(event))
    assert h.sender.sent == [] and h.rate_limiter.items  # the slot stayed taken
    again = h.service.handle_event(copy.deepcopy(event)).to_dict()
    assert again["actions"] == {"auto_reply": 1} and len(h.sender.sent) == 1
    other = copy.deepcopy(event)
    other["Records"][0]["ses"]["mail"]["messageId"] = "another-message-same-sender"
    h.store.objects[h.settings.raw_mail_prefix + "another-message-same-sender"] = h.store.objects[
        h.settings.raw_mail_prefix + event["Records"][0]["ses"]["mail"]["messageId"]
    ]
    h.service.handle_event(other)
    assert len(h.sender.sent) == 1  # one reply per sender and period
