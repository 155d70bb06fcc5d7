"""``shopmail route FILE...|DIR``: show where messages would be routed (no side effects).

Prints one JSON object per (file, recipient) per line: ``file``, ``recipient``, ``route``,
``rules``, ``actions``, ``action_specs``, ``detail_type``, ``tag``, ``order_id``,
``order_numbers``, ``captures``, ``why``, ``auto_reply``. Without ``--recipient`` the
recipients are the message's To/Cc addresses (deduplicated); a message without any still
gives one line (recipient null, catch-all). A file that cannot be parsed prints
``{"file": ..., "error": ...}`` and the run goes on (exit status 1 at the end).

The routes file is loaded once (``--routes``, else ``ROUTES_FILE``, else the shipped default
routes; a path, ``s3://`` or ``ssm:``); the mail domain is ``--mail-domain``, else
``MAIL_DOMAIN``, else ``shop.example``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shopmail.config import Settings
from shopmail.domain.inbound.loop_guard import effective_sender
from shopmail.domain.inbound.routing import Classify, Router
from shopmail.domain.message import Envelope, InboundMessage, Verdicts
from shopmail.errors import ShopmailError

from shopmail_local.cli.common import add_command, iter_files, load_route_table

MAX_FILE_BYTES = 64 * 1024 * 1024
_VERDICT_NAMES = ("spam", "virus", "spf", "dkim", "dmarc", "dmarc_policy")
_STATUSES = ("PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED")

Parse = Callable[[bytes], InboundMessage]


def register(subparsers: Any) -> None:
    """Add the ``route`` sub-command."""
    p = add_command(
        subparsers,
        "route",
        "route messages by the rules (one JSON decision per line, no side effects)",
        __doc__,
    )
    p.add_argument("paths", nargs="+", metavar="FILE|DIR", help="message files or folders")
    p.add_argument(
        "--recipient",
        action="append",
        default=[],
        metavar="ADDR",
        help="envelope recipient to route for (repeatable; default: To/Cc of each message)",
    )
    p.add_argument(
        "--verdict",
        action="append",
        default=[],
        metavar="NAME=STATUS",
        help="SES verdict, e.g. spam=FAIL, dmarc=FAIL, dmarc_policy=reject (repeatable)",
    )
    p.add_argument("--routes", metavar="FILE", help="routes file (default: ROUTES_FILE/shipped)")
    p.add_argument("--mail-domain", metavar="DOMAIN", help="the shop's mail domain")
    p.add_argument("--glob", default="*", help="file name pattern inside folders (default: *)")
    p.add_argument(
        "--no-classify",
        action="store_true",
        help="decide bounce/complaint/auto-reply flags from the parser only (no classifier)",
    )
    p.set_defaults(func=run)


def parse_verdicts(items: Sequence[str]) -> Verdicts:
    """``["spam=FAIL", "dmarc_policy=reject"]`` -> :class:`Verdicts`.

    Raises
    ------
    ValueError
        For an unknown verdict name or status.
    """
    values: dict[str, str] = {}
    for item in items:
        name, sep, status = item.partition("=")
        name = name.strip().lower()
        status = status.strip()
        if not sep or name not in _VERDICT_NAMES:
            raise ValueError(f"--verdict {item!r}: use NAME=STATUS, NAME one of {_VERDICT_NAMES}")
        if name == "dmarc_policy":
            if status.lower() not in ("none", "quarantine", "reject"):
                raise ValueError(f"--verdict {item!r}: dmarc_policy is none|quarantine|reject")
            values[name] = status.lower()
        else:
            if status.upper() not in _STATUSES:
                raise ValueError(f"--verdict {item!r}: status one of {', '.join(_STATUSES)}")
            values[name] = status.upper()
    return Verdicts(**values)


def default_parse() -> Parse:
    """shopmail's parser (``parse_message`` without an envelope)."""
    from shopmail.domain.inbound.parsing import parse_message

    def parse(raw: bytes) -> InboundMessage:
        return parse_message(raw)

    return parse


def default_classify() -> Classify | None:
    """The feedback classifier's kind, when the classifier is installed."""
    try:
        from shopmail.domain.feedback import classify_message
    except ImportError:  # pragma: no cover - the classifier ships with the layer
        return None

    def classify(message: InboundMessage) -> str:
        return classify_message(message).kind

    return classify


def with_envelope(
    message: InboundMessage, path: Path, recipients: Sequence[str], verdicts: Verdicts
) -> InboundMessage:
    """Attach a local envelope: sender from Return-Path/From, the given recipients/verdicts."""
    envelope = Envelope(
        message_id=path.name,
        sender=effective_sender(message, None),
        recipients=tuple(recipients),
        verdicts=verdicts,
    )
    return dataclasses.replace(message, envelope=envelope)


def route_file(
    path: Path,
    router: Router,
    parse: Parse,
    recipients: Sequence[str] = (),
    verdicts: Verdicts | None = None,
) -> list[dict[str, Any]]:
    """Route one file: one dict per recipient (at least one), or one ``error`` dict."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return [{"file": str(path), "error": f"file too large ({size} bytes)"}]
        raw = path.read_bytes()
    except OSError as exc:
        return [{"file": str(path), "error": f"cannot read: {exc.strerror or exc}"}]
    try:
        message = with_envelope(parse(raw), path, recipients, verdicts or Verdicts())
        decisions = router.decide_all(message, list(recipients) or None)
    except ShopmailError as exc:
        return [{"file": str(path), "error": exc.reason}]
    except Exception as exc:
        return [{"file": str(path), "error": f"{type(exc).__name__}: {exc}"}]
    return [{"file": str(path), **d.to_dict()} for d in decisions]


def build_router(
    routes: str | None, mail_domain: str | None, classify: bool = True
) -> tuple[Router, Settings]:
    """The router the CLI uses (settings from the environment, overridden by the options)."""
    overrides: dict[str, Any] = {}
    if mail_domain:
        overrides["mail_domain"] = mail_domain
    settings = Settings.from_env(**overrides)
    router = Router(
        load_route_table(routes or settings.routes_file or None, settings.mail_domain),
        settings.mail_domain,
        order_pattern=settings.order_number_pattern or None,
        classify=default_classify() if classify else None,
    )
    return router, settings


def run(args: argparse.Namespace) -> int:
    """Route every file; exit 2 on bad options/routes, 1 when some file failed, else 0."""
    try:
        verdicts = parse_verdicts(args.verdict)
        router, _ = build_router(args.routes, args.mail_domain, not args.no_classify)
    except (ValueError, ShopmailError) as exc:
        print(f"shopmail route: {exc}", file=sys.stderr)
        return 2
    parse = default_parse()
    failures = 0
    out = sys.stdout
    for path in iter_files(args.paths, args.glob):
        for row in route_file(path, router, parse, args.recipient, verdicts):
            failures += "error" in row
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    out.flush()
    return 1 if failures else 0
