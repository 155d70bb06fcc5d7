"""moto's data across restarts: a snapshot at every clean stop, restored at the next start.

moto's server keeps everything in memory. At a clean stop (Ctrl-C, SIGTERM, SIGHUP), after
every poller, emulator and handler has stopped, the data a developer looks at is read back
through the AWS APIs and written under ``<state>/moto/``:

- DynamoDB: every item of every table (``dynamodb/<table>.jsonl``, DynamoDB JSON);
- S3: the current version of every object, with content type and user metadata
  (``s3/<bucket>.jsonl``, bodies in ``s3/blobs/<sha256>``, stored once);
- SQS: every visible message of every queue, with its message attributes
  (``sqs/<queue>.jsonl``).

Resources themselves are not saved: the next start provisions them from ``template.yaml`` and
then puts the saved data back into the resources of the same name (a table, bucket or queue
the template no longer has is skipped and reported). ``manifest.json`` is written last and
names the run (``generation``) whose stop wrote it, so a half-written snapshot is never read.

What a restore does not bring back: SQS receive counts and message ids (messages are sent
again), S3 object versions other than the current one, and the SMTP secret (it is generated at
every start; the relay and the handlers get the new one).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FOLDER = "moto"
MANIFEST = "manifest.json"
FORMAT = 1

ClientFactory = Callable[[str], Any]
_ATTRIBUTE_FIELDS = ("DataType", "StringValue", "BinaryValue")


@dataclass(frozen=True)
class SnapshotSummary:
    """What a snapshot holds (or what a restore put back).

    Attributes
    ----------
    generation
        The run that wrote the snapshot.
    counts
        ``"dynamodb:<table>"`` / ``"s3:<bucket>"`` / ``"sqs:<queue>"`` -> number of items.
    skipped
        Resources in the snapshot that no longer exist (restore only), with the reason.
    """

    generation: str
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Items over every resource."""
        return sum(self.counts.values())


def _safe_name(name: str) -> str:
    """A file name for a resource name (resource names are already [A-Za-z0-9._-])."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return cleaned or "_"


def read_manifest(state_dir: Path) -> dict[str, Any] | None:
    """The manifest of the snapshot in ``state_dir`` (``None`` when there is none)."""
    try:
        data = json.loads((state_dir / FOLDER / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def remove_snapshot(state_dir: Path) -> None:
    """Delete the snapshot folder (and a half-written one)."""
    for name in (FOLDER, FOLDER + ".tmp"):
        shutil.rmtree(state_dir / name, ignore_errors=True)


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


# ---------------------------------------------------------------------- take
def _dynamodb_items(ddb: Any, table: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        resp = ddb.scan(**kwargs)
        yield from resp.get("Items", [])
        if "LastEvaluatedKey" not in resp:
            return
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def _sqs_messages(sqs: Any, url: str) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    while True:
        resp = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            WaitTimeSeconds=0,
            AttributeNames=["MessageGroupId", "MessageDeduplicationId"],
            MessageAttributeNames=["All"],
        )
        fresh = [m for m in resp.get("Messages") or [] if m["MessageId"] not in seen]
        if not fresh:
            return
        for m in fresh:
            seen.add(m["MessageId"])
            attrs = m.get("Attributes") or {}
            row: dict[str, Any] = {"body": m["Body"]}
            if m.get("MessageAttributes"):
                row["attributes"] = m["MessageAttributes"]
            if attrs.get("MessageGroupId"):
                row["group_id"] = attrs["MessageGroupId"]
            if attrs.get("MessageDeduplicationId"):
                row["dedup_id"] = attrs["MessageDeduplicationId"]
            yield row


def _s3_objects(s3: Any, bucket: str, blobs: Path) -> Iterator[dict[str, Any]]:
    token: dict[str, Any] = {}
    while True:
        resp = s3.list_objects_v2(Bucket=bucket, **token)
        for obj in resp.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=obj["Key"])
            body = bytes(got["Body"].read())
            digest = hashlib.sha256(body).hexdigest()
            blob = blobs / digest
            if not blob.exists():
                blob.write_bytes(body)
            yield {
                "key": obj["Key"],
                "sha256": digest,
                "content_type": got.get("ContentType") or "",
                "metadata": got.get("Metadata") or {},
            }
        if not resp.get("IsTruncated"):
            return
        token = {"ContinuationToken": resp["NextContinuationToken"]}


def _wait_until_visible(sqs: Any, urls: list[str], timeout: float) -> None:
    """Give messages a failed handler put back (short local back-off) time to be visible."""
    deadline = time.monotonic() + timeout
    while True:
        hidden = 0
        for url in urls:
            attrs = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
            ).get("Attributes", {})
            hidden += int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0) or 0)
        if not hidden:
            return
        if time.monotonic() >= deadline:
            log.warning("moto snapshot: %d queued message(s) in flight are not saved", hidden)
            return
        time.sleep(0.2)


def take_snapshot(
    client: ClientFactory,
    state_dir: Path,
    generation: str,
    *,
    skip_queues: frozenset[str] = frozenset(),
    settle_seconds: float = 2.0,
) -> SnapshotSummary:
    """Write moto's tables, objects and queued messages under ``state_dir/moto``.

    The previous snapshot is replaced only once the new one is complete.

    Parameters
    ----------
    client
        ``client("s3")`` etc.: boto3 clients bound to the moto server.
    state_dir
        The stack's state folder.
    generation
        The id of the run being stopped (written into the manifest).
    skip_queues
        Queue names not to save (the stack's own observer queue).
    settle_seconds
        How long to wait for in-flight messages (received, not yet deleted or made visible
        again) before reading the queues.
    """
    tmp = state_dir / (FOLDER + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("dynamodb", "sqs", "s3/blobs"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    ddb = client("dynamodb")
    for table in ddb.list_tables().get("TableNames", []):
        counts[f"dynamodb:{table}"] = _write_jsonl(
            tmp / "dynamodb" / f"{_safe_name(table)}.jsonl",
            ({"table": table, "item": item} for item in _dynamodb_items(ddb, table)),
        )
    sqs = client("sqs")
    urls = [
        u
        for u in sqs.list_queues().get("QueueUrls", [])
        if u.rstrip("/").rsplit("/", 1)[-1] not in skip_queues
    ]
    _wait_until_visible(sqs, urls, settle_seconds)
    for url in urls:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        counts[f"sqs:{name}"] = _write_jsonl(
            tmp / "sqs" / f"{_safe_name(name)}.jsonl",
            ({"queue": name, **m} for m in _sqs_messages(sqs, url)),
        )
    s3 = client("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        counts[f"s3:{name}"] = _write_jsonl(
            tmp / "s3" / f"{_safe_name(name)}.jsonl",
            ({"bucket": name, **o} for o in _s3_objects(s3, name, tmp / "s3" / "blobs")),
        )
    manifest = {
        "format": FORMAT,
        "generation": generation,
        "taken_at": time.time(),
        "counts": counts,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    final = state_dir / FOLDER
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    summary = SnapshotSummary(generation, counts)
    log.info("moto snapshot: %d item(s) in %d resource(s)", summary.total, len(counts))
    return summary


# ---------------------------------------------------------------------- restore
def _restore_tables(ddb: Any, folder: Path, summary: SnapshotSummary) -> None:
    existing = set(ddb.list_tables().get("TableNames", []))
    for path in sorted((folder / "dynamodb").glob("*.jsonl")):
        batch: list[dict[str, Any]] = []
        table = ""
        n = 0
        for row in _read_jsonl(path):
            table = str(row["table"])
            if table not in existing:
                summary.skipped[f"dynamodb:{table}"] = "table not in the template any more"
                break
            batch.append({"PutRequest": {"Item": row["item"]}})
            if len(batch) == 25:
                _write_batch(ddb, table, batch)
                n += len(batch)
                batch = []
        if batch and table in existing:
            _write_batch(ddb, table, batch)
            n += len(batch)
        if table and table in existing:
            summary.counts[f"dynamodb:{table}"] = n


def _write_batch(ddb: Any, table: str, batch: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: batch}
    for _ in range(10):
        resp = ddb.batch_write_item(RequestItems=pending)
        pending = resp.get("UnprocessedItems") or {}
        if not pending:
            return
    raise RuntimeError(f"DynamoDB kept {len(pending.get(table, []))} item(s) unprocessed")


def _given(row: Mapping[str, Any], **params: str) -> dict[str, Any]:
    """The API parameters (``Param="field"``) whose field is set in the saved ``row``."""
    return {param: row[field] for param, field in params.items() if row.get(field)}


def _restore_queues(sqs: Any, folder: Path, summary: SnapshotSummary) -> None:
    for path in sorted((folder / "sqs").glob("*.jsonl")):
        url = ""
        n = 0
        for row in _read_jsonl(path):
            name = str(row["queue"])
            if not url:
                try:
                    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
                except Exception:
                    summary.skipped[f"sqs:{name}"] = "queue not in the template any more"
                    break
            kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": row["body"]}
            if row.get("attributes"):
                kwargs["MessageAttributes"] = {
                    k: {kk: vv for kk, vv in v.items() if kk in _ATTRIBUTE_FIELDS}
                    for k, v in row["attributes"].items()
                }
            kwargs |= _given(row, MessageGroupId="group_id", MessageDeduplicationId="dedup_id")
            sqs.send_message(**kwargs)
            n += 1
        if url:
            summary.counts[f"sqs:{url.rsplit('/', 1)[-1]}"] = n


def _restore_objects(s3: Any, folder: Path, summary: SnapshotSummary) -> None:
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    blobs = folder / "s3" / "blobs"
    for path in sorted((folder / "s3").glob("*.jsonl")):
        n = 0
        bucket = ""
        for row in _read_jsonl(path):
            bucket = str(row["bucket"])
            if bucket not in existing:
                summary.skipped[f"s3:{bucket}"] = "bucket not in the template any more"
                break
            kwargs: dict[str, Any] = {
                "Bucket": bucket,
                "Key": row["key"],
                "Body": (blobs / str(row["sha256"])).read_bytes(),
            }
            kwargs |= _given(row, ContentType="content_type", Metadata="metadata")
            s3.put_object(**kwargs)
            n += 1
        if bucket and bucket in existing:
            summary.counts[f"s3:{bucket}"] = n


def restore_snapshot(client: ClientFactory, state_dir: Path) -> SnapshotSummary | None:
    """Put the snapshot's data back into the freshly provisioned moto server.

    Returns
    -------
    SnapshotSummary or None
        What was restored; ``None`` when there is no complete snapshot.
    """
    manifest = read_manifest(state_dir)
    if manifest is None:
        return None
    folder = state_dir / FOLDER
    summary = SnapshotSummary(str(manifest.get("generation", "")))
    _restore_tables(client("dynamodb"), folder, summary)
    _restore_objects(client("s3"), folder, summary)
    _restore_queues(client("sqs"), folder, summary)
    log.info(
        "moto snapshot restored: %d item(s), %d resource(s) skipped",
        summary.total,
        len(summary.skipped),
    )
    return summary
