"""A shop's mail against the shipped one: render + build of the order confirmation.

Subject: :class:`shopmail.bootstrap.shop.ShopMail` with a complete shop configuration (legal
block, localized links, colours, an inline logo) and a template override folder, both read from
files, as the outbound function runs it: the configuration and the overlay are loaded on the
first mail and then only checked (the reader's cache), never parsed again per mail.

Baselines (same process): ``render`` + ``build_message`` called directly with the already loaded
configuration and folder (the same mail: ``loading_overhead`` is what the loader costs per mail,
target <= 1.1), and with the shipped look (``shop_vs_shipped``: what the richer mail itself
costs: legal block, links, the logo part, encoded display names).

Figures are per message in milliseconds (median of several rounds), the ratios, and the one-time
cost of the first mail (reading and validating the configuration, laying out the overlay).
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shopmail.bootstrap.shop import ShopMail
from shopmail.config import Settings
from shopmail.domain.outbound.contracts import validate
from shopmail.domain.outbound.mime_build import build_message
from shopmail.domain.outbound.rendering import TEMPLATE_DIR, render
from shopmail.domain.outbound.shop_config import SCHEMA_PATH

from bench.bench_render import _per_message_ms

EVENT = Path(__file__).resolve().parents[1] / "events" / "outbound" / "OrderPlaced.json"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(2048)


def _shop_files(folder: Path) -> tuple[Path, Path]:
    overrides = folder / "overrides"
    (overrides / "de").mkdir(parents=True)
    footer = (TEMPLATE_DIR / "layout.html").read_text(encoding="utf-8")
    (overrides / "de" / "layout.html").write_text(footer.replace("</body>", "<!-- KM --></body>"))
    (overrides / "de" / "strings.json").write_text('{"closing": "Herzliche Grüße"}', "utf-8")
    (overrides / "logo.png").write_bytes(PNG)
    shop = folder / "shop.toml"
    shop.write_text((SCHEMA_PATH.parent / "example.toml").read_text("utf-8"), encoding="utf-8")
    return shop, overrides


def main() -> dict[str, Any]:
    """Measure and return the figures (ms per message, the ratio, the first mail)."""
    raw_event = json.loads(EVENT.read_text(encoding="utf-8"))
    date = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    plain = Settings(mail_domain="shop.example")
    with tempfile.TemporaryDirectory(prefix="shopmail-bench-") as tmp:
        shop_file, overrides = _shop_files(Path(tmp))
        settings = Settings(
            mail_domain="shop.example",
            shop_config=str(shop_file),
            templates_location=str(overrides),
        )
        event = validate(raw_event)
        start = time.perf_counter()
        mail = ShopMail(settings)
        first = mail.build(event, mail.render(event, settings), settings, date=date)
        first_ms = (time.perf_counter() - start) * 1000
        assert b"Kaffeer" in first.raw and b"image/png" in first.raw  # the shop's mail

        def baseline() -> object:
            return build_message(event, render(event, plain), plain, date=date)

        def subject() -> object:
            return mail.build(event, mail.render(event, settings), settings, date=date)

        loaded, folder = mail.shop(), mail.template_dir()

        def direct() -> object:
            rendered = render(event, settings, shop=loaded, template_dir=folder)
            return build_message(event, rendered, settings, date=date, shop=loaded)

        base_ms = _per_message_ms(baseline)
        direct_ms = _per_message_ms(direct)
        shop_ms = _per_message_ms(subject)
    return {
        "shipped_render_build_ms": round(base_ms, 3),
        "shop_direct_render_build_ms": round(direct_ms, 3),
        "shop_render_build_ms": round(shop_ms, 3),
        "loading_overhead": round(shop_ms / direct_ms, 2),
        "shop_vs_shipped": round(shop_ms / base_ms, 2),
        "first_mail_with_loading_ms": round(first_ms, 1),
        "message_bytes": len(first.raw),
    }


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(main(), indent=2))
