"""An SMTP server on 127.0.0.1 that behaves like Amazon SES receiving mail.

What it does, as SES does:

- ``RCPT TO`` an address no enabled receipt rule covers: ``550`` in-session (no backscatter).
- A message above the limit (40 MB by default): ``552``.
- For each matching rule, in set order: its S3 actions store the raw message (with the headers
  SES prepends) at ``ObjectKeyPrefix + messageId``, then its Lambda actions get the SES Lambda
  event (``Records[0].ses.mail`` / ``receipt`` with the recipients matched by *that* rule),
  invoked with async semantics (2 retries, then the on-failure destination).
- STARTTLS is offered, not required (the rule's ``TlsPolicy: Require`` is not enforced unless
  ``enforce_tls_policy=True``).

Verdicts are ``GRAY`` locally (``DISABLED`` for spam/virus when the rule does not scan). A
header honoured **only by this emulator** sets them for tests::

    X-Shopmail-Test-Verdicts: spam=FAIL, virus=PASS, spf=PASS, dkim=FAIL, dmarc=FAIL/reject

(keys ``spam``, ``virus``, ``spf``, ``dkim``, ``dmarc``; values ``PASS``, ``FAIL``, ``GRAY``,
``PROCESSING_FAILED``, ``DISABLED``; ``dmarc=FAIL/<policy>`` sets ``dmarcPolicy``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import logging
import secrets
import ssl
import string
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, Protocol

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from shopmail.domain.message import Verdicts

from shopmail_local.stack.provision import ReceiptRuleSpec
from shopmail_local.stack.smtp_hooks import SmtpHooks

log = logging.getLogger(__name__)

MAX_MESSAGE_SIZE = 40 * 1024 * 1024
TEST_VERDICT_HEADER = "X-Shopmail-Test-Verdicts"
VERDICT_VALUES = frozenset({"PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"})
HEADERS_TRUNCATE_AT = 10 * 1024
REJECT_RECIPIENT = "550 5.1.1 Requested action not taken: mailbox unavailable"
REJECT_SIZE = "552 5.3.4 Message too big"


class AsyncInvocable(Protocol):
    """Anything that queues an asynchronous Lambda invocation (see ``AsyncInvoker``)."""

    def invoke(self, event: Any) -> Future[Any]:
        """Queue one invocation."""
        ...


def new_message_id() -> str:
    """An SES-like inbound message id (40 lower-case letters and digits)."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(40))


def rule_covers(recipients: Sequence[str], address: str) -> bool:
    """Whether a receipt rule with ``recipients`` matches ``address`` (SES semantics).

    An empty list matches everything; ``user@domain`` matches that address; ``domain``
    matches every address at exactly that domain; ``.domain`` matches its subdomains.
    """
    if not recipients:
        return True
    addr = address.strip().strip("<>").lower()
    domain = addr.rpartition("@")[2]
    for entry in recipients:
        e = entry.lower()
        if "@" in e:
            if addr == e:
                return True
        elif e.startswith("."):
            if domain.endswith(e):
                return True
        elif domain == e:
            return True
    return False


def receipt_verdicts(verdicts: Verdicts) -> dict[str, Any]:
    """The verdict keys of ``receipt`` in the SES event for ``verdicts``.

    ``dmarcPolicy`` is present only when DMARC failed and a policy is known, as SES sends it.
    """
    out: dict[str, Any] = {
        "spamVerdict": {"status": verdicts.spam},
        "virusVerdict": {"status": verdicts.virus},
        "spfVerdict": {"status": verdicts.spf},
        "dkimVerdict": {"status": verdicts.dkim},
        "dmarcVerdict": {"status": verdicts.dmarc},
    }
    if verdicts.dmarc == "FAIL" and verdicts.dmarc_policy:
        out["dmarcPolicy"] = verdicts.dmarc_policy
    return out


def parse_test_verdicts(value: str | None, *, scan_enabled: bool = True) -> Verdicts:
    """Read the emulator-only verdict header; unknown keys or values are ignored."""
    base = {"spam": "GRAY", "virus": "GRAY", "spf": "GRAY", "dkim": "GRAY", "dmarc": "GRAY"}
    if not scan_enabled:
        base["spam"] = base["virus"] = "DISABLED"
    policy: str | None = None
    for part in (value or "").replace(";", ",").split(","):
        key, _, val = part.partition("=")
        key, val = key.strip().lower(), val.strip()
        status, _, pol = val.partition("/")
        status = status.upper()
        if key in base and status in VERDICT_VALUES:
            base[key] = status
            if key == "dmarc" and pol.strip().lower() in ("none", "quarantine", "reject"):
                policy = pol.strip().lower()
    return Verdicts(dmarc_policy=policy, **base)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _unfold(value: str) -> str:
    return value.replace("\r\n", "").replace("\n", "")


def _decoded(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _addresses(values: Sequence[str]) -> list[str]:
    return [
        email.utils.formataddr((name, addr)) if name else addr
        for name, addr in email.utils.getaddresses([_unfold(v) for v in values])
        if addr
    ]


def ses_prepended_headers(
    *, mail_from: str, recipient: str, verdicts: Verdicts, helo: str, peer: str, ts: float
) -> list[tuple[str, str]]:
    """The headers SES adds on top of a received message (as stored by the S3 action)."""
    when = email.utils.formatdate(ts, usegmt=True)
    return [
        ("Return-Path", f"<{mail_from}>"),
        (
            "Received",
            f"from {helo or 'unknown'} ({peer or 'unknown'}) by inbound-smtp.local.amazonaws.com"
            f" with SMTP id {secrets.token_hex(10)} for {recipient}; {when}",
        ),
        ("X-SES-Spam-Verdict", verdicts.spam),
        ("X-SES-Virus-Verdict", verdicts.virus),
        (
            "Authentication-Results",
            f"amazonses.com; spf={verdicts.spf.lower()}; dkim={verdicts.dkim.lower()};"
            f" dmarc={verdicts.dmarc.lower()}",
        ),
    ]


def build_ses_event(
    *,
    raw: bytes,
    mail_from: str,
    rule_recipients: Sequence[str],
    message_id: str,
    verdicts: Verdicts,
    function_arn: str,
    invocation_type: str = "Event",
    timestamp: float | None = None,
    processing_ms: int = 0,
) -> dict[str, Any]:
    """The SES Lambda-action event for one rule, exactly in the shape SES sends.

    ``raw`` is the message as stored (with the SES-prepended headers).
    """
    ts = time.time() if timestamp is None else timestamp
    msg = BytesHeaderParser(policy=compat32).parsebytes(raw)
    headers: list[dict[str, str]] = []
    total = 0
    truncated = False
    for name, value in msg.items():
        value = _unfold(str(value))
        total += len(name) + len(value) + 4
        if total > HEADERS_TRUNCATE_AT:
            truncated = True
            break
        headers.append({"name": name, "value": value})

    def all_of(name: str) -> list[str]:
        return [str(v) for v in (msg.get_all(name) or [])]

    common: dict[str, Any] = {"returnPath": mail_from}
    for key, header in (
        ("from", "From"),
        ("sender", "Sender"),
        ("replyTo", "Reply-To"),
        ("to", "To"),
        ("cc", "Cc"),
        ("bcc", "Bcc"),
    ):
        values = all_of(header)
        if values:
            common[key] = _addresses(values)
    if msg.get("Date") is not None:
        common["date"] = _unfold(str(msg["Date"]))
    if msg.get("Message-ID") is not None:
        common["messageId"] = _unfold(str(msg["Message-ID"])).strip()
    if msg.get("Subject") is not None:
        common["subject"] = _decoded(_unfold(str(msg["Subject"])))
    destination = [
        addr
        for _, addr in email.utils.getaddresses([_unfold(v) for v in all_of("To") + all_of("Cc")])
        if addr
    ]
    receipt: dict[str, Any] = {
        "timestamp": _iso(ts),
        "processingTimeMillis": processing_ms,
        "recipients": list(rule_recipients),
        **receipt_verdicts(verdicts),
        "action": {
            "type": "Lambda",
            "functionArn": function_arn,
            "invocationType": invocation_type,
        },
    }
    mail = {
        "timestamp": _iso(ts),
        "source": mail_from,
        "messageId": message_id,
        "destination": destination,
        "headersTruncated": truncated,
        "headers": headers,
        "commonHeaders": common,
    }
    return {
        "Records": [
            {
                "eventSource": "aws:ses",
                "eventVersion": "1.0",
                "ses": {"mail": mail, "receipt": receipt},
            }
        ]
    }


@dataclass
class Delivery:
    """What happened to one received message."""

    message_id: str
    mail_from: str
    recipients: list[str]
    rules: list[str] = field(default_factory=list)
    s3_keys: list[tuple[str, str]] = field(default_factory=list)
    invocations: list[Future[Any]] = field(default_factory=list)
    verdicts: Verdicts = field(default_factory=Verdicts)
    subject: str = ""
    header_message_id: str = ""
    in_reply_to: str = ""
    references: str = ""


class RejectedError(Exception):
    """A message SES would refuse; ``reply`` is the SMTP reply line."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class SesInbound:
    """SES receiving, minus SMTP: match rules, store to S3, build events, invoke.

    Parameters
    ----------
    rules
        The active rule set's rules, in order.
    s3_client
        A boto3 S3 client (bound to the moto server).
    invokers
        Function ARN -> async invoker of that function's handler.
    max_size
        The message size limit in bytes (40 MB like SES).
    on_delivery
        Called with each :class:`Delivery` (the web inbox records it).
    """

    def __init__(
        self,
        rules: Sequence[ReceiptRuleSpec],
        s3_client: Any,
        invokers: Mapping[str, AsyncInvocable],
        *,
        max_size: int = MAX_MESSAGE_SIZE,
        enforce_tls_policy: bool = False,
        on_delivery: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.rules = [r for r in rules if r.enabled]
        self.s3 = s3_client
        self.invokers = dict(invokers)
        self.max_size = max_size
        self.enforce_tls_policy = enforce_tls_policy
        self.on_delivery = on_delivery

    def covered(self, address: str) -> bool:
        """Whether any enabled rule covers ``address`` (else SES says 550 at RCPT)."""
        return any(rule_covers(r.recipients, address) for r in self.rules)

    def deliver(
        self,
        mail_from: str,
        rcpt_tos: Sequence[str],
        raw: bytes,
        *,
        tls: bool = True,
        helo: str = "",
        peer: str = "",
    ) -> Delivery:
        """Receive one message as SES does; raise :class:`RejectedError` when SES would."""
        started = time.monotonic()
        if len(raw) > self.max_size:
            raise RejectedError(REJECT_SIZE)
        recipients = [r for r in rcpt_tos if self.covered(r)]
        if not recipients:
            raise RejectedError(REJECT_RECIPIENT)
        header_block = BytesHeaderParser(policy=compat32).parsebytes(raw)
        message_id = new_message_id()
        ts = time.time()
        delivery = Delivery(message_id, mail_from, list(recipients))
        delivery.subject = _decoded(_unfold(str(header_block.get("Subject", ""))))
        delivery.header_message_id = _unfold(str(header_block.get("Message-ID", "")))[:998]
        delivery.in_reply_to = _unfold(str(header_block.get("In-Reply-To", "")))[:998]
        delivery.references = _unfold(str(header_block.get("References", "")))[:4000]
        matched = [
            (rule, [r for r in recipients if rule_covers(rule.recipients, r)])
            for rule in self.rules
        ]
        matched = [(rule, rs) for rule, rs in matched if rs]
        scan = any(rule.scan_enabled for rule, _ in matched)
        verdicts = parse_test_verdicts(header_block.get(TEST_VERDICT_HEADER), scan_enabled=scan)
        delivery.verdicts = verdicts
        prepended = ses_prepended_headers(
            mail_from=mail_from,
            recipient=recipients[0],
            verdicts=verdicts,
            helo=helo,
            peer=peer,
            ts=ts,
        )
        stored = b"".join(f"{k}: {v}\r\n".encode() for k, v in prepended) + raw
        # What every rule's event says of the message; each rule adds its recipients and action.
        event_for = functools.partial(
            build_ses_event,
            raw=stored,
            mail_from=mail_from,
            message_id=message_id,
            verdicts=verdicts,
        )
        for rule, rule_recipients in matched:
            if self.enforce_tls_policy and rule.tls_policy == "Require" and not tls:
                log.info("rule %s requires TLS; message %s not processed", rule.name, message_id)
                continue
            delivery.rules.append(rule.name)
            for s3_action in rule.s3_actions:
                key = s3_action.prefix + message_id
                self.s3.put_object(Bucket=s3_action.bucket, Key=key, Body=stored)
                delivery.s3_keys.append((s3_action.bucket, key))
            for action in rule.lambda_actions:
                event = event_for(
                    rule_recipients=rule_recipients,
                    function_arn=action.function_arn,
                    invocation_type=action.invocation_type,
                    timestamp=ts,
                    processing_ms=int((time.monotonic() - started) * 1000),
                )
                invoker = self.invokers.get(action.function_arn)
                if invoker is None:
                    log.warning("no local handler for %s", action.function_arn)
                    continue
                delivery.invocations.append(invoker.invoke(event))
        log.info(
            "inbound %s: %d recipient(s), rules %s", message_id, len(recipients), delivery.rules
        )
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        return delivery


class _SmtpHandler(SmtpHooks):
    """aiosmtpd hooks: 550 at RCPT for uncovered recipients, deliver at DATA."""

    def __init__(self, inbound: SesInbound) -> None:
        self.inbound = inbound

    def ehlo_reply(self, server: SMTP, responses: list[str]) -> list[str]:
        # SES inbound offers no AUTH: drop the line aiosmtpd always adds.
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    def rcpt_reply(self, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        if not self.inbound.covered(address):
            return REJECT_RECIPIENT
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            delivery = self.inbound.deliver(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                raw,
                tls=session.ssl is not None,
                helo=str(session.host_name or ""),
                peer=str(session.peer[0]) if session.peer else "",
            )
        except RejectedError as exc:
            return exc.reply
        except Exception:
            log.exception("inbound delivery failed")
            return "451 4.3.0 Temporary service failure"
        return f"250 Ok {delivery.message_id}"


class SesInboundServer:
    """The SMTP front of :class:`SesInbound` on ``host:port`` (STARTTLS offered if a context).

    Example
    -------
    >>> server = SesInboundServer(inbound, port=2525)  # doctest: +SKIP
    >>> server.start(); ...; server.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        inbound: SesInbound,
        *,
        host: str = "127.0.0.1",
        port: int = 2525,
        tls_context: ssl.SSLContext | None = None,
        server_hostname: str = "inbound-smtp.local",
    ) -> None:
        self.inbound = inbound
        self.host = host
        self.port = port
        kwargs: dict[str, Any] = {
            "data_size_limit": inbound.max_size,
            "require_starttls": False,
            # SES inbound offers no AUTH (it receives mail for its domains only).
            "auth_exclude_mechanism": ["LOGIN", "PLAIN"],
            "ident": "Amazon SES inbound (shopmail local emulator)",
        }
        if tls_context is not None:
            kwargs["tls_context"] = tls_context
        self.controller = Controller(
            _SmtpHandler(inbound),
            hostname=host,
            port=port,
            server_hostname=server_hostname,
            server_kwargs=kwargs,
        )

    def start(self) -> None:
        """Start serving in a background thread."""
        self.controller.start()

    def stop(self) -> None:
        """Stop serving."""
        self.controller.stop()
