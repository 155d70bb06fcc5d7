"""The scripted tour of ``shopmail demo`` against a running local stack (``make run``).

Four steps, each observed through the stack's state folder (``.local/``: relay, inbound and
bus-event logs), the moto server (S3 attachments, the suppression table) and the web inbox:

1. **order**: an ``OrderPlaced`` event (``events/outbound/OrderPlaced.json`` with a fresh order
   id) goes on the shop bus exactly as ``shopmail send-event`` puts it; the order confirmation
   must appear in the outbox (relayed by the outbound handler).
2. **reply**: the customer replies to the confirmation (``In-Reply-To``/``References`` = its
   shopmail Message-ID) to ``orders@<domain>`` over SMTP into the SES-inbound emulator; it must
   be routed ``customer-reply`` with the order id and published as ``CustomerReplied``.
3. **return**: a return request with a PDF attachment to ``returns@<domain>``; it must be
   published as ``ReturnMailReceived`` and the attachment stored in S3.
4. **bounce**: an order event whose recipient is ``bounce@simulator.amazonses.com``; the relay's
   bounce must reach the feedback handler, which writes a suppression entry.

Every wait has a timeout; a step whose server part is missing fails with a reason and a hint.
"""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Any, TypeVar

from shopmail.domain.outbound.message_ids import make_message_id, parse_message_id

from shopmail_local.cli.common import to_entry
from shopmail_local.stack.state import StateStore

REPO = Path(__file__).resolve().parents[1]
ORDER_EVENT = REPO / "events" / "outbound" / "OrderPlaced.json"
TEMPLATE_ORDER_ID = "ORD-100234"
TEMPLATE_ORDER_NUMBER = "100234"
BOUNCE_ADDRESS = "bounce@simulator.amazonses.com"
CUSTOMER_FALLBACK = "juergen.mueller@example.com"
# A small but real PDF (the return label of step 3).
RETURN_LABEL = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
OUTBOUND_HINT = "is functions/outbound/app.py there (see the `shopmail run` banner)?"
FEEDBACK_HINT = "is functions/feedback/app.py there (see the `shopmail run` banner)?"

T = TypeVar("T")


@dataclass(frozen=True)
class DemoConfig:
    """Where the running stack is (defaults: ``make run``)."""

    endpoint: str = "http://127.0.0.1:4566"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    inbox_url: str = "http://127.0.0.1:8025"
    state_dir: Path = REPO / ".local"
    ca_file: Path | None = None  # default: <state_dir>/certs/ca.pem when it exists
    domain: str = ""  # default: the SES domain identity in moto, else shop.example
    bus: str = "shop"
    region: str = "eu-west-1"
    timeout: float = 30.0
    event_file: Path = ORDER_EVENT
    #: The moto server's credentials (default: the stack file's, else the environment's).
    credentials: tuple[str, str] | None = None


@dataclass(frozen=True)
class StepResult:
    """The outcome of one demo step."""

    name: str
    ok: bool
    summary: str
    facts: dict[str, Any] = field(default_factory=dict)


class StepFailedError(Exception):
    """A step's expectation was not met (the message says what and why)."""


def wait_for(check: Callable[[], T | None], timeout: float, interval: float = 0.25) -> T | None:
    """Call ``check`` until it returns something truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


class Demo:
    """The tour; :meth:`run` performs every step and returns their results.

    Parameters
    ----------
    config
        Where the stack is.
    echo
        Receives one line per thing that happened (default: ``print``).
    """

    def __init__(self, config: DemoConfig, echo: Callable[[str], object] = print) -> None:
        self.config = config
        self.echo = echo
        self.run_id = f"{int(time.time() * 1000) % 10**9:09d}"
        self.state: StateStore | None = None
        self.domain = config.domain
        self.confirmation: dict[str, Any] = {}
        self.order_id = ""

    # ------------------------------------------------------------------ clients
    def client(self, service: str) -> Any:
        """A boto3 client bound to the stack's moto server."""
        import boto3

        from shopmail_local.stack.stack_file import read_stack_file

        kwargs: dict[str, Any] = {
            "region_name": self.config.region,
            "endpoint_url": self.config.endpoint,
        }
        credentials = self.config.credentials
        if credentials is None:
            found = read_stack_file(self.config.state_dir)
            credentials = found.credentials if found is not None else None
        if credentials and all(credentials):
            kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = credentials
        make: Any = boto3.client
        return make(service, **kwargs)

    def _store(self) -> StateStore:
        if self.state is None:
            raise StepFailedError("the stack's state folder is not open")
        return self.state

    # ------------------------------------------------------------------ run
    def run(self) -> list[StepResult]:
        """Run the preflight check and the four steps; never raises for a failed step."""
        results: list[StepResult] = []
        steps: list[tuple[str, Callable[[], StepResult]]] = [
            ("stack", self.step_preflight),
            ("order", self.step_order),
            ("reply", self.step_reply),
            ("return", self.step_return),
            ("bounce", self.step_bounce),
        ]
        for name, step in steps:
            self.echo(f"== {name}")
            try:
                result = step()
            except StepFailedError as exc:
                result = StepResult(name, False, str(exc))
            except Exception as exc:  # a broken stack must not crash the tour
                result = StepResult(name, False, f"{type(exc).__name__}: {exc}")
            results.append(result)
            self.echo(f"   {'OK  ' if result.ok else 'FAIL'} {result.summary}")
            if name == "stack" and not result.ok:
                break
        passed = sum(r.ok for r in results)
        self.echo(f"== {passed}/{len(steps)} steps passed")
        return results

    # ------------------------------------------------------------------ steps
    def step_preflight(self) -> StepResult:
        """The moto server, the SMTP port and the state folder must be there."""
        cfg = self.config
        url = urllib.parse.urlsplit(cfg.endpoint)
        for what, host, port in (
            ("AWS APIs (moto)", url.hostname or "127.0.0.1", url.port or 80),
            ("SES inbound SMTP", cfg.smtp_host, cfg.smtp_port),
        ):
            try:
                socket.create_connection((host, port), timeout=3).close()
            except OSError as exc:
                raise StepFailedError(
                    f"{what} at {host}:{port} is not reachable ({exc}); start the stack with "
                    "`make run`"
                ) from exc
        if not (cfg.state_dir / "relay").is_dir():
            raise StepFailedError(
                f"{cfg.state_dir} is not the state folder of a running stack (pass --state)"
            )
        self.state = StateStore(cfg.state_dir)
        if not self.domain:
            self.domain = self._discover_domain()
        self.echo(f"   stack at {cfg.endpoint}, SMTP {cfg.smtp_host}:{cfg.smtp_port}")
        self.echo(f"   mail domain {self.domain}, state {cfg.state_dir}")
        return StepResult("stack", True, "stack is up", {"domain": self.domain})

    def step_order(self) -> StepResult:
        """Put an OrderPlaced event on the bus; wait for the confirmation in the outbox."""
        self.order_id = f"ORD-{self.run_id}"
        event = self._order_event(self.order_id, self.run_id)
        customer = str(event["detail"]["recipient"]["email"])
        started = time.time()
        event_id = self._put_event(event)
        self.echo(f"   OrderPlaced {self.order_id} -> bus {self.config.bus}: {event_id}")
        record = wait_for(
            lambda: self._relayed(started, self.order_id, customer), self.config.timeout
        )
        if record is None:
            raise StepFailedError(
                f"no order confirmation for {self.order_id} was relayed within "
                f"{self.config.timeout:.0f}s; {OUTBOUND_HINT}"
            )
        self.confirmation = record
        self.echo(f"   relayed: {record.get('subject', '')!r} {record.get('message_id', '')}")
        if customer not in (record.get("outbox") or []):
            raise StepFailedError(f"the confirmation was relayed but not to the outbox: {record}")
        stored = wait_for(lambda: self._outbox_has(str(record.get("message_id", ""))), 5)
        if not stored:
            raise StepFailedError("the confirmation is in the relay log but not in the outbox")
        facts = {
            "order_id": self.order_id,
            "message_id": record.get("message_id"),
            "subject": record.get("subject"),
            "key": record.get("key"),
        }
        link = self._inbox_link(str(record.get("key", "")))
        if link:
            facts["inbox"] = link
            self.echo(f"   web inbox: {link}")
        return StepResult(
            "order", True, f"order confirmation for {self.order_id} is in the outbox", facts
        )

    def step_reply(self) -> StepResult:
        """Reply to the confirmation as the customer; expect ``customer-reply`` + order id."""
        order_id = self.order_id or f"ORD-{self.run_id}"
        original = str(self.confirmation.get("message_id", ""))
        note = ""
        if not original:
            # Without a confirmation (step 1 failed) the routing can still be shown: reply to
            # a Message-ID in the outbound format, as the confirmation would carry.
            original = make_message_id("OrderPlaced", order_id, f"demo:{self.run_id}", self.domain)
            note = " (no confirmation: replied to a synthetic shopmail Message-ID)"
        customer = self._confirmation_recipient() or CUSTOMER_FALLBACK
        msg = EmailMessage()
        msg["From"] = customer
        msg["To"] = f"orders@{self.domain}"
        subject = str(self.confirmation.get("subject") or f"Ihre Bestellung {order_id}")
        msg["Subject"] = "Re: " + subject
        msg["Message-ID"] = make_msgid("demo-reply", domain=customer.rpartition("@")[2])
        msg["In-Reply-To"] = original
        msg["References"] = original
        msg.set_content(
            "Hallo, kann ich die Lieferadresse noch ändern?\n\n"
            f"> Vielen Dank für Ihre Bestellung {order_id}.\n"
        )
        ses_id = self.deliver(msg, customer, [f"orders@{self.domain}"])
        self.echo(f"   reply delivered to orders@{self.domain}: SES id {ses_id}")
        decision = self._wait_decision(ses_id)
        event = self._wait_event(ses_id, "CustomerReplied")
        if decision.get("route") != "customer-reply":
            raise StepFailedError(f"routed {decision.get('route')!r}, expected 'customer-reply'")
        detail = event.get("detail") or {}
        if detail.get("orderId") != order_id:
            raise StepFailedError(
                f"CustomerReplied carries order id {detail.get('orderId')!r}, expected {order_id}"
            )
        ref = parse_message_id(original)
        return StepResult(
            "reply",
            True,
            f"reply routed customer-reply, CustomerReplied with order id {order_id}{note}",
            {
                "ses_message_id": ses_id,
                "route": decision.get("route"),
                "order_id": detail.get("orderId"),
                "in_reply_to": original,
                "reply_kind": ref.kind if ref else "",
                "synthetic": bool(note),
            },
        )

    def step_return(self) -> StepResult:
        """Send a return request with a PDF; expect ``ReturnMailReceived`` + the stored PDF."""
        customer = "j.smith@example.net"
        order_id = f"ORD-{self.run_id}"
        msg = EmailMessage()
        msg["From"] = f"John Smith <{customer}>"
        msg["To"] = f"returns@{self.domain}"
        msg["Subject"] = f"Return request for order {order_id}"
        msg["Message-ID"] = make_msgid("demo-return", domain="example.net")
        msg.set_content(f"Hello, I would like to return order {order_id}. Label attached.\n")
        msg.add_attachment(
            RETURN_LABEL, maintype="application", subtype="pdf", filename="return-label.pdf"
        )
        ses_id = self.deliver(msg, customer, [f"returns@{self.domain}"])
        self.echo(f"   return delivered to returns@{self.domain}: SES id {ses_id}")
        decision = self._wait_decision(ses_id)
        event = self._wait_event(ses_id, "ReturnMailReceived")
        detail = event.get("detail") or {}
        attachments = detail.get("attachments") or []
        keys = [str(a["s3Key"]) for a in attachments if a.get("s3Key")]
        if not keys:
            raise StepFailedError(f"ReturnMailReceived lists no stored attachment: {attachments}")
        found = self._find_object(keys[0])
        if found is None:
            raise StepFailedError(f"attachment key {keys[0]} is not in any bucket")
        bucket, body = found
        if body != RETURN_LABEL:
            raise StepFailedError(f"s3://{bucket}/{keys[0]} differs from the attached PDF")
        self.echo(f"   attachment stored: s3://{bucket}/{keys[0]}")
        return StepResult(
            "return",
            True,
            f"return routed {decision.get('route')}, ReturnMailReceived, attachment in S3",
            {
                "ses_message_id": ses_id,
                "route": decision.get("route"),
                "order_ids": detail.get("orderNumbers"),
                "attachment": f"s3://{bucket}/{keys[0]}",
            },
        )

    def step_bounce(self) -> StepResult:
        """Send an order mail to the bounce simulator; expect a suppression entry."""
        table = self._suppression_table()
        ddb = self.client("dynamodb")
        earlier = self._suppressed(ddb, table)
        if earlier:
            # An earlier run left it: remove it so this run shows the whole path again.
            ddb.delete_item(TableName=table, Key={"address": earlier["address"]})
            self.echo(f"   removed the entry an earlier run left in {table}")
        order_id = f"ORD-{self.run_id}9"
        event = self._order_event(order_id, self.run_id + "9", recipient=BOUNCE_ADDRESS)
        started = time.time()
        event_id = self._put_event(event)
        self.echo(f"   OrderPlaced {order_id} for {BOUNCE_ADDRESS} -> bus: {event_id}")
        record = wait_for(
            lambda: self._relayed(started, order_id, BOUNCE_ADDRESS), self.config.timeout
        )
        if record is None:
            raise StepFailedError(
                f"no mail to {BOUNCE_ADDRESS} was relayed within {self.config.timeout:.0f}s; "
                + OUTBOUND_HINT
            )
        ses_id = str(record.get("ses_message_id", ""))
        self.echo(f"   relayed to the simulator: SES id {ses_id}")
        bounce = wait_for(lambda: self._ses_event(ses_id, "Email Bounced"), 10)
        if bounce is None:
            raise StepFailedError(f"the relay published no bounce event for {ses_id}")
        self.echo("   SES bounce event on the default bus (-> feedback queue)")
        entry = wait_for(lambda: self._suppressed(ddb, table), self.config.timeout)
        if entry is None:
            raise StepFailedError(
                f"no suppression entry for {BOUNCE_ADDRESS} in {table} within "
                f"{self.config.timeout:.0f}s; {FEEDBACK_HINT}"
            )
        self.echo(f"   suppression entry: {sorted(entry)}")
        return StepResult(
            "bounce",
            True,
            f"{BOUNCE_ADDRESS} bounced and is on the suppression list",
            {"ses_message_id": ses_id, "table": table, "entry": entry},
        )

    # ------------------------------------------------------------------ actions
    def deliver(self, msg: EmailMessage, mail_from: str, rcpts: Iterable[str]) -> str:
        """Send ``msg`` into the SES-inbound emulator (STARTTLS when a CA file exists).

        Returns the SES message id from the ``250`` reply.
        """
        cfg = self.config
        ca = cfg.ca_file or cfg.state_dir / "certs" / "ca.pem"
        try:
            with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=30) as smtp:
                smtp.ehlo("shopmail-demo")
                if ca.exists() and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context(cafile=str(ca)))
                    smtp.ehlo("shopmail-demo")
                smtp.mail(mail_from)
                for rcpt in rcpts:
                    code, text = smtp.rcpt(rcpt)
                    if code >= 400:
                        raise StepFailedError(
                            f"RCPT {rcpt}: {code} {text.decode(errors='replace')}"
                        )
                code, text = smtp.data(msg.as_bytes())
        except (OSError, smtplib.SMTPException) as exc:
            raise StepFailedError(f"cannot deliver over SMTP: {exc}") from exc
        reply = text.decode(errors="replace")
        if code != 250:
            raise StepFailedError(f"DATA: {code} {reply}")
        return reply.split()[-1]

    def _put_event(self, event: dict[str, Any]) -> str:
        resp = self.client("events").put_events(Entries=[to_entry(event, self.config.bus)])
        result = resp["Entries"][0]
        if "EventId" not in result:
            raise StepFailedError(f"PutEvents failed: {result.get('ErrorMessage')}")
        return str(result["EventId"])

    def _order_event(
        self, order_id: str, number: str, *, recipient: str | None = None
    ) -> dict[str, Any]:
        text = self.config.event_file.read_text(encoding="utf-8")
        text = text.replace(TEMPLATE_ORDER_ID, order_id).replace(TEMPLATE_ORDER_NUMBER, number)
        event: dict[str, Any] = json.loads(text)
        if recipient is not None:
            event["detail"]["recipient"]["email"] = recipient
        return event

    # ------------------------------------------------------------------ observations
    def _relayed(self, since: float, order_id: str, rcpt: str) -> dict[str, Any] | None:
        for r in reversed(self._store().relay_log()):
            if float(r.get("ts", 0)) < since - 1:
                break
            ref = parse_message_id(str(r.get("message_id", "")))
            if ref and ref.aggregate_id == order_id and rcpt in (r.get("rcpt_tos") or []):
                return r
        return None

    def _outbox_has(self, message_id: str) -> bool:
        return any(
            str(m.message().get("Message-ID", "")) == message_id
            for m in self._store().iter_outbox()
        )

    def _confirmation_recipient(self) -> str:
        rcpts = self.confirmation.get("outbox") or self.confirmation.get("rcpt_tos") or []
        return parseaddr(str(rcpts[0]))[1] if rcpts else ""

    def _wait_decision(self, ses_id: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            recs = [r for r in self._store().inbound_log() if r.get("message_id") == ses_id]
            failed = [r for r in recs if r.get("kind") == "invocation" and not r.get("ok")]
            if failed and failed[-1].get("dead_lettered"):
                raise StepFailedError(f"the inbound handler failed: {failed[-1].get('error')}")
            return next((r for r in recs if r.get("kind") == "decision"), None)

        decision = wait_for(find, self.config.timeout)
        if decision is None:
            received = any(
                r.get("message_id") == ses_id and r.get("kind") == "received"
                for r in self._store().inbound_log()
            )
            where = "no routing decision" if received else "not even received"
            raise StepFailedError(
                f"{ses_id}: {where} within {self.config.timeout:.0f}s "
                "(is functions/inbound/app.py loaded?)"
            )
        self.echo(f"   routed: {decision.get('route')} -> {decision.get('actions')}")
        return decision

    def _wait_event(self, ses_id: str, detail_type: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for r in self._store().event_log():
                e = r.get("event") or {}
                detail = e.get("detail") or {}
                if e.get("detail-type") == detail_type and detail.get("messageId") == ses_id:
                    return dict(e)
            return None

        event = wait_for(find, self.config.timeout)
        if event is None:
            raise StepFailedError(f"no {detail_type} event for {ses_id} on the bus")
        detail = event.get("detail") or {}
        numbers = ", ".join(detail.get("orderNumbers") or []) or "none"
        self.echo(f"   event: {detail_type} (order id {detail.get('orderId')}, numbers {numbers})")
        return event

    def _ses_event(self, ses_id: str, detail_type: str) -> dict[str, Any] | None:
        for r in self._store().event_log():
            e = r.get("event") or {}
            mail = (e.get("detail") or {}).get("mail") or {}
            if e.get("detail-type") == detail_type and mail.get("messageId") == ses_id:
                return dict(e)
        return None

    def _find_object(self, key: str) -> tuple[str, bytes] | None:
        s3 = self.client("s3")
        for bucket in s3.list_buckets().get("Buckets", []):
            try:
                obj = s3.get_object(Bucket=bucket["Name"], Key=key)
            except s3.exceptions.NoSuchKey:
                continue
            except Exception:  # noqa: S112 - other buckets may deny or not exist any more
                continue
            return str(bucket["Name"]), bytes(obj["Body"].read())
        return None

    def _suppression_table(self) -> str:
        names = self.client("dynamodb").list_tables().get("TableNames", [])
        table = next((n for n in names if "suppression" in n.lower()), "")
        if not table:
            raise StepFailedError(f"no suppression table in the stack (tables: {names})")
        return str(table)

    def _suppressed(self, ddb: Any, table: str) -> dict[str, Any] | None:
        """The suppression item of the simulator address (exact key, else any key naming it)."""
        item = ddb.get_item(TableName=table, Key={"address": {"S": BOUNCE_ADDRESS}}).get("Item")
        if item:
            return dict(item)
        kwargs: dict[str, Any] = {"TableName": table}
        while True:
            resp = ddb.scan(**kwargs)
            for it in resp.get("Items", []):
                if BOUNCE_ADDRESS in str(it.get("address", {}).get("S", "")).lower():
                    return dict(it)
            if "LastEvaluatedKey" not in resp:
                return None
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _discover_domain(self) -> str:
        try:
            ids = self.client("ses").list_identities(IdentityType="Domain").get("Identities", [])
        except Exception:
            ids = []
        return str(ids[0]) if ids else "shop.example"

    def _inbox_link(self, key: str) -> str:
        if not key or not self.config.inbox_url:
            return ""
        import requests

        link = f"{self.config.inbox_url.rstrip('/')}/mail/{urllib.parse.quote(key)}"
        try:
            ok = requests.get(link, timeout=5).status_code == 200
        except requests.RequestException:
            ok = False
        return link if ok else ""


def run_demo(config: DemoConfig, echo: Callable[[str], object] = print) -> list[StepResult]:
    """Run the tour against the stack described by ``config``; return each step's result."""
    return Demo(config, echo).run()
