"""Erasure index benchmark: what recording the addresses of a mail adds to its parse.

The inbound function parses every mail; with the erasure index it also collects every address
the mail names (``mentioned_addresses``: headers, bodies, text and report parts, attached
messages) and hashes them. Baseline: ``parse_message`` of the same messages in this process.
The figure is the extra time as a ratio of the parse (the DynamoDB write is one
``BatchWriteItem`` and not measured here). Also: the unsubscribe token's sign + verify per
marketing mail against building its MIME message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shopmail.config import Settings
from shopmail.domain.addresses import address_hash
from shopmail.domain.erasure.mentions import mentioned_addresses
from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.outbound.contracts import validate
from shopmail.domain.outbound.mime_build import build_message
from shopmail.domain.outbound.rendering import render
from shopmail.domain.outbound.unsubscribe import SigningKeys, Stream, sign_token, verify_token

from bench.bench_parse import corpus_messages, generated_messages
from bench.timing import best_of


def main() -> dict[str, Any]:
    """Measure and return the ratios."""
    raws = corpus_messages(limit=400) + generated_messages(50)
    parsed = [parse_message(raw) for raw in raws]
    parse_s = best_of(lambda: [parse_message(raw) for raw in raws])
    index_s = best_of(
        lambda: [
            {address_hash(a) for a in mentioned_addresses(m, mail_domain="shop.example")}
            for m in parsed
        ]
    )
    counts = [len(mentioned_addresses(m, mail_domain="shop.example")) for m in parsed]

    sample = json.loads(
        (Path(__file__).resolve().parents[1] / "events/outbound/CheckoutAbandoned.json").read_text()
    )
    event = validate(sample)
    settings = Settings()
    rendered = render(event, settings)
    keys = SigningKeys(b"k" * 64)
    build_s = best_of(lambda: [build_message(event, rendered, settings) for _ in range(200)])
    token_s = best_of(
        lambda: [
            verify_token(sign_token(event.recipient, Stream.MARKETING, 2**31, keys), keys, now=0)
            for _ in range(200)
        ]
    )
    return {
        "messages": len(raws),
        "addresses_per_message": round(sum(counts) / max(len(counts), 1), 2),
        "parse_ms_per_message": round(parse_s / len(raws) * 1000, 3),
        "index_ms_per_message": round(index_s / len(raws) * 1000, 3),
        "index_vs_parse": round(index_s / parse_s, 3),
        "token_us_per_mail": round(token_s / 200 * 1e6, 1),
        "token_vs_mime_build": round(token_s / build_s, 4),
    }
