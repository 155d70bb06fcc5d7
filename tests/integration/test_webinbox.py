"""The local web inbox over HTTP (requests), backed by a state folder and the moto server."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from shopmail_local.stack.plumbing import replay_dead_letters
from shopmail_local.stack.provision import StackOutputs
from shopmail_local.stack.release import ReleaseTarget, ReleaseTls
from shopmail_local.stack.state import StateStore
from shopmail_local.stack.webinbox import WebData, WebInbox
from tests.fixtures.ses_smtp import SesSmtp

ORDER_MID = "<sm.orderplaced.ORD-1.0123456789abcdef@shop.example>"
ENCODED_SUBJECT = "=?utf-8?q?Eingangsbest=C3=A4tigung?= / ORD-1"
PDF = b"%PDF-1.4\n%local test\n"


def _mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "shop@shop.example"
    msg["To"] = "kunde@example.com"
    msg["Subject"] = "Ihre Bestellung <ORD-1>"
    msg["Message-ID"] = ORDER_MID
    msg.set_content("Danke für Ihre Bestellung ORD-1.")
    msg.add_alternative(
        "<html><body><h1>Danke</h1><script>alert(1)</script>"
        '<img src="https://tracker.example/p.gif">'
        '<a href="javascript:alert(1)">x</a></body></html>',
        subtype="html",
    )
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="Rechnung ORD-1.pdf")
    return msg.as_bytes()


def _second_mail() -> bytes:
    raw = (
        "From: shop@shop.example\r\nTo: other@example.org\r\n"
        f"Subject: {ENCODED_SUBJECT}\r\nMessage-ID: <plain-2@shop.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nHallo\r\n"
    )
    return raw.encode()


@dataclass
class Web:
    url: str
    state: StateStore
    key: str
    key2: str
    server: WebInbox


def _relay_record(state: StateStore, key: str, **fields: Any) -> None:
    state.log_relay(
        {
            "ses_message_id": "0102abc",
            "key": key,
            "mail_from": "shop@shop.example",
            "rcpt_tos": ["kunde@example.com"],
            "subject": "Ihre Bestellung <ORD-1>",
            "message_id": ORDER_MID,
            "outbox": ["kunde@example.com"],
            "loopback": [],
            "simulator": [],
            **fields,
        }
    )


def _start(
    tmp_path: Path,
    provisioned: StackOutputs,
    aws_client: Callable[..., Any],
    release: ReleaseTarget | None = None,
) -> Web:
    state = StateStore(tmp_path / "state")
    key = state.add_relayed(_mail(), outbox=True)
    _relay_record(state, key)
    key2 = state.add_relayed(_second_mail(), outbox=True)
    _relay_record(
        state,
        key2,
        ses_message_id="0102def",
        rcpt_tos=["other@example.org"],
        subject=ENCODED_SUBJECT,
        message_id="<plain-2@shop.example>",
        outbox=["other@example.org"],
    )
    s3 = aws_client("s3")
    bucket = provisioned.outputs["RawMailBucketName"]
    raw_reply = (
        b"From: kunde@example.com\r\nTo: orders@shop.example\r\nSubject: Re: <ORD-1>\r\n"
        b"In-Reply-To: " + ORDER_MID.encode() + b"\r\n\r\nWann kommt es?\r\n"
    )
    s3.put_object(Bucket=bucket, Key="inbound/inb123", Body=raw_reply)
    state.log_inbound(
        {
            "kind": "received",
            "message_id": "inb123",
            "mail_from": "kunde@example.com",
            "recipients": ["orders@shop.example"],
            "rules": ["r"],
            "s3_keys": [[bucket, "inbound/inb123"]],
            "subject": "Re: <ORD-1>",
            "verdicts": {"spam": "GRAY"},
            "in_reply_to": ORDER_MID,
            "references": "",
        }
    )
    state.log_inbound(
        {"kind": "invocation", "message_id": "inb123", "attempts": 1, "ok": True,
         "result": {"route": "orders"}, "error": "", "dead_lettered": False}
    )  # fmt: skip
    state.log_inbound(
        {"kind": "decision", "message_id": "inb123", "route": "customer-reply", "actions": []}
    )
    state.log_event(
        {
            "source": "shop",
            "event": {
                "id": "ev-reply-1",
                "source": "shopmail.inbound",
                "detail-type": "CustomerReplied",
                "detail": {"messageId": "inb123", "orderId": "ORD-1"},
            },
        }
    )
    state.log_event(
        {
            "source": "default",
            "event": {
                "id": "ev-bounce-1",
                "source": "aws.ses",
                "detail-type": "Email Bounced",
                "detail": {
                    "mail": {"messageId": "0102abc"},
                    "bounce": {"bouncedRecipients": [{"emailAddress": "kunde@example.com"}]},
                },
            },
        }
    )
    sqs, ddb = aws_client("sqs"), aws_client("dynamodb")
    dlq = provisioned.outputs["OutboundDeadLetterQueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"detail-type": "OrderPlaced"}))
    table = provisioned.outputs["SuppressionTableName"]
    ddb.put_item(
        TableName=table,
        Item={"address": {"S": "bounce@simulator.amazonses.com"}, "reason": {"S": "<bounce>"}},
    )
    ddb.put_item(
        TableName=table,
        Item={
            "address": {"S": "kunde@example.com"},
            "class": {"S": "hard_bounce"},
            "since": {"S": "2026-11-28T10:00:00Z"},
        },
    )
    data = WebData(
        state=state,
        sqs=sqs,
        dynamodb=ddb,
        dead_letter_queues=provisioned.dead_letter_queues,
        suppression_table=table,
        replay=lambda url: replay_dead_letters(sqs, url, provisioned.redrive_sources.get(url, [])),
        s3=s3,
        release_target=release,
    )
    server = WebInbox(data, port=0)
    server.start()
    return Web(server.url, state, key, key2, server)


@pytest.fixture
def web(tmp_path: Path, provisioned: StackOutputs, aws_client: Callable[..., Any]) -> Iterator[Web]:
    w = _start(tmp_path, provisioned, aws_client)
    yield w
    w.server.stop()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_index_lists_relayed_mail_escaped(web: Web) -> None:
    r = requests.get(web.url + "/", timeout=10)
    assert r.status_code == 200
    assert f'href="/mail/{web.key}"' in r.text
    assert "Ihre Bestellung &lt;ORD-1&gt;" in r.text
    assert "<ORD-1>" not in r.text
    assert "http://" not in r.text.replace(web.url, "")  # no external resources
    assert "https://" not in r.text


def test_subjects_are_decoded_on_every_page(web: Web) -> None:
    index = requests.get(web.url + "/", timeout=10).text
    assert "Eingangsbestätigung / ORD-1" in index
    assert "=?utf-8?" not in index
    page = requests.get(f"{web.url}/mail/{web.key2}", timeout=10).text
    assert "<title>Eingangsbestätigung / ORD-1 · shopmail local</title>" in page
    assert "=?utf-8?" not in page.split('<pre class="raw">')[0]  # only the raw tab keeps it


def test_search_filters_every_list(web: Web) -> None:
    hits = requests.get(web.url + "/", params={"q": "other@example.org"}, timeout=10).text
    assert f'href="/mail/{web.key2}"' in hits
    assert f'href="/mail/{web.key}"' not in hits
    by_order = requests.get(web.url + "/", params={"q": "ord-1 bestellung"}, timeout=10).text
    assert f'href="/mail/{web.key}"' in by_order
    assert f'href="/mail/{web.key2}"' not in by_order  # "bestellung" is not in the second
    none = requests.get(web.url + "/", params={"q": "nothing-like-this"}, timeout=10).text
    assert "No mail matches." in none

    assert "inb123" in requests.get(web.url + "/inbound?q=customer-reply", timeout=10).text
    assert "inb123" not in requests.get(web.url + "/inbound?q=returns", timeout=10).text
    events = requests.get(web.url + "/events?q=CustomerReplied", timeout=10).text
    assert "ev-reply-1" in events and "ev-bounce-1" not in events
    sup = requests.get(web.url + "/suppression?q=kunde", timeout=10).text
    assert "kunde@example.com" in sup and "bounce@simulator" not in sup
    dlq = requests.get(web.url + "/dlq?q=no-such-body", timeout=10).text
    assert "no message matches" in dlq
    assert "ORD-1" in requests.get(web.url + "/orders?q=ord-1", timeout=10).text


def test_order_timeline_links_mail_reply_events_bounce_and_suppression(web: Web) -> None:
    orders = requests.get(web.url + "/orders", timeout=10).text
    assert 'href="/orders/ORD-1"' in orders
    page = requests.get(web.url + "/orders/ORD-1", timeout=10).text
    rows = re.findall(r'<tr class="entry (\w+)">.*?<a href="([^"]+)">', page, re.S)
    kinds = [k for k, _ in rows]
    links = [link for _, link in rows]
    assert f"/mail/{web.key}" in links
    assert "/inbound/inb123" in links
    assert "/events?q=ev-reply-1" in links
    assert "bounce" in kinds and "suppression" in kinds
    assert f"/mail/{web.key2}" not in links  # the other mail is not about ORD-1
    # time order: the mail, then the reply, then the events; the suppression "since" is older
    assert kinds.index("outbound") < kinds.index("inbound") < kinds.index("event")
    assert "Nothing is known" in requests.get(web.url + "/orders/ORD-404", timeout=10).text


def test_mail_page_sandboxes_the_html_and_shows_text_and_headers(web: Web) -> None:
    r = requests.get(f"{web.url}/mail/{web.key}", timeout=10)
    assert r.status_code == 200
    assert '<iframe sandbox="" srcdoc="' in r.text
    assert "<script>" not in r.text  # the HTML part is only inside the escaped srcdoc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "Danke für Ihre Bestellung ORD-1." in r.text
    assert "kunde@example.com" in r.text

    html = requests.get(f"{web.url}/mail/{web.key}/html", timeout=10)
    csp = html.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox")
    assert "default-src 'none'" in csp
    assert "<h1>Danke</h1>" in html.text

    raw = requests.get(f"{web.url}/mail/{web.key}/raw", timeout=10)
    assert raw.headers["Content-Type"].startswith("text/plain")
    assert "Subject: Ihre Bestellung <ORD-1>" in raw.text


def test_mail_page_has_tabs_html_check_and_attachment_download(web: Web) -> None:
    page = requests.get(f"{web.url}/mail/{web.key}", timeout=10)
    for tab in ("html", "text", "headers", "raw", "attachments"):
        assert f'data-tab="{tab}"' in page.text
    assert 'class="check-images"' in page.text
    assert "image without alt attribute" in page.text
    assert "javascript: link" in page.text
    assert "Gmail clips above 102 KB" in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    assert '<script src="/static/inbox.js" defer></script>' in page.text
    assert re.search(r"<script>(?!alert)", page.text) is None  # no inline script

    link = re.search(r'href="(/mail/[^"]+/attachments/0)"', page.text)
    assert link, "no attachment link"
    att = requests.get(web.url + link.group(1), timeout=10)
    assert att.status_code == 200
    assert att.content == PDF
    assert att.headers["Content-Disposition"].startswith("attachment;")
    assert "Rechnung%20ORD-1.pdf" in att.headers["Content-Disposition"]
    assert att.headers["Content-Security-Policy"].startswith("sandbox")
    assert requests.get(web.url + link.group(1)[:-1] + "9", timeout=10).status_code == 404

    js = requests.get(web.url + "/static/inbox.js", timeout=10)
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert "EventSource" in js.text
    assert requests.get(web.url + "/static/..%2Fwebinbox.py", timeout=10).status_code == 404


def test_inbound_mail_page_shows_the_stored_mail_with_tabs(web: Web) -> None:
    page = requests.get(web.url + "/inbound/inb123", timeout=10).text
    assert "Wann kommt es?" in page
    assert 'data-tab="headers"' in page
    assert 'href="/orders/ORD-1"' in page
    raw = requests.get(web.url + "/inbound/inb123/raw", timeout=10)
    assert raw.status_code == 200 and b"In-Reply-To" in raw.content
    assert requests.get(web.url + "/inbound/nope", timeout=10).status_code == 404


def test_unknown_and_traversal_keys_are_404(web: Web) -> None:
    assert requests.get(f"{web.url}/mail/nope", timeout=10).status_code == 404
    assert requests.get(f"{web.url}/mail/..%2F..%2Fetc", timeout=10).status_code == 404
    assert requests.get(f"{web.url}/nothing/here", timeout=10).status_code == 404


def test_inbound_page_shows_decision_and_published_events(web: Web) -> None:
    r = requests.get(f"{web.url}/inbound", timeout=10)
    assert r.status_code == 200
    assert "inb123" in r.text
    assert "Re: &lt;ORD-1&gt;" in r.text
    assert "&#34;route&#34;: &#34;orders&#34;" in r.text
    assert "CustomerReplied" in r.text
    events = requests.get(f"{web.url}/events", timeout=10)
    assert "CustomerReplied" in events.text
    assert "ORD-1" in events.text


def test_dead_letters_are_listed_and_replayed(
    web: Web, provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    page = requests.get(f"{web.url}/dlq", timeout=10)
    assert "OutboundDeadLetterQueue" in page.text
    assert "OrderPlaced" in page.text
    form = {"queue": "OutboundDeadLetterQueue", "csrf": _csrf(page.text)}
    r = requests.post(f"{web.url}/dlq/replay", data=form, timeout=10)
    assert r.status_code == 200
    assert "Replayed 1 message(s)" in r.text
    back = aws_client("sqs").receive_message(
        QueueUrl=provisioned.outputs["OutboundQueueUrl"], WaitTimeSeconds=1
    )["Messages"]
    assert json.loads(back[0]["Body"]) == {"detail-type": "OrderPlaced"}


def test_posts_need_the_csrf_token_and_a_same_origin(
    web: Web, provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    url = f"{web.url}/dlq/replay"
    token = _csrf(requests.get(f"{web.url}/dlq", timeout=10).text)
    no_token = requests.post(url, data={"queue": "OutboundDeadLetterQueue"}, timeout=10)
    assert no_token.status_code == 403
    wrong = requests.post(url, data={"queue": "OutboundDeadLetterQueue", "csrf": "x"}, timeout=10)
    assert wrong.status_code == 403
    cross = requests.post(
        url,
        data={"queue": "OutboundDeadLetterQueue", "csrf": token},
        headers={"Origin": "http://evil.example"},
        timeout=10,
    )
    assert cross.status_code == 403
    # nothing was replayed: the message is still in the dead-letter queue
    dlq = provisioned.outputs["OutboundDeadLetterQueueUrl"]
    attrs = aws_client("sqs").get_queue_attributes(
        QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "1"
    assert requests.get(f"{web.url}/dlq/replay", timeout=10).status_code == 404  # no GET action


def test_host_header_must_be_local(web: Web) -> None:
    port = web.server.port
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}"):
        r = requests.get(web.url + "/", headers={"Host": host}, timeout=10)
        assert r.status_code == 421, host
        assert "Relayed mail" not in r.text
    ok = requests.get(web.url + "/", headers={"Host": f"localhost:{port}"}, timeout=10)
    assert ok.status_code == 200


def test_suppression_list_is_shown(web: Web) -> None:
    r = requests.get(f"{web.url}/suppression", timeout=10)
    assert "bounce@simulator.amazonses.com" in r.text
    assert "&lt;bounce&gt;" in r.text


def _read_events(url: str, found: list[dict[str, Any]], ready: threading.Event) -> None:
    with requests.get(url + "/stream", stream=True, timeout=20) as resp:
        event = ""
        for line in resp.iter_lines(chunk_size=1, decode_unicode=True):
            if line.startswith("event: "):
                event = line[7:]
                if event == "hello":
                    ready.set()
            elif line.startswith("data: ") and event == "change":
                found.append(json.loads(line[6:]))
                return


def test_stream_sends_a_change_event_when_a_mail_arrives(web: Web) -> None:
    found: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_events, args=(web.url, found, ready), daemon=True)
    reader.start()
    assert ready.wait(10), "the stream did not open"
    time.sleep(0.2)
    assert not found  # nothing happened yet
    key = web.state.add_relayed(_second_mail(), outbox=True)
    _relay_record(web.state, key, ses_message_id="0102new")
    reader.join(10)
    assert found, "no change event within 10 s"
    changes = found[0]["changes"]
    assert {"log": "relay", "key": key, "message_id": ORDER_MID, "ses_message_id": "0102new"} in [
        {k: c[k] for k in ("log", "key", "message_id", "ses_message_id") if k in c} for c in changes
    ]
    assert "kunde@example.com" not in json.dumps(found)  # ids only, never addresses


def test_release_is_off_by_default(web: Web) -> None:
    page = requests.get(f"{web.url}/mail/{web.key}", timeout=10).text
    assert "/release" not in page
    r = requests.post(
        f"{web.url}/mail/{web.key}/release",
        data={"to": "someone@example.net", "csrf": _csrf(requests.get(web.url + "/dlq").text)},
        timeout=10,
    )
    assert "Release is off" in r.text


def test_release_sends_the_mail_through_a_real_smtp_server(
    tmp_path: Path,
    provisioned: StackOutputs,
    aws_client: Callable[..., Any],
    ses_smtp: SesSmtp,
) -> None:
    target = ReleaseTarget(
        host=ses_smtp.host,
        port=ses_smtp.port,
        tls=ReleaseTls.STARTTLS,
        username=ses_smtp.credentials.username,
        password=ses_smtp.credentials.password,
        ca_file=str(ses_smtp.ca_file),
        allow=r".*@example\.net",
    )
    w = _start(tmp_path, provisioned, aws_client, release=target)
    try:
        page = requests.get(f"{w.url}/mail/{w.key}", timeout=10).text
        assert f'action="/mail/{w.key}/release"' in page
        token = _csrf(page)
        denied = requests.post(
            f"{w.url}/mail/{w.key}/release",
            data={"to": "someone@example.org", "csrf": token},
            timeout=10,
        )
        assert "not allowed by --release-allow" in denied.text
        assert ses_smtp.messages == []
        r = requests.post(
            f"{w.url}/mail/{w.key}/release",
            data={"to": "tester@example.net", "csrf": token},
            timeout=30,
        )
        assert r.status_code == 200
        assert "Released to tester@example.net" in r.text, r.text[:2000]
        (sent,) = ses_smtp.messages
        assert sent.envelope.rcpt_tos == ("tester@example.net",)
        assert sent.envelope.mail_from == "shop@shop.example"
        assert sent.data.replace(b"\r\n", b"\n") == w.state.get_relayed(w.key).raw.replace(  # type: ignore[union-attr]
            b"\r\n", b"\n"
        )
    finally:
        w.server.stop()


def test_viewing_the_dead_letters_changes_nothing(
    web: Web, provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    for _ in range(3):
        assert "OrderPlaced" in requests.get(f"{web.url}/dlq", timeout=10).text
    dlq = provisioned.outputs["OutboundDeadLetterQueueUrl"]
    (msg,) = aws_client("sqs").receive_message(
        QueueUrl=dlq, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert msg["Attributes"]["ApproximateReceiveCount"] == "1"  # this is the first receive


def test_stream_catches_up_from_the_version_the_page_was_rendered_at(web: Web) -> None:
    page = requests.get(web.url + "/", timeout=10).text
    rendered = int(re.search(r'<main data-version="(\d+)"', page).group(1))  # type: ignore[union-attr]
    key = web.state.add_relayed(_second_mail(), outbox=True)
    _relay_record(web.state, key, ses_message_id="0102late")  # before the stream connects
    with requests.get(f"{web.url}/stream?since={rendered}", stream=True, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        lines = resp.iter_lines(chunk_size=1, decode_unicode=True)
        seen: list[str] = []
        for line in lines:
            seen.append(line)
            if line.startswith("data: ") and "0102late" in line:
                break
    assert "event: change" in seen
