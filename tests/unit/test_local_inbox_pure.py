"""Pure parts of the web inbox: header decoding, search, mail views, order timelines."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from shopmail_local.stack.mailview import MailView, decode_header_value
from shopmail_local.stack.search import matches, parse_query, row_text
from shopmail_local.stack.timeline import EntryKind, OrderIndex, event_order_ids, relay_order_ids


def test_rfc2047_headers_are_decoded_and_bad_ones_kept() -> None:
    assert decode_header_value("=?utf-8?q?Eingangsbest=C3=A4tigung?= / 100234") == (
        "Eingangsbestätigung / 100234"
    )
    assert decode_header_value("=?iso-8859-1?b?R3L832U=?=") == "Grüße"
    assert decode_header_value("=?utf-8?q?a?=\r\n =?utf-8?q?b?=") == "ab"
    assert decode_header_value("plain subject") == "plain subject"
    assert decode_header_value("=?unknown-charset?q?x?=") == "=?unknown-charset?q?x?="
    assert decode_header_value(None) == ""


def test_query_terms_and_matching() -> None:
    assert parse_query('  ORD-1   "Ihre Bestellung" ') == ("ord-1", "ihre bestellung")
    assert parse_query('unbalanced "quote') == ("unbalanced", '"quote')
    assert parse_query("") == ()
    text = row_text("Ihre Bestellung ORD-1", ["kunde@example.com"], {"route": "orders"}, None, 7)
    assert matches(parse_query("ord-1 KUNDE"), text)
    assert matches(parse_query('"bestellung ord-1"'), text)
    assert not matches(parse_query('"ord-1 bestellung"'), text)  # a phrase keeps its order
    assert not matches(parse_query("ord-1 returns"), text)
    assert matches((), text)


def _mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jürgen <j@example.com>"
    msg["To"] = "orders@shop.example"
    msg["Subject"] = "Rücksendung"
    msg.set_content("Text ä")
    msg.add_alternative("<p>HTML ä</p>", subtype="html")
    msg.add_attachment(
        b"\x00\x01", maintype="application", subtype="octet-stream", filename="a/b.bin"
    )
    return msg.as_bytes()


def test_mail_view_reads_parts_headers_and_attachments() -> None:
    view = MailView(_mail())
    assert view.subject == "Rücksendung"
    assert ("From", "Jürgen <j@example.com>") in view.summary()
    assert view.html.strip() == "<p>HTML ä</p>"
    assert (view.text or "").strip() == "Text ä"
    (att,) = view.attachments()
    assert att.filename == "a_b.bin"  # no path separators in a download name
    found = view.attachment(0)
    assert found is not None and found[1] == b"\x00\x01"
    assert view.attachment(1) is None


def test_mail_view_survives_garbage() -> None:
    for raw in (
        b"",
        b"\xff\xfe\x00garbage",
        b"Subject: =?utf-8?q?x\r\n\r\nbody",
        b"Content-Type: multipart/mixed\r\n\r\n--",
    ):
        view = MailView(raw)
        view.summary()
        view.headers()
        assert isinstance(view.html, str)
        view.attachments()


ORDER_MID = "<sm.orderplaced.ORD-7.0123456789abcdef@shop.example>"


def test_order_ids_of_relay_records_and_events() -> None:
    assert relay_order_ids({"message_id": ORDER_MID}) == ["ORD-7"]
    assert relay_order_ids({"tags": {"order": ["ORD-8"]}, "message_id": ORDER_MID}) == [
        "ORD-8",
        "ORD-7",
    ]
    customer = "<sm.customerregistered.CUST-1.0123456789abcdef@shop.example>"
    assert relay_order_ids({"message_id": customer}) == []  # not an order kind
    assert event_order_ids({"detail": {"order": {"id": "ORD-9", "number": "9"}}}) == ["ORD-9"]
    assert event_order_ids({"detail": {"order_id": "ORD-9"}}) == ["ORD-9"]
    assert event_order_ids({"detail": "not a dict"}) == []
    # outbound details name the order mail's type as emailType (older logs: type)
    for key in ("emailType", "type"):
        detail = {key: "OrderShipped", "aggregateId": "ORD-10"}
        assert event_order_ids({"detail": detail}) == ["ORD-10"]
    assert (
        event_order_ids({"detail": {"emailType": "CustomerRegistered", "aggregateId": "C"}}) == []
    )


def test_timeline_collects_one_order_in_time_order() -> None:
    relay = [
        {
            "ts": 10,
            "key": "k1",
            "ses_message_id": "s1",
            "message_id": ORDER_MID,
            "subject": "Bestätigung",
            "rcpt_tos": ["c@example.com"],
            "outbox": ["c@example.com"],
        },
        {"ts": 11, "key": "k2", "ses_message_id": "s2", "message_id": "<x@y>", "subject": "other"},
        # the auto-acknowledgement of in2 (its aggregate is the inbound SES message id)
        {"ts": 23, "key": "k3", "message_id": "<sm.autoreply.in2.0123456789abcdef@shop.example>"},
        # a plain answer to in1 (In-Reply-To names in1's Message-ID)
        {"ts": 24, "key": "k4", "message_id": "<x2@y>", "in_reply_to": "<reply-1@example.com>"},
        {"ts": 26, "key": "k5", "message_id": "<x3@y>", "in_reply_to": "<unknown@example.com>"},
    ]
    inbound = [
        {
            "ts": 20,
            "kind": "received",
            "message_id": "in1",
            "in_reply_to": ORDER_MID,
            "header_message_id": "<reply-1@example.com>",
            "subject": "Re",
        },
        {"ts": 21, "kind": "received", "message_id": "in2", "subject": "Frage zu 7"},
        {"ts": 22, "kind": "received", "message_id": "in3", "subject": "unrelated"},
    ]
    events = [
        {
            "ts": 5,
            "event": {
                "id": "e0",
                "detail-type": "OrderPlaced",
                "detail": {"order": {"id": "ORD-7", "number": "7"}},
            },
        },
        {
            "ts": 25,
            "event": {
                "id": "e1",
                "detail-type": "CustomerReplied",
                "detail": {"messageId": "in2", "orderNumbers": ["7"]},
            },
        },
        {
            "ts": 30,
            "event": {
                "id": "e2",
                "source": "aws.ses",
                "detail-type": "Email Bounced",
                "detail": {
                    "mail": {"messageId": "s1"},
                    "bounce": {"bouncedRecipients": [{"emailAddress": "C@example.com"}]},
                },
            },
        },
        {
            "ts": 31,
            "event": {
                "id": "e3",
                "detail-type": "Email Bounced",
                "detail": {"mail": {"messageId": "s2"}},
            },
        },
    ]
    rows = [
        {"address": "c@example.com", "class": "hard_bounce", "since": "1970-01-01T00:00:40Z"},
        {"address": "other@example.com", "since": "1970-01-01T00:00:41Z"},
    ]
    index = OrderIndex(relay, inbound, events, rows)
    entries = index.timeline("ORD-7")
    assert [(e.kind, e.link) for e in entries] == [
        (EntryKind.EVENT, "/events?q=e0"),
        (EntryKind.OUTBOUND, "/mail/k1"),
        (EntryKind.INBOUND, "/inbound/in1"),
        (EntryKind.INBOUND, "/inbound/in2"),  # found through its event's order number
        (EntryKind.OUTBOUND, "/mail/k3"),
        (EntryKind.OUTBOUND, "/mail/k4"),
        (EntryKind.EVENT, "/events?q=e1"),
        (EntryKind.BOUNCE, "/events?q=e2"),  # the SES event about the order's mail
        (EntryKind.SUPPRESSION, "/suppression?q=c%40example.com"),
    ]
    assert index.keys("ORD-7") == {"ORD-7", "7"}
    assert [oid for oid, _, _ in index.order_ids()] == ["ORD-7"]
    assert index.timeline("ORD-404") == []


def test_every_page_renders_records_with_missing_or_odd_fields(tmp_path: Path) -> None:
    from shopmail_local.stack.state import StateStore
    from shopmail_local.stack.webinbox import WebApp, WebData

    state = StateStore(tmp_path)
    state.log_relay({"key": "k1"})
    state.log_relay({"subject": 5, "rcpt_tos": "not-a-list", "message_id": None, "tags": []})
    state.log_inbound({"kind": "received", "message_id": "in1", "recipients": None})
    state.log_inbound({"kind": "received"})
    state.log_inbound({"kind": "invocation", "message_id": "in1"})
    state.log_inbound({"kind": "decision", "message_id": "in1"})
    state.log_event({"event": {"detail": ["odd"]}})
    state.log_event({"event": None})
    state.log_event({"source": "x"})
    (tmp_path / "relay.jsonl").open("a").write('{"torn": \n')
    app = WebApp(WebData(state=state))
    for page in (
        app.index(),
        app.index("k1"),
        app.inbound(),
        app.inbound("x"),
        app.events(),
        app.orders(),
        app.order("ORD-1"),
        app.dlq(),
        app.suppression(),
        app.inbound_item("in1"),
    ):
        assert page is not None and b"<main" in page
    assert app.mail("k1") is None  # no such stored mail: a 404, not a crash
