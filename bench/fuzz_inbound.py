"""Seeded mutation fuzzer over the whole inbound pipeline, in-process, on fakes of AWS.

``python -m bench.fuzz_inbound [--cases N] [--seed S] [--workers W] [--corpus DIR]``
(``make fuzz`` runs 100,000 cases). Each case takes one message of the corpus
(``../shared/corpus``, see :data:`CORPUS`; a few built-in messages when it is missing),
applies one to three mutations (byte flips, truncation, duplicated headers, corrupted
boundaries, 8-bit and undecodable bytes, huge headers, CR/LF injected into addresses and
display names, nested multiparts, bad charsets and transfer encodings, malformed addresses)
and drives every stage of the inbound function over it:

parse -> route (the production router with the gated feedback classifier) -> event detail
(built, sized, published as JSON) -> reply text -> feedback classifier and report -> forward
(MIME bytes) -> auto-reply (MIME bytes, also to the message's own ``Reply-To``/``From``
address, which is also written as a header address), through
:class:`~shopmail.services.inbound.InboundService` with the default idempotency and
dead-letter semantics.

The documented safe outcomes are: the service returns (permanent problems are dead-lettered
with a reason), and the builders raise a :class:`~shopmail.errors.PermanentError` (for
instance an unusable address). Anything else is a crash: any other exception, a built header
block that does not encode, or a header that the input injected (a ``Bcc`` or a second ``To``).
Each distinct crash signature (exception type and the innermost shopmail frame) is reported
with a reproducer: ``--seed S --case I`` re-runs exactly that case.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SHOPMAIL_SHARED", REPO.parent / "shared")) / "corpus"
MAIL_DOMAIN = "shop.example"
MAX_SEED_SIZE = 64 * 1024
_MESSAGE_SUFFIXES = {".eml", ".msg", ".txt", ".raw", ".mbox", ""}
_HEADER_START = re.compile(rb"^[!-9;-~]{1,76}:", re.MULTILINE)

#: Routes of the fuzz run: every action on every message (three envelope recipients).
FUZZ_ROUTES = (Path(__file__).parent / "fuzz_routes.toml").read_text(encoding="utf-8")

_BUILTIN_SEEDS = (
    b"From: Kim Meyer <kim@example.org>\r\nTo: support@shop.example\r\n"
    b"Subject: Frage zu ORD-100234\r\nMessage-ID: <a1@example.org>\r\n"
    b"Date: Sat, 28 Nov 2026 09:12:00 +0100\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    b"Hallo, wo bleibt meine Bestellung?\r\n\r\nAm 27.11. schrieb Shop:\r\n> Danke\r\n"
    b'--b1\r\nContent-Type: application/pdf; name="r.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n",
    b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
    b"To: bounces@shop.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
    b"--r\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
    b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n"
    b"\r\nFinal-Recipient: rfc822; x@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--r\r\n"
    b"Content-Type: message/rfc822\r\n\r\nMessage-ID: <m1.order@shop.example>\r\n"
    b"From: shop@shop.example\r\nSubject: Ihre Bestellung\r\n\r\nHi\r\n--r--\r\n",
)

# --- mutations ------------------------------------------------------------------------------

_HOSTILE_NAMES = (
    b'"Kim\r\nBcc: victim@example.com" <kim@example.org>',
    b"=?utf-8?q?Kim=0D=0ABcc:_victim@example.com?= <kim@example.org>",
    b"=?utf-8?b?S2ltDQpCY2M6IHZAZXhhbXBsZS5jb20=?= <kim@example.org>",
    b"=?utf-7?q?+2D3-?= <kim@example.org>",
    b"=?utf-7?q?+2D3YPQ-x?= <kim@example.org>",
    b"=?unicode-escape?q?\\ud800?= <kim@example.org>",
    b"=?utf-16?b?2ADcAA==?= <kim@example.org>",
    b"K\xe4m \xff\xfe <kim@example.org>",
    b"\xed\xa0\x80 <kim@example.org>",
    b"Kim <k\xe4m@\xfcber.example>",
    b"Kim <kim@exa\xedmple.org>",
    b"<@>",
    b"<kim@@example.org>",
    b"a@b@c",
    b"kim@[1.2.3",
    b'"unterminated <kim@example.org>',
    b"(comment <kim@example.org>",
    b"kim@example.org\r\nBcc: victim@example.com",
    b"kim@example.org\rTo: victim@example.com",
    b"kim@example.org\x00",
    b"kim@",
    b"@example.org",
    b"Kim <>",
    b"group: a@b.example, ;",
    b"=?x-unknown?q?abc?= <x@y.example>",
    b"=?utf-8?b?!!!?= <x@y.example>",
    b'"\\" <x@y.example>',
    b"x" * 2000 + b"@example.org",
    b"Kim <kim@example.org" + b"\xc3" * 50 + b">",
    b"Kim <kim(x)@example.org>",
    b"\xe2\x80\xa8Kim\xc2\x85 <kim@example.org>",
)
_ADDRESS_HEADERS = (b"From", b"Reply-To", b"Sender", b"To", b"Cc", b"Return-Path")
_JUNK_HEADERS = (
    b"Auto-Submitted: auto-forwarded",
    b"Auto-Submitted: auto-replied",
    b"Precedence: bulk",
    b"List-Id: <list.example.org>",
    b"X-Shopmail-Route: support",
    b"X-Shopmail-Hops: 999999999999999999999",
    b"X-Shopmail-Hops: -1",
    b"X-Shopmail-Hops: \xff",
    b"Content-Type: multipart/report; report-type=feedback-report; boundary=x",
    b"Content-Type: text/plain; charset=utf-7",
    b"Content-Type: text/plain; charset=unicode-escape",
    b"Content-Type: text/plain; charset=x-no-such",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Transfer-Encoding: x-uuencode",
    b"Content-Disposition: attachment; filename*=utf-8''%ED%A0%80.pdf",
    b'Content-Disposition: attachment; filename="=?utf-7?q?+2D3-?=.pdf"',
    b"Message-ID: <\xff\xfe@Example.ORG>",
    b"Message-ID: <\r\n Bcc: x@y>",
    b"In-Reply-To: <ob.0.order.ORD-1@SHOP.EXAMPLE>",
    b"References: <" + b"r" * 3000 + b"@shop.example>",
    b"Subject: =?utf-7?q?+2D3-?= ORD-1",
    b"Subject: \xed\xa0\x80\xed\xb0\x80 lone",
    b"Subject: =?utf-8?q?=0D=0ABcc:_x@y?=",
    b"Date: Mon, 99 Foo 99999 99:99:99 +9999",
    b"Date: \xff",
)
_SPECIAL_BYTES = (b"\xff", b"\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\r", b"\n", b"\x85", b"=")


def _header_end(raw: bytes) -> int:
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(sep)
        if at >= 0:
            return at
    return len(raw)


def _flip(rng: random.Random, raw: bytes) -> bytes:
    if not raw:
        return raw
    data = bytearray(raw)
    for _ in range(rng.randint(1, 16)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _truncate(rng: random.Random, raw: bytes) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)]


def _dup_header(rng: random.Random, raw: bytes) -> bytes:
    end = _header_end(raw)
    lines = raw[:end].splitlines(keepends=True)
    if not lines:
        return raw
    line = rng.choice(lines)
    if not line.endswith(b"\n"):
        line += b"\r\n"
    times = rng.choice((1, 2, 10, 100))
    return line * times + raw


def _boundary(rng: random.Random, raw: bytes) -> bytes:
    found = list(re.finditer(rb'boundary="?([^";\r\n]+)"?', raw[:65536], re.IGNORECASE))
    if not found:
        return raw
    b = rng.choice(found).group(1)
    choice = rng.randrange(4)
    if choice == 0:  # the closing delimiter lost
        return raw.replace(b"--" + b + b"--", b"")
    if choice == 1:  # delimiters that no longer match the declared boundary
        return raw.replace(b"--" + b, b"--" + b[:-1] + b"X")
    if choice == 2:  # an empty boundary parameter
        return raw.replace(b, b"", 1)
    return raw.replace(b"--" + b, b"--" + b + b"\r\nContent-Type: multipart/mixed; boundary=" + b)


def _eight_bit(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    end = _header_end(raw)
    for _ in range(rng.randint(1, 8)):
        where = rng.randrange(max(end, 1)) if rng.random() < 0.7 else rng.randrange(len(data) + 1)
        data[where:where] = rng.choice(_SPECIAL_BYTES)
    return bytes(data)


def _huge_header(rng: random.Random, raw: bytes) -> bytes:
    name = rng.choice((b"Subject", b"X-Long", b"From", b"References", b"Received"))
    unit = rng.choice((b"a", b"\xc3\xa4", b"=?utf-8?q?=C3=A4?= ", b"a@b.example, ", b" \r\n "))
    return name + b": " + unit * rng.choice((200, 2000, 8000)) + b"\r\n" + raw


def _hostile_address(rng: random.Random, raw: bytes) -> bytes:
    name = rng.choice(_ADDRESS_HEADERS)
    value = rng.choice(_HOSTILE_NAMES)
    pattern = re.compile(rb"^" + name + rb":[^\r\n]*(\r?\n[ \t][^\r\n]*)*", re.I | re.M)
    end = _header_end(raw)
    head, body = raw[:end], raw[end:]
    replaced, n = pattern.subn(lambda _m: name + b": " + value, head, count=1)
    if n == 0:
        replaced = name + b": " + value + b"\r\n" + head
    return replaced + body


def _junk_header(rng: random.Random, raw: bytes) -> bytes:
    return b"\r\n".join(rng.sample(_JUNK_HEADERS, rng.randint(1, 4))) + b"\r\n" + raw


def _nest(rng: random.Random, raw: bytes) -> bytes:
    depth = rng.choice((1, 3, 10, 40))
    out = raw
    for level in range(depth):
        kind = rng.choice((b"message/rfc822", b"multipart/mixed"))
        if kind == b"message/rfc822":
            out = (
                (
                    b"From: n@example.org\r\nSubject: nest\r\nMIME-Version: 1.0\r\n"
                    b"Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n"
                    b"Content-Type: message/rfc822\r\n\r\n" % (level, level)
                )
                + out
                + b"\r\n--n%d--\r\n" % level
            )
        else:
            out = (
                (
                    b"From: n@example.org\r\nMIME-Version: 1.0\r\n"
                    b"Content-Type: multipart/mixed; boundary=m%d\r\n\r\n--m%d\r\n" % (level, level)
                )
                + out
                + b"\r\n--m%d--\r\n" % level
            )
    return out


def _bad_encoding(rng: random.Random, raw: bytes) -> bytes:
    charset = rng.choice(
        (
            b"utf-7",
            b"unicode-escape",
            b"raw-unicode-escape",
            b"utf-16",
            b"x-nope",
            b"base64",
            b"idna",
            b"punycode",
            b"utf-32",
            b"iso-2022-jp",
            b"\xff",
        )
    )
    cte = rng.choice((b"base64", b"quoted-printable", b"x-uue", b"8bit", b"binary", b"\xff"))
    out = re.sub(rb"charset=\"?[^\";\s]+\"?", b"charset=" + charset, raw, count=rng.randint(1, 5))
    out = re.sub(
        rb"Content-Transfer-Encoding:[^\r\n]*", b"Content-Transfer-Encoding: " + cte, out, count=1
    )
    if rng.random() < 0.5:  # a body in that charset that decodes to lone surrogates
        out += b"\r\n+2D3-+2D3YPQ- \\ud800 \xed\xa0\x80 =ED=A0=80 7aCA\r\n"
    return out


def _crlf_inject(rng: random.Random, raw: bytes) -> bytes:
    inject = rng.choice(
        (b"\r\nBcc: victim@example.com", b"\rX-Evil: 1", b"\nTo: v@example.com", b"\x00")
    )
    name = rng.choice((b"Subject", b"From", b"Reply-To", b"Message-ID"))
    pattern = re.compile(rb"^(" + name + rb":[^\r\n]*)", re.I | re.M)
    out, n = pattern.subn(lambda m: m.group(1) + inject, raw, count=1)
    return out if n else name + b": x" + inject + b"\r\n" + raw


MUTATORS: tuple[Callable[[random.Random, bytes], bytes], ...] = (
    _flip,
    _truncate,
    _dup_header,
    _boundary,
    _eight_bit,
    _huge_header,
    _hostile_address,
    _hostile_address,
    _junk_header,
    _nest,
    _bad_encoding,
    _crlf_inject,
)


def mutate(rng: random.Random, raw: bytes) -> tuple[bytes, list[str]]:
    """Apply one to three mutations; returns the mutated bytes and their names."""
    names: list[str] = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        mutator = rng.choice(MUTATORS)
        raw = mutator(rng, raw)
        names.append(mutator.__name__.lstrip("_"))
    return raw, names


# --- seeds ----------------------------------------------------------------------------------


def load_seeds(corpus: Path = CORPUS, max_size: int = MAX_SEED_SIZE) -> list[bytes]:
    """Every corpus file that starts with a header field (sorted paths: deterministic)."""
    seeds: list[bytes] = []
    if corpus.is_dir():
        for path in sorted(corpus.rglob("*")):
            if not path.is_file() or path.suffix.lower() not in _MESSAGE_SUFFIXES:
                continue
            if path.name in {"SOURCE.txt", "LICENSE.txt", "README.txt"}:
                continue
            if path.stat().st_size > max_size:
                continue
            raw = path.read_bytes()
            if _HEADER_START.match(raw[:200]):
                seeds.append(raw)
    return seeds or list(_BUILTIN_SEEDS)


# --- the pipeline on fakes ------------------------------------------------------------------


class _Store:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def iter_chunks(self, key: str, chunk_size: int = 65536) -> Iterator[bytes]:
        from shopmail.errors import RawMailMissingError

        if key not in self.objects:
            raise RawMailMissingError("raw mail missing", key=key)
        data = self.objects[key]
        return (data[i : i + chunk_size] for i in range(0, len(data), chunk_size))

    def put(self, key: str, body: Any, content_type: str = "") -> None:
        self.objects[key] = body if isinstance(body, bytes) else b"".join(body)

    def upload_stream(self, key: str, chunks: Any, content_type: str = "") -> None:
        for _ in chunks:  # the decoded attachment is read, not kept
            pass

    def copy(self, source_key: str, target_key: str) -> None:
        self.objects[target_key] = self.objects[source_key]


class _Publisher:
    def __init__(self) -> None:
        self.count = 0

    def publish(self, detail_type: str, detail: Mapping[str, Any], source: str) -> None:
        # What the EventBridge adapter does with it: strict UTF-8 JSON.
        json.dumps(detail, ensure_ascii=False, default=str).encode("utf-8")
        self.count += 1


class _Sender:
    def __init__(self) -> None:
        self.count = 0

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        check_built(message, expect_to=len(recipients))
        self.count += 1
        return f"ses-{self.count}"


class _Ledger:
    """An in-memory action ledger (one record per message and recipient)."""

    records_mentions = False

    def __init__(self) -> None:
        self.records: dict[str, tuple[bool, frozenset[str]]] = {}

    def claim(self, key: str, lease_seconds: float) -> Any:
        from shopmail.ports import LedgerClaim

        finished, done = self.records.get(key, (False, frozenset()))
        return LedgerClaim(finished, done)

    def finish_all(self, finishes: Any, mentions: Any = None) -> None:
        for key, done, complete in finishes:
            self.records[key] = (bool(complete), frozenset(done))


class _Limiter:
    def acquire(self, key: str, period_seconds: int, owner: str = "") -> bool:
        return True

    def release(self, key: str) -> None:
        return None


class _DeadLetters:
    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    def send(self, payload: Mapping[str, Any], reason: Mapping[str, Any]) -> None:
        json.dumps({"p": payload, "r": reason}, ensure_ascii=False).encode("utf-8")
        self.reasons[f"{reason.get('stage')}:{reason.get('code')}"] += 1


class _Feedback:
    """The feedback sink: builds the report from the classification as the service does."""

    def apply(self, feedback: Any) -> Any:
        from shopmail.domain.feedback.outcome import FeedbackOutcome, OutcomeStatus
        from shopmail.domain.feedback.report import from_classification

        report = from_classification(
            feedback.classification,
            dedupe_key=f"feedback-mail:{feedback.inbound_message_id}",
            received_at="2026-12-01T00:00:00Z",
            references=feedback.references,
            inbound_message_id=feedback.inbound_message_id or None,
        )
        if report is not None:
            json.dumps(report.to_dict() if hasattr(report, "to_dict") else str(report))
        return FeedbackOutcome(OutcomeStatus.PROCESSED if report else OutcomeStatus.IGNORED)


_INJECTED = re.compile(rb"^(bcc|x-evil):", re.IGNORECASE | re.MULTILINE)


def check_built(message: bytes, expect_to: int | None = None) -> None:
    """Raise ``AssertionError`` when a built message's header block is unsafe.

    The header block must be ASCII with CRLF line ends, hold no ``Bcc``/``X-Evil`` field
    (injected by the input) and exactly one ``To`` and one ``From``.
    """
    end = message.find(b"\r\n\r\n")
    if end < 0:
        raise AssertionError("built message has no header block")
    head = message[: end + 2]
    if not head.isascii():
        raise AssertionError("built header block is not ASCII")
    if re.search(rb"\r(?!\n)|(?<!\r)\n", head):
        raise AssertionError("built header block has a bare CR or LF")
    if _INJECTED.search(head):
        raise AssertionError("a header field was injected into a built message")
    for name in (b"to", b"from"):
        n = len(re.findall(rb"^" + name + rb":", head, re.IGNORECASE | re.MULTILINE))
        if n != 1:
            raise AssertionError(f"built message has {n} {name.decode()} fields")


class Pipeline:
    """The inbound service, router and builders wired on fakes (one per process)."""

    def __init__(self) -> None:
        self.store, self.publisher, self.sender = _Store(), _Publisher(), _Sender()
        self.dead_letters = _DeadLetters()
        self.outcomes: Counter[str] = Counter()
        from shopmail.config import Settings
        from shopmail.domain.inbound.parsing import iter_attachment_chunks, parse_message
        from shopmail.domain.inbound.reply_text import strip_reply
        from shopmail.domain.inbound.routing import Router, parse_routes
        from shopmail.domain.inbound.routing.feedback_gate import GatedClassifier
        from shopmail.services.inbound import ActionPorts, InboundService

        self.settings = Settings(
            mail_domain=MAIL_DOMAIN,
            raw_mail_bucket="raw-mail",
            idempotency_table="idem",
            rate_limit_table="rate",
            inbound_dlq_url="https://sqs.example/dlq",
        )
        gate = GatedClassifier()
        router = Router(parse_routes(FUZZ_ROUTES, "fuzz"), MAIL_DOMAIN, classify=gate)
        ports = ActionPorts(
            store=self.store,
            publisher=self.publisher,
            sender=self.sender,
            rate_limiter=_Limiter(),
            attachment_reader=iter_attachment_chunks,
            strip_reply=strip_reply,
            feedback=_Feedback(),
            classify=gate.full,
        )
        self.parsed: list[Any] = []

        def parse(source: Any, envelope: Any = None) -> Any:
            message = parse_message(source, envelope)
            self.parsed.append(message)
            return message

        self.service = InboundService(
            self.settings, ports, router, parse, _Ledger(), self.dead_letters
        )

    def run(self, raw: bytes, number: int) -> None:
        """Drive every stage over ``raw``; raise on a crash."""
        from email import policy
        from email.message import EmailMessage

        from shopmail.domain.inbound.acknowledgement import build_auto_reply
        from shopmail.domain.inbound.built_headers import header_address
        from shopmail.domain.message import Envelope
        from shopmail.errors import PermanentError

        self.parsed.clear()
        mid = f"fuzz{number:012d}"
        self.store.objects[f"{self.settings.raw_mail_prefix}{mid}"] = raw
        event = _ses_event(mid)
        result = self.service.handle_event(event)
        self.outcomes["dead_lettered"] += result.dead_lettered
        self.outcomes["actions"] += sum(result.actions.values())
        # The builders again, with the message's own (hostile) addresses as the envelope.
        if not self.parsed:
            self.outcomes["unparseable"] += 1
            return
        message = self.parsed[0]
        for addr in (message.reply_to or message.from_)[:1]:
            envelope = Envelope(mid, addr.address, (addr.address, f"support@{MAIL_DOMAIN}"))
            try:
                mail = build_auto_reply(message, envelope, **_REPLY_ARGS)
                check_built(mail.message)
            except PermanentError:
                self.outcomes["auto_reply_refused"] += 1
            # as a forward target and Reply-To: usable, or left out, never a crash
            target = header_address(addr.address, addr.name)
            if target is None:
                self.outcomes["address_left_out"] += 1
            else:
                head = EmailMessage(policy=policy.SMTP)
                head["From"] = target
                head["To"] = [target]
                check_built(head.as_bytes() + b"\r\n")
        self.store.objects.clear()


_REPLY_ARGS: dict[str, Any] = {
    "recipient": f"support@{MAIL_DOMAIN}",
    "mail_domain": MAIL_DOMAIN,
    "support_address": f"support@{MAIL_DOMAIN}",
}


def _ses_event(message_id: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:ses",
                "eventVersion": "1.0",
                "ses": {
                    "mail": {
                        "timestamp": "2026-12-01T10:00:00.000Z",
                        "source": "kim@example.org",
                        "messageId": message_id,
                        "destination": [f"support@{MAIL_DOMAIN}", f"bounces@{MAIL_DOMAIN}"],
                        "headersTruncated": False,
                        "headers": [],
                        "commonHeaders": {},
                    },
                    "receipt": {
                        "timestamp": "2026-12-01T10:00:01.000Z",
                        "recipients": [
                            f"support@{MAIL_DOMAIN}",
                            f"bounces@{MAIL_DOMAIN}",
                            f"quarantine@{MAIL_DOMAIN}",
                        ],
                        "spamVerdict": {"status": "PASS"},
                        "virusVerdict": {"status": "PASS"},
                        "spfVerdict": {"status": "PASS"},
                        "dkimVerdict": {"status": "PASS"},
                        "dmarcVerdict": {"status": "PASS"},
                        "action": {"type": "Lambda", "invocationType": "Event"},
                    },
                },
            }
        ]
    }


# --- running --------------------------------------------------------------------------------


def case_input(seeds: Sequence[bytes], seed: int, number: int) -> tuple[bytes, list[str]]:
    """The mutated message of case ``number`` of run ``seed`` (the reproducer)."""
    rng = random.Random(f"{seed}:{number}")
    return mutate(rng, seeds[rng.randrange(len(seeds))])


def signature(exc: BaseException) -> str:
    """``Type at file:line`` of the innermost frame in shopmail (else the innermost)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "shopmail" in f.filename and "fuzz_inbound" not in f.filename]
    frame = ours[-1] if ours else (frames[-1] if frames else None)
    where = f"{Path(frame.filename).name}:{frame.lineno}" if frame else "?"
    return f"{type(exc).__name__} at {where}"


@dataclass
class FuzzReport:
    """What a run found."""

    cases: int = 0
    crashes: int = 0
    seconds: float = 0.0
    signatures: dict[str, dict[str, Any]] = field(default_factory=dict)
    mutations: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    def merge(self, other: FuzzReport) -> None:
        """Add ``other``'s counts (first reproducer per signature kept)."""
        self.cases += other.cases
        self.crashes += other.crashes
        for sig, info in other.signatures.items():
            mine = self.signatures.setdefault(sig, {**info, "count": 0})
            mine["count"] += info["count"]
        self.mutations.update(other.mutations)
        self.outcomes.update(other.outcomes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "cases": self.cases,
            "crashes": self.crashes,
            "distinct_crashes": len(self.signatures),
            "seconds": round(self.seconds, 1),
            "cases_per_second": round(self.cases / self.seconds, 1) if self.seconds else None,
            "signatures": self.signatures,
            "outcomes": dict(self.outcomes),
            "mutations": dict(self.mutations),
        }


def fuzz(
    seed: int,
    numbers: range,
    seeds: Sequence[bytes] | None = None,
    pipeline: Pipeline | None = None,
) -> FuzzReport:
    """Run cases ``numbers`` of run ``seed``; never raises for a crash (it is counted)."""
    seeds = seeds if seeds is not None else load_seeds()
    pipe = pipeline or Pipeline()
    report = FuzzReport()
    for number in numbers:
        raw, names = case_input(seeds, seed, number)
        report.mutations.update(names)
        report.cases += 1
        try:
            pipe.run(raw, number)
        except Exception as exc:  # a crash: counted with its reproducer
            report.crashes += 1
            sig = signature(exc)
            info = report.signatures.setdefault(
                sig,
                {
                    "count": 0,
                    "reproduce": f"--seed {seed} --case {number}",
                    "mutations": names,
                    "message": str(exc)[:200],
                },
            )
            info["count"] += 1
    report.outcomes.update(pipe.outcomes)
    report.outcomes["published"] += pipe.publisher.count
    report.outcomes["sent"] += pipe.sender.count
    report.outcomes.update({f"dlq:{k}": v for k, v in pipe.dead_letters.reasons.items()})
    return report


def _worker(args: tuple[int, int, int, str]) -> FuzzReport:
    logging.disable(logging.CRITICAL)
    seed, start, stop, corpus = args
    return fuzz(seed, range(start, stop), load_seeds(Path(corpus)))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run, print the JSON report, exit 1 when anything crashed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--case", type=int, help="re-run this one case and show its traceback")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--out", help="also write the JSON report here")
    args = parser.parse_args(argv)
    if args.case is None:
        logging.disable(logging.CRITICAL)  # a dead letter logs an error: 100,000 of them
    seeds = load_seeds(Path(args.corpus))
    if args.case is not None:
        raw, names = case_input(seeds, args.seed, args.case)
        print(f"case {args.case}: mutations {names}, {len(raw)} bytes", file=sys.stderr)
        Pipeline().run(raw, args.case)
        print("no crash")
        return 0
    started = time.perf_counter()
    report = FuzzReport()
    if args.workers > 1:
        import multiprocessing

        step = min(1000, -(-args.cases // (args.workers * 8)))
        chunks = [
            (args.seed, s, min(s + step, args.cases), args.corpus)
            for s in range(0, args.cases, step)
        ]
        with multiprocessing.Pool(args.workers) as pool:
            for part in pool.imap_unordered(_worker, chunks):
                report.merge(part)
                elapsed = time.perf_counter() - started
                print(
                    f"progress: {report.cases} cases, {report.crashes} crashes, "
                    f"{elapsed:.0f} s, {report.cases / elapsed:.1f} cases/s",
                    file=sys.stderr,
                    flush=True,
                )
    else:
        report.merge(fuzz(args.seed, range(args.cases), seeds))
    report.seconds = time.perf_counter() - started
    out = {"seeds": len(seeds), **report.to_dict()}
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 1 if report.crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
