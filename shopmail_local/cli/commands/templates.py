"""``shopmail templates check DIR``: validate a shop's template overrides (for its CI).

DIR has the shape of ``layers/shopmail/shopmail/templates`` and holds only the files it changes
(``de/OrderPlaced.html``, ``OrderPlaced.txt``, ``de/strings.json`` merged key by key, a new
``sv/strings.json``, ``logo.png``). It is laid over the shipped templates exactly as the
outbound function lays ``TEMPLATES_LOCATION`` over them, then checked. One JSON object per line:

* ``{"check": "file", "file": ..., "ok": ..., "problems": [...], "notes": [...]}`` per override
  file: a usable name, Jinja syntax, every variable known (the names the renderer provides, the
  keys of ``t`` in the strings the file is rendered with, the fields of ``shop``); notes for
  ``strings.json`` keys the shipped texts do not have (a typo, or a key of the shop's own);
* ``{"check": "language", "language": ..., "ok": ..., "problems": [...]}`` per language folder
  (every key of the default language, known placeholders, a locale Babel knows);
* ``{"check": "shop_config", ...}`` with ``--shop-config`` (also ``SHOP_CONFIG``): it validates,
  and every supported locale has a valid folder;
* ``{"check": "render", "event": ..., "template": ..., "locale": ..., "ok": ..., "subject"}``
  for every sample event (``--events``, default ``events/outbound``) in every language that
  serves customers (``error`` instead of ``subject`` when it fails);
* last ``{"check": "summary", "ok": ..., "files": n, "languages": n, "renders": n,
  "failed": n}``.

Exit status 0 when everything is ok, 1 when anything failed, 2 when DIR is not a folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from shopmail.config import Settings
from shopmail.domain.outbound.contracts import with_locale
from shopmail.domain.outbound.rendering import (
    CONTEXT_NAMES,
    available_languages,
    render,
    template_environment,
)
from shopmail.domain.outbound.shop_config import Legal, Logo, ShopConfig
from shopmail.domain.outbound.template_catalog import STRINGS_FILE, load_catalog
from shopmail.domain.outbound.template_overlay import (
    IMAGE_SUFFIXES,
    Overlay,
    build_overlay,
    read_folder,
    template_file_problem,
)
from shopmail.errors import ShopmailError

from shopmail_local.cli.common import (
    REPO,
    add_command,
    iter_files,
    load_shop_event,
    shop_mail,
    usage_of,
)

DEFAULT_EVENTS = REPO / "events" / "outbound"


def register(subparsers: Any) -> None:
    """Add the ``templates`` sub-command (with ``check``)."""
    p = subparsers.add_parser("templates", help="template override tools", description=__doc__)
    sub = p.add_subparsers(dest="templates_command", metavar="SUBCOMMAND")
    check = add_command(
        sub, "check", "validate a template override folder (one JSON object per line)", __doc__
    )
    check.add_argument("folder", metavar="DIR", help="the override folder")
    check.add_argument(
        "--shop-config", metavar="FILE", help="shop configuration (default: SHOP_CONFIG)"
    )
    check.add_argument(
        "--events",
        metavar="DIR",
        default=str(DEFAULT_EVENTS),
        help="sample events to render (default: events/outbound)",
    )
    check.set_defaults(func=run_check)
    p.set_defaults(func=usage_of(p))


def run_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Check the folder; print the JSON lines; 0 ok, 1 problems, 2 no folder."""
    out = out or sys.stdout
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"shopmail templates check: error: {folder} is not a folder", file=sys.stderr)
        return 2
    failed = 0
    counts = {"files": 0, "languages": 0, "renders": 0}

    def emit(line: dict[str, Any], counted: str = "") -> None:
        nonlocal failed
        failed += line.get("ok") is False
        if counted:
            counts[counted] += 1
        out.write(json.dumps(line, ensure_ascii=False) + "\n")

    settings, mail = shop_mail(args.shop_config, str(folder))
    shop = ShopConfig()
    if settings.shop_config:
        try:
            shop = mail.shop()
            problems = []
        except ShopmailError as exc:
            problems = list(exc.context.get("errors") or [exc.reason])
        emit(
            {
                "check": "shop_config",
                "source": settings.shop_config,
                "ok": not problems,
                "problems": problems,
            }
        )
    try:
        files = read_folder(folder)
    except (OSError, ValueError) as exc:
        emit({"check": "file", "file": str(folder), "ok": False, "problems": [str(exc)]})
        files = {}
    with tempfile.TemporaryDirectory(prefix="shopmail-check-") as tmp:
        overlay = build_overlay(files, Path(tmp) / "templates")
        catalog = load_catalog(overlay.root, shop.locales.default, shop.locales.fallback)
        reference = catalog.reference or shop.locales.default
        for line in _file_checks(files, overlay, reference):
            emit(line, "files")
        for language in sorted(set(catalog.languages) | set(catalog.problems)):
            reasons = list(catalog.problems.get(language, ()))
            emit(
                {"check": "language", "language": language, "ok": not reasons, "problems": reasons},
                "languages",
            )
        serving = available_languages(overlay.root, shop.locales.default, shop.locales.supported)
        if settings.shop_config:
            missing = [
                tag
                for tag in shop.locales.supported
                if not available_languages(overlay.root, shop.locales.default, (tag,))
            ]
            if missing:
                emit(
                    {
                        "check": "shop_config",
                        "ok": False,
                        "problems": [f"locales.supported {missing}: no valid language folder"],
                    }
                )
        for line in _renders(Path(args.events), overlay.root, serving, settings, shop):
            emit(line, "renders")
    emit({"check": "summary", "ok": failed == 0, **counts, "failed": failed})
    return 0 if failed == 0 else 1


# --- one override file -----------------------------------------------------------------------


def _file_checks(
    files: Mapping[str, bytes], overlay: Overlay, reference: str
) -> Iterator[dict[str, Any]]:
    shape = _shop_shape()
    for name in sorted(files):
        problems: list[str] = []
        notes: list[str] = []
        why = template_file_problem(name)
        if why:
            problems.append(why)
        elif name in overlay.problems:
            problems.append(overlay.problems[name])
        path = PurePosixPath(name)
        language = path.parts[0] if len(path.parts) == 2 else reference
        if path.suffix.lower() in IMAGE_SUFFIXES:
            notes.append("an image (logo.source may name it)")
        elif not why and path.name != STRINGS_FILE:
            problems += _template_problems(files[name], overlay.root, language, shape)
        yield {
            "check": "file",
            "file": name,
            "ok": not problems,
            "problems": problems,
            "notes": notes,
        }


def _template_problems(
    data: bytes, root: Path, language: str, shape: Mapping[str, Any]
) -> list[str]:
    from jinja2 import TemplateSyntaxError, meta, nodes

    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"not UTF-8 ({exc.reason} at byte {exc.start})"]
    env = template_environment(root, language)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [f"line {exc.lineno}: {exc.message}"]
    undeclared = meta.find_undeclared_variables(tree) - CONTEXT_NAMES - set(env.globals)
    problems = [
        f"unknown variable {name!r} (known: {', '.join(sorted(CONTEXT_NAMES))})"
        for name in sorted(undeclared - _declared(tree))
    ]
    strings = _strings(root, language)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        chain = _chain(node)
        if not chain or chain[0] not in ("t", "shop") or len(chain) < 2:
            continue
        known = strings if chain[0] == "t" else shape
        missing = _missing_key(known, chain[1:])
        if missing:
            problems.append(f"unknown {chain[0]}.{missing} (not in {_where(chain[0], language)})")
    return list(dict.fromkeys(problems))


def _declared(tree: Any) -> set[str]:
    """Names the template itself defines (set, for, macro arguments, imports): Jinja's own
    analysis counts those used inside a block as undeclared."""
    from jinja2 import nodes

    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    names |= {n.name for n in tree.find_all(nodes.Macro)}
    names |= {n.target for n in tree.find_all(nodes.Import)}
    for node in tree.find_all(nodes.FromImport):
        names |= {item[1] if isinstance(item, tuple) else item for item in node.names}
    return names


def _chain(node: Any) -> list[str]:
    """``t.OrderPlaced.intro`` -> ``['t', 'OrderPlaced', 'intro']`` (constant keys only)."""
    from jinja2 import nodes

    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            parts.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Getitem):
            parts = []  # a computed key (t.legal[name]): only the part before it is known
            node = node.node
        elif isinstance(node, nodes.Name):
            return [node.name, *reversed(parts)]
        else:
            return []


def _missing_key(known: Any, path: list[str]) -> str:
    for index, part in enumerate(path):
        if not isinstance(known, Mapping):
            return ""  # a value's own attribute (a string's method): not a key
        if part not in known:
            return ".".join(path[: index + 1])
        known = known[part]
    return ""


def _where(root: str, language: str) -> str:
    return f"{language}/{STRINGS_FILE}" if root == "t" else "the shop configuration's fields"


def _strings(root: Path, language: str) -> Mapping[str, Any]:
    try:
        data = json.loads((root / language / STRINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _new_keys(data: bytes, root: Path, language: str) -> list[str]:
    """Keys of an override ``strings.json`` the shipped strings do not have."""
    from shopmail.domain.outbound.rendering import TEMPLATE_DIR

    shipped = _strings(TEMPLATE_DIR, language)
    if not shipped:
        return []  # a new language: the language check says what it lacks
    try:
        theirs = json.loads(data.decode("utf-8-sig"))
    except ValueError:
        return []
    return [
        f"{key}: not a key of the shipped {language}/{STRINGS_FILE} (a typo, or a key of your own)"
        for key in _flat_keys(theirs)
        if _missing_key(shipped, key.split("."))
    ]


def _flat_keys(data: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(value, Mapping):
                yield from _flat_keys(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"


def _shop_shape() -> Mapping[str, Any]:
    """Every field a template can read from ``shop`` (a view with all parts configured)."""
    full = ShopConfig(
        image_hosts=("img.example",),
        logo=Logo(url="https://img.example/logo.png"),
        legal=Legal(company="x", managing_directors=("x",)),
    )
    return full.view("en", "x@shop.example")


# --- rendering every sample ------------------------------------------------------------------


def _renders(
    events: Path, root: Path, languages: tuple[str, ...], settings: Settings, shop: ShopConfig
) -> Iterator[dict[str, Any]]:
    for path in iter_files([str(events)], "*.json"):
        event = load_shop_event(str(path))
        if event is None:
            yield {"check": "render", "event": path.name, "ok": False, "error": "invalid event"}
            continue
        for language in languages:
            line: dict[str, Any] = {
                "check": "render",
                "event": path.name,
                "template": event.template,
                "locale": language,
            }
            try:
                variant = with_locale(event, language)
                mail = render(variant, settings, shop=shop, template_dir=root)
            except ShopmailError as exc:
                yield {**line, "ok": False, "error": exc.reason}
                continue
            if mail.language != language:
                yield {**line, "ok": False, "error": f"rendered in {mail.language} instead"}
                continue
            yield {**line, "ok": True, "subject": mail.subject}
