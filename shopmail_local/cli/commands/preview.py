"""``shopmail preview EVENT.json [...] --out DIR``: write the HTML and text of outbound mail.

For each event it writes ``<Template>.<lang>.html`` and ``<Template>.<lang>.txt`` (and prints
the subject and paths), ready to open in a browser. ``--locale`` overrides the customer locale;
``--all-locales`` writes every language that has templates (a shop's ``locales.supported``
only). ``--shop-config FILE`` and ``--templates DIR`` (else ``SHOP_CONFIG``,
``TEMPLATES_LOCATION``) show the shop's mail; an inline logo is written into the HTML file as a
``data:`` URL so the preview shows it (the mail itself carries it as a CID part).
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from shopmail.domain.outbound.contracts import with_locale
from shopmail.domain.outbound.rendering import RenderedMail, available_languages
from shopmail.errors import ShopmailError

from shopmail_local.cli.common import add_shop_options, load_shop_event, shop_mail


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``preview`` sub-command."""
    p = subparsers.add_parser("preview", help="write the HTML and text of outbound events")
    p.add_argument("events", nargs="+", help="EventBridge event JSON file(s)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--locale", help="override the customer locale (de, en, ...)")
    p.add_argument("--all-locales", action="store_true", help="write every language")
    add_shop_options(p)
    p.set_defaults(func=run)


def previewable_html(rendered: RenderedMail) -> str:
    """The HTML with each ``cid:`` image as a ``data:`` URL (a browser opens the file alone)."""
    html = rendered.html
    for image in rendered.inline_images:
        data = base64.b64encode(image.data).decode("ascii")
        html = html.replace(f"cid:{image.content_id}", f"data:{image.content_type};base64,{data}")
    return html


def run(args: argparse.Namespace) -> int:
    """Write the previews; exit 1 when any event failed."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings, mail = shop_mail(args.shop_config, args.templates)
    try:
        template_dir = mail.template_dir()
        shop = mail.shop()
    except ShopmailError as exc:
        print(f"shopmail preview: error: {exc.reason}", file=sys.stderr)
        return 1
    languages = available_languages(template_dir, shop.locales.default, shop.locales.supported)
    failed = 0
    for path in args.events:
        event = load_shop_event(path, args.locale)
        if event is None:
            failed += 1
            continue
        variants = [with_locale(event, lang) for lang in languages] if args.all_locales else [event]
        for variant in variants:
            try:
                rendered = mail.render(variant, settings)
            except ShopmailError as exc:
                print(f"{path}: {exc.code}: {exc.reason}", file=sys.stderr)
                failed += 1
                continue
            stem = f"{variant.template}.{rendered.language}"
            html_path, text_path = out / f"{stem}.html", out / f"{stem}.txt"
            html_path.write_text(previewable_html(rendered), encoding="utf-8")
            text_path.write_text(
                f"Subject: {rendered.subject}\n\n{rendered.text}", encoding="utf-8"
            )
            print(f"{rendered.subject}\n  {html_path}\n  {text_path}")
    return 1 if failed else 0
