"""One-click unsubscribe on the whole offline stack: the link of a rendered marketing mail,
POSTed to the local endpoint (HTTPS, the function's own handler), suppresses the marketing
stream only; forged and expired tokens are refused; GET changes nothing."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse

import pytest
from shopmail.domain.outbound.unsubscribe import SigningKeys, Stream, sign_token

from shopmail_local.stack.runner import LocalStack
from tests.fixtures.e2e_stack import suppression_list, wait_until
from tests.fixtures.ops_stack import (
    aggregate_of,
    bus_events,
    emitted_schema,
    https,
    outbox_mail,
    put_event,
    shop_event,
    wait_event,
)

CUSTOMER = "newsletter.reader@example.com"


@pytest.fixture(scope="module")
def stack(e2e_stack: LocalStack) -> LocalStack:
    return e2e_stack


def _marketing_link(stack: LocalStack, to: str) -> str:
    event = shop_event("CheckoutAbandoned", to)
    event["detail"].pop("unsubscribeUrl")  # the stack's endpoint is the default
    put_event(stack, event)
    mail = wait_until(lambda: outbox_mail(stack, to), 30)
    assert mail is not None, "the marketing mail did not arrive"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(mail["List-Unsubscribe"]).strip("<>")
    html = mail.get_body(preferencelist=("html",))
    assert html is not None and link.replace("&", "&amp;") in html.get_content()
    return link


def test_the_link_unsubscribes_from_marketing_only(stack: LocalStack) -> None:
    link = _marketing_link(stack, CUSTOMER)
    assert link.startswith(f"https://127.0.0.1:{stack.config.unsubscribe_port}/?t=1.")
    status, page = https(stack, link)
    assert status == 200 and 'method="post"' in page and "n***@example.com" in page
    assert suppression_list(stack).get(CUSTOMER) is None  # GET changed nothing
    status, page = https(stack, link, b"List-Unsubscribe=One-Click")
    assert status == 200 and "Sie sind abgemeldet" in page  # the mail was de-DE
    entry = suppression_list(stack).get(CUSTOMER)
    assert entry is not None and entry.suppression_class == "unsubscribe"
    detail = wait_event(stack, "EmailUnsubscribed", lambda d: d["recipient"] == CUSTOMER)
    emitted_schema("EmailUnsubscribed")(detail)
    assert detail["method"] == "one-click" and detail["stream"] == "marketing"

    order = shop_event("OrderPlaced", CUSTOMER)
    put_event(stack, order)
    sent = wait_event(stack, "EmailSent", lambda d: d["aggregateId"] == aggregate_of(order))
    assert sent["recipient"] == CUSTOMER  # transactional mail still goes
    again = shop_event("CheckoutAbandoned", CUSTOMER)
    put_event(stack, again)
    suppressed = wait_event(
        stack, "EmailSuppressed", lambda d: d["aggregateId"] == aggregate_of(again)
    )
    assert suppressed["suppressionClass"] == "unsubscribe"
    assert not bus_events(stack, "EmailSent", lambda d: d["aggregateId"] == aggregate_of(again))
    assert https(stack, link, b"List-Unsubscribe=One-Click")[0] == 200  # a second POST
    time.sleep(1)
    assert len(bus_events(stack, "EmailUnsubscribed", lambda d: d["recipient"] == CUSTOMER)) == 1


def _with(link: str, token: str) -> str:
    parts = urllib.parse.urlsplit(link)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["t"] = token
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, safe=".")))


def test_forged_and_expired_tokens_are_refused(stack: LocalStack) -> None:
    victim = "victim@example.com"
    link = _marketing_link(stack, "attacker@example.com")
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["t"][0]
    version, _address, stream, expires, mac = token.split(".")
    other = base64.urlsafe_b64encode(victim.encode()).rstrip(b"=").decode()
    forged = ".".join((version, other, stream, expires, mac))
    assert https(stack, _with(link, forged), b"List-Unsubscribe=One-Click")[0] == 403
    assert https(stack, _with(link, "not-a-token"), b"List-Unsubscribe=One-Click")[0] == 400
    assert stack.outputs is not None
    secret = stack.client("secretsmanager").get_secret_value(
        SecretId=stack.outputs.outputs["UnsubscribeSecretArn"]
    )["SecretString"]
    assert set(json.loads(secret)) == {"current"}
    expired = sign_token(
        victim, Stream.MARKETING, int(time.time()) - 1, SigningKeys.from_secret(secret)
    )
    status, page = https(stack, _with(link, expired), b"List-Unsubscribe=One-Click")
    assert status == 410 and "abgelaufen" in page
    assert https(stack, _with(link, expired).replace("t=", "x="))[0] == 400
    assert suppression_list(stack).get(victim) is None
    assert suppression_list(stack).get("attacker@example.com") is None
