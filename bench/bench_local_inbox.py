"""Local stack: web inbox pages over large state folders, and moto's snapshot at stop/start.

(a) Page rendering against reading the logs the page is built from (the baseline: what any
    page must do), at N and 2N records: the ratio of 2N to N shows the pages stay linear
    (about 2, not 4: no page may compare every inbound mail with every event).
(b) The snapshot taken at a clean stop and restored at the next start, against provisioning
    ``template.yaml`` (the baseline: what every start does anyway), for 500 DynamoDB items,
    100 S3 objects of 20 KB and 50 queued messages.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from bench.timing import best_of
from shopmail_local.stack.provision import local_credentials, provision_template
from shopmail_local.stack.snapshot import restore_snapshot, take_snapshot
from shopmail_local.stack.state import StateStore
from shopmail_local.stack.webinbox import WebApp, WebData

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


def _fill_state(root: Path, n: int) -> StateStore:
    state = StateStore(root)
    for i in range(n):
        order = f"ORD-{i % (n // 4 or 1)}"
        state.log_relay(
            {
                "ses_message_id": f"0102{i:012x}",
                "key": f"k{i}",
                "mail_from": "shop@shop.example",
                "rcpt_tos": [f"c{i}@example.org"],
                "subject": f"=?utf-8?q?Bestellbest=C3=A4tigung_{i}?=",
                "message_id": f"<sm.orderplaced.{order}.{i:016x}@shop.example>",
                "tags": {"order": [order]},
                "outbox": [f"c{i}@example.org"],
            }
        )
        if i % 2 == 0:
            state.log_inbound(
                {
                    "kind": "received",
                    "message_id": f"in{i}",
                    "mail_from": f"c{i}@example.org",
                    "recipients": ["orders@shop.example"],
                    "subject": f"Re: {order}",
                    "in_reply_to": f"<sm.orderplaced.{order}.{i:016x}@shop.example>",
                    "s3_keys": [["b", f"inbound/in{i}"]],
                    "verdicts": {},
                    "rules": [],
                }
            )
            state.log_inbound({"kind": "decision", "message_id": f"in{i}", "route": "orders"})
        for j in range(2):
            state.log_event(
                {
                    "source": "shop",
                    "event": {
                        "id": f"e{i}-{j}",
                        "source": "shopmail.inbound",
                        "detail-type": "CustomerReplied",
                        "detail": {"messageId": f"in{i}", "orderId": order},
                    },
                }
            )
    return state


def _pages(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        state = _fill_state(Path(tmp), n)
        app = WebApp(WebData(state=state))

        def read_logs() -> None:
            state.relay_log()
            state.inbound_log()
            state.event_log()

        baseline = best_of(read_logs, 3)
        out = {"read_logs_s": baseline}
        for name, fn in (
            ("index", lambda: app.index()),
            ("index_search", lambda: app.index("ord-1 c1")),
            ("inbound", lambda: app.inbound()),
            ("orders", lambda: app.orders()),
            ("order", lambda: app.order("ORD-1")),
            ("events", lambda: app.events()),
        ):
            t = best_of(fn, 3)
            out[f"{name}_s"] = t
            out[f"{name}_vs_read_logs"] = t / baseline
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _snapshot() -> dict[str, float]:
    import requests
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"

    key, secret = local_credentials()  # moto accepts any: fresh ones, none written down

    def client(service: str) -> Any:
        make: Any = boto3.client
        return make(service, region_name="eu-west-1", endpoint_url=endpoint,
                    aws_access_key_id=key, aws_secret_access_key=secret)  # fmt: skip

    try:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        start = time.perf_counter()
        out = provision_template(TEMPLATE, endpoint, credentials=(key, secret))
        provision = time.perf_counter() - start
        ddb, s3, sqs = client("dynamodb"), client("s3"), client("sqs")
        table = out.tables["SuppressionTable"]
        for i in range(500):
            ddb.put_item(TableName=table, Item={"address": {"S": f"a{i}@example.org"}})
        body = b"x" * 20_000
        for i in range(100):
            s3.put_object(
                Bucket=out.outputs["RawMailBucketName"],
                Key=f"inbound/{i}",
                Body=body + str(i).encode(),
            )
        for i in range(50):
            sqs.send_message(
                QueueUrl=out.dead_letter_queues["FeedbackDeadLetterQueue"],
                MessageBody=json.dumps({"i": i}),
            )
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            take_snapshot(client, Path(tmp), "bench", settle_seconds=0)
            take = time.perf_counter() - start
            requests.post(f"{endpoint}/moto-api/reset", timeout=10)
            provision_template(TEMPLATE, endpoint, credentials=(key, secret))
            start = time.perf_counter()
            restored = restore_snapshot(client, Path(tmp))
            restore = time.perf_counter() - start
        return {
            "provision_s": provision,
            "snapshot_s": take,
            "restore_s": restore,
            "restored_items": float(restored.total if restored else 0),
            "snapshot_vs_provision": take / provision,
            "restore_vs_provision": restore / provision,
        }
    finally:
        server.stop()


def main() -> dict[str, Any]:
    n = 1000
    small, large = _pages(n), _pages(2 * n)
    scaling = {
        f"{k.removesuffix('_s')}_2n_vs_n": large[k] / small[k] for k in small if k.endswith("_s")
    }
    return {
        f"pages_n{n}": small,
        f"pages_n{2 * n}": large,
        "scaling": scaling,
        "snapshot": _snapshot(),
    }
