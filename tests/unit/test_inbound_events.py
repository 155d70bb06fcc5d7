"""The EventBridge detail of inbound events and its 256 KB limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shopmail.domain.inbound.events import (
    MAX_ENTRY_BYTES,
    build_detail,
    entry_size,
    fit_detail,
)
from shopmail.domain.message import (
    Address,
    Attachment,
    Envelope,
    InboundMessage,
    Verdicts,
)

ENV = Envelope(
    message_id="m123",
    sender="kim@example.org",
    recipients=("support@shop.example",),
    timestamp="2026-11-28T10:00:00.000Z",
    verdicts=Verdicts(spam="PASS", virus="PASS", dmarc="FAIL", dmarc_policy="none"),
)


def _message(text: str = "Hallo", attachments: int = 1) -> InboundMessage:
    return InboundMessage(
        subject="Frage zu ORD-1001",
        from_=(Address("Kim Meyer", "kim@example.org"),),
        to=(Address("", "support@shop.example"),),
        date=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        message_id="<a@example.org>",
        in_reply_to=("<x@shop.example>",),
        text=text,
        attachments=tuple(
            Attachment(i, f"file{i}.pdf", "application/pdf", 10, "ab" * 32)
            for i in range(attachments)
        ),
        size=1234,
    )


def test_detail_fields() -> None:
    d = build_detail(
        _message(),
        ENV,
        recipient="support@shop.example",
        route="support",
        text="Hallo",
        order_numbers=["ORD-1001"],
        tag="ORD-1001",
        order_id="ORD-1001",
        captures={"team": "de"},
        attachment_keys={0: "attachments/m123/0-file0.pdf"},
        raw_bucket="raw",
        raw_key="inbound/m123",
    )
    assert d["messageId"] == "m123"
    assert d["from"] == {"name": "Kim Meyer", "address": "kim@example.org", "domain": "example.org"}
    assert d["replyTo"]["address"] == "kim@example.org"
    assert d["recipientDomain"] == "shop.example"
    assert d["orderNumbers"] == ["ORD-1001"] and d["orderId"] == "ORD-1001"
    assert d["tag"] == "ORD-1001" and d["captures"] == {"team": "de"}
    assert d["attachments"][0]["s3Key"] == "attachments/m123/0-file0.pdf"
    assert d["verdicts"]["dmarc"] == "FAIL" and d["verdicts"]["dmarcPolicy"] == "none"
    assert d["raw"] == {"bucket": "raw", "key": "inbound/m123"}
    assert d["date"] == "2026-11-28T09:00:00+00:00"
    assert d["truncated"] is False
    json.dumps(d)  # JSON-ready


def test_attachment_without_key_has_no_s3_key() -> None:
    d = build_detail(_message(), ENV, recipient="r@shop.example", route="x", text="")
    assert "s3Key" not in d["attachments"][0]


def test_small_detail_unchanged() -> None:
    d = build_detail(_message(), ENV, recipient="r@shop.example", route="x", text="hi")
    assert fit_detail(d, "SupportMessageReceived") == d


def test_long_text_is_truncated_to_fit() -> None:
    text = "Grüße " * 100_000  # ~700 KB in UTF-8
    d = build_detail(_message(text), ENV, recipient="r@shop.example", route="x", text=text)
    assert entry_size(d, "SupportMessageReceived") > MAX_ENTRY_BYTES
    out = fit_detail(d, "SupportMessageReceived")
    assert out["truncated"] is True and out["textTruncated"] is True
    assert entry_size(out, "SupportMessageReceived") <= MAX_ENTRY_BYTES
    assert out["text"].startswith("Grüße Grüße")
    assert out["text"].endswith("[…]")
    # most of the budget is still used for text
    assert len(out["text"].encode()) > MAX_ENTRY_BYTES // 2
    assert out["raw"] == d["raw"]
    assert d["truncated"] is False  # the input is not modified


def test_many_attachments_are_cut() -> None:
    d = build_detail(
        _message("short", attachments=5000), ENV, recipient="r@shop.example", route="x", text="x"
    )
    out = fit_detail(d, "ReturnRequested")
    assert entry_size(out, "ReturnRequested") <= MAX_ENTRY_BYTES
    assert out["truncated"] is True
    assert out["attachmentsOmitted"] == 5000 - len(out["attachments"])
    assert out["attachmentsOmitted"] > 0


def test_attachments_left_unstored_beyond_the_limit_are_flagged() -> None:
    from shopmail.domain.inbound.attachment_keys import MAX_ATTACHMENTS, planned_attachment_keys

    message = _message(attachments=MAX_ATTACHMENTS + 7)
    keys = planned_attachment_keys("attachments/", message, ENV.message_id)
    d = build_detail(
        message, ENV, recipient="support@shop.example", route="r", text="", attachment_keys=keys
    )
    assert d["attachmentsTruncated"] is True and d["attachmentsNotStored"] == 7
    assert sum("s3Key" in a for a in d["attachments"]) == MAX_ATTACHMENTS
    few = _message(attachments=3)
    stored = planned_attachment_keys("attachments/", few, ENV.message_id)
    for keys_given in (stored, None):  # all stored, or no store_attachments at all
        d = build_detail(
            few,
            ENV,
            recipient="support@shop.example",
            route="r",
            text="",
            attachment_keys=keys_given,
        )
        assert d["attachmentsTruncated"] is False and d["attachmentsNotStored"] == 0
