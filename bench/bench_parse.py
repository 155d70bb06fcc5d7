"""Parse benchmark: shopmail's parser vs ``BytesParser(policy=email.policy.default)``.

Speed: a mix of corpus messages (typically a few KB) and generated ones. The baseline parses
with ``policy.default`` and decodes every header and every part (``get_content``, file names,
address lists); shopmail parses (compat32 feed + own decoding: headers, addresses, dates,
bodies, attachment sha256) and strips the reply text, as routing needs. Both run in this process.

Memory: a generated ~40 MB message (one big base64 attachment plus text); tracemalloc peak of
``BytesParser.parsebytes`` vs ``parse_message`` (which also hashes the attachment), as a ratio
of the message size.
"""

from __future__ import annotations

import base64
import os
import random
import time
import tracemalloc
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.inbound.reply_text import strip_reply
from shopmail.errors import InvalidMessageError

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SHOPMAIL_SHARED", REPO.parent / "shared")) / "corpus"
_MESSAGE_SUFFIXES = {".eml", ".msg", ".txt", ".raw", ""}


def corpus_messages(limit: int = 1000, max_size: int = 64 * 1024) -> list[bytes]:
    """Corpus messages up to ``max_size`` bytes that parse (deterministic order)."""
    found: list[bytes] = []
    if not CORPUS.is_dir():
        return found
    for path in sorted(CORPUS.rglob("*")):
        if len(found) >= limit:
            break
        if not path.is_file() or path.suffix.lower() not in _MESSAGE_SUFFIXES:
            continue
        if "reply-parser" in str(path) or path.stat().st_size > max_size:
            continue
        raw = path.read_bytes()
        try:
            parse_message(raw)
        except InvalidMessageError:
            continue
        found.append(raw)
    return found


def generated_messages(count: int = 50) -> list[bytes]:
    """Typical shop mail: a German reply with quote, HTML alternative, a small PDF."""
    rng = random.Random(7)
    out = []
    for n in range(count):
        msg = EmailMessage()
        msg["From"] = f"Jürgen Müller <kunde{n}@example.de>"
        msg["To"] = "Support <support@shop.example>"
        msg["Subject"] = f"Re: Ihre Bestellung ORD-{1000 + n} – Rücksendung"
        msg["Date"] = "Tue, 03 Mar 2026 10:15:00 +0100"
        msg["Message-ID"] = f"<reply-{n}@example.de>"
        msg["In-Reply-To"] = f"<sm.order.ORD-{1000 + n}.abc@shop.example>"
        body = (
            "Hallo,\n\nich möchte die Bestellung zurückschicken.\n\nViele Grüße\nJürgen\n\n"
            f"Am 02.03.2026 um 09:00 schrieb Shop <orders@shop.example>:\n> Danke für Ihre "
            f"Bestellung ORD-{1000 + n}.\n> Lieferung in 2 Tagen.\n"
        )
        msg.set_content(body)
        msg.add_alternative(f"<html><body><p>{body}</p></body></html>", subtype="html")
        if n % 3 == 0:
            msg.add_attachment(
                rng.randbytes(1500),
                maintype="application",
                subtype="pdf",
                filename="Rücksendeschein.pdf",
            )
        out.append(msg.as_bytes())
    return out


def baseline_decode(raw: bytes) -> int:
    """policy.default parse + decode every header and every part (the reference work)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    count = 0
    for name, value in msg.raw_items():
        try:
            header = msg.policy.header_fetch_parse(name, value)
            count += len(str(header))
            if name.lower() in {"from", "to", "cc", "reply-to", "sender"}:
                count += len(header.addresses)
            elif name.lower() == "date":
                count += header.datetime is not None
        except Exception:
            continue
    for part in msg.walk():
        if part.is_multipart():
            continue
        part.get_filename()
        try:
            content = part.get_content()
        except Exception:
            continue
        count += len(content) if isinstance(content, str | bytes) else 1
    return count


def shopmail_decode(raw: bytes) -> int:
    """shopmail parse + the reply text that routing publishes."""
    message = parse_message(raw)
    return len(strip_reply(message.text)) + len(message.attachments)


def _time_per_message(funcs: list[Any], messages: list[bytes], rounds: int) -> list[float]:
    """Best-of-``rounds`` milliseconds per message for each function, rounds interleaved."""
    best = [float("inf")] * len(funcs)
    for _ in range(rounds):
        for number, func in enumerate(funcs):
            start = time.perf_counter()
            for raw in messages:
                func(raw)
            best[number] = min(best[number], time.perf_counter() - start)
    return [b / len(messages) * 1000.0 for b in best]


def big_message(target: int = 40 * 1024 * 1024) -> bytes:
    """A ~``target`` byte message: text and HTML parts plus one big base64 attachment."""
    payload_size = int(target / 1.37)  # base64 with CRLF every 76 characters
    data = random.Random(1).randbytes(payload_size)
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    head = (
        b"From: Kunde <kunde@example.de>\r\nTo: returns@shop.example\r\n"
        b"Subject: Rechnung und Fotos\r\nDate: Tue, 03 Mar 2026 10:15:00 +0100\r\n"
        b"Message-ID: <big@example.de>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="BOUNDARY"\r\n\r\n'
        b"--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + ("Hallo, anbei die Fotos.\r\n" * 200).encode()
        + b"--BOUNDARY\r\nContent-Type: application/zip\r\n"
        b'Content-Disposition: attachment; filename="fotos.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head + encoded + b"--BOUNDARY--\r\n"


def _peak(func: Any, arg: object) -> int:
    tracemalloc.start()
    try:
        func(arg)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> dict[str, Any]:
    """Run the benchmark and return the figures (absolute and as ratios)."""
    corpus = corpus_messages()
    generated = generated_messages()
    mix = corpus + generated
    sizes = sorted(len(m) for m in mix)
    baseline_decode(mix[0])
    shopmail_decode(mix[0])
    baseline_ms, parse_ms = _time_per_message([baseline_decode, shopmail_decode], mix, rounds=5)
    generated_base, generated_mine = _time_per_message(
        [baseline_decode, shopmail_decode], generated, rounds=5
    )

    raw = big_message()
    baseline_peak = _peak(lambda r: BytesParser(policy=policy.default).parsebytes(r), raw)
    peak = _peak(parse_message, raw)
    chunks = [raw[i : i + (1 << 20)] for i in range(0, len(raw), 1 << 20)]
    stream_peak = _peak(lambda parts: parse_message(iter(parts)), chunks)
    del chunks
    start = time.perf_counter()
    parsed = parse_message(raw)
    big_seconds = time.perf_counter() - start
    return {
        "messages": len(mix),
        "corpus_messages": len(corpus),
        "generated_messages": len(generated),
        "median_size_bytes": sizes[len(sizes) // 2],
        "parse_ms_per_msg": round(parse_ms, 4),
        "baseline_ms_per_msg": round(baseline_ms, 4),
        "speedup": round(baseline_ms / parse_ms, 2),
        "generated_parse_ms_per_msg": round(generated_mine, 4),
        "generated_baseline_ms_per_msg": round(generated_base, 4),
        "generated_speedup": round(generated_base / generated_mine, 2),
        "big_message_mb": round(len(raw) / 1e6, 1),
        "big_message_parse_s": round(big_seconds, 2),
        "big_attachment_size": parsed.attachments[0].size if parsed.attachments else 0,
        "peak_ratio": round(peak / len(raw), 2),
        "stream_peak_ratio": round(stream_peak / len(raw), 2),
        "baseline_peak_ratio": round(baseline_peak / len(raw), 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
