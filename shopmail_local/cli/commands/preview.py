"""``shopmail preview EVENT.json [...] --out DIR``: write the HTML and text of outbound mail.

For each event it writes ``<Template>.<lang>.html`` and ``<Template>.<lang>.txt`` (and prints
the subject and paths), ready to open in a browser. ``--locale`` overrides the customer locale;
``--all-locales`` writes every language that has templates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shopmail.config import Settings
from shopmail.domain.outbound.contracts import with_locale
from shopmail.domain.outbound.rendering import available_languages, render
from shopmail.errors import ShopmailError

from shopmail_local.cli.common import load_shop_event


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``preview`` sub-command."""
    p = subparsers.add_parser("preview", help="write the HTML and text of outbound events")
    p.add_argument("events", nargs="+", help="EventBridge event JSON file(s)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--locale", help="override the customer locale (de, en, ...)")
    p.add_argument("--all-locales", action="store_true", help="write every language")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the previews; exit 1 when any event failed."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env()
    failed = 0
    for path in args.events:
        event = load_shop_event(path, args.locale)
        if event is None:
            failed += 1
            continue
        variants = (
            [with_locale(event, lang) for lang in available_languages()]
            if args.all_locales
            else [event]
        )
        for variant in variants:
            try:
                rendered = render(variant, settings)
            except ShopmailError as exc:
                print(f"{path}: {exc.code}: {exc.reason}", file=sys.stderr)
                failed += 1
                continue
            stem = f"{variant.template}.{rendered.language}"
            html_path, text_path = out / f"{stem}.html", out / f"{stem}.txt"
            html_path.write_text(rendered.html, encoding="utf-8")
            text_path.write_text(
                f"Subject: {rendered.subject}\n\n{rendered.text}", encoding="utf-8"
            )
            print(f"{rendered.subject}\n  {html_path}\n  {text_path}")
    return 1 if failed else 0
