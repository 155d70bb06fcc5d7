"""FeedbackService on in-memory fakes: one pipeline for SES events and DSN/ARF mail.

Dedupe, ordering, transient counting, correlation, and the trust rules: mail-borne feedback
counts only for a mail we sent to the recipient it names; SES events only from SES.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from shopmail.domain.feedback.model import Classification, RecipientResult
from shopmail.domain.feedback.outcome import MailFeedback
from shopmail.domain.feedback.references import References
from shopmail.domain.outbound.message_ids import make_message_id
from shopmail.domain.outbound.sent_mail import SentMail
from shopmail.domain.suppression.entries import SuppressionEntry
from shopmail.errors import ServiceUnavailableError

from tests.fixtures.feedback_fakes import FeedbackHarness
from tests.fixtures.inbound_feedback import sent_mail
from tests.fixtures.paths import load_event, load_handler

SES_ID = "0102019abc0001-11111111-2222-3333-4444-555555555555-000000"
OUR_ID = "<sm.orderplaced.ORD-1001.8f271952e1be4bf4@shop.example>"


def _sent(h: FeedbackHarness, ses_id: str = SES_ID, order: str = "ORD-1001") -> SentMail:
    record = sent_mail(ses_id, OUR_ID, "OrderPlaced", order, "kunde@example.org", "evt-1")
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
    assert detail["orderId"] == "ORD-1001"
    assert detail["emailType"] == "OrderPlaced"
    assert detail["suppressed"] is True and detail["suppressionClass"] == "hard_bounce"
    assert detail["matchedBy"] == "sent_mail"
    assert detail["recipient"] == "kunde@example.org"
    assert detail["sesMessageId"] == SES_ID
    assert detail["sourceEventId"] == "evt-1"
    assert detail["bounceType"] == "Permanent" and detail["hard"] is True
    assert detail["version"] == 1 and detail["verified"] is True
    assert all("_" not in key for key in detail)  # camelCase only


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
    assert delivered["suppressed"] is False and delivered["orderId"] == "ORD-1001"
    assert bounced["suppressed"] is True and bounced["orderId"] == "ORD-1001"
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
    assert detail["matchedBy"] == "message_id"
    assert detail["orderId"] == "ORD-1001" and detail["emailType"] == "OrderPlaced"
    assert detail["emailClass"] == "transactional"
    assert detail["complaintType"] == "abuse"


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
    assert detail["delayType"] == "TransientCommunicationFailure"
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
    app = load_handler("feedback", "feedback_app")
    h = feedback_harness
    h.publisher.fail.append(ServiceUnavailableError("events down"))
    event = load_event("feedback/sqs-delivery-then-bounce.json")
    out = app.handle(event, h.service())
    assert out["batchItemFailures"] == [{"itemIdentifier": "sqs-1"}]
    assert out["summary"]["processed"] == 1


MAIL_MID = make_message_id("OrderShipped", "ORD 7/ü", "OrderShipped:ORD 7/ü:x", "shop.example")
MAIL_SES_ID = "0102019def0007-000000"


def _shipped_to(h: FeedbackHarness, recipient: str) -> FeedbackHarness:
    """``h`` with our shipping mail (MAIL_SES_ID, MAIL_MID) to ``recipient`` on record."""
    h.sent_mail.add(sent_mail(MAIL_SES_ID, MAIL_MID, "OrderShipped", "ORD 7/ü", recipient))
    return h


def _dsn(
    address: str,
    hard: bool | None,
    reason: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str | None = None,
) -> Classification:
    return Classification(
        kind="bounce" if action == "failed" else "delay",
        recipients=(
            RecipientResult(
                address,
                action=action,
                status=status,
                hard=hard,
                reason=reason,
                diagnostic=diagnostic,
            ),
        ),
        reporting_mta="mx.example.org",
        original_message_id=MAIL_MID,
        detector="dsn",
    )


def _mail(
    c: Classification,
    inbound_id: str = "inbound-1",
    *,
    ours: tuple[str, ...] = (MAIL_MID,),
    ses: tuple[str, ...] = (),
    received_at: str | None = None,
) -> MailFeedback:
    return MailFeedback(c, References(ours, ses), inbound_id, received_at)


def test_verified_dsn_bounce_suppresses(feedback_harness: FeedbackHarness) -> None:
    h = _shipped_to(feedback_harness, "weg@example.org")
    svc = h.service()
    out = svc.handle_mail(_mail(_dsn("weg@example.org", True, "user_unknown")))
    assert out.status == "processed" and out.suppressed == 1 and out.unverified == ()
    assert h.suppressions.entries["weg@example.org"].suppression_class == "hard_bounce"
    assert h.suppressions.entries["weg@example.org"].source == "mail-feedback"
    [(dtype, detail, _)] = h.publisher.events
    assert dtype == "EmailBounced"
    assert detail["orderId"] == "ORD 7/ü" and detail["emailType"] == "OrderShipped"
    assert detail["channel"] == "mail" and detail["reason"] == "user_unknown"
    assert detail["matchedBy"] == "sent_mail" and detail["verified"] is True
    assert detail["sesMessageId"] == MAIL_SES_ID
    # the same mail again is a duplicate
    assert svc.handle_mail(_mail(_dsn("weg@example.org", True, "user_unknown"))).status == (
        "duplicate"
    )


def test_a_quoted_ses_message_id_verifies_too(feedback_harness: FeedbackHarness) -> None:
    h = _shipped_to(feedback_harness, "weg@example.org")
    c = _dsn("weg@example.org", True, "user_unknown")
    out = h.service().handle_mail(_mail(c, ours=(), ses=(MAIL_SES_ID,)))
    assert out.suppressed == 1 and "weg@example.org" in h.suppressions.entries


def test_forged_dsn_quoting_nothing_suppresses_nobody(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    victims = [f"kunde{i}@example.org" for i in range(199)]
    c = Classification(
        kind="bounce",
        recipients=tuple(
            RecipientResult(a, action="failed", status="5.1.1", hard=True, reason="user_unknown")
            for a in victims
        ),
        detector="dsn",
    )
    out = h.service().handle_mail(_mail(c, "forged-1", ours=()))
    assert out.suppressed == 0 and h.suppressions.entries == {} and h.suppressions.puts == 0
    assert set(out.unverified) == {"no_reference"} and len(out.unverified) == 199
    [(dtype, detail, source)] = h.publisher.events  # one event for the whole report
    assert (dtype, source) == ("EmailFeedbackUnverified", "shopmail.feedback")
    assert detail["reason"] == "no_reference" and detail["recipientCount"] == 199
    assert len(detail["recipients"]) == 20 and detail["verified"] is False
    assert detail["inboundMessageId"] == "forged-1"


def test_dsn_quoting_a_mail_we_never_sent_suppresses_nobody(
    feedback_harness: FeedbackHarness,
) -> None:
    h = feedback_harness  # the id has our form, but there is no record of it
    out = h.service().handle_mail(_mail(_dsn("weg@example.org", True, "user_unknown")))
    assert out.unverified == ("unknown_mail",) and h.suppressions.entries == {}
    assert [e[0] for e in h.publisher.events] == ["EmailFeedbackUnverified"]


def test_dsn_naming_someone_else_than_our_recipient_is_unverified(
    feedback_harness: FeedbackHarness,
) -> None:
    h = _shipped_to(feedback_harness, "kunde@example.org")
    c = Classification(
        kind="bounce",
        recipients=(
            RecipientResult(
                "kunde@example.org", "failed", "5.1.1", hard=True, reason="user_unknown"
            ),
            RecipientResult(
                "fremd@example.org", "failed", "5.1.1", hard=True, reason="user_unknown"
            ),
        ),
        original_message_id=MAIL_MID,
    )
    out = h.service().handle_mail(_mail(c))
    assert out.suppressed == 1 and out.unverified == ("recipient_mismatch",)
    assert set(h.suppressions.entries) == {"kunde@example.org"}
    assert [e[0] for e in h.publisher.events] == ["EmailBounced", "EmailFeedbackUnverified"]
    assert h.publisher.events[1][1]["recipients"] == ["fremd@example.org"]


def test_verified_blocklist_bounce_is_counted_not_suppressed(
    feedback_harness: FeedbackHarness,
) -> None:
    h = _shipped_to(feedback_harness, "kunde@example.org")
    c = _dsn(
        "kunde@example.org",
        False,
        "blocked",
        status="5.7.1",
        diagnostic="550 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
    )
    out = h.service(threshold=1).handle_mail(_mail(c))
    assert out.suppressed == 0 and h.suppressions.entries == {}
    assert out.not_address == (("example.org", "blocked"),)
    [(dtype, detail, _)] = h.publisher.events
    assert dtype == "EmailBounced" and detail["policy"] == "ignore" and detail["hard"] is False


#: One report: a failed recipient and a delayed one.
MIXED_DSN = Classification(
    kind="bounce",
    recipients=(
        RecipientResult("weg@example.org", "failed", "5.1.1", hard=True, reason="user_unknown"),
        RecipientResult(
            "spaeter@example.org", "delayed", "4.2.2", hard=False, reason="mailbox_full"
        ),
    ),
)


def test_mixed_dsn_is_a_bounce_and_a_delay(feedback_harness: FeedbackHarness) -> None:
    h = _shipped_to(feedback_harness, "weg@example.org")
    h.sent_mail.add(
        SentMail(
            "0102-second",
            "<sm.ordershipped.x.1@shop.example>",
            "k2",
            "OrderShipped",
            "ORD 7/ü",
            "spaeter@example.org",
        )
    )
    c = MIXED_DSN
    h.service().handle_mail(_mail(c))
    assert [e[0] for e in h.publisher.events] == ["EmailBounced", "EmailFeedbackUnverified"]
    # the delayed recipient's mail is another one: verified only with its own reference
    h.publisher.events.clear()
    out = h.service().handle_mail(
        _mail(c, "inbound-2", ours=(MAIL_MID, "<sm.ordershipped.x.1@shop.example>"))
    )
    assert out.unverified == ("recipient_mismatch",)


def test_mixed_dsn_rows_keep_their_kind(feedback_harness: FeedbackHarness) -> None:
    """One report, one failed and one delayed recipient, each quoting its own mail of ours."""
    h = feedback_harness
    for address in ("weg@example.org", "spaeter@example.org"):
        h.sent_mail.add(
            SentMail(
                f"ses-{address}",
                f"<sm.x.{address[:3]}@shop.example>",
                "k",
                "OrderShipped",
                "ORD 7/ü",
                address,
            )
        )
    c = MIXED_DSN
    for address in ("weg@example.org", "spaeter@example.org"):
        h.service().handle_mail(_mail(c, f"in-{address}", ours=(), ses=(f"ses-{address}",)))
    verified = [(e[0], e[1]["recipient"]) for e in h.publisher.events if e[1]["verified"]]
    assert verified == [
        ("EmailBounced", "weg@example.org"),
        ("EmailDelayed", "spaeter@example.org"),
    ]
    assert set(h.suppressions.entries) == {"weg@example.org"}


def test_dsn_soft_rows_are_counted(feedback_harness: FeedbackHarness) -> None:
    h = _shipped_to(feedback_harness, "voll@example.org")
    svc = h.service(threshold=2)
    full = _dsn("voll@example.org", False, "mailbox_full", status="5.2.2")
    svc.handle_mail(_mail(full, "in-1"))
    assert h.suppressions.entries == {}
    svc.handle_mail(_mail(full, "in-2", received_at="2026-11-28T11:00:00Z"))
    assert h.suppressions.entries["voll@example.org"].suppression_class == "transient_bounces"


def test_arf_complaint_needs_our_mail(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    c = Classification(
        kind="complaint",
        feedback_type="abuse",
        original_rcpt_to=("beschwerde@example.de",),
        original_message_id=OUR_ID,
    )
    # forged: quotes an id of our form that we never sent
    out = h.service().handle_mail(_mail(c, "arf-forged", ours=(OUR_ID,)))
    assert out.unverified == ("unknown_mail",) and h.suppressions.entries == {}
    # real: the record of that mail went to this recipient
    h.sent_mail.add(
        SentMail(SES_ID, OUR_ID, "k", "OrderPlaced", "ORD-1001", "beschwerde@example.de")
    )
    h.service().handle_mail(_mail(c, "arf-1", ours=(OUR_ID,)))
    assert h.suppressions.entries["beschwerde@example.de"].suppression_class == "complaint"
    assert h.publisher.events[-1][0] == "EmailComplained"
    assert h.publisher.events[-1][1]["orderId"] == "ORD-1001"


def test_redacted_arf_counts_for_the_quoted_mails_recipient(
    feedback_harness: FeedbackHarness,
) -> None:
    h = feedback_harness
    _sent(h)
    c = Classification(kind="complaint", feedback_type="abuse", original_message_id=OUR_ID)
    h.service().handle_mail(_mail(c, "arf-redacted", ours=(OUR_ID,)))
    assert h.suppressions.entries["kunde@example.org"].suppression_class == "complaint"
    # without a quoted mail, a redacted report names nobody and suppresses nobody
    h.suppressions.entries.clear()
    out = h.service().handle_mail(_mail(c, "arf-redacted-2", ours=()))
    assert out.unverified == ("no_reference",) and h.suppressions.entries == {}


@pytest.mark.parametrize("kind", ["auto_reply", "none", "delivery_report"])
def test_non_feedback_classifications_are_ignored(
    feedback_harness: FeedbackHarness, kind: str
) -> None:
    h = feedback_harness
    assert h.service().handle_mail(_mail(Classification(kind=kind))).status == "ignored"
    assert h.publisher.events == []


def test_bounce_without_recipient_rows_still_reports_order(
    feedback_harness: FeedbackHarness,
) -> None:
    h = feedback_harness
    _sent(h)  # the sent-mail table knows our Message-ID -> recipient
    c = Classification(kind="bounce", original_message_id=OUR_ID, detector="text")
    h.service().handle_mail(_mail(c, "x", ours=(OUR_ID,)))
    [(_, detail, _)] = h.publisher.events
    assert detail["orderId"] == "ORD-1001" and detail["recipient"] == "kunde@example.org"
    assert detail["suppressed"] is False


def test_sns_notification_from_another_topic_is_refused(
    feedback_harness: FeedbackHarness,
) -> None:
    h = feedback_harness
    event = load_event("feedback/complaint-sns-notification.json")
    svc = h.service()
    svc.trusted_topics = frozenset({"arn:aws:sns:eu-west-1:123456789012:our-topic"})
    out = svc.handle_record(event)
    assert out.status == "invalid" and h.suppressions.entries == {}
    assert "TopicArn" in h.dead_letters.sent[0][1]["context"]["field"]
    svc.trusted_topics = frozenset({event["TopicArn"]})
    assert svc.handle_record(event).status == "processed"
    assert "nospam@example.com" in h.suppressions.entries


def test_eventbridge_event_not_from_ses_is_refused(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    event = copy.deepcopy(load_event("feedback/bounce-permanent-eventbridge.json"))
    event["source"] = "shop"
    assert h.service().handle_record(event).status == "invalid"
    assert h.suppressions.entries == {}


def test_event_of_another_configuration_set_is_refused(feedback_harness: FeedbackHarness) -> None:
    h = feedback_harness
    event = copy.deepcopy(load_event("feedback/bounce-permanent-eventbridge.json"))
    event["detail"]["mail"]["tags"] = {"ses:configuration-set": ["someone-else"]}
    svc = h.service()
    svc.configuration_set = "shopmail"
    assert svc.handle_record(event).status == "invalid"
    event["detail"]["mail"]["tags"] = {"ses:configuration-set": ["shopmail"]}
    assert svc.handle_record(event).status == "processed"
