"""FeedbackService on in-memory fakes: dedupe, ordering, transient counting, correlation."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from shopmail.domain.feedback.model import Classification, RecipientResult
from shopmail.domain.outbound.message_ids import make_message_id
from shopmail.domain.outbound.sent_mail import SentMail
from shopmail.domain.suppression.entries import SuppressionEntry
from shopmail.errors import ServiceUnavailableError

from tests.fixtures.feedback_fakes import FeedbackHarness
from tests.fixtures.paths import load_event

SES_ID = "0102019abc0001-11111111-2222-3333-4444-555555555555-000000"
OUR_ID = "<sm.orderplaced.ORD-1001.8f271952e1be4bf4@shop.example>"


def _sent(h: FeedbackHarness, ses_id: str = SES_ID, order: str = "ORD-1001") -> SentMail:
    record = SentMail(
        ses_message_id=ses_id,
        message_id=OUR_ID,
        idempotency_key=f"OrderPlaced:{order}:kunde@example.org",
        detail_type="OrderPlaced",
        aggregate_id=order,
        recipient="kunde@example.org",
        event_id="evt-1",
    )
    h.sent_mail.add(record)
    return record


def _sqs(*bodies: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": json.dumps(b)}
        for i, b in enumerate(bodies)
    ]


def _transient(n: int, address: str = "voll@example.net", day: int = 28) -> dict[str, Any]:
    ev = copy.deepcopy(load_event("feedback/bounce-transient.json"))
    ev["bounce"]["feedbackId"] = f"transient-{n}"
    ev["bounce"]["timestamp"] = f"2026-11-{day:02d}T10:00:0{n % 10}.000Z"
    ev["bounce"]["bouncedRecipients"][0]["emailAddress"] = address
    return ev


def test_permanent_bounce_suppresses_and_publishes_with_order(
    feedback_harness: FeedbackHarness,
) -> None:
    h = feedback_harness
    _sent(h)
    result = h.service().handle_batch(
        _sqs(load_event("feedback/bounce-permanent-eventbridge.json"))
    )
    assert result.failures == [] and result.processed == 1 and result.suppressed == 1
    entry = h.suppressions.entries["kunde@example.org"]
    assert entry.suppression_class == "hard_bounce"
    assert entry.source == "ses-feedback"
    assert entry.reason.startswith("Permanent/General 5.1.1")
    assert entry.since == "2026-11-28T12:00:00.000Z"
    [(dtype, detail, source)] = h.publisher.events
    assert (dtype, source) == ("EmailBounced", "shopmail.feedback")
    assert detail["order_id"] == "ORD-1001"
    assert detail["email_type"] == "OrderPlaced"
    assert detail["suppressed"] is True and detail["suppression_class"] == "hard_bounce"
    assert detail["matched_by"] == "sent_mail"
    assert detail["recipient"] == "kunde@example.org"
    assert detail["ses_message_id"] == SES_ID
    assert detail["source_event_id"] == "evt-1"
    assert detail["bounce_type"] == "Permanent" and detail["hard"] is True


def test_duplicates_are_deduplicated(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    batch = load_event("feedback/sqs-duplicate-bounce.json")["Records"]
    result = h.service().handle_batch(batch)
    assert (result.processed, result.duplicates, result.failures) == (1, 1, [])
    assert len(h.publisher.events) == 1
    assert h.suppressions.puts == 1
    # a redelivery later is a duplicate too
    again = h.service().handle_batch(batch[:1])
    assert again.duplicates == 1 and len(h.publisher.events) == 1


def test_delivery_then_bounce_both_count(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    _sent(h)
    batch = load_event("feedback/sqs-delivery-then-bounce.json")["Records"]
    result = h.service().handle_batch(batch)
    assert result.processed == 2 and result.failures == []
    types = [e[0] for e in h.publisher.events]
    assert types == ["EmailDelivered", "EmailBounced"]
    delivered, bounced = (e[1] for e in h.publisher.events)
    assert delivered["suppressed"] is False and delivered["order_id"] == "ORD-1001"
    assert bounced["suppressed"] is True and bounced["order_id"] == "ORD-1001"
    assert "kunde@example.org" in h.suppressions.entries


def test_transient_bounces_counted_to_threshold(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    svc = h.service(threshold=3, window_days=30)
    svc.handle_record(_transient(1, day=1))
    svc.handle_record(_transient(2, day=20))
    assert h.suppressions.entries == {}
    assert [e[1]["suppressed"] for e in h.publisher.events] == [False, False]
    # a redelivered second bounce is deduplicated and does not count twice
    assert svc.handle_record(_transient(2, day=20)).status == "duplicate"
    assert h.suppressions.entries == {}
    svc.handle_record(_transient(3, day=27))
    entry = h.suppressions.entries["voll@example.net"]
    assert entry.suppression_class == "transient_bounces"
    assert h.publisher.events[-1][1]["suppressed"] is True
    assert h.publisher.events[-1][1]["policy"] == "count"


def test_transient_bounces_outside_window_do_not_suppress(
    feedback_harness: FeedbackHarness,
) -> None:
    h = feedback_harness
    h.now = dt.datetime(2026, 12, 28, 12, 0, tzinfo=dt.UTC)
    svc = h.service(threshold=3, window_days=30)
    for n, day in ((1, 1), (2, 2), (3, 3)):  # all in early November... month 11
        svc.handle_record(_transient(n, day=day))
    assert h.suppressions.entries == {}


def test_content_bounce_never_suppresses(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    svc = h.service(threshold=1)
    ev = _transient(1)
    ev["bounce"]["bounceSubType"] = "MessageTooLarge"
    svc.handle_record(ev)
    assert h.suppressions.entries == {}
    assert h.publisher.events[0][1]["policy"] == "ignore"


def test_complaint_suppresses_and_correlates_by_message_id(
    feedback_harness: FeedbackHarness,
) -> None:
    h = feedback_harness  # nothing in the sent-mail table: fall back to the Message-ID
    h.sent_mail.get_by_message_id = lambda mid: None  # type: ignore[method-assign]
    result = h.service().handle_batch(_sqs(load_event("feedback/complaint-sns-notification.json")))
    assert result.processed == 1
    assert h.suppressions.entries["nospam@example.com"].suppression_class == "complaint"
    [(dtype, detail, _)] = h.publisher.events
    assert dtype == "EmailComplained"
    assert detail["matched_by"] == "message_id"
    assert detail["order_id"] == "ORD-1001" and detail["email_type"] == "OrderPlaced"
    assert detail["email_class"] == "transactional"
    assert detail["complaint_type"] == "abuse"


def test_stronger_entry_is_kept(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    h.suppressions.put(SuppressionEntry("voll@example.net", "complaint", "x", "2026-01-01"))
    h.service(threshold=1).handle_record(_transient(1))
    assert h.suppressions.entries["voll@example.net"].suppression_class == "complaint"
    assert h.publisher.events[0][1]["suppressed"] is True
    # a weaker entry (unsubscribe) is upgraded by a hard bounce
    h.suppressions.put(SuppressionEntry("kunde@example.org", "unsubscribe"))
    h.service().handle_record(load_event("feedback/bounce-permanent-eventbridge.json"))
    assert h.suppressions.entries["kunde@example.org"].suppression_class == "hard_bounce"


def test_delay_publishes_without_suppressing(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    h.service().handle_record(load_event("feedback/delivery-delay-eventbridge.json"))
    [(dtype, detail, _)] = h.publisher.events
    assert dtype == "EmailDelayed" and detail["suppressed"] is False
    assert detail["delay_type"] == "TransientCommunicationFailure"
    assert detail["correlated"] is True  # the Message-ID in References
    assert h.suppressions.entries == {}


def test_invalid_record_is_handled_not_retried(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    result = h.service().handle_batch(
        [
            {"messageId": "bad", "receiptHandle": "r", "body": "{not json"},
            *_sqs({"eventType": "Send", "mail": {"messageId": "x"}}),
        ]
    )
    assert result.failures == []
    assert (result.invalid, result.ignored) == (1, 1)
    assert h.dead_letters.sent[0][1]["code"] == "invalid_event"


def test_transient_failure_reports_item_and_retry_works(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    _sent(h)
    h.publisher.fail.append(ServiceUnavailableError("events down"))
    batch = _sqs(
        load_event("feedback/delivery-eventbridge.json"),
        load_event("feedback/bounce-permanent-eventbridge.json"),
    )
    result = h.service().handle_batch(batch)
    assert result.failures == ["m0"] and result.processed == 1
    # the claim was released: the retry runs
    retry = h.service().handle_batch(batch[:1])
    assert retry.failures == [] and retry.processed == 1
    assert sorted(e[0] for e in h.publisher.events) == ["EmailBounced", "EmailDelivered"]


def test_handler_returns_batch_item_failures(feedback_harness: FeedbackHarness) -> None:
    import importlib.util

    from tests.fixtures.paths import REPO

    spec = importlib.util.spec_from_file_location(
        "feedback_app", REPO / "functions/feedback/app.py"
    )
    assert spec and spec.loader
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    h = feedback_harness
    h.publisher.fail.append(ServiceUnavailableError("events down"))
    event = load_event("feedback/sqs-delivery-then-bounce.json")
    out = app.handle(event, h.service())
    assert out["batchItemFailures"] == [{"itemIdentifier": "sqs-1"}]
    assert out["summary"]["processed"] == 1


def _dsn_classification(address: str, hard: bool | None, reason: str) -> Classification:
    mid = make_message_id("OrderShipped", "ORD 7/ü", "OrderShipped:ORD 7/ü:x", "shop.example")
    return Classification(
        kind="bounce",
        recipients=(
            RecipientResult(address, action="failed", status="5.1.1", hard=hard, reason=reason),
        ),
        reporting_mta="mx.example.org",
        original_message_id=mid,
        detector="dsn",
    )


def test_dsn_bounce_via_handle_classification(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    svc = h.service()
    c = _dsn_classification("weg@example.org", True, "user_unknown")
    out = svc.handle_classification(c, {"message_id": "inbound-1"})
    assert out.status == "processed" and out.suppressed == 1
    assert h.suppressions.entries["weg@example.org"].suppression_class == "hard_bounce"
    assert h.suppressions.entries["weg@example.org"].source == "dsn"
    [(dtype, detail, _)] = h.publisher.events
    assert dtype == "EmailBounced"
    assert detail["order_id"] == "ORD 7/ü" and detail["email_type"] == "OrderShipped"
    assert detail["channel"] == "mail" and detail["reason"] == "user_unknown"
    # the same mail again is a duplicate
    assert svc.handle_classification(c, {"message_id": "inbound-1"}).status == "duplicate"


def test_dsn_soft_and_policy_rows(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    svc = h.service(threshold=2)
    svc.handle_classification(_dsn_classification("voll@example.org", False, "mailbox_full"), {})
    assert h.suppressions.entries == {}
    svc.handle_classification(
        _dsn_classification("voll@example.org", False, "mailbox_full"),
        {"received_at": "2026-11-28T11:00:00Z"},
    )
    assert h.suppressions.entries["voll@example.org"].suppression_class == "transient_bounces"
    svc.handle_classification(_dsn_classification("ok@example.org", False, "spam_detected"), {})
    assert "ok@example.org" not in h.suppressions.entries


def test_arf_complaint_uses_original_rcpt_to(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    c = Classification(
        kind="complaint",
        feedback_type="abuse",
        original_rcpt_to=("beschwerde@example.de",),
        original_message_id=OUR_ID,
    )
    h.service().handle_classification(c, {"message_id": "arf-1"})
    assert h.suppressions.entries["beschwerde@example.de"].suppression_class == "complaint"
    assert h.publisher.events[0][0] == "EmailComplained"
    assert h.publisher.events[0][1]["order_id"] == "ORD-1001"


@pytest.mark.parametrize("kind", ["auto_reply", "none", "delivery_report"])
def test_non_feedback_classifications_are_ignored(
    feedback_harness: FeedbackHarness, kind: str
) -> None:
    h = feedback_harness
    assert h.service().handle_classification(Classification(kind=kind)).status == "ignored"
    assert h.publisher.events == []


def test_bounce_without_recipient_rows_still_reports_order(
    feedback_harness: FeedbackHarness,
) -> None:
    h = feedback_harness
    _sent(h)  # the sent-mail table knows our Message-ID -> recipient
    c = Classification(kind="bounce", original_message_id=OUR_ID, detector="text")
    h.service().handle_classification(c, {"message_id": "x"})
    [(_, detail, _)] = h.publisher.events
    assert detail["order_id"] == "ORD-1001" and detail["recipient"] == "kunde@example.org"
    assert detail["suppressed"] is False
