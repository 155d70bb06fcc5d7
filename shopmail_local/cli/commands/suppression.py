"""``shopmail suppression list|add|remove|export``: the suppression list (local or AWS).

The table is ``--table``, else ``SUPPRESSION_TABLE``, else the local stack's
``shopmail-local-SuppressionTable``. ``AWS_ENDPOINT_URL`` (or ``--endpoint-url``) points at the
local stack (moto); without it the AWS credentials and region of the environment are used.

Examples::

    shopmail suppression list
    shopmail suppression add kunde@example.org --class manual --reason "customer asked"
    shopmail suppression remove kunde@example.org
    shopmail suppression export --format csv -o suppression.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from shopmail.adapters.dynamodb_suppression import DynamoDbSuppressionList
from shopmail.config import ENV_NAMES, Settings
from shopmail.domain.suppression.entries import (
    COMPLAINT,
    HARD_BOUNCE,
    MANUAL,
    TRANSIENT_BOUNCES,
    UNSUBSCRIBE,
    SuppressionEntry,
    suppression_key,
)
from shopmail.errors import ShopmailError

LOCAL_TABLE = "shopmail-local-SuppressionTable"
CLASSES = (MANUAL, HARD_BOUNCE, COMPLAINT, UNSUBSCRIBE, TRANSIENT_BOUNCES)
COLUMNS = ("address", "class", "reason", "since", "source", "expires_at")


def register(subparsers: Any) -> None:
    """Add the ``suppression`` sub-command."""
    p = subparsers.add_parser(
        "suppression",
        help="list, add, remove or export suppressed addresses",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--table", help=f"table name (default: SUPPRESSION_TABLE or {LOCAL_TABLE})")
    common.add_argument("--endpoint-url", help="AWS endpoint (default: AWS_ENDPOINT_URL)")
    common.add_argument("--region", help="AWS region (default: AWS_REGION or eu-west-1)")
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

    def usage(args: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(func=usage)


def table_name(args: argparse.Namespace) -> str:
    """``--table``, else ``SUPPRESSION_TABLE``, else the local stack's table."""
    return str(args.table or os.environ.get(ENV_NAMES["suppression_table"]) or LOCAL_TABLE)


def open_list(args: argparse.Namespace) -> DynamoDbSuppressionList:
    """The suppression list adapter for the arguments."""
    import boto3

    region = args.region or os.environ.get(ENV_NAMES["region"]) or Settings().region
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    client = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint)
    return DynamoDbSuppressionList(client, table_name(args))


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


def _fail(exc: ShopmailError | Exception) -> int:
    reason = exc.reason if isinstance(exc, ShopmailError) else f"{type(exc).__name__}: {exc}"
    print(f"error: {reason}", file=sys.stderr)
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
        return _fail(exc)
    print(f"{n} suppressed address(es) in {table_name(args)}", file=sys.stderr)
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
        return _fail(exc)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """Remove each address; exit 1 when any was not on the list."""
    missing = 0
    try:
        sl = open_list(args)
        for address in args.addresses:
            if sl.delete(address):
                print(f"removed {suppression_key(address)}")
            else:
                missing += 1
                print(f"not suppressed: {suppression_key(address)}", file=sys.stderr)
    except Exception as exc:
        return _fail(exc)
    return 1 if missing else 0


def run_export(args: argparse.Namespace) -> int:
    """Write every entry as CSV or JSON lines."""
    try:
        buffer = io.StringIO()
        n = write_entries(open_list(args).list(include_expired=args.all), buffer, args.format)
    except Exception as exc:
        return _fail(exc)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as fh:
            fh.write(buffer.getvalue())
    else:
        sys.stdout.write(buffer.getvalue())
    print(f"exported {n} entries", file=sys.stderr)
    return 0
