"""``shopmail preview`` of OrderPlaced in the seven languages, in headless Debian chromium.

Each preview is opened from disk, measured and photographed (``test-artifacts/``, gitignored)
at a desktop and a phone width. A layout break is what a longer translation can cause: the
600 px content table growing wider than the layout, an element sticking out of it or out of
its own box, or a heading that is empty or still a template placeholder. A deliberately broken
mail proves the measurement notices a break.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from shopmail_local.cli.main import main as cli
from tests.fixtures.paths import EVENTS

EVENT = EVENTS / "outbound" / "OrderPlaced.json"
LOCALES = ("de-DE", "en-GB", "fr-FR", "it-IT", "es-ES", "nl-NL", "pl-PL")
LAYOUT_WIDTH = 600
#: The outer cell's padding on each side (layout.html: ``padding:24px 12px``).
GUTTER = 12
WIDTHS = {"desktop": 1280, "phone": 400}

_MEASURE = r"""
const box = document.querySelector('table[width="600"]');
if (!box) { return null; }
const outer = box.getBoundingClientRect();
const problems = [];
for (const el of box.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) { continue; }  // hidden (the preheader)
  const label = el.tagName + ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
  if (r.left < outer.left - 0.5 || r.right > outer.right + 0.5) {
    problems.push('outside the layout: ' + label);
  }
  if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
    problems.push('content wider than its box: ' + label);
  }
}
const h1 = box.querySelector('h1');
return {
  width: outer.width,
  page: document.documentElement.scrollWidth,
  viewport: document.documentElement.clientWidth,
  heading: h1 ? h1.textContent.trim() : '',
  title: document.title,
  lang: document.documentElement.lang,
  problems: problems,
};
"""


def _preview(event: Path, locale: str, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``shopmail preview`` and return the subject it printed."""
    assert cli(["preview", str(event), "--out", str(out), "--locale", locale]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed, "preview printed nothing"
    return printed[0]


def _measure(browser: Any, page: Path, width: int) -> dict[str, Any]:
    browser.set_window_size(width, 1400)
    browser.get(page.as_uri())
    result: dict[str, Any] | None = browser.execute_script(_MEASURE)
    assert result is not None, f"{page.name}: no 600 px content table"
    return result


def _breaks(result: dict[str, Any], subject: str) -> list[str]:
    """Everything that is wrong with one measured preview (empty: the layout holds)."""
    found = list(result["problems"])
    expected = min(LAYOUT_WIDTH, result["viewport"] - 2 * GUTTER)
    if abs(result["width"] - expected) > 0.5:
        found.append(f"content table is {result['width']} px wide, not {expected}")
    if result["page"] > result["viewport"]:
        found.append(f"page scrolls sideways ({result['page']} > {result['viewport']})")
    heading = result["heading"]
    if not heading or re.search(r"\{\{|\{%|\{[A-Za-z_]\w*\}", heading):
        found.append(f"heading is empty or a placeholder: {heading!r}")
    if heading != subject or result["title"] != subject:
        found.append(f"heading/title {heading!r}/{result['title']!r} is not {subject!r}")
    return found


@pytest.mark.parametrize("locale", LOCALES)
def test_order_confirmation_preview_holds_its_layout(
    locale: str,
    browser: Any,
    artifacts_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    subject = _preview(EVENT, locale, tmp_path, capsys)
    language = locale.split("-")[0]
    page = tmp_path / f"OrderPlaced.{language}.html"
    for name, width in WIDTHS.items():
        result = _measure(browser, page, width)
        assert result["lang"] == language
        assert _breaks(result, subject) == [], f"{locale} at {name} width"
        shot = artifacts_dir / f"preview-OrderPlaced-{language}-{name}.png"
        assert browser.save_screenshot(str(shot)), f"no screenshot written to {shot}"
        assert shot.stat().st_size > 5000
    text = (tmp_path / f"OrderPlaced.{language}.txt").read_text(encoding="utf-8")
    assert text.startswith(f"Subject: {subject}\n")


def test_the_measurement_notices_a_broken_layout(
    browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = json.loads(EVENT.read_text(encoding="utf-8"))
    broken = copy.deepcopy(raw)
    broken["detail"]["order"]["items"][0]["name"] = "Espresso" * 20  # one unbreakable word
    event = tmp_path / "broken.json"
    event.write_text(json.dumps(broken), encoding="utf-8")
    subject = _preview(event, "fr-FR", tmp_path, capsys)
    result = _measure(browser, tmp_path / "OrderPlaced.fr.html", WIDTHS["desktop"])
    assert _breaks(result, subject) != []
    assert _breaks(result, "another subject") != []
