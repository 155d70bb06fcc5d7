"""The conditional and batched writes of issue 13 against a real moto server over HTTP.

The inbound action ledger (one record per message and recipient; concurrent claims; the refusal
returns the record), the idempotency claim that returns the record it found (``ALL_OLD``, no
second read), batched completions and sent-mail records, the suppression batch read (unprocessed
keys read again) and its conditional write, and ``PutEvents`` in calls of 10 that send only the
failed entries again. Where moto never answers partially (unprocessed keys, failed entries), a
thin proxy changes the answer of one real call; everything else is moto's own.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from shopmail.adapters.dynamodb_action_ledger import DynamoDbActionLedger
from shopmail.adapters.dynamodb_erasure_index import DynamoDbErasureIndex
from shopmail.adapters.dynamodb_idempotency import DynamoDbIdempotencyStore
from shopmail.adapters.dynamodb_sent_mail import DynamoDbSentMailStore
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.adapters.eventbridge import ATTEMPTS, EventBridgePublisher
from shopmail.domain.outbound.sent_mail import SentMail
from shopmail.domain.suppression.entries import SuppressionEntry
from shopmail.domain.suppression.policy import SuppressionClass, replaceable_by
from shopmail.errors import InProgressError
from shopmail.ports import LedgerClaim

from tests.fixtures.moto_resources import create_table

Client = Callable[..., Any]
NOW = 1_800_000_000.0


def _counted(client: Any) -> Counter[str]:
    """Count the client's calls by operation (botocore's ``after-call``)."""
    calls: Counter[str] = Counter()

    def after(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("after-call", after)
    return calls


class _Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


# --- the inbound action ledger ---------------------------------------------------------------


def test_ledger_claims_one_record_and_refuses_a_concurrent_claim(aws_client: Client) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "idem", "id")
    clock = _Clock()
    ledger = DynamoDbActionLedger(ddb, "idem", 3600, clock=clock)
    other = DynamoDbActionLedger(aws_client("dynamodb"), "idem", 3600, clock=clock)
    key = "inbound#m1#h1"
    assert ledger.claim(key, 30) == LedgerClaim(False, frozenset())
    with pytest.raises(InProgressError):  # a second worker on the same message and recipient
        other.claim(key, 30)
    ledger.finish_all([(key, {"0:publish"}, False)])  # one action done, one failed
    assert other.claim(key, 30) == LedgerClaim(False, frozenset({"0:publish"}))
    clock.now += 31  # that worker crashed: its claim lapses, the done action stays done
    assert ledger.claim(key, 30) == LedgerClaim(False, frozenset({"0:publish"}))
    ledger.finish_all([(key, {"0:publish", "1:auto_reply"}, True)])
    calls = _counted(ddb)
    assert ledger.claim(key, 30) == LedgerClaim(True, frozenset({"0:publish", "1:auto_reply"}))
    assert calls == Counter({"UpdateItem": 1})  # the refusal carried the record
    (item,) = ddb.scan(TableName="idem")["Items"]
    assert item["status"]["S"] == "COMPLETED" and "in_progress_expiration" not in item
    clock.now += 3601  # expired (TTL deletion lags): a new message as far as the ledger goes
    assert ledger.claim(key, 30) == LedgerClaim(False, frozenset())


def test_ledger_writes_the_finished_records_and_the_index_in_one_call(
    aws_client: Client,
) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "idem", "id")
    create_table(ddb, "index", "address_hash", "object_key")
    index = DynamoDbErasureIndex(ddb, "index", clock=lambda: NOW)
    ledger = DynamoDbActionLedger(ddb, "idem", 3600, clock=lambda: NOW, erasure_index=index)
    assert ledger.records_mentions is True
    for key in ("inbound#m2#a", "inbound#m2#b"):
        ledger.claim(key, 30)
    calls = _counted(ddb)
    ledger.finish_all(
        [("inbound#m2#a", {"0:publish"}, True), ("inbound#m2#b", set(), False)],
        ({"hash-1", "hash-2"}, "inbound/m2", 30),
    )
    assert calls == Counter({"BatchWriteItem": 1})
    assert index.keys("hash-1") == ["inbound/m2"] == index.keys("hash-2")
    items = {i["id"]["S"]: i for i in ddb.scan(TableName="idem")["Items"]}
    assert items["inbound#m2#a"]["status"]["S"] == "COMPLETED"
    assert items["inbound#m2#a"]["done"]["SS"] == ["0:publish"]
    assert items["inbound#m2#b"]["status"]["S"] == "RELEASED"
    assert ledger.claim("inbound#m2#b", 30) == LedgerClaim(False, frozenset())


# --- idempotency: the refusal returns the record ---------------------------------------------


def test_refused_claim_returns_the_record_without_a_second_read(aws_client: Client) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "idem", "id")
    store = DynamoDbIdempotencyStore(ddb, "idem", 3600, clock=lambda: NOW)
    assert store.begin("k", 30) is True
    calls = _counted(ddb)
    with pytest.raises(InProgressError):
        store.begin("k", 30)
    assert calls == Counter({"PutItem": 1})
    store.complete("k", {"outcome": "sent", "messageId": "<m@x>"})
    calls.clear()
    assert store.begin("k", 30) is False
    assert store.data("k") == {"outcome": "sent", "messageId": "<m@x>"}
    assert calls == Counter({"PutItem": 1})  # data() answered from the refusal
    assert store.data("k") == {"outcome": "sent", "messageId": "<m@x>"}  # later: read again
    assert calls == Counter({"PutItem": 1, "GetItem": 1})


def test_completions_of_a_batch_in_batch_writes(aws_client: Client) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "idem", "id")
    store = DynamoDbIdempotencyStore(ddb, "idem", 3600, clock=lambda: NOW)
    keys = [f"k{i}" for i in range(30)]
    for key in keys:
        store.begin(key, 30)
    calls = _counted(ddb)
    store.complete_many([(k, {"n": i}) for i, k in enumerate(keys)])
    assert calls == Counter({"BatchWriteItem": 2})  # 25 per call
    assert all(store.begin(k, 30) is False for k in keys)
    assert store.data("k29") == {"n": 29}


def test_sent_mail_records_of_a_batch_under_both_keys(aws_client: Client) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "sent", "ses_message_id")
    store = DynamoDbSentMailStore(ddb, "sent", clock=lambda: NOW)
    records = [
        SentMail(
            f"ses-{i}",
            f"<sm.orderplaced.O{i}.ab@shop.example>",
            f"k{i}",
            "OrderPlaced",
            f"O{i}",
            f"c{i}@example.org",
        )
        for i in range(13)
    ]
    records.append(
        SentMail(
            "",
            "<sm.orderplaced.O99.ab@shop.example>",
            "k99",
            "OrderPlaced",
            "O99",
            "c99@example.org",
        )
    )  # fmt: skip  (ambiguous: no SES id)
    calls = _counted(ddb)
    store.put_many(records)
    assert calls == Counter({"BatchWriteItem": 2})  # 27 items
    assert store.get("ses-12") == store.get_by_message_id("<SM.orderplaced.O12.ab@shop.example>")
    assert store.get("ses-12") is not None and store.get("ses-12").aggregate_id == "O12"
    only = store.get_by_message_id("sm.orderplaced.O99.ab@shop.example")
    assert only is not None and only.ses_message_id == ""


# --- suppression: one read per batch, conditional writes ------------------------------------


class _PartialBatchGet:
    """The real client, except that its first ``BatchGetItem`` reads only the first key and
    returns the others as unprocessed (what DynamoDB does under load)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[int] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:  # noqa: N803 - boto3's name
        ((table, request),) = RequestItems.items()
        self.calls.append(len(request["Keys"]))
        if len(self.calls) > 1:
            return self._client.batch_get_item(RequestItems=RequestItems)
        first, rest = request["Keys"][:1], request["Keys"][1:]
        response = self._client.batch_get_item(RequestItems={table: {**request, "Keys": first}})
        response["UnprocessedKeys"] = {table: {**request, "Keys": rest}}
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_batch_read_reads_unprocessed_keys_again(aws_client: Client) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "sup", "address")
    plain = DynamoDbSuppressionList(ddb, "sup", clock=lambda: NOW)
    plain.put(SuppressionEntry("a@example.org", "hard_bounce", "5.1.1"))
    plain.put(SuppressionEntry("c@example.org", "unsubscribe", "one-click"))
    partial = _PartialBatchGet(ddb)
    store = DynamoDbSuppressionList(partial, "sup", clock=lambda: NOW)  # type: ignore[arg-type]
    found = store.get_many(["a@example.org", "B@example.org", "c@example.org"])
    assert partial.calls == [6, 5]  # two forms per address; the unprocessed five again
    assert found["a@example.org"] is not None
    assert found["a@example.org"].suppression_class == "hard_bounce"
    assert found["B@example.org"] is None
    assert found["c@example.org"] is not None
    assert found["c@example.org"].suppression_class == "unsubscribe"


def test_batch_read_of_many_addresses_in_calls_of_100_keys(aws_client: Client) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "sup", "address")
    store = DynamoDbSuppressionList(ddb, "sup", clock=lambda: NOW)
    store.put(SuppressionEntry("x59@example.org", "complaint", "abuse"))
    calls = _counted(ddb)
    found = store.get_many([f"x{i}@example.org" for i in range(60)])
    assert calls == Counter({"BatchGetItem": 2})  # 120 keys
    assert [a for a, e in found.items() if e is not None] == ["x59@example.org"]


def test_conditional_write_never_replaces_a_stronger_entry(aws_client: Client) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "sup", "address")
    store = DynamoDbSuppressionList(ddb, "sup", clock=lambda: NOW)
    hard = SuppressionEntry("k@example.org", "hard_bounce", "5.1.1")
    store.put(SuppressionEntry("k@example.org", "complaint", "abuse"))
    calls = _counted(ddb)
    kept = store.put_if(hard, replaceable_by(SuppressionClass.HARD_BOUNCE))
    assert calls == Counter({"PutItem": 1})  # the refusal carried the entry that stays
    assert kept is not None and kept.suppression_class == "complaint"
    assert store.get("k@example.org").suppression_class == "complaint"  # type: ignore[union-attr]
    store.put(SuppressionEntry("k@example.org", "transient_bounces", "3 in 30 days"))
    assert store.put_if(hard, replaceable_by(SuppressionClass.HARD_BOUNCE)) is None
    assert store.get("k@example.org").suppression_class == "hard_bounce"  # type: ignore[union-attr]
    store.put(SuppressionEntry("k@example.org", "complaint", "abuse", expires_at=int(NOW) - 1))
    assert store.put_if(hard, replaceable_by(SuppressionClass.HARD_BOUNCE)) is None  # expired
    assert store.put_if(hard, replaceable_by(SuppressionClass.HARD_BOUNCE)) is not None  # equal
    assert store.put_if(
        SuppressionEntry("new@example.org", "hard_bounce", "5.1.1"),
        replaceable_by(SuppressionClass.HARD_BOUNCE),
    ) is None  # fmt: skip


# --- PutEvents: calls of 10, only failed entries again ----------------------------------------


class _FailingEntries:
    """The real EventBridge client, except that the entries whose ``Detail`` names an ``n`` in
    ``fail[call]`` are not sent in that call and come back failed (``FailedEntryCount``)."""

    def __init__(self, client: Any, fail: dict[int, set[int]]) -> None:
        self._client = client
        self.fail = fail
        self.calls: list[list[int]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> Any:  # noqa: N803 - boto3's name
        numbers = [json.loads(e["Detail"])["n"] for e in Entries]
        failing = self.fail.get(len(self.calls), set())
        self.calls.append(numbers)
        sent = [e for e, n in zip(Entries, numbers, strict=True) if n not in failing]
        real = self._client.put_events(Entries=sent)["Entries"] if sent else []
        results = iter(real)
        out = [
            {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
            if n in failing
            else next(results)
            for n in numbers
        ]
        return {"FailedEntryCount": sum(n in failing for n in numbers), "Entries": out}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _observed_bus(aws_client: Client) -> tuple[Any, str]:
    events, sqs = aws_client("events"), aws_client("sqs")
    events.create_event_bus(Name="shop")
    url = sqs.create_queue(QueueName="observed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = json.dumps({"source": ["shopmail.test"]})
    events.put_rule(Name="observe", EventBusName="shop", EventPattern=pattern)
    events.put_targets(Rule="observe", EventBusName="shop", Targets=[{"Id": "q", "Arn": arn}])
    return events, url


def _observed_numbers(aws_client: Client, url: str) -> list[int]:
    sqs = aws_client("sqs")
    numbers: list[int] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return sorted(numbers)
        for m in messages:
            numbers.append(json.loads(m["Body"])["detail"]["n"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_partial_put_events_failure_sends_only_the_failed_entries_again(
    aws_client: Client,
) -> None:
    events, url = _observed_bus(aws_client)
    proxy = _FailingEntries(events, {0: {1, 3}})
    publisher = EventBridgePublisher(proxy, "shop", sleep=lambda _: None)  # type: ignore[arg-type]
    batch = [("EmailSent", {"n": n}, "shopmail.test") for n in range(12)]
    assert publisher.publish_many(batch) == []
    assert proxy.calls == [list(range(10)), [1, 3], [10, 11]]
    assert _observed_numbers(aws_client, url) == list(range(12))  # each exactly once


def test_an_entry_that_keeps_failing_is_returned_the_others_are_published(
    aws_client: Client,
) -> None:
    events, url = _observed_bus(aws_client)
    proxy = _FailingEntries(events, {i: {4} for i in range(ATTEMPTS)})
    publisher = EventBridgePublisher(proxy, "shop", sleep=lambda _: None)  # type: ignore[arg-type]
    batch = [("EmailSent", {"n": n}, "shopmail.test") for n in range(6)]
    assert publisher.publish_many(batch) == [4]
    assert proxy.calls == [list(range(6))] + [[4]] * (ATTEMPTS - 1)
    assert _observed_numbers(aws_client, url) == [0, 1, 2, 3, 5]


def test_put_events_calls_stay_under_256_kb(aws_client: Client) -> None:
    events, url = _observed_bus(aws_client)
    proxy = _FailingEntries(events, {})
    publisher = EventBridgePublisher(proxy, "shop", sleep=lambda _: None)  # type: ignore[arg-type]
    big = "x" * 100_000
    batch = [("MessageReceived", {"n": n, "text": big}, "shopmail.test") for n in range(5)]
    assert publisher.publish_many(batch) == []
    assert proxy.calls == [[0, 1], [2, 3], [4]]
    assert _observed_numbers(aws_client, url) == list(range(5))
