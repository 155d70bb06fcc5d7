"""The local web inbox over HTTP (requests), backed by a state folder and the moto server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from shopmail_local.stack.plumbing import replay_dead_letters
from shopmail_local.stack.provision import StackOutputs
from shopmail_local.stack.state import StateStore
from shopmail_local.stack.webinbox import WebData, WebInbox


def _mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "shop@shop.example"
    msg["To"] = "kunde@example.com"
    msg["Subject"] = "Ihre Bestellung <ORD-1>"
    msg.set_content("Danke für Ihre Bestellung ORD-1.")
    msg.add_alternative(
        "<html><body><h1>Danke</h1><script>alert(1)</script>"
        '<img src="https://tracker.example/p.gif"></body></html>',
        subtype="html",
    )
    return msg.as_bytes()


@pytest.fixture
def web(
    tmp_path: Path, provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> Iterator[tuple[str, StateStore, str]]:
    state = StateStore(tmp_path / "state")
    key = state.add_relayed(_mail(), outbox=True)
    state.log_relay(
        {
            "ses_message_id": "0102abc",
            "key": key,
            "mail_from": "shop@shop.example",
            "rcpt_tos": ["kunde@example.com"],
            "subject": "Ihre Bestellung <ORD-1>",
            "outbox": ["kunde@example.com"],
            "loopback": [],
            "simulator": [],
        }
    )
    state.log_inbound(
        {
            "kind": "received",
            "message_id": "inb123",
            "mail_from": "kunde@example.com",
            "recipients": ["orders@shop.example"],
            "rules": ["r"],
            "s3_keys": [["b", "inbound/inb123"]],
            "subject": "Re: <ORD-1>",
            "verdicts": {"spam": "GRAY"},
        }
    )
    state.log_inbound(
        {"kind": "invocation", "message_id": "inb123", "attempts": 1, "ok": True,
         "result": {"route": "orders"}, "error": "", "dead_lettered": False}
    )  # fmt: skip
    state.log_event(
        {
            "source": "shop",
            "event": {
                "source": "shopmail.inbound",
                "detail-type": "CustomerReplied",
                "detail": {"messageId": "inb123", "orderId": "ORD-1"},
            },
        }
    )
    sqs, ddb = aws_client("sqs"), aws_client("dynamodb")
    dlq = provisioned.outputs["OutboundDeadLetterQueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"detail-type": "OrderPlaced"}))
    ddb.put_item(
        TableName=provisioned.outputs["SuppressionTableName"],
        Item={"address": {"S": "bounce@simulator.amazonses.com"}, "reason": {"S": "<bounce>"}},
    )
    data = WebData(
        state=state,
        sqs=sqs,
        dynamodb=ddb,
        dead_letter_queues=provisioned.dead_letter_queues,
        suppression_table=provisioned.outputs["SuppressionTableName"],
        replay=lambda url: replay_dead_letters(sqs, url, provisioned.redrive_sources.get(url, [])),
    )
    server = WebInbox(data, port=0)
    server.start()
    yield server.url, state, key
    server.stop()


def test_index_lists_relayed_mail_escaped(web: tuple[str, StateStore, str]) -> None:
    url, _, key = web
    r = requests.get(url + "/", timeout=10)
    assert r.status_code == 200
    assert f'href="/mail/{key}"' in r.text
    assert "Ihre Bestellung &lt;ORD-1&gt;" in r.text
    assert "<ORD-1>" not in r.text
    assert "http://" not in r.text.replace(url, "")  # no external resources
    assert "https://" not in r.text


def test_mail_page_sandboxes_the_html_and_shows_text_and_headers(
    web: tuple[str, StateStore, str],
) -> None:
    url, _, key = web
    r = requests.get(f"{url}/mail/{key}", timeout=10)
    assert r.status_code == 200
    assert '<iframe sandbox="" srcdoc="' in r.text
    assert "<script>" not in r.text  # the HTML part is only inside the escaped srcdoc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "Danke für Ihre Bestellung ORD-1." in r.text
    assert "kunde@example.com" in r.text

    html = requests.get(f"{url}/mail/{key}/html", timeout=10)
    csp = html.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox")
    assert "default-src 'none'" in csp
    assert "<h1>Danke</h1>" in html.text

    raw = requests.get(f"{url}/mail/{key}/raw", timeout=10)
    assert raw.headers["Content-Type"].startswith("text/plain")
    assert "Subject: Ihre Bestellung <ORD-1>" in raw.text


def test_unknown_and_traversal_keys_are_404(web: tuple[str, StateStore, str]) -> None:
    url, _, _ = web
    assert requests.get(f"{url}/mail/nope", timeout=10).status_code == 404
    assert requests.get(f"{url}/mail/..%2F..%2Fetc", timeout=10).status_code == 404
    assert requests.get(f"{url}/nothing/here", timeout=10).status_code == 404


def test_inbound_page_shows_decision_and_published_events(
    web: tuple[str, StateStore, str],
) -> None:
    url, _, _ = web
    r = requests.get(f"{url}/inbound", timeout=10)
    assert r.status_code == 200
    assert "inb123" in r.text
    assert "Re: &lt;ORD-1&gt;" in r.text
    assert "&#34;route&#34;: &#34;orders&#34;" in r.text
    assert "CustomerReplied" in r.text
    events = requests.get(f"{url}/events", timeout=10)
    assert "CustomerReplied" in events.text
    assert "ORD-1" in events.text


def test_dead_letters_are_listed_and_replayed(
    web: tuple[str, StateStore, str],
    provisioned: StackOutputs,
    aws_client: Callable[..., Any],
) -> None:
    url, _, _ = web
    page = requests.get(f"{url}/dlq", timeout=10)
    assert "OutboundDeadLetterQueue" in page.text
    assert "OrderPlaced" in page.text
    r = requests.post(f"{url}/dlq/replay", data={"queue": "OutboundDeadLetterQueue"}, timeout=10)
    assert r.status_code == 200
    assert "Replayed 1 message(s)" in r.text
    back = aws_client("sqs").receive_message(
        QueueUrl=provisioned.outputs["OutboundQueueUrl"], WaitTimeSeconds=1
    )["Messages"]
    assert json.loads(back[0]["Body"]) == {"detail-type": "OrderPlaced"}


def test_suppression_list_is_shown(web: tuple[str, StateStore, str]) -> None:
    url, _, _ = web
    r = requests.get(f"{url}/suppression", timeout=10)
    assert "bounce@simulator.amazonses.com" in r.text
    assert "&lt;bounce&gt;" in r.text
