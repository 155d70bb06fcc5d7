"""German and English mail stay as they were when the templates became language-neutral.

``golden/rendering_de_en.json`` holds, for every sample event and every variant of it with one
optional field left out (plus long item lists, no name, the AutoReply/Notice variants), the
subject and SHA-256 of the text and HTML rendered in de-DE and en; the samples also keep their
full text. It was taken from the per-language templates before the conversion, with only the
English corrections listed under ``_about`` applied (every other byte is unchanged).

After an intended change of German or English wording, regenerate it with
``SHOPMAIL_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_rendering_golden.py`` and
review the diff.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shopmail.config import Settings
from shopmail.domain.outbound.contracts import validate, with_locale
from shopmail.domain.outbound.rendering import render
from shopmail.errors import ShopmailError

from tests.fixtures.paths import EVENTS

GOLDEN = Path(__file__).parent / "golden" / "rendering_de_en.json"
SETTINGS = Settings(mail_domain="shop.example")
LOCALES = ("de-DE", "en")


def _paths(node: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if prefix == () and key in ("locale", "recipient"):
                continue
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))


def _variants() -> Iterator[tuple[str, dict[str, Any]]]:
    """Each sample, and each sample without one of its optional fields."""
    for path in sorted((EVENTS / "outbound").glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        yield path.stem, raw
        for field in _paths(raw["detail"]):
            variant = copy.deepcopy(raw)
            node = variant["detail"]
            for key in field[:-1]:
                node = node[key]
            del node[field[-1]]
            try:
                validate(variant)
            except ShopmailError:
                continue  # a required field
            yield f"{path.stem}:-{'.'.join(field)}", variant
        if path.stem == "OrderPlaced":
            many = copy.deepcopy(raw)
            many["detail"]["order"]["items"] = many["detail"]["order"]["items"] * 20
            yield "OrderPlaced:many-items", many
            anonymous = copy.deepcopy(raw)
            del anonymous["detail"]["customer"]
            anonymous["detail"]["recipient"]["name"] = ""
            yield "OrderPlaced:no-name", anonymous
    base = json.loads((EVENTS / "outbound" / "SendEmailRequested.json").read_text("utf-8"))
    for name, data in [
        ("full", {"originalSubject": "Frage zu <Bestellung> 100234", "ticketId": "T-9",
                  "responseHours": 24}),
        ("bare", {"originalSubject": "Wo ist mein Paket?"}),
        ("ticket", {"originalSubject": "x", "ticketId": "T-1"}),
        ("hours", {"originalSubject": "x", "responseHours": 48}),
    ]:  # fmt: skip
        auto = copy.deepcopy(base)
        auto["detail"]["template"] = "AutoReply"
        auto["detail"]["data"] = data
        yield f"AutoReply:{name}", auto
    marketing = copy.deepcopy(base)
    marketing["detail"]["emailClass"] = "marketing"
    marketing["detail"]["unsubscribeUrl"] = "https://shop.example/u?t=1"
    yield "Notice:marketing", marketing


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _render_all() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, raw in _variants():
        for locale in LOCALES:
            mail = render(with_locale(validate(raw), locale), SETTINGS)
            entry = {
                "subject": mail.subject,
                "text_sha256": _sha(mail.text),
                "html_sha256": _sha(mail.html),
            }
            if ":" not in key:
                entry["text"] = mail.text
            out[f"{key}|{locale}"] = entry
    return out


def test_german_and_english_output_is_unchanged() -> None:
    current = _render_all()
    if os.environ.get("SHOPMAIL_UPDATE_GOLDEN") == "1":
        about = json.loads(GOLDEN.read_text(encoding="utf-8"))["_about"]
        GOLDEN.write_text(
            json.dumps({"_about": about, "renders": current}, ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8",
        )
        pytest.skip("golden file rewritten")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))["renders"]
    assert len(golden) > 200  # the variants are there, not just the samples
    assert sorted(current) == sorted(golden)
    changed = [key for key in golden if golden[key] != current[key]]
    assert changed == [], f"rendering changed for {changed[:10]}"
