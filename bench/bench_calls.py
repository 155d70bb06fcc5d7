"""AWS calls and DynamoDB write units per unit of work, against a real moto server.

``template.yaml`` is provisioned into a moto server (the tables, bucket, bus and queues the
functions get); the inbound, outbound and feedback use cases are wired by ``shopmail.bootstrap``
from each function's environment, with a client factory whose clients count every call
(botocore's ``after-call`` event: one per HTTP request, failed ones included). The SMTP relay is
an in-process sender (no AWS call). Write units (WU) and read units (RU) are computed from the
requests as DynamoDB bills them: a write is ``ceil(item size / 1 KB)`` (a failed conditional
write too), a read ``ceil(size / 4 KB)`` (half of it when eventually consistent); updates,
deletes and reads whose size the request does not show count one unit each.

Units (the budgets are the targets of issue 13):

* ``inbound_support``: a support mail (publish, auto-reply) - budget 5 calls;
* ``inbound_redelivery``: the same SES event again - budget 1 call;
* ``outbound_per_mail``: per mail of a batch of 10 order confirmations - budget 2.5 calls;
* ``outbound_duplicate``: one of them delivered again - budget 1 call;
* ``feedback_per_event``: per SES delivery event of a batch of 10 - budget 3 calls;
* ``order_mail_with_delivery``: an order mail and its delivery feedback (the two above per
  mail) - budget 4 calls;
* ``offline_stack_order_mail``: the same counted black-box over the whole offline stack
  (``shopmail_local``: 10 shop events on the bus, the outbound function's SQS poller, the
  relay emulator, SES's delivery events, the feedback function's poller): every call of the
  functions' clients per order mail, the stack's own plumbing not counted - budget 4 calls.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import math
import socket
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "template.yaml"
EVENTS = REPO / "events"
REGION = "eu-west-1"

BUDGETS: dict[str, float] = {
    "offline_stack_order_mail": 4,
    "inbound_support": 5,
    "inbound_redelivery": 1,
    "outbound_per_mail": 2.5,
    "outbound_duplicate": 1,
    "feedback_per_event": 3,
    "order_mail_with_delivery": 4,
}

_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


def _size(value: Any) -> int:
    """Approximate DynamoDB size of an attribute value (bytes)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return 1
    ((kind, inner),) = value.items()
    if kind in ("S", "B"):
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        return math.ceil(len(str(inner)) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k) + _size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v)) for v in inner)
    return 1


def item_size(item: Mapping[str, Any]) -> int:
    """Approximate DynamoDB size of an item (attribute names and values)."""
    return sum(len(name.encode("utf-8")) + _size(v) for name, v in item.items())


def _wu(item: Mapping[str, Any] | None) -> int:
    return max(1, math.ceil(item_size(item) / 1024)) if item else 1


@dataclass
class Tally:
    """Calls (by ``service.Operation``), write units and read units."""

    calls: Counter[str] = field(default_factory=Counter)
    wu: float = 0.0
    ru: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def add(self, service: str, operation: str, params: Mapping[str, Any], parsed: Any) -> None:
        self.calls[f"{service}.{operation}"] += 1
        if service != "dynamodb":
            return
        if operation in _WRITES:
            self.wu += _wu(params.get("Item"))
        elif operation == "BatchWriteItem":
            unprocessed = (parsed or {}).get("UnprocessedItems") or {}
            for table, requests in (params.get("RequestItems") or {}).items():
                left = len(unprocessed.get(table, []))
                done = requests[: max(0, len(requests) - left)]
                for request in done:
                    put = request.get("PutRequest")
                    self.wu += _wu(put["Item"]) if put else 1
        elif operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                ((_, body),) = entry.items()
                self.wu += 2 * _wu(body.get("Item"))
        elif operation == "GetItem":
            item = (parsed or {}).get("Item")
            units = max(1, math.ceil(item_size(item) / 4096)) if item else 1
            self.ru += units if params.get("ConsistentRead") else units / 2
        elif operation == "BatchGetItem":
            for table, request in (params.get("RequestItems") or {}).items():
                found = (parsed or {}).get("Responses", {}).get(table, [])
                keys = len(request.get("Keys", []))
                units = sum(max(1, math.ceil(item_size(i) / 4096)) for i in found)
                units += max(0, keys - len(found))
                self.ru += units if request.get("ConsistentRead") else units / 2
        elif operation in ("Query", "Scan"):
            self.ru += 1


class Counting:
    """A client factory whose clients report every call to the current :class:`Tally`."""

    def __init__(self, endpoint: str, credentials: tuple[str, str]) -> None:
        import boto3

        self._session = boto3.session.Session(
            aws_access_key_id=credentials[0],
            aws_secret_access_key=credentials[1],
            region_name=REGION,
        )
        self._endpoint = endpoint
        self._clients: dict[str, Any] = {}
        self.tally = Tally()

    def __call__(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            client = self._session.client(service, endpoint_url=self._endpoint)  # type: ignore[call-overload]
            pending: dict[int, Mapping[str, Any]] = {}

            def before(params: Mapping[str, Any], context: Any, **_: Any) -> None:
                pending[id(context)] = copy.deepcopy(dict(params))

            def after(model: Any, parsed: Any, context: Any, **_: Any) -> None:
                params = pending.pop(id(context), {})
                self.tally.add(service, model.name, params, parsed)

            client.meta.events.register("provide-client-params", before)
            client.meta.events.register("after-call", after)
            self._clients[service] = client
        return client

    @contextmanager
    def measure(self) -> Iterator[Tally]:
        """Count the calls made inside the block."""
        self.tally = Tally()
        yield self.tally
        self.tally = Tally()


class RecordingRelay:
    """An in-process relay: accepts every mail, keeps it, answers with an SES-like id."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[str, ...], bytes, str]] = []

    @contextmanager
    def session(self) -> Iterator[RecordingRelay]:
        yield self

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        ses_id = f"0102019bench{len(self.sent):04d}-0000-0000-0000-000000000000-000000"
        self.sent.append((envelope_from, tuple(recipients), message, ses_id))
        return ses_id


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(out: Any, logical_id: str, **overrides: Any) -> Any:
    from shopmail.config import Settings

    env = dict(out.functions[logical_id].environment)
    env["AWS_ENDPOINT_URL"] = ""
    return Settings.from_env(env, **overrides)


def _per(tally: Tally, n: int) -> dict[str, Any]:
    return {
        "calls": round(tally.total / n, 2),
        "wu": round(tally.wu / n, 2),
        "ru": round(tally.ru / n, 2),
        "by_call": {k: round(v / n, 2) for k, v in sorted(tally.calls.items())},
    }


def _order_records(n: int) -> list[dict[str, Any]]:
    sample = json.loads((EVENTS / "outbound" / "OrderPlaced.json").read_text("utf-8"))
    records = []
    for i in range(n):
        event = copy.deepcopy(sample)
        event["id"] = f"bench-order-{i:04d}"
        event["detail"]["order"]["id"] = f"ORD-{9000 + i}"
        event["detail"]["recipient"]["email"] = f"kunde{i}@example.org"
        records.append(
            {
                "messageId": f"sqs-{i}",
                "receiptHandle": f"rh-{i}",
                "body": json.dumps(event),
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:outbound",
            }
        )
    return records


def _delivery_records(relay: RecordingRelay, configuration_set: str) -> list[dict[str, Any]]:
    """The SES ``Delivery`` event of each relayed mail as SES publishes it (SQS records)."""
    records = []
    for i, (source, rcpts, raw, ses_id) in enumerate(relay.sent):
        mail = message_from_bytes(raw)
        tags: dict[str, list[str]] = {"ses:configuration-set": [configuration_set]}
        for part in str(mail.get("X-SES-MESSAGE-TAGS", "")).split(","):
            name, _, value = part.strip().partition("=")
            if name:
                tags.setdefault(name, []).append(value)
        headers = [
            {"name": n, "value": str(v)}
            for n, v in mail.items()
            if not n.upper().startswith("X-SES-")
        ]
        event = {
            "version": "0",
            "id": f"eb-delivery-{i}",
            "detail-type": "Email Delivered",
            "source": "aws.ses",
            "time": "2026-11-28T10:00:05Z",
            "region": REGION,
            "detail": {
                "eventType": "Delivery",
                "mail": {
                    "timestamp": "2026-11-28T10:00:00.000Z",
                    "source": source,
                    "messageId": ses_id,
                    "destination": list(rcpts),
                    "headersTruncated": False,
                    "headers": headers,
                    "commonHeaders": {"messageId": f"<{ses_id}@eu-west-1.amazonses.com>"},
                    "tags": tags,
                },
                "delivery": {
                    "timestamp": "2026-11-28T10:00:02.000Z",
                    "recipients": list(rcpts),
                    "smtpResponse": "250 2.0.0 OK",
                },
            },
        }
        records.append({"messageId": f"fb-{i}", "receiptHandle": "x", "body": json.dumps(event)})
    return records


def measure() -> dict[str, dict[str, Any]]:
    """Run every unit once against a fresh moto server; return the figures per unit."""
    import requests
    from moto.server import ThreadedMotoServer
    from shopmail.bootstrap.feedback import build_feedback_service
    from shopmail.bootstrap.inbound import build_inbound_service
    from shopmail.bootstrap.outbound import build_outbound_service

    from shopmail_local.stack.provision import local_credentials, provision_template

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        credentials = local_credentials()
        out = provision_template(TEMPLATE, endpoint, credentials=credentials)
        aws = Counting(endpoint, credentials)
        results: dict[str, dict[str, Any]] = {}

        # --- inbound: a support mail, then the same event again
        relay = RecordingRelay()
        inbound_settings = _settings(out, "InboundFunction")
        inbound = build_inbound_service(inbound_settings, aws, mail_sender=relay)
        event = json.loads((EVENTS / "inbound" / "support.json").read_text("utf-8"))
        mid = event["Records"][0]["ses"]["mail"]["messageId"]
        aws("s3").put_object(
            Bucket=inbound_settings.raw_mail_bucket,
            Key=f"{inbound_settings.raw_mail_prefix}{mid}",
            Body=(EVENTS / "inbound" / "support.eml").read_bytes(),
        )
        with aws.measure() as tally:
            first = inbound.handle_event(copy.deepcopy(event)).to_dict()
        results["inbound_support"] = {**_per(tally, 1), "actions": first["actions"]}
        with aws.measure() as tally:
            again = inbound.handle_event(copy.deepcopy(event)).to_dict()
        results["inbound_redelivery"] = {**_per(tally, 1), "duplicates": again["duplicates"]}

        # --- outbound: a batch of 10, then one of them again
        relay = RecordingRelay()
        outbound_settings = _settings(out, "OutboundFunction")
        outbound = build_outbound_service(outbound_settings, aws, relay=relay.session)
        records = _order_records(10)
        with aws.measure() as tally:
            batch = outbound.handle_batch(records)
        sent = batch.counts["sent"]
        results["outbound_per_mail"] = {**_per(tally, 10), "sent": sent}
        with aws.measure() as tally:
            dup = outbound.handle_batch(records[:1])
        results["outbound_duplicate"] = {**_per(tally, 1), "duplicate": dup.counts["duplicate"]}

        # --- feedback: the delivery event of each of the 10 mails, in one batch
        feedback_settings = _settings(out, "FeedbackFunction")
        feedback = build_feedback_service(feedback_settings, aws)
        deliveries = _delivery_records(relay, outbound_settings.configuration_set)
        with aws.measure() as tally:
            fb = feedback.handle_batch(deliveries)
        results["feedback_per_event"] = {**_per(tally, len(deliveries)), "processed": fb.processed}

        per_mail = results["outbound_per_mail"]
        per_event = results["feedback_per_event"]
        results["order_mail_with_delivery"] = {
            "calls": round(per_mail["calls"] + per_event["calls"], 2),
            "wu": round(per_mail["wu"] + per_event["wu"], 2),
            "ru": round(per_mail["ru"] + per_event["ru"], 2),
        }
        results["offline_stack_order_mail"] = measure_stack()
        for name, row in results.items():
            budget = BUDGETS[name]
            row["budget_calls"] = budget
            row["ok"] = row["calls"] <= budget
        return results
    finally:
        server.stop()


def measure_stack(mails: int = 10, timeout: float = 60.0) -> dict[str, Any]:
    """Send ``mails`` order events through the offline stack; count the functions' calls."""
    import tempfile
    import threading
    import time

    from shopmail.bootstrap import clients as layer_clients

    from shopmail_local.stack.runner import LocalStack, RunConfig

    tally = Tally()
    lock = threading.Lock()
    factory = layer_clients.default_client_factory

    def counting_factory(endpoint_url: str | None = None, region: str | None = None) -> Any:
        make = factory(endpoint_url, region)

        def counted(service: str) -> Any:
            client = make(service)
            pending: dict[int, Mapping[str, Any]] = {}

            def before(params: Mapping[str, Any], context: Any, **_: Any) -> None:
                pending[id(context)] = copy.deepcopy(dict(params))

            def after(model: Any, parsed: Any, context: Any, **_: Any) -> None:
                with lock:
                    tally.add(service, model.name, pending.pop(id(context), {}), parsed)

            client.meta.events.register("provide-client-params", before)
            client.meta.events.register("after-call", after)
            return client

        return counted

    ports = [_free_port() for _ in range(5)]
    with tempfile.TemporaryDirectory() as state:
        config = RunConfig(
            state_dir=Path(state),
            moto_port=ports[0],
            inbound_port=ports[1],
            relay_port=ports[2],
            web_port=ports[3],
            unsubscribe_port=ports[4],
            start_web=False,
            persist=False,
            batching_windows=True,  # Lambda's batches (MaximumBatchingWindowInSeconds)
        )
        layer_clients.default_client_factory = counting_factory  # type: ignore[assignment]
        quiet = contextlib.redirect_stdout(io.StringIO())  # the functions' JSON log lines
        try:
            with quiet, warnings.catch_warnings(), LocalStack(config) as stack:
                warnings.simplefilter("ignore")
                bus = stack.client("events")
                sample = json.loads((EVENTS / "outbound" / "OrderPlaced.json").read_text("utf-8"))
                entries = []
                for i in range(mails):
                    detail = copy.deepcopy(sample["detail"])
                    detail["order"]["id"] = f"ORD-{8000 + i}"
                    detail["recipient"]["email"] = f"kunde{i}@example.org"
                    entries.append(
                        {
                            "EventBusName": "shop",
                            "Source": sample["source"],
                            "DetailType": sample["detail-type"],
                            "Detail": json.dumps(detail),
                        }
                    )
                bus.put_events(Entries=entries)
                deadline = time.monotonic() + timeout
                delivered: list[Any] = []
                while time.monotonic() < deadline:
                    delivered = [
                        r
                        for r in stack.state.event_log()
                        if r["event"].get("detail-type") == "EmailDelivered"
                    ]
                    if len(delivered) >= mails:
                        break
                    time.sleep(0.2)
                time.sleep(1.0)  # let the last completions land
                with lock:
                    counted = copy.deepcopy(tally)
        finally:
            layer_clients.default_client_factory = factory  # type: ignore[assignment]
    return {**_per(counted, mails), "delivered": len(delivered)}


def table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The results as a text table (unit, calls, WU, RU, budget, ok/over)."""
    lines = [f"{'unit':<26} {'calls':>6} {'WU':>6} {'RU':>6} {'budget':>7}  verdict"]
    for name, row in results.items():
        verdict = "ok" if row["ok"] else "OVER"
        lines.append(
            f"{name:<26} {row['calls']:>6} {row['wu']:>6} {row['ru']:>6} "
            f"{row['budget_calls']:>7}  {verdict}"
        )
    return "\n".join(lines)


def main() -> dict[str, Any]:
    """Measure, print the table, return the figures."""
    results = measure()
    print(table(results), flush=True)
    return results


if __name__ == "__main__":
    main()
