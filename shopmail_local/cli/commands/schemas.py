"""``shopmail schemas``: the contracts of the events shopmail emits.

``check [FILE...]`` checks events against ``events/schemas/emitted/`` (the schema, undeclared
keys, camelCase) and prints one JSON object per event (``detailType``, ``source``, ``id``,
``ok``, ``problems``); exit 1 when any event has a problem. A FILE holds one event or one event
per line (the local stack's ``events.jsonl`` lines ``{"ts", "event"}`` too); without FILE it
checks every ``shopmail.*`` event the local stack has seen (``--state``). Events of other
sources (the shop's own, SES's) are skipped.

``sync [--check]`` rewrites the generated blocks the schemas feed: the schema registry in
``template.yaml`` and the event catalogue in ``README.md``; with ``--check`` it writes nothing
and exits 1 when either is out of date.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from shopmail_local.cli.common import CommandError, cli_errors, iter_files, state_dir
from shopmail_local.contracts.catalogue import sync_readme
from shopmail_local.contracts.registry import sync_template
from shopmail_local.contracts.schemas import check_event, load_schemas
from shopmail_local.stack.state import StateStore


def register(subparsers: Any) -> None:
    """Add the ``schemas`` sub-command (``check``, ``sync``)."""
    p = subparsers.add_parser("schemas", help="emitted-event contracts", description=__doc__)
    sub = p.add_subparsers(dest="schemas_command", metavar="SUBCOMMAND")
    check = sub.add_parser("check", help="check events against their schemas", description=__doc__)
    check.add_argument("files", nargs="*", metavar="FILE", help="event files or folders")
    check.add_argument("--state", help="the local stack's state folder (default: .local/)")
    check.set_defaults(func=run_check)
    sync = sub.add_parser(
        "sync", help="rewrite the template and README blocks", description=__doc__
    )
    sync.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    sync.set_defaults(func=run_sync)
    p.set_defaults(func=lambda args: p.print_help(sys.stderr) or 2)


def _events_of(text: str, name: str) -> Iterator[Mapping[str, Any]]:
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    items = [whole] if isinstance(whole, dict) else None
    if items is None:
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise CommandError(f"{name}:{number}: not JSON ({exc.msg})") from None
    for item in items:
        if isinstance(item, dict):
            yield item.get("event", item) if isinstance(item.get("event"), dict) else item


def _events(args: argparse.Namespace) -> Iterator[Mapping[str, Any]]:
    if not args.files:
        for record in StateStore(state_dir(args.state)).event_log():
            event = record.get("event")
            if isinstance(event, dict):
                yield event
        return
    for path in iter_files(args.files, "*.json*"):
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        yield from _events_of(path.read_text(encoding="utf-8"), str(path))


@cli_errors("shopmail schemas check")
def run_check(args: argparse.Namespace) -> int:
    """Check events; 0 when every ``shopmail.*`` event matches its contract."""
    schemas = load_schemas()
    failed = 0
    for event in _events(args):
        source = str(event.get("source", ""))
        if not source.startswith("shopmail."):
            continue
        problems = check_event(schemas, event)
        failed += bool(problems)
        row = {
            "detailType": event.get("detail-type"),
            "source": source,
            "id": event.get("id"),
            "ok": not problems,
            "problems": problems,
        }
        print(json.dumps(row, ensure_ascii=False))
    return 1 if failed else 0


@cli_errors("shopmail schemas sync")
def run_sync(args: argparse.Namespace) -> int:
    """Rewrite (or with ``--check`` only compare) the generated blocks."""
    schemas = load_schemas()
    write = not args.check
    changed = [
        name
        for name, sync in (("template.yaml", sync_template), ("README.md", sync_readme))
        if sync(schemas, write=write)
    ]
    if args.check:
        for name in changed:
            print(f"{name}: out of date; run `shopmail schemas sync`", file=sys.stderr)
        return 1 if changed else 0
    print(f"updated: {', '.join(changed)}" if changed else "up to date")
    return 0
