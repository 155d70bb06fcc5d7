"""``shopmail deliver FILE.eml --to ADDR``: send a mail into the local SES-inbound emulator."""

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

from shopmail_local.stack.runner import REPO


def register(subparsers: Any) -> None:
    """Add the ``deliver`` sub-command."""
    p = subparsers.add_parser(
        "deliver",
        help="send an .eml into the local SES-inbound emulator over SMTP",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--to", action="append", required=True, metavar="ADDR", help="repeatable")
    p.add_argument("--from", dest="mail_from", default="", help="envelope sender")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2525)
    p.add_argument("--no-tls", action="store_true", help="skip STARTTLS")
    p.add_argument(
        "--ca-file",
        default=str(REPO / ".local" / "certs" / "ca.pem"),
        help="CA of the local certificate (default: %(default)s)",
    )
    p.set_defaults(func=run)


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
    try:
        with smtplib.SMTP(args.host, args.port, timeout=30) as smtp:
            smtp.ehlo("shopmail-deliver")
            if not args.no_tls and smtp.has_extn("starttls"):
                ctx = ssl.create_default_context(cafile=args.ca_file)
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
        print(f"cannot deliver: {exc}", file=sys.stderr)
        return 1
    return 0
