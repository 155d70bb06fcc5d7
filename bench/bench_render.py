"""Outbound rendering cost: validate + render + build one ~5 KB order confirmation.

Baseline (same process, same content): building a bare ``EmailMessage`` with the same text and
HTML via ``set_content``/``add_alternative`` and serialising it. Figures are per message, in
milliseconds (median of several rounds).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from shopmail.config import Settings
from shopmail.domain.outbound.contracts import validate
from shopmail.domain.outbound.mime_build import build_message
from shopmail.domain.outbound.rendering import render

EVENT = Path(__file__).resolve().parents[1] / "events" / "outbound" / "OrderPlaced.json"
ROUNDS = 7
PER_ROUND = 100


def _per_message_ms(func: Callable[[], Any]) -> float:
    for _ in range(20):  # warm-up (template compilation, caches)
        func()
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(PER_ROUND):
            func()
        rounds.append((time.perf_counter() - start) * 1000 / PER_ROUND)
    return statistics.median(rounds)


def main() -> dict[str, Any]:
    """Measure and return the figures (ms per message and ratios)."""
    raw_event = json.loads(EVENT.read_text(encoding="utf-8"))
    settings = Settings(mail_domain="shop.example", configuration_set="shopmail-events")
    date = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    event = validate(raw_event)
    mail = render(event, settings)
    built = build_message(event, mail, settings, date=date)

    def baseline() -> bytes:
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = settings.transactional_from
        msg["To"] = event.recipient
        msg["Subject"] = mail.subject
        msg.set_content(mail.text)
        msg.add_alternative(mail.html, subtype="html")
        return msg.as_bytes()

    def render_only() -> object:
        return render(event, settings)

    def build_only() -> object:
        return build_message(event, mail, settings, date=date)

    def full() -> object:
        ev = validate(raw_event)
        return build_message(ev, render(ev, settings), settings, date=date)

    base_ms = _per_message_ms(baseline)
    validate_ms = _per_message_ms(lambda: validate(raw_event))
    render_ms = _per_message_ms(render_only)
    build_ms = _per_message_ms(build_only)
    full_ms = _per_message_ms(full)
    return {
        "message_bytes": built.size,
        "html_bytes": len(mail.html.encode("utf-8")),
        "text_bytes": len(mail.text.encode("utf-8")),
        "baseline_bare_emailmessage_ms": round(base_ms, 3),
        "validate_ms": round(validate_ms, 3),
        "render_ms": round(render_ms, 3),
        "build_message_ms": round(build_ms, 3),
        "validate_render_build_ms": round(full_ms, 3),
        "build_vs_baseline": round(build_ms / base_ms, 2),
        "full_vs_baseline": round(full_ms / base_ms, 2),
    }


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(main(), indent=2))
