"""``shopmail deliver FILE.eml --to ADDR``: send a mail into the local SES-inbound emulator.

Port and CA file come from the running stack's state file (``.local/stack.json``) unless
given; when nothing listens there the command says so in one line and exits 1.
"""

from __future__ import annotations

import argparse
import smtplib
import ssl
import sys
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from shopmail_local.cli.common import START_HINT, find_stack, state_dir


def register(subparsers: Any) -> None:
    """Add the ``deliver`` sub-command."""
    p = subparsers.add_parser(
        "deliver",
        help="send an .eml into the local SES-inbound emulator over SMTP",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--to", action="append", required=True, metavar="ADDR", help="repeatable")
    p.add_argument("--from", dest="mail_from", default="", help="envelope sender")
    p.add_argument("--host", default=None, help="default: the stack's (127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="default: the stack's (2525)")
    p.add_argument("--no-tls", action="store_true", help="skip STARTTLS")
    p.add_argument(
        "--ca-file",
        default=None,
        help="CA of the local certificate (default: the stack's, STATE/certs/ca.pem)",
    )
    p.add_argument("--state", type=Path, default=None, help="the stack's state folder")
    p.set_defaults(func=run)


def _where(args: argparse.Namespace) -> tuple[str, int, str]:
    stack = find_stack(args.state)
    host = args.host or (stack.host if stack else "127.0.0.1")
    port = args.port or (stack.port("inbound") if stack else 0) or 2525
    ca = args.ca_file or (str(stack.get("ca_file") or "") if stack else "")
    return host, port, ca or str(state_dir(args.state) / "certs" / "ca.pem")


def run(args: argparse.Namespace) -> int:
    """Send the file; print the SES-like message id from the ``250`` reply."""
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    mail_from = args.mail_from
    if not mail_from:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        mail_from = parseaddr(str(headers.get("Return-Path") or headers.get("From") or ""))[1]
    host, port, ca_file = _where(args)
    try:
        smtp_conn = smtplib.SMTP(host, port, timeout=30)
    except OSError as exc:
        print(
            f"shopmail deliver: error: the SES inbound emulator at {host}:{port} is not "
            f"reachable ({exc.strerror or exc}); {START_HINT}",
            file=sys.stderr,
        )
        return 1
    try:
        with smtp_conn as smtp:
            smtp.ehlo("shopmail-deliver")
            if not args.no_tls and smtp.has_extn("starttls"):
                try:
                    ctx = ssl.create_default_context(cafile=ca_file)
                except OSError as exc:
                    print(
                        f"shopmail deliver: error: cannot read the CA file {ca_file} "
                        f"({exc.strerror or exc}); pass --ca-file or --no-tls",
                        file=sys.stderr,
                    )
                    return 1
                smtp.starttls(context=ctx)
                smtp.ehlo("shopmail-deliver")
            smtp.mail(mail_from)
            for rcpt in args.to:
                code, msg = smtp.rcpt(rcpt)
                if code >= 400:
                    print(f"{rcpt}: {code} {msg.decode(errors='replace')}", file=sys.stderr)
                    return 1
            code, msg = smtp.data(raw)
            text = msg.decode(errors="replace")
            if code != 250:
                print(f"DATA: {code} {text}", file=sys.stderr)
                return 1
            print(f"accepted: {text}")
    except (OSError, smtplib.SMTPException) as exc:
        print(f"cannot deliver: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return 0
