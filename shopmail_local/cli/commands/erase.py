"""``shopmail erase ADDRESS [--stack NAME]``: erase one customer's data (GDPR Art. 17).

Runs the erasure use case (``shopmail.services.erasure``) against the running local stack or a
deployed one (``--stack NAME``: outputs from CloudFormation, region and credentials from the
usual AWS variables), with the operator's credentials: the address is suppressed as a hash only
(``hash:<sha256>``, so the shop never mails it again), the raw mail, attachments and quarantine
copies that name it are deleted with every version (found through the erasure index), its
sent-mail rows, idempotency and rate-limit items and dead letters are removed, and the report is
published as ``CustomerDataErased``.

Prints the report as JSON (with the removed S3 keys; the published event has counts only).
Exit 0 when every store was cleaned, 1 when the report lists errors (running it again is
harmless), 2 for an argument that is not an address.

Examples::

    shopmail erase kunde@example.com
    shopmail erase kunde@example.com --stack shopmail-prod --request-id GDPR-2026-0042
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from shopmail.domain.erasure.matcher import normalize_address
from shopmail.domain.erasure.request import ErasureRequest

from shopmail_local.cli.common import (
    StackOutputs,
    add_command,
    add_stack_arguments,
    stack_cli_errors,
)


def register(subparsers: Any) -> None:
    """Add the ``erase`` sub-command."""
    p = add_command(
        subparsers,
        "erase",
        "erase one customer's data everywhere (keeps the address suppressed as a hash)",
        __doc__,
    )
    p.add_argument("address", metavar="ADDRESS")
    p.add_argument("--request-id", help="the request's reference in the report (default: cli-TIME)")
    add_stack_arguments(p)
    p.set_defaults(func=run)


@stack_cli_errors("shopmail erase")
def run(args: argparse.Namespace) -> int:
    """Erase the address; print the report."""
    address = normalize_address(args.address)
    if not address:
        print(f"shopmail erase: not an address: {args.address!r}", file=sys.stderr)
        return 2
    stack = StackOutputs.from_args(args)
    stack.target.require_reachable()
    from shopmail.bootstrap.erasure import build_erasure_service

    service = build_erasure_service(stack.settings(), stack.clients())
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    report = service.erase(ErasureRequest(address, args.request_id or f"cli-{now}", "cli"))
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    if not report.complete:
        print("shopmail erase: incomplete (see errors); running it again is safe", file=sys.stderr)
        return 1
    return 0
