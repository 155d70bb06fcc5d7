"""The last check of a built message (``mime_build._check``) is made on every build, and each of
its rules refuses what would break the relay: the generator is corrupted on purpose here."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from shopmail.config import Settings
from shopmail.domain.outbound import mime_build
from shopmail.domain.outbound.contracts import validate
from shopmail.domain.outbound.mime_build import build_message
from shopmail.domain.outbound.rendering import render
from shopmail.errors import TemplateError

from tests.fixtures.paths import EVENTS

SETTINGS = Settings(mail_domain="shop.example", configuration_set="shopmail-events")


def _head_insert(line: bytes) -> Callable[[bytes], bytes]:
    return lambda raw: raw.replace(b"\r\n\r\n", b"\r\n" + line + b"\r\n\r\n", 1)


CORRUPTIONS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "8-bit": (lambda raw: raw + "Grüße\r\n".encode(), "not 7-bit"),
    "long line": (_head_insert(b"X-Long: " + b"x" * 1000), "line of"),
    "second Subject": (_head_insert(b"Subject: again"), "Subject more than once"),
    "second Message-ID": (_head_insert(b"Message-ID: <x@shop.example>"), "Message-ID more"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupted_build_is_refused(monkeypatch: pytest.MonkeyPatch, corruption: str) -> None:
    corrupt, reason = CORRUPTIONS[corruption]
    event = validate(json.loads((EVENTS / "outbound" / "OrderPlaced.json").read_text("utf-8")))
    rendered = render(event, SETTINGS)
    date = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    build_message(event, rendered, SETTINGS, date=date)  # sound as generated
    # both serialisers: the direct one (text + HTML) and EmailMessage's (inline images)
    for name in ("_lean_raw", "_stdlib_raw"):
        serialise = getattr(mime_build, name)

        def corrupted(*args: Any, _serialise: Any = serialise, **kwargs: Any) -> bytes:
            return corrupt(_serialise(*args, **kwargs))

        monkeypatch.setattr(mime_build, name, corrupted)
    with pytest.raises(TemplateError, match=reason):
        build_message(event, rendered, SETTINGS, date=date)
