"""``shopmail suppression list|add|remove|export``: the suppression list (local or AWS).

The table is ``--table``, else ``SUPPRESSION_TABLE``, else the local stack's
``shopmail-local-SuppressionTable``. Where the calls go: ``--endpoint-url``, else
``AWS_ENDPOINT_URL``; else AWS when ``AWS_PROFILE`` or ``AWS_ACCESS_KEY_ID`` is set; else the
local stack when its state file ``.local/stack.json`` exists (with its fake credentials; a
stopped stack gives "not running"); else AWS with the default credential chain. A missing
table, an unreachable endpoint or missing credentials print one line with what to do.

Examples::

    shopmail suppression list
    shopmail suppression add kunde@example.org --class manual --reason "customer asked"
    shopmail suppression remove kunde@example.org   # also the hash entry of an erasure
    shopmail suppression export --format csv -o suppression.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.config import env_setting
from shopmail.domain.suppression.entries import (
    COMPLAINT,
    HARD_BOUNCE,
    MANUAL,
    TRANSIENT_BOUNCES,
    UNSUBSCRIBE,
    SuppressionEntry,
    hashed_suppression_key,
    suppression_key,
)
from shopmail.errors import ShopmailError

from shopmail_local.cli.common import AwsTarget, add_command, aws_target, explain, usage_of

LOCAL_TABLE = "shopmail-local-SuppressionTable"
CLASSES = (MANUAL, HARD_BOUNCE, COMPLAINT, UNSUBSCRIBE, TRANSIENT_BOUNCES)
COLUMNS = ("address", "class", "reason", "since", "source", "expires_at")


def register(subparsers: Any) -> None:
    """Add the ``suppression`` sub-command."""
    p = add_command(
        subparsers, "suppression", "list, add, remove or export suppressed addresses", __doc__
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--table", help=f"table name (default: SUPPRESSION_TABLE or {LOCAL_TABLE})")
    common.add_argument("--endpoint-url", help="AWS endpoint (default: AWS_ENDPOINT_URL)")
    common.add_argument("--region", help="AWS region (default: AWS_REGION or eu-west-1)")
    common.add_argument("--state", help="the local stack's state folder (default: .local)")
    sub = p.add_subparsers(dest="suppression_command", metavar="SUBCOMMAND")

    ls = sub.add_parser("list", parents=[common], help="print the entries")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.add_argument("--all", action="store_true", help="include expired entries")
    ls.set_defaults(func=run_list)

    add = sub.add_parser("add", parents=[common], help="suppress addresses")
    add.add_argument("addresses", nargs="+", metavar="ADDRESS")
    add.add_argument("--class", dest="suppression_class", choices=CLASSES, default=MANUAL)
    add.add_argument("--reason", default="added by operator")
    add.add_argument("--days", type=int, help="expire after N days (default: never)")
    add.set_defaults(func=run_add)

    rm = sub.add_parser("remove", parents=[common], help="remove addresses")
    rm.add_argument("addresses", nargs="+", metavar="ADDRESS")
    rm.set_defaults(func=run_remove)

    ex = sub.add_parser("export", parents=[common], help="export every entry")
    ex.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    ex.add_argument("-o", "--output", help="file to write (default: stdout)")
    ex.add_argument("--all", action="store_true", help="include expired entries")
    ex.set_defaults(func=run_export)

    p.set_defaults(func=usage_of(p))


def target(args: argparse.Namespace) -> AwsTarget:
    """Where the calls go (see the module docs)."""
    region = args.region or env_setting("region") or None
    return aws_target(args.endpoint_url, region or None, getattr(args, "state", None))


def table_name(args: argparse.Namespace) -> str:
    """``--table``, else ``SUPPRESSION_TABLE``, else the local stack's table."""
    explicit = args.table or env_setting("suppression_table")
    if explicit:
        return str(explicit)
    stack = target(args).stack
    tables = stack.get("tables") if stack is not None else None
    if isinstance(tables, dict) and tables.get("SuppressionTable"):
        return str(tables["SuppressionTable"])
    return LOCAL_TABLE


def open_list(args: argparse.Namespace) -> DynamoDbSuppressionList:
    """The suppression list adapter for the arguments."""
    where = target(args)
    where.require_reachable()
    return DynamoDbSuppressionList(where.client("dynamodb"), table_name(args))


def entry_row(entry: SuppressionEntry) -> dict[str, Any]:
    """The export/list row of ``entry``."""
    return {
        "address": entry.address,
        "class": entry.suppression_class,
        "reason": entry.reason,
        "since": entry.since,
        "source": entry.source,
        "expires_at": entry.expires_at,
    }


def write_entries(entries: Iterable[SuppressionEntry], out: TextIO, fmt: str) -> int:
    """Write ``entries`` as ``csv`` (with header), ``jsonl`` or ``text``; return the count."""
    n = 0
    writer = csv.DictWriter(out, fieldnames=COLUMNS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for entry in entries:
        row = entry_row(entry)
        if writer is not None:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        elif fmt == "jsonl":
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            out.write(
                f"{entry.address}\t{entry.suppression_class}\t{entry.since}\t{entry.reason}\n"
            )
        n += 1
    return n


def _fail(exc: ShopmailError | Exception, args: argparse.Namespace | None = None) -> int:
    try:
        where = target(args) if args is not None else None
    except Exception:
        where = None
    cause = exc.__cause__ if isinstance(exc, ShopmailError) and exc.__cause__ else exc
    known = explain(cause, where) if isinstance(cause, Exception) else None
    if known is not None:
        if args is not None and "not found" in known.reason:
            known.hint = f"no table {table_name(args)!r} there: pass --table NAME"
        print(f"error: {known.line}", file=sys.stderr)
        return known.exit_code
    reason = exc.reason if isinstance(exc, ShopmailError) else f"{type(exc).__name__}: {exc}"
    print(f"error: {' '.join(reason.split())}", file=sys.stderr)
    return 1


def run_list(args: argparse.Namespace) -> int:
    """Print the entries (tab-separated, or JSON lines)."""
    try:
        n = write_entries(
            open_list(args).list(include_expired=args.all),
            sys.stdout,
            "jsonl" if args.json else "text",
        )
    except Exception as exc:
        return _fail(exc, args)
    print(
        f"{n} suppressed address(es) in {table_name(args)} ({target(args).where})", file=sys.stderr
    )
    return 0


def run_add(args: argparse.Namespace) -> int:
    """Suppress each address."""
    now = dt.datetime.now(dt.UTC)
    expires = int(now.timestamp() + args.days * 86400) if args.days else None
    try:
        sl = open_list(args)
        for address in args.addresses:
            if "@" not in address:
                print(f"error: not an address: {address!r}", file=sys.stderr)
                return 1
            sl.put(
                SuppressionEntry(
                    address=suppression_key(address),
                    suppression_class=args.suppression_class,
                    reason=args.reason,
                    since=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    source="cli",
                    expires_at=expires,
                )
            )
            print(f"suppressed {suppression_key(address)} ({args.suppression_class})")
    except Exception as exc:
        return _fail(exc, args)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """Remove each address (its plain entry and the hash entry an erasure left); exit 1 when
    any was not on the list."""
    missing = 0
    try:
        sl = open_list(args)
        for address in args.addresses:
            plain = sl.delete(address)
            hashed = sl.delete(hashed_suppression_key(address))
            if plain or hashed:
                print(f"removed {suppression_key(address)}" + (" (hash entry)" if hashed else ""))
            else:
                missing += 1
                print(f"not suppressed: {suppression_key(address)}", file=sys.stderr)
    except Exception as exc:
        return _fail(exc, args)
    return 1 if missing else 0


def run_export(args: argparse.Namespace) -> int:
    """Write every entry as CSV or JSON lines."""
    try:
        buffer = io.StringIO()
        n = write_entries(open_list(args).list(include_expired=args.all), buffer, args.format)
    except Exception as exc:
        return _fail(exc, args)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as fh:
            fh.write(buffer.getvalue())
    else:
        sys.stdout.write(buffer.getvalue())
    print(f"exported {n} entries", file=sys.stderr)
    return 0
