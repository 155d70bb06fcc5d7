"""moto's data saved at a clean stop and put back after provisioning (real moto over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from shopmail_local.stack.provision import StackOutputs, provision_template
from shopmail_local.stack.snapshot import read_manifest, restore_snapshot, take_snapshot
from tests.fixtures.local_stack import TEMPLATE

BINARY = bytes(range(256)) * 40


def _fill(out: StackOutputs, client: Callable[..., Any]) -> None:
    ddb, s3, sqs = client("dynamodb"), client("s3"), client("sqs")
    table = out.tables["SuppressionTable"]
    for i in range(60):  # more than one BatchWriteItem (25) and one scan page of moto
        ddb.put_item(
            TableName=table,
            Item={"address": {"S": f"a{i}@example.org"}, "n": {"N": str(i)},
                  "tags": {"SS": ["x", "y"]}},
        )  # fmt: skip
    bucket = out.outputs["RawMailBucketName"]
    s3.put_object(Bucket=bucket, Key="inbound/bin", Body=BINARY, ContentType="message/rfc822",
                  Metadata={"origin": "test"})  # fmt: skip
    s3.put_object(Bucket=bucket, Key="inbound/same", Body=BINARY)  # stored once
    dlq = out.dead_letter_queues["FeedbackDeadLetterQueue"]
    sqs.send_message(
        QueueUrl=dlq,
        MessageBody=json.dumps({"kept": 1}),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "bounce"}},
    )


def test_snapshot_round_trip_through_a_fresh_moto(
    tmp_path: Path, provisioned: StackOutputs, aws_client: Callable[..., Any], moto: str
) -> None:
    _fill(provisioned, aws_client)
    # a handler failed on the dead letter a moment ago: in flight for one more second
    in_flight = aws_client("sqs").receive_message(
        QueueUrl=provisioned.dead_letter_queues["FeedbackDeadLetterQueue"], VisibilityTimeout=1
    )["Messages"]
    assert len(in_flight) == 1
    taken = take_snapshot(aws_client, tmp_path, "gen-1")
    table = provisioned.tables["SuppressionTable"]
    assert taken.counts[f"dynamodb:{table}"] == 60
    manifest = read_manifest(tmp_path)
    assert manifest is not None and manifest["generation"] == "gen-1"
    assert len(list((tmp_path / "moto" / "s3" / "blobs").iterdir())) == 1  # deduplicated

    requests.post(f"{moto}/moto-api/reset", timeout=10).raise_for_status()
    out = provision_template(TEMPLATE, moto)
    assert aws_client("dynamodb").scan(TableName=table)["Count"] == 0  # really empty again
    restored = restore_snapshot(aws_client, tmp_path)
    assert restored is not None and restored.generation == "gen-1"
    assert restored.skipped == {}

    ddb = aws_client("dynamodb")
    items = ddb.scan(TableName=table)["Items"]
    assert len(items) == 60
    item = ddb.get_item(TableName=table, Key={"address": {"S": "a7@example.org"}})["Item"]
    assert item["n"] == {"N": "7"} and sorted(item["tags"]["SS"]) == ["x", "y"]
    obj = aws_client("s3").get_object(Bucket=out.outputs["RawMailBucketName"], Key="inbound/bin")
    assert obj["Body"].read() == BINARY
    assert obj["ContentType"] == "message/rfc822" and obj["Metadata"] == {"origin": "test"}
    msgs = aws_client("sqs").receive_message(
        QueueUrl=out.dead_letter_queues["FeedbackDeadLetterQueue"],
        MessageAttributeNames=["All"],
    )["Messages"]
    assert [json.loads(m["Body"]) for m in msgs] == [{"kept": 1}]
    assert msgs[0]["MessageAttributes"]["kind"]["StringValue"] == "bounce"


def test_resources_gone_from_the_template_are_skipped_and_half_snapshots_ignored(
    tmp_path: Path, provisioned: StackOutputs, aws_client: Callable[..., Any], moto: str
) -> None:
    _fill(provisioned, aws_client)
    take_snapshot(aws_client, tmp_path, "gen-2")
    requests.post(f"{moto}/moto-api/reset", timeout=10).raise_for_status()
    provision_template(TEMPLATE, moto)
    table = provisioned.tables["SuppressionTable"]
    aws_client("dynamodb").delete_table(TableName=table)
    restored = restore_snapshot(aws_client, tmp_path)
    assert restored is not None
    assert f"dynamodb:{table}" in restored.skipped
    assert restored.counts[f"s3:{provisioned.outputs['RawMailBucketName']}"] == 2

    (tmp_path / "moto" / "manifest.json").unlink()  # as if the stop died while writing
    assert read_manifest(tmp_path) is None
    assert restore_snapshot(aws_client, tmp_path) is None
