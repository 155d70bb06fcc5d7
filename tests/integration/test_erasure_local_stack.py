"""Erasure on the whole offline stack: after ``shopmail erase`` no S3 object (any version) and
no DynamoDB item names the address or its hash, no dead letter either, the address is still
suppressed (by hash only), and other customers' data is untouched. The shop's event runs the
same erasure through the erasure function."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from shopmail.domain.addresses import address_hash
from shopmail.domain.suppression.entries import SuppressionEntry, hashed_suppression_key

from shopmail_local.cli.main import main as cli
from shopmail_local.stack.runner import LocalStack
from tests.fixtures.e2e_stack import suppression_list, wait_until
from tests.fixtures.mails import bounce_naming
from tests.fixtures.ops_stack import (
    aggregate_of,
    emitted_schema,
    put_event,
    send_inbound,
    shop_event,
    wait_event,
)

ERASED = "Erase.Me@Example.com"
OTHER = "keep.me@example.org"


@pytest.fixture(scope="module")
def stack(e2e_stack: LocalStack) -> LocalStack:
    return e2e_stack


def _tables(stack: LocalStack) -> dict[str, str]:
    assert stack.outputs is not None
    return dict(stack.outputs.tables)


def _customer_mail(sender: str, subject: str, attachment: bytes) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Customer <{sender}>"
    mail["To"] = "support@shop.example"
    mail["Subject"] = subject
    mail.set_content(f"Hello, please reply to {sender.lower()} about my order.")
    mail.add_attachment(attachment, maintype="application", subtype="pdf", filename="Rechnung.pdf")
    return mail


def _s3_versions(stack: LocalStack) -> Iterator[tuple[str, str, bytes]]:
    s3 = stack.client("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        listing = s3.list_object_versions(Bucket=name)
        for version in listing.get("Versions", []):
            body = s3.get_object(Bucket=name, Key=version["Key"], VersionId=version["VersionId"])
            yield name, version["Key"], body["Body"].read()


def _items(stack: LocalStack) -> Iterator[tuple[str, str]]:
    ddb = stack.client("dynamodb")
    for table in ddb.list_tables()["TableNames"]:
        for item in ddb.scan(TableName=table)["Items"]:
            yield table, json.dumps(item, ensure_ascii=False)


def _messages(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    found = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
        MessageAttributeNames=["All"],
    ).get("Messages", [])  # fmt: skip
    return list(found)


def _report(out: str) -> dict[str, Any]:
    """The printed report (the in-process handlers also log JSON lines to stdout)."""
    start = out.index('{\n  "version"')
    report, _end = json.JSONDecoder().raw_decode(out, start)
    return dict(report)


def _names(text: str, address: str) -> bool:
    return address.lower() in text.lower() or address_hash(address) in text


def test_erase_leaves_nothing_that_names_the_address(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # --- what a customer leaves behind
    mail = _customer_mail(ERASED, "Frage zu ORD-1", b"%PDF-1 erase")
    send_inbound(stack, mail, "support@shop.example", ERASED)
    send_inbound(stack, bounce_naming(ERASED.lower()), "bounces@shop.example", "")
    kept_id = send_inbound(
        stack, _customer_mail(OTHER, "Meine Bestellung", b"%PDF-1 keep"), "support@shop.example",
        OTHER,
    )  # fmt: skip
    order = shop_event("OrderPlaced", ERASED)
    put_event(stack, order)
    wait_event(stack, "EmailSent", lambda d: d["aggregateId"] == aggregate_of(order))
    invalid = shop_event("OrderPlaced", ERASED)
    del invalid["detail"]["order"]["total"]
    put_event(stack, invalid)
    wait_event(stack, "EmailFailed", lambda d: d.get("code") == "invalid_event")
    suppression = suppression_list(stack)
    suppression.put(SuppressionEntry(ERASED.lower(), "unsubscribe", "one-click", "2026-12-01"))
    suppression.put(
        SuppressionEntry(OTHER, "complaint", f"forwarded by {ERASED.lower()}", "2026-12-01")
    )
    assert stack.outputs is not None
    dlqs = stack.outputs.dead_letter_queues
    assert any(_names(m["Body"], ERASED) for m in _messages(stack, dlqs["OutboundDeadLetterQueue"]))
    assert any(_names(b.decode("latin-1"), ERASED) for _b, _k, b in _s3_versions(stack))
    assert any(_names(text, ERASED) for _t, text in _items(stack))

    # --- the operator erases the address
    capsys.readouterr()
    code = cli(["erase", ERASED, "--state", str(stack.config.state_dir), "--request-id", "GDPR-1"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = _report(out)
    emitted_schema("CustomerDataErased")({k: v for k, v in report.items() if k != "objectKeys"})
    assert report["complete"] and report["requestId"] == "GDPR-1"
    assert report["objects"]["deleted"] >= 3  # two raw mails and the attachment
    assert report["items"]["sentMail"] >= 2 and report["items"]["idempotency"] >= 1
    assert report["items"]["suppression"] == 1  # the other entry, redacted
    assert report["deadLetters"]["outbound"] >= 1
    assert report["suppression"]["previousClass"] == "unsubscribe"
    published = wait_event(stack, "CustomerDataErased", lambda d: d["requestId"] == "GDPR-1")
    assert ERASED.lower() not in json.dumps(published).lower()

    # --- nothing names it any more: every object version, every item, every dead letter
    leftovers = [
        (b, k) for b, k, body in _s3_versions(stack) if _names(body.decode("latin-1"), ERASED)
    ]
    assert leftovers == []
    hashed = hashed_suppression_key(ERASED)
    # the kept hash entry (sha256 of the address) is the one item allowed to derive from it
    items = [t for t, text in _items(stack) if _names(text.replace(hashed, "hash:*"), ERASED)]
    assert items == []
    assert [t for t, text in _items(stack) if hashed in text] == [
        _tables(stack)["SuppressionTable"]
    ]
    for url in stack.outputs.dead_letter_queues.values():
        for message in _messages(stack, url):
            assert not _names(json.dumps(message), ERASED)

    # --- still suppressed, by hash only; the other customer is untouched
    entry = suppression.get(ERASED)
    assert entry is not None and entry.address == hashed and entry.suppression_class == "manual"
    assert suppression.get(OTHER) is not None
    assert suppression.get(OTHER).reason == "forwarded by [erased]"  # type: ignore[union-attr]
    assert any(kept_id in key for _b, key, _body in _s3_versions(stack))
    again = shop_event("OrderPlaced", ERASED)
    put_event(stack, again)
    blocked = wait_event(
        stack, "EmailSuppressed", lambda d: d["aggregateId"] == aggregate_of(again)
    )
    assert blocked["suppressionClass"] == "manual"

    # --- a second run finds nothing and keeps the hash entry
    assert cli(["erase", ERASED, "--state", str(stack.config.state_dir)]) == 0
    second = _report(capsys.readouterr().out)
    assert (
        second["objects"]["deleted"] == 0
        and second["suppression"]["previousClass"] == "unsubscribe"
    )
    assert suppression.get(ERASED) == entry


def test_the_shops_event_runs_the_erasure_function(stack: LocalStack) -> None:
    customer = "event.erased@example.com"
    order = shop_event("OrderPlaced", customer)
    put_event(stack, order)
    wait_event(stack, "EmailSent", lambda d: d["aggregateId"] == aggregate_of(order))
    request = {
        "source": "shop",
        "detail-type": "CustomerDataErasureRequested",
        "detail": {"email": customer.upper(), "requestId": "ER-77", "customerId": "C-77"},
    }
    put_event(stack, request)
    detail = wait_event(stack, "CustomerDataErased", lambda d: d["requestId"] == "ER-77")
    emitted_schema("CustomerDataErased")(detail)
    assert detail["requestedBy"] == "event" and detail["customerId"] == "C-77"
    assert detail["complete"] and detail["items"]["sentMail"] >= 2
    assert detail["addressHash"] == hashed_suppression_key(customer).split(":")[1]
    assert suppression_list(stack).get(customer) is not None
    kept = hashed_suppression_key(customer)
    assert not any(_names(text.replace(kept, "*"), customer) for _t, text in _items(stack))


def test_an_invalid_request_is_dead_lettered_with_its_reason(stack: LocalStack) -> None:
    put_event(
        stack,
        {"source": "shop", "detail-type": "CustomerDataErasureRequested",
         "detail": {"email": "not an address", "requestId": "ER-BAD"}},
    )  # fmt: skip
    assert stack.outputs is not None
    url = stack.outputs.dead_letter_queues["ErasureDeadLetterQueue"]
    messages = wait_until(lambda: _messages(stack, url), 30)
    assert messages, "nothing in the erasure dead-letter queue"
    (message,) = [m for m in messages if "ER-BAD" in m["Body"]]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["shopmail.code"] == "invalid_event"
    assert "detail.email" in attributes["shopmail.reason"]
    assert json.loads(message["Body"])["detail-type"] == "CustomerDataErasureRequested"
