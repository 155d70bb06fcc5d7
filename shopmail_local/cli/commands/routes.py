"""``shopmail routes check [FILE]``: validate a routes file.

Without FILE it checks ``ROUTES_FILE`` (or the shipped default routes); FILE may also be an
``s3://bucket/key`` or ``ssm:/name`` location (read from the AWS target, like the inbound
function reads it). Prints a summary of the rules and exits 0 when the file is valid; prints
every problem (one per line, naming the rule and the field) and exits 1 when it is not (also
when it cannot be read). A ``forward`` to an address on the mail domain (``--mail-domain``,
default ``MAIL_DOMAIN`` or ``shop.example``) that the same rules would forward again is a
problem too (a forward loop), as the inbound function refuses it.
"""

from __future__ import annotations

import argparse
from typing import Any

from shopmail.config import Settings, env_setting
from shopmail.domain.inbound.routing import RouteTable
from shopmail.errors import RouteConfigError, ShopmailError

from shopmail_local.cli.common import load_route_table, usage_of


def register(subparsers: Any) -> None:
    """Add the ``routes`` sub-command (with ``check``)."""
    p = subparsers.add_parser("routes", help="routes file tools", description=__doc__)
    sub = p.add_subparsers(dest="routes_command", metavar="SUBCOMMAND")
    check = sub.add_parser(
        "check", help="validate a routes file (exit 0 valid, 1 invalid)", description=__doc__
    )
    check.add_argument("file", nargs="?", help="routes file (default: ROUTES_FILE or shipped)")
    check.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    check.add_argument(
        "--mail-domain",
        help="the shop's mail domain, for the forward-loop check (default: MAIL_DOMAIN)",
    )
    check.set_defaults(func=run_check)
    p.set_defaults(func=usage_of(p))


def describe(table: RouteTable) -> list[str]:
    """Readable one-line summaries of the rules."""
    lines = []
    for i, rule in enumerate(table.rules, 1):
        actions = ", ".join(
            a.name + (f"({a.params[0][1]})" if a.params and a.name != "forward" else "")
            for a in rule.actions
        )
        kind = "catch-all" if rule.catch_all else f"{len(rule.matchers)} matcher(s)"
        lines.append(f"  {i}. {rule.name}: {kind} -> {actions}{'' if rule.stop else ' [no stop]'}")
    return lines


def run_check(args: argparse.Namespace) -> int:
    """Validate the file; 0 valid, 1 invalid."""
    path = args.file or env_setting("routes_file") or None
    try:
        domain = args.mail_domain or env_setting("mail_domain") or Settings().mail_domain
        table = load_route_table(path, domain)
    except RouteConfigError as exc:
        errors = exc.context.get("errors") or [exc.reason]
        print(f"{exc.context.get('source', path)}: INVALID ({len(errors)} problem(s))")
        for err in errors:
            print(f"  - {err}")
        return 1
    except ShopmailError as exc:  # a remote file that cannot be read
        print(f"{path}: UNREADABLE: {exc.reason}")
        return 1
    if not args.quiet:
        p = table.policy
        print(f"{table.source}: OK, {len(table.rules)} rule(s)")
        print(
            f"  policy: virus_fail={p.virus_fail} spam_fail={p.spam_fail} dmarc_fail={p.dmarc_fail}"
        )
        print("\n".join(describe(table)))
        if not table.has_catch_all:
            print("  note: no catch-all rule: unmatched mail uses the built-in fallback")
    return 0
