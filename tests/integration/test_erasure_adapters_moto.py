"""The adapters erasure and unsubscribe rely on, against a real moto server: every version of
an object, items named or redacted, both suppression forms, the index, the signing keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from shopmail.adapters.dynamodb_erasure_index import DynamoDbErasureIndex
from shopmail.adapters.dynamodb_scrubber import DynamoDbScrubber
from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.adapters.s3_mail_objects import S3MailObjects
from shopmail.adapters.secrets_signing_keys import CACHE_SECONDS, SecretsManagerSigningKeys
from shopmail.domain.erasure.matcher import AddressMatcher
from shopmail.domain.suppression.entries import SuppressionEntry, hashed_suppression_key
from shopmail.errors import ConfigurationError

from tests.fixtures.moto_resources import create_table

Client = Callable[..., Any]
KIM = "kim@example.com"


def test_every_version_and_delete_marker_goes_and_siblings_stay(aws_client: Client) -> None:
    s3 = aws_client("s3")
    s3.create_bucket(Bucket="raw", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket="raw", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket="raw", Key="inbound/abc", Body=body)
    s3.delete_object(Bucket="raw", Key="inbound/abc")  # a delete marker over both versions
    s3.put_object(Bucket="raw", Key="inbound/abcdef", Body=b"another mail")
    s3.put_object(Bucket="raw", Key="attachments/abc/0-a.pdf", Body=b"a")
    s3.put_object(Bucket="raw", Key="attachments/abcdef/0-b.pdf", Body=b"b")
    keys, versions = S3MailObjects(s3, "raw").erase(
        ["inbound/abc", "quarantine/abc"], ["attachments/abc/"]
    )
    assert keys == ["attachments/abc/0-a.pdf", "inbound/abc"] and versions == 4
    left = s3.list_object_versions(Bucket="raw")
    assert sorted(v["Key"] for v in left.get("Versions", [])) == [
        "attachments/abcdef/0-b.pdf",
        "inbound/abcdef",
    ]
    assert left.get("DeleteMarkers", []) == []
    assert S3MailObjects(s3, "raw").erase(["inbound/abc"]) == ([], 0)


def test_scrubber_deletes_named_items_and_redacts_where_asked(aws_client: Client) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "idem", "id")
    items = {
        "OrderPlaced:ORD-1:kim@example.com": {"status": {"S": "COMPLETED"}},
        "auto_reply#x": {"data": {"M": {"to": {"L": [{"S": "KIM@example.com"}]}}}},
        "OrderPlaced:ORD-2:joakim@example.com": {"status": {"S": "COMPLETED"}},
    }
    for key, attrs in items.items():
        ddb.put_item(TableName="idem", Item={"id": {"S": key}, **attrs})
    matcher = AddressMatcher.of(KIM)
    assert DynamoDbScrubber(ddb, "idem", ("id",), name="idempotency").scrub(matcher) == 2
    left = [i["id"]["S"] for i in ddb.scan(TableName="idem")["Items"]]
    assert left == ["OrderPlaced:ORD-2:joakim@example.com"]

    create_table(ddb, "sup", "address")
    sup = DynamoDbSuppressionList(ddb, "sup")
    sup.put(SuppressionEntry("ann@example.org", "complaint", f"reported by {KIM}"))
    sup.put(SuppressionEntry(KIM, "unsubscribe", "one-click"))
    redactor = DynamoDbScrubber(ddb, "sup", ("address",), name="suppression", redact=True)
    assert redactor.scrub(matcher) == 2
    ann = sup.get("ann@example.org")
    assert ann is not None and ann.reason == "reported by [erased]"  # still suppressed
    assert sup.get(KIM) is None  # its key named the address: deleted


def test_suppression_reads_both_forms_and_the_stronger_wins(aws_client: Client) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "sup", "address")
    clock = [1000.0]
    sup = DynamoDbSuppressionList(ddb, "sup", clock=lambda: clock[0])
    sup.put(SuppressionEntry(KIM, "unsubscribe"))
    assert sup.get("KIM@Example.com").suppression_class == "unsubscribe"  # type: ignore[union-attr]
    sup.put(SuppressionEntry(hashed_suppression_key(KIM), "manual", "erased", expires_at=2000))
    found = sup.get(KIM)
    assert found is not None and found.suppression_class == "manual"
    assert found.address == hashed_suppression_key(KIM)
    assert sup.delete(KIM) and sup.get(KIM) == found  # the hash form alone still suppresses
    clock[0] = 3000.0  # the hash entry expired
    assert sup.get(KIM) is None


def test_the_index_records_finds_and_forgets_many_keys(aws_client: Client) -> None:
    ddb = aws_client("dynamodb")
    create_table(ddb, "index", "address_hash", "object_key")
    index = DynamoDbErasureIndex(ddb, "index", clock=lambda: 1000.0)
    for n in range(30):
        index.record(["h1", "h2"], f"inbound/m{n:02d}", ttl_days=2)
    assert index.keys("h1") == [f"inbound/m{n:02d}" for n in range(30)]
    item = ddb.scan(TableName="index", Limit=1)["Items"][0]
    assert item["expires_at"]["N"] == str(1000 + 2 * 86400)
    assert index.forget("h1") == 30 and index.keys("h1") == []
    assert len(index.keys("h2")) == 30


def test_signing_keys_are_cached_and_a_rotation_is_picked_up(aws_client: Client) -> None:
    sm = aws_client("secretsmanager")
    arn = sm.create_secret(Name="unsub", SecretString=json.dumps({"current": "a" * 64}))["ARN"]
    clock = [0.0]
    keys = SecretsManagerSigningKeys(sm, arn, clock=lambda: clock[0])
    assert keys.keys().current == b"a" * 64
    sm.put_secret_value(
        SecretId=arn, SecretString=json.dumps({"current": "b" * 64, "previous": "a" * 64})
    )
    assert keys.keys().current == b"a" * 64  # cached
    clock[0] = CACHE_SECONDS + 1
    rotated = keys.keys()
    assert rotated.current == b"b" * 64 and rotated.previous == (b"a" * 64,)
    with pytest.raises(ConfigurationError):
        SecretsManagerSigningKeys(sm, arn + "-missing").keys()
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"current": "short"}))
    with pytest.raises(ConfigurationError):
        SecretsManagerSigningKeys(sm, arn).keys()
