"""Inbound benchmark: full parse + route vs ``policy.default`` parse + decode everything.

Speed: for each message of the corpus mix, shopmail parses it, strips the reply text and asks
the router (shipped default routes) for a decision for one recipient, i.e. what the inbound
function does per message before running actions. The baseline is ``BytesParser`` with
``policy.default`` decoding every header and part (``bench_parse.baseline_decode``). Both run
interleaved in this process, best of 5.

Memory: a ~40 MB message streamed in 64 KiB chunks (as ``S3RawMailStore.iter_chunks`` reads
``get_object`` bodies), parsed, routed, and its attachment streamed in 1 MiB decoded chunks
(as ``store_attachments`` uploads it); tracemalloc peak as a ratio of the message size.
"""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

from shopmail.domain.inbound.parsing import iter_attachment_chunks, parse_message
from shopmail.domain.inbound.reply_text import strip_reply
from shopmail.domain.inbound.routing import Router

from bench.bench_parse import baseline_decode, big_message, corpus_messages, generated_messages

MAIL_DOMAIN = "shop.example"


def _router() -> Router:
    return Router.from_file(None, MAIL_DOMAIN)


def _chunks(raw: bytes, size: int = 65536) -> Iterator[bytes]:
    view = memoryview(raw)
    for start in range(0, len(raw), size):
        yield bytes(view[start : start + size])


def main() -> dict[str, Any]:
    """Run the benchmark and return the figures (absolute and as ratios)."""
    router = _router()

    def shopmail_route(raw: bytes) -> int:
        message = parse_message(raw)
        strip_reply(message.text)
        return len(router.decide(message, f"support@{MAIL_DOMAIN}").actions)

    mix = corpus_messages() + generated_messages()
    best = [float("inf"), float("inf")]
    for _ in range(5):
        for number, func in enumerate((baseline_decode, shopmail_route)):
            start = time.perf_counter()
            for raw in mix:
                func(raw)
            best[number] = min(best[number], time.perf_counter() - start)
    baseline_ms, route_ms = (b / len(mix) * 1000.0 for b in best)

    raw = big_message()
    tracemalloc.start()
    message = parse_message(_chunks(raw))
    decision = router.decide(message, f"returns@{MAIL_DOMAIN}")
    for attachment in message.attachments:
        digest = hashlib.sha256()
        for chunk in iter_attachment_chunks(message, attachment):
            digest.update(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "messages": len(mix),
        "parse_route_ms_per_msg": round(route_ms, 4),
        "baseline_ms_per_msg": round(baseline_ms, 4),
        "speedup": round(baseline_ms / route_ms, 2),
        "big_message_mb": round(len(raw) / 1e6, 1),
        "big_message_route": decision.route,
        "fetch_parse_route_store_peak_ratio": round(peak / len(raw), 2),
    }


if __name__ == "__main__":
    print(main())
