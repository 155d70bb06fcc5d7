"""The fault harness: shop events and inbound mail through the real handlers under faults.

One :class:`FaultRig` holds a moto server (over HTTP), the SES-like relay (TCP, STARTTLS +
AUTH) with the plan's relay hook, and the resources of both flows. The real outbound and
inbound services are built by the bootstrap on clients that carry the plan's AWS faults
(:func:`~shopmail_local.faults.aws.faulty_factory`); the harness itself plays the platform
with clean clients:

* **outbound**: events go to the bus, a rule puts them in the queue; Lambda's SQS event source
  receives batches of 10, runs ``functions/outbound/app.py``'s ``handle``, deletes what did
  not fail (a handler exception fails the whole batch); the failed messages come back after
  their visibility timeout (the harness lets the time pass: visibility 0, the simulated clock
  of the idempotency records a step ahead). A handled message may be delivered again
  (``delivery.redeliver``: SQS is at-least-once).
* **inbound**: SES stores the raw mail in S3 and invokes ``functions/inbound/app.py``
  asynchronously: an error is retried twice (after 1 and 2 minutes, simulated), then the
  invocation's on-failure record goes to the inbound dead-letter queue with the error. A
  successful invocation may run again (``delivery.duplicate_invoke``).

When every input is settled, :func:`settle` reads what happened from the outside (the mail the
relay accepted, the events on the bus, the dead-letter queues, the idempotency records) and
classifies each input: ``sent`` (first delivery or after retries), ``ambiguous`` (the
connection was lost after the final dot: counted as sent and never resent, delivered or not),
``dead_lettered`` (with its reason), ``lost`` (none of these) and ``duplicates`` (more than one
mail for one business event or action).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from shopmail_local.faults.aws import faulty_factory
from shopmail_local.faults.plan import FaultPlan
from shopmail_local.faults.relay import RelayFaults

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
MAIL_DOMAIN = "shop.example"
BUS = "shop"
INVOICE_BUCKET = "shop-invoices"
RAW_BUCKET = "shop-raw-mail"
TEAM = "team@partner.example"
#: Shop events sent round-robin (each with its own recipient, so each is one business event).
EVENT_TYPES = (
    "OrderPlaced",
    "OrderShipped",
    "PaymentCaptured",
    "PasswordResetRequested",
    "InvoiceIssued",
)
#: The routes of the inbound run: a forward and an auto-reply through the relay.
ROUTES = Path(__file__).resolve().parent / "routes.toml"
#: Lambda's asynchronous retries: attempts and the (simulated) wait before each retry.
ASYNC_ATTEMPTS = 3
ASYNC_RETRY_WAITS = (60.0, 120.0)
#: The longest back-off of a failed SQS message (``retry_schedule``): one harness round.
ROUND_SECONDS = 901.0
MAX_ROUNDS = 150


# --- outcomes ------------------------------------------------------------------------------

OUTCOMES = (
    "sent_first",
    "sent_retried",
    "ambiguous_delivered",
    "ambiguous_undelivered",
    "dead_lettered",
    "dead_lettered_no_reason",
    "lost",
    "duplicates_unrecorded",
    "duplicates",
    "unsettled",
)


@dataclass
class FlowReport:
    """Outcomes of one flow (``outbound`` or ``inbound``)."""

    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_input: dict[str, str] = field(default_factory=dict)
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    handler_calls: int = 0
    rounds: int = 0

    def add(self, input_id: str, outcome: str) -> None:
        self.by_input[input_id] = outcome
        self.outcomes[outcome] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "outcomes": {k: self.outcomes.get(k, 0) for k in OUTCOMES},
            "dead_letter_reasons": dict(sorted(self.dead_letter_reasons.items())),
            "notes": dict(sorted(self.notes.items())),
            "handler_calls": self.handler_calls,
            "rounds": self.rounds,
        }


@dataclass
class HarnessReport:
    """The whole run: faults injected, outcomes per flow, faults x outcomes."""

    profile: str
    seed: int
    outbound: FlowReport
    inbound: FlowReport
    injected: Counter[str]
    matrix: dict[str, Counter[str]]
    seconds: float = 0.0

    def violations(self) -> list[str]:
        """What breaks the promise: lost input, a dead letter without a reason, a duplicate,
        an input never settled."""
        problems = []
        for name, flow in (("outbound", self.outbound), ("inbound", self.inbound)):
            for outcome in ("lost", "dead_lettered_no_reason", "duplicates", "unsettled"):
                if flow.outcomes.get(outcome):
                    problems.append(f"{name}: {flow.outcomes[outcome]} {outcome}")
            settled = sum(flow.outcomes.values())
            if settled != flow.inputs:
                problems.append(f"{name}: {settled} outcomes for {flow.inputs} inputs")
        return problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "seed": self.seed,
            "seconds": round(self.seconds, 1),
            "faults_injected": dict(sorted(self.injected.items())),
            "faults_total": sum(self.injected.values()),
            "outbound": self.outbound.to_dict(),
            "inbound": self.inbound.to_dict(),
            "faults_x_outcomes": {
                kind: {k: row.get(k, 0) for k in OUTCOMES if row.get(k, 0)}
                for kind, row in sorted(self.matrix.items())
            },
            "violations": self.violations(),
        }

    def table(self) -> str:
        """The report as Markdown tables."""
        short = {
            "sent_first": "sent",
            "sent_retried": "retried, sent",
            "ambiguous_delivered": "ambiguous, delivered",
            "ambiguous_undelivered": "ambiguous, not delivered",
            "dead_lettered": "dead-lettered (reason)",
            "dead_lettered_no_reason": "DLQ no reason",
            "lost": "lost",
            "duplicates_unrecorded": "doubled, record not written",
            "duplicates": "duplicates",
            "unsettled": "unsettled",
        }
        head = "| " + " | ".join(short[k] for k in OUTCOMES) + " |"
        rule = "|" + " --- |" * (len(OUTCOMES) + 2)
        lines = [
            f"fault profile `{self.profile}`, seed {self.seed}: "
            f"{self.outbound.inputs} shop events, {self.inbound.inputs} inbound mails, "
            f"{sum(self.injected.values())} faults injected, {self.seconds:.0f} s",
            "",
            "| flow | inputs " + head,
            rule,
        ]
        for name, flow in (("outbound", self.outbound), ("inbound", self.inbound)):
            cells = " | ".join(str(flow.outcomes.get(k, 0)) for k in OUTCOMES)
            lines.append(f"| {name} | {flow.inputs} | {cells} |")
        lines += ["", "| fault (kind) | injected " + head, rule]
        for kind in sorted(self.injected):
            row = self.matrix.get(kind, Counter())
            cells = " | ".join(str(row.get(k, 0)) for k in OUTCOMES)
            lines.append(f"| {kind} | {self.injected[kind]} | {cells} |")
        lines += [
            "",
            "Fault rows count the inputs in flight (the batch, the mail) when the fault was "
            "injected, by their final outcome.",
        ]
        for name, flow in (("outbound", self.outbound), ("inbound", self.inbound)):
            if flow.dead_letter_reasons:
                reasons = ", ".join(
                    f"{k}: {v}" for k, v in sorted(flow.dead_letter_reasons.items())
                )
                lines.append(f"{name} dead-letter reasons: {reasons}")
            if flow.notes:
                notes = ", ".join(f"{k}: {v}" for k, v in sorted(flow.notes.items()))
                lines.append(f"{name} notes: {notes}")
        problems = self.violations()
        lines.append("violations: " + ("; ".join(problems) if problems else "none"))
        return "\n".join(lines)


# --- the rig -------------------------------------------------------------------------------


class SimClock:
    """Wall time plus the time the harness let pass (visibility timeouts, Lambda retries)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class RecordingStore:
    """The idempotency store, noting the keys whose completion failed twice in a row: after
    a send, that is the documented window in which a later delivery may send again."""

    def __init__(self, inner: Any, unrecorded: set[str]) -> None:
        self.inner = inner
        self.unrecorded = unrecorded
        self._failed: Counter[str] = Counter()

    def begin(self, key: str, in_progress_seconds: float) -> bool:
        return bool(self.inner.begin(key, in_progress_seconds))

    def complete(self, key: str, data: Any = None) -> None:
        try:
            self.inner.complete(key, data)
        except Exception:
            self._failed[key] += 1
            if self._failed[key] >= 2:
                self.unrecorded.add(key)
            raise
        self._failed[key] = 0

    def release(self, key: str) -> None:
        self.inner.release(key)

    def data(self, key: str) -> Any:
        return self.inner.data(key)

    def complete_many(self, items: Any) -> None:
        keys = [key for key, _ in items]
        try:
            self.inner.complete_many(items)
        except Exception:
            self._note_failed(keys)
            raise
        for key in keys:
            self._failed[key] = 0

    def claim(self, key: str, lease_seconds: float) -> Any:
        return self.inner.claim(key, lease_seconds)

    def finish_all(self, finishes: Any, mentions: Any = None) -> None:
        keys = [finish[0] for finish in finishes]
        try:
            self.inner.finish_all(finishes, mentions)
        except Exception:
            self._note_failed(keys)
            raise
        for key in keys:
            self._failed[key] = 0

    @property
    def records_mentions(self) -> bool:
        return bool(getattr(self.inner, "records_mentions", False))

    def _note_failed(self, keys: list[str]) -> None:
        for key in keys:
            self._failed[key] += 1
            if self._failed[key] >= 2:
                self.unrecorded.add(key)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _quiet() -> Any:
    """Keep the functions' EMF metric lines (printed to stdout) out of the report."""
    import io

    return contextlib.redirect_stdout(io.StringIO())


def _load_app(name: str) -> Any:
    from shopmail_local.stack.lambda_runtime import load_handler

    handler = load_handler(REPO / "functions" / name, "app.lambda_handler")
    return __import__("sys").modules[handler.__module__]


@dataclass
class FaultRig:
    """moto + the relay + the resources of both flows (see the module docs)."""

    plan: FaultPlan
    endpoint: str
    relay: Any  # SesRelayServer
    ca_file: str
    queue_url: str = ""
    queue_arn: str = ""
    outbound_dlq: str = ""
    inbound_dlq: str = ""
    observed_url: str = ""
    secret_arn: str = ""
    routes_file: str = ""
    clock: SimClock = field(default_factory=SimClock)
    #: moto's and the relay's credentials (random, see ``local_credentials``).
    aws_credentials: tuple[str, str] = ("", "")
    relay_key: tuple[str, str] = ("", "")
    #: Idempotency keys whose record could not be completed (two failed writes in a row).
    unrecorded: set[str] = field(default_factory=set)

    def client(self, service: str) -> Any:
        """A clean client (the platform's side: no faults)."""
        make: Any = boto3.client
        return make(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.aws_credentials[0],
            aws_secret_access_key=self.aws_credentials[1],
        )

    def faulty(self, service: str) -> Any:
        """A client with the plan's AWS faults (what the functions use)."""
        return faulty_factory(self.client, self.plan)(service)

    # --- resources ---------------------------------------------------------------------

    def provision(self, work: Path) -> None:
        """Create the buckets, tables, queues, bus, rules and the SMTP secret."""
        s3, sqs, events, ddb, sm = (
            self.client(n) for n in ("s3", "sqs", "events", "dynamodb", "secretsmanager")
        )
        where = {"LocationConstraint": REGION}
        for bucket in (INVOICE_BUCKET, RAW_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=where)
        for table, key in (
            ("shopmail-idempotency", "id"),
            ("shopmail-suppression", "address"),
            ("shopmail-sent-mail", "ses_message_id"),
            ("shopmail-rate-limit", "id"),
        ):
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        events.create_event_bus(Name=BUS)
        from shopmail.domain.outbound.retry_schedule import DEFAULT_MAX_RECEIVES

        self.outbound_dlq = sqs.create_queue(QueueName="outbound-dlq")["QueueUrl"]
        self.inbound_dlq = sqs.create_queue(QueueName="inbound-dlq")["QueueUrl"]
        redrive = {
            "deadLetterTargetArn": self._arn(sqs, self.outbound_dlq),
            "maxReceiveCount": DEFAULT_MAX_RECEIVES,
        }
        self.queue_url = sqs.create_queue(
            QueueName="outbound",
            Attributes={"VisibilityTimeout": "360", "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        self.queue_arn = self._arn(sqs, self.queue_url)
        self.observed_url = sqs.create_queue(QueueName="observed")["QueueUrl"]
        for rule, pattern, url in (
            ("shop-to-outbound", {"source": ["shop"]}, self.queue_url),
            ("observe", {"source": ["shopmail.outbound", "shopmail.inbound"]}, self.observed_url),
        ):
            events.put_rule(Name=rule, EventBusName=BUS, EventPattern=json.dumps(pattern))
            events.put_targets(
                Rule=rule, EventBusName=BUS, Targets=[{"Id": "q", "Arn": self._arn(sqs, url)}]
            )
        self.secret_arn = sm.create_secret(
            Name="shopmail/smtp",
            SecretString=json.dumps(
                {"AccessKeyId": self.relay_key[0], "SecretAccessKey": self.relay_key[1]}
            ),
        )["ARN"]
        self.routes_file = str(ROUTES)

    @staticmethod
    def _arn(sqs: Any, url: str) -> str:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def settings(self) -> Any:
        """The settings of both functions."""
        from shopmail.config import Settings
        from shopmail.domain.outbound.retry_schedule import DEFAULT_MAX_RECEIVES

        values: dict[str, Any] = {
            "mail_domain": MAIL_DOMAIN,
            "region": REGION,
            "event_bus_name": BUS,
            "idempotency_table": "shopmail-idempotency",
            "suppression_table": "shopmail-suppression",
            "sent_mail_table": "shopmail-sent-mail",
            "rate_limit_table": "shopmail-rate-limit",
            "outbound_dlq_url": self.outbound_dlq,
            "inbound_dlq_url": self.inbound_dlq,
            "raw_mail_bucket": RAW_BUCKET,
            "routes_file": self.routes_file,
            "configuration_set": "shopmail",
            "smtp_host": self.relay.host,
            "smtp_port": self.relay.port,
            "smtp_ca_file": self.ca_file,
            "smtp_secret_arn": self.secret_arn,
            "smtp_timeout": 5.0,
            "smtp_max_rate": 0.0,
            "invoice_bucket": INVOICE_BUCKET,
            "invoice_key_prefix": "invoices/",
            "outbound_max_receive_count": DEFAULT_MAX_RECEIVES,
        }
        return Settings(**values)

    def store(self, settings: Any, *, ledger: bool = False) -> Any:
        """The idempotency store (outbound) or the action ledger (``ledger``: inbound) on the
        faulty client, with the simulated clock."""
        from shopmail.adapters.dynamodb_action_ledger import DynamoDbActionLedger
        from shopmail.adapters.dynamodb_idempotency import DynamoDbIdempotencyStore

        kind = DynamoDbActionLedger if ledger else DynamoDbIdempotencyStore
        inner = kind(
            self.faulty("dynamodb"),
            settings.idempotency_table,
            settings.idempotency_ttl_seconds,
            clock=self.clock,
        )
        return RecordingStore(inner, self.unrecorded)

    # --- reading the outcome -----------------------------------------------------------

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message body of a queue (JSON), deleted."""
        sqs = self.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            msgs = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
            ).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def dead_letters(self, url: str, kind: Any) -> list[Any]:
        """Every entry of a dead-letter queue, read as operators read them (then deleted)."""
        from shopmail.adapters.sqs_dead_letter_queue import SqsDeadLetterQueue

        queue = SqsDeadLetterQueue(self.client("sqs"), url, kind, wait_seconds=0)
        with queue.held(None) as messages:
            entries = [queue.read(m) for m in messages]
            for message in messages:
                queue.delete(message)
        return entries

    def idempotency_records(self) -> dict[str, dict[str, Any]]:
        """``id -> data`` of every COMPLETED idempotency record."""
        ddb = self.client("dynamodb")
        out: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"TableName": "shopmail-idempotency"}
        while True:
            page = ddb.scan(**kwargs)
            for item in page["Items"]:
                data = json.loads(item["data"]["S"]) if "data" in item else {}
                out[item["id"]["S"]] = {"status": item["status"]["S"], **data}
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@contextmanager
def fault_rig(plan: FaultPlan, endpoint: str | None = None) -> Iterator[FaultRig]:
    """A started :class:`FaultRig` (its own moto server unless ``endpoint`` is given; a
    given moto server is reset first)."""
    import requests

    from shopmail_local.certs import ensure_certs
    from shopmail_local.stack.provision import local_credentials
    from shopmail_local.stack.ses_relay import SesRelayServer, relay_credentials

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="shopmail-faults-") as tmp:
        work = Path(tmp)
        if endpoint is None:
            from moto.server import ThreadedMotoServer

            from shopmail_local.stack.runner import HOST

            port = _free_port()
            moto = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
            moto.start()
            stack.callback(moto.stop)
            endpoint = f"http://{HOST}:{port}"
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request lines
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        certs = ensure_certs(work / "certs")
        relay_key = local_credentials()
        relay = SesRelayServer(
            cert_file=certs.cert_file,
            key_file=certs.key_file,
            credentials=relay_credentials(*relay_key, REGION),
            port=0,
            region=REGION,
            faults=RelayFaults(plan),
        )
        relay.start()
        stack.callback(relay.stop)
        rig = FaultRig(
            plan,
            endpoint,
            relay,
            str(certs.ca_file),
            aws_credentials=local_credentials(),
            relay_key=relay_key,
        )
        rig.provision(work)
        yield rig


# --- inputs --------------------------------------------------------------------------------


def customer(n: int) -> str:
    """The recipient of shop event ``n`` (one business event per recipient)."""
    return f"c{n:05d}@customer.example"


def shop_events(rig: FaultRig, count: int) -> list[tuple[str, dict[str, Any]]]:
    """``(input id, PutEvents entry)`` of ``count`` shop events; invoice PDFs are uploaded."""
    samples = {
        name: json.loads((REPO / "events" / "outbound" / f"{name}.json").read_text("utf-8"))
        for name in EVENT_TYPES
    }
    s3 = rig.client("s3")
    out = []
    for n in range(count):
        name = EVENT_TYPES[n % len(EVENT_TYPES)]
        detail = json.loads(json.dumps(samples[name]["detail"]))
        detail["recipient"]["email"] = customer(n)
        if name == "InvoiceIssued":
            key = f"invoices/faults/RE-{n:05d}.pdf"
            detail["invoice"]["pdf"].update(bucket=INVOICE_BUCKET, key=key)
            s3.put_object(Bucket=INVOICE_BUCKET, Key=key, Body=b"%PDF-1.4 fault harness\n")
        entry = {
            "EventBusName": BUS,
            "Source": "shop",
            "DetailType": name,
            "Detail": json.dumps(detail),
        }
        out.append((customer(n), entry))
    return out


@dataclass(frozen=True)
class InboundMail:
    """One synthetic inbound mail (its token is in the subject and the SES message id)."""

    token: str
    route: str  # support | orders | rest
    sender: str
    recipient: str
    message_id: str
    raw: bytes


def inbound_mails(count: int) -> list[InboundMail]:
    """Half to support (forward + auto-reply), 30 % orders (an attachment), 20 % others."""
    out = []
    for n in range(count):
        token = f"FLT{n:06d}"
        route = ("support",) * 5 + ("orders",) * 3 + ("rest",) * 2
        kind = route[n % 10]
        local = {"support": "support", "orders": "orders", "rest": "hello"}[kind]
        sender = f"s{n:05d}@sender.example"
        recipient = f"{local}@{MAIL_DOMAIN}"
        head = (
            f"From: Kunde {n} <{sender}>\r\nTo: <{recipient}>\r\nSubject: Frage {token}\r\n"
            f"Date: Wed, 02 Dec 2026 08:00:00 +0000\r\nMessage-ID: <{token}@sender.example>\r\n"
            "MIME-Version: 1.0\r\n"
        )
        text = f"Hallo,\r\nwo ist meine Bestellung? ({token})\r\nGruss\r\n"
        if kind == "orders":
            raw = (
                head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "--b\r\n"
                'Content-Type: application/pdf; name="beleg.pdf"\r\n'
                'Content-Disposition: attachment; filename="beleg.pdf"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgZmF1bHQ=\r\n--b--\r\n"
            )
        else:
            raw = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text
        message_id = f"flt{n:06d}" + "0" * 28
        out.append(InboundMail(token, kind, sender, recipient, message_id, raw.encode()))
    return out


# --- the platform --------------------------------------------------------------------------


@dataclass
class _Trace:
    """What the platform saw per input."""

    failed: set[str] = field(default_factory=set)  # failed at least once (retried)
    attempts: Counter[str] = field(default_factory=Counter)
    handler_calls: int = 0
    rounds: int = 0
    unsettled: set[str] = field(default_factory=set)


def _recipient_of(body: str) -> str:
    try:
        return str(json.loads(body)["detail"]["recipient"]["email"])
    except (ValueError, KeyError, TypeError):
        return ""


def run_outbound(rig: FaultRig, count: int) -> _Trace:
    """Put ``count`` shop events on the bus and play Lambda's SQS event source until the
    queue is empty."""
    from shopmail.bootstrap.outbound import build_outbound_service

    from shopmail_local.stack.lambda_runtime import LambdaContext
    from shopmail_local.stack.plumbing import sqs_event

    settings = rig.settings()
    service = build_outbound_service(settings, rig.faulty)
    service.ports = replace(service.ports, idempotency=rig.store(settings))
    app = _load_app("outbound")
    events, sqs = rig.client("events"), rig.client("sqs")
    entries = shop_events(rig, count)
    for i in range(0, len(entries), 10):
        response = events.put_events(Entries=[e for _, e in entries[i : i + 10]])
        assert response["FailedEntryCount"] == 0, response
    trace = _Trace()
    redeliver = rig.plan.profile.delivery.redeliver
    for trace.rounds in range(1, MAX_ROUNDS + 1):
        held: list[str] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=rig.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            records = sqs_event(messages, rig.queue_arn, REGION)["Records"]
            ids = [_recipient_of(r["body"]) for r in records]
            context = LambdaContext(
                "shopmail-outbound", "arn:aws:lambda:::function:outbound", timeout_seconds=60
            )
            trace.handler_calls += 1
            with rig.plan.exposing(ids), _quiet():
                try:
                    response = app.handle({"Records": records}, service, context)
                    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
                except Exception as exc:  # Lambda: the whole batch comes back
                    log.warning("outbound handler raised %s", type(exc).__name__)
                    failed = {r["messageId"] for r in records}
                finally:
                    app.metrics.clear_metrics()
            for input_id, record in zip(ids, records, strict=True):
                trace.attempts[input_id] += 1
                if record["messageId"] in failed:
                    trace.failed.add(input_id)
                    held.append(record["receiptHandle"])
                    continue
                with rig.plan.exposing([input_id]):
                    again = rig.plan.chance(redeliver, "delivery:sqs-redeliver")
                if again:
                    held.append(record["receiptHandle"])
                else:
                    sqs.delete_message(
                        QueueUrl=rig.queue_url, ReceiptHandle=record["receiptHandle"]
                    )
        if not held:
            break
        rig.clock.advance(ROUND_SECONDS)  # the longest back-off passes
        for handle in held:
            # ClientError: received again meanwhile (its back-off ran out in real time)
            with contextlib.suppress(ClientError):
                sqs.change_message_visibility(
                    QueueUrl=rig.queue_url, ReceiptHandle=handle, VisibilityTimeout=0
                )
    else:
        for body in rig.drain(rig.queue_url):
            trace.unsettled.add(str(body.get("detail", {}).get("recipient", {}).get("email", "")))
    return trace


def run_inbound(rig: FaultRig, count: int) -> tuple[_Trace, list[InboundMail]]:
    """Store ``count`` mails in S3 and invoke the inbound function for each as SES does
    (asynchronously: two retries, then the on-failure destination)."""
    from shopmail.bootstrap.inbound import build_inbound_service
    from shopmail.domain.message import Verdicts

    from shopmail_local.stack.lambda_runtime import LambdaContext, destination_record
    from shopmail_local.stack.ses_inbound import build_ses_event

    settings = rig.settings()
    service = build_inbound_service(settings, rig.faulty)
    service.idempotency = rig.store(settings, ledger=True)
    app = _load_app("inbound")
    s3, sqs = rig.client("s3"), rig.client("sqs")
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:shopmail-inbound"
    mails = inbound_mails(count)
    trace = _Trace()
    duplicate = rig.plan.profile.delivery.duplicate_invoke
    for mail in mails:
        s3.put_object(
            Bucket=RAW_BUCKET, Key=settings.raw_mail_prefix + mail.message_id, Body=mail.raw
        )
        event = build_ses_event(
            raw=mail.raw,
            mail_from=mail.sender,
            rule_recipients=[mail.recipient],
            message_id=mail.message_id,
            verdicts=Verdicts("PASS", "PASS", "PASS", "PASS", "PASS"),
            function_arn=arn,
        )
        invocations = 1
        while invocations:
            invocations -= 1
            last: BaseException | None = None
            for attempt in range(ASYNC_ATTEMPTS):
                if attempt:
                    rig.clock.advance(ASYNC_RETRY_WAITS[attempt - 1])
                    trace.failed.add(mail.token)
                trace.attempts[mail.token] += 1
                trace.handler_calls += 1
                context = LambdaContext("shopmail-inbound", arn, timeout_seconds=30)
                with rig.plan.exposing([mail.token]), _quiet():
                    try:
                        app.handle(json.loads(json.dumps(event)), service, context)
                    except Exception as exc:
                        last = exc
                        continue
                    last = None
                    break
            if last is not None:
                record = destination_record(
                    function_arn=arn,
                    request_id=mail.token,
                    payload=event,
                    error=last,
                    attempts=ASYNC_ATTEMPTS,
                )
                sqs.send_message(QueueUrl=rig.inbound_dlq, MessageBody=json.dumps(record))
            elif invocations == 0:
                with rig.plan.exposing([mail.token]):
                    if rig.plan.chance(duplicate, "delivery:lambda-duplicate-invoke"):
                        invocations = 1
                        duplicate = 0.0 if duplicate >= 1 else duplicate
        duplicate = rig.plan.profile.delivery.duplicate_invoke
    return trace, mails


# --- settling ------------------------------------------------------------------------------


def _subject(raw: bytes) -> str:
    return str(BytesHeaderParser(policy=compat32).parsebytes(raw).get("Subject", ""))


def settle_outbound(
    rig: FaultRig, trace: _Trace, count: int, observed: list[dict[str, Any]]
) -> FlowReport:
    """Classify every shop event (see the module docs)."""
    from shopmail.domain.dead_letters import DeadLetterBody

    report = FlowReport(inputs=count, handler_calls=trace.handler_calls, rounds=trace.rounds)
    mails = Counter(
        r
        for m in rig.relay.messages
        for r in m.envelope.rcpt_tos
        if r.endswith("@customer.example")
    )
    sent_events: Counter[str] = Counter()
    ambiguous: set[str] = set()
    for event in observed:
        if event.get("source") != "shopmail.outbound":
            continue
        detail = event.get("detail", {})
        if event.get("detail-type") == "EmailSent":
            sent_events[str(detail.get("recipient"))] += 1
            if detail.get("ambiguous"):
                ambiguous.add(str(detail.get("recipient")))
    for key, data in rig.idempotency_records().items():
        if data.get("ambiguous") and key.count(":") >= 2:
            ambiguous.add(key.rsplit(":", 1)[1])
    dead: dict[str, Any] = {}
    for entry in rig.dead_letters(rig.outbound_dlq, DeadLetterBody.RECORD):
        dead[_recipient_of(entry.redrive_body or entry.body)] = entry
    unrecorded = {key.rsplit(":", 1)[1] for key in rig.unrecorded if ":" in key}
    for n in range(count):
        input_id = customer(n)
        sent = mails.get(input_id, 0)
        entry = dead.get(input_id)
        if sent > 1:
            outcome = "duplicates_unrecorded" if input_id in unrecorded else "duplicates"
        elif entry is not None and sent == 0:
            outcome = "dead_lettered" if entry.reason.strip() else "dead_lettered_no_reason"
            report.dead_letter_reasons[entry.code or "?"] += 1
        elif input_id in ambiguous:
            outcome = "ambiguous_delivered" if sent else "ambiguous_undelivered"
        elif sent == 1:
            outcome = "sent_retried" if input_id in trace.failed else "sent_first"
        elif input_id in trace.unsettled:
            outcome = "unsettled"
        else:
            outcome = "lost"
        if entry is not None and sent:
            report.notes["sent_and_dead_lettered"] += 1
        if outcome.startswith(("sent", "ambiguous")):
            announced = sent_events.get(input_id, 0)
            if announced == 0:
                report.notes["sent_not_announced"] += 1
            elif announced > 1:
                report.notes["EmailSent_published_again"] += 1
        report.add(input_id, outcome)
    return report


def settle_inbound(
    rig: FaultRig, trace: _Trace, mails: list[InboundMail], observed: list[dict[str, Any]]
) -> FlowReport:
    """Classify every inbound mail (see the module docs)."""
    import re

    from shopmail.domain.dead_letters import DeadLetterBody

    report = FlowReport(inputs=len(mails), handler_calls=trace.handler_calls)
    by_sender = {m.sender: m.token for m in mails}
    by_message_id = {m.message_id: m.token for m in mails}
    forwards: Counter[str] = Counter()
    replies: Counter[str] = Counter()
    token_re = re.compile(r"FLT\d{6}")
    for message in rig.relay.messages:
        for rcpt in message.envelope.rcpt_tos:
            if rcpt == TEAM:
                found = token_re.search(_subject(message.data))
                forwards[found.group(0) if found else "?"] += 1
            elif rcpt in by_sender:
                replies[by_sender[rcpt]] += 1
    published: Counter[str] = Counter()
    for event in observed:
        if event.get("source") == "shopmail.inbound":
            token = by_message_id.get(str(event.get("detail", {}).get("messageId")))
            if token is not None:
                published[token] += 1
    dead: dict[str, Any] = {}
    for entry in rig.dead_letters(rig.inbound_dlq, DeadLetterBody.INVOCATION):
        try:
            mid = json.loads(entry.redrive_body or "")["Records"][0]["ses"]["mail"]["messageId"]
        except (ValueError, KeyError, IndexError, TypeError):
            mid = ""
        dead[by_message_id.get(mid, "?")] = entry
    unrecorded = {
        by_message_id.get(key.split("#")[1], "?")
        for key in rig.unrecorded
        if key.startswith("inbound#")
    }
    lost_after_dot = rig.plan.exposed.get("relay:data:after-dot-lost", Counter())
    delivered_after_dot = rig.plan.exposed.get("relay:data:after-dot-delivered", Counter())
    for mail in mails:
        fwd, reply, events = forwards[mail.token], replies[mail.token], published[mail.token]
        relayed = mail.route == "support"
        done = events >= 1 and (not relayed or (fwd == 1 and reply == 1))
        entry = dead.get(mail.token)
        if fwd > 1 or reply > 1:
            outcome = "duplicates_unrecorded" if mail.token in unrecorded else "duplicates"
        elif done and mail.token in delivered_after_dot:
            outcome = "ambiguous_delivered"
        elif done:
            outcome = "sent_retried" if mail.token in trace.failed else "sent_first"
        elif entry is not None:
            outcome = "dead_lettered" if entry.reason.strip() else "dead_lettered_no_reason"
            report.dead_letter_reasons[entry.code or entry.origin.value] += 1
        elif relayed and events >= 1 and 2 - fwd - reply <= lost_after_dot[mail.token]:
            outcome = "ambiguous_undelivered"  # each missing mail lost its reply after the dot
        else:
            outcome = "lost"
        if events > 1:
            report.notes["event_published_again"] += 1
        report.add(mail.token, outcome)
    return report


def run_harness(
    events: int,
    mails: int,
    profile: str,
    seed: int,
    *,
    endpoint: str | None = None,
) -> HarnessReport:
    """Run ``events`` shop events and ``mails`` inbound mails under ``profile`` (see the module
    docs) and classify every input."""
    from shopmail.adapters.smtp_credentials import clear_cache

    plan = FaultPlan(profile, seed)
    started = time.monotonic()
    clear_cache()
    with fault_rig(plan, endpoint) as rig:
        out_trace = run_outbound(rig, events)
        in_trace, inbound = run_inbound(rig, mails)
        plan.enabled = False
        observed = rig.drain(rig.observed_url)
        outbound_report = settle_outbound(rig, out_trace, events, observed)
        inbound_report = settle_inbound(rig, in_trace, inbound, observed)
    clear_cache()
    outcome_of = {**outbound_report.by_input, **inbound_report.by_input}
    matrix: dict[str, Counter[str]] = defaultdict(Counter)
    for kind, inputs in plan.exposed.items():
        for input_id in inputs:
            if input_id in outcome_of:
                matrix[kind][outcome_of[input_id]] += 1
    return HarnessReport(
        plan.profile.name,
        seed,
        outbound_report,
        inbound_report,
        Counter(plan.injected),
        dict(matrix),
        time.monotonic() - started,
    )
