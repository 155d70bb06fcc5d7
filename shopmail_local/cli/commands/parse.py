"""``shopmail parse FILE...|DIR``: one JSON object per message per line.

Directories are walked recursively (sorted). A file that cannot be parsed gives
``{"file": ..., "error": ...}`` and the run goes on. Bodies are cut to ``--max-body`` characters.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.inbound.reply_text import strip_reply
from shopmail.domain.message import InboundMessage
from shopmail.errors import ShopmailError

from shopmail_local.cli.common import add_command, iter_files

DEFAULT_MAX_BODY = 4096
MAX_DEFECTS_SHOWN = 20


def register(subparsers: Any) -> None:
    """Add the ``parse`` sub-command."""
    p = add_command(
        subparsers, "parse", "parse raw messages and print one JSON object per message", __doc__
    )
    p.add_argument("paths", nargs="+", metavar="FILE|DIR", help="raw message files or folders")
    p.add_argument(
        "--max-body", type=int, default=DEFAULT_MAX_BODY, help="characters kept of each body"
    )
    p.add_argument(
        "--strict", action="store_true", help="exit with 1 when any file could not be parsed"
    )
    p.set_defaults(func=run)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]


def describe(message: InboundMessage, max_body: int) -> dict[str, Any]:
    """A JSON-friendly summary of a parsed message (bodies cut to ``max_body`` characters)."""

    def addresses(values: tuple[Any, ...]) -> list[dict[str, str]]:
        return [{"name": a.name, "address": a.address} for a in values]

    flags = message.flags
    return {
        "subject": message.subject,
        "from": addresses(message.from_),
        "to": addresses(message.to),
        "cc": addresses(message.cc),
        "reply_to": addresses(message.reply_to),
        "date": message.date.isoformat() if message.date else None,
        "message_id": message.message_id,
        "in_reply_to": list(message.in_reply_to),
        "references": list(message.references),
        "content_type": message.content_type,
        "report_type": message.report_type,
        "size": message.size,
        "flags": {
            "auto_submitted": flags.auto_submitted,
            "is_list": flags.is_list,
            "is_bulk": flags.is_bulk,
            "is_dsn": flags.is_dsn,
            "is_arf": flags.is_arf,
            "is_mdn": flags.is_mdn,
            "suppress_auto_response": flags.suppress_auto_response,
        },
        "text": _cut(message.text, max_body),
        "text_length": len(message.text),
        "reply_text": _cut(strip_reply(message.text), max_body),
        "html_length": len(message.html) if message.html is not None else None,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "disposition": a.disposition,
                "content_id": a.content_id,
            }
            for a in message.attachments
        ],
        "attached_messages": [
            {"subject": m.subject, "content_type": m.content_type, "message_id": m.message_id}
            for m in message.attached_messages
        ],
        "defects": list(message.defects[:MAX_DEFECTS_SHOWN]),
        "defect_count": len(message.defects),
    }


def parse_file(path: Path, max_body: int) -> dict[str, Any]:
    """Parse one file into its JSON object (``error`` instead when it cannot be parsed)."""
    try:
        with path.open("rb") as handle:
            message = parse_message(iter(lambda: handle.read(1 << 16), b""))
    except ShopmailError as exc:
        return {"file": str(path), "error": exc.reason, "code": exc.code}
    except OSError as exc:
        return {"file": str(path), "error": f"cannot read file: {exc.strerror}", "code": "io"}
    except Exception as exc:
        return {"file": str(path), "error": f"{type(exc).__name__}: {exc}", "code": "internal"}
    return {"file": str(path), **describe(message, max_body)}


def run(args: argparse.Namespace) -> int:
    """Print one JSON line per file; 1 with ``--strict`` when any file failed."""
    failed = 0
    seen = 0
    out = sys.stdout
    for path in iter_files(args.paths):
        seen += 1
        result = parse_file(path, args.max_body)
        failed += "error" in result
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()
    if not seen:
        print("shopmail parse: no files found", file=sys.stderr)
        return 2
    return 1 if args.strict and failed else 0
