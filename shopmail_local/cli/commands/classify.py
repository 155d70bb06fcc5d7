"""``shopmail classify FILE...|DIR``: classify bounces, complaints and auto-replies.

Prints one JSON object per message per line: ``file``, ``kind``, ``recipients``,
``feedback_type``, ``reporting_mta``, ``original_message_id`` (plus ``reason``, ``hard`` and
``detector`` summaries). A file that cannot be read prints ``{"file": ..., "error": ...}`` and
the run goes on. Everything runs in this one process.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from shopmail.domain.feedback import Classification, classify_message, classify_tree

from shopmail_local.cli.common import iter_files

MAX_FILE_BYTES = 64 * 1024 * 1024


def register(subparsers: Any) -> None:
    """Add the ``classify`` sub-command."""
    p = subparsers.add_parser(
        "classify",
        help="classify DSN/ARF/auto-reply messages (one JSON line per message)",
        description=__doc__,
    )
    p.add_argument("paths", nargs="+", metavar="FILE|DIR", help="message files or folders")
    p.add_argument(
        "--glob",
        default="*",
        help="file name pattern inside folders (default: every file, recursively)",
    )
    p.add_argument(
        "--stdlib-parser",
        action="store_true",
        help="parse with the stdlib compat32 parser instead of shopmail's parser",
    )
    p.set_defaults(func=run)


def _shopmail_parser() -> Callable[[bytes], Classification] | None:
    try:
        from shopmail.domain.inbound.parsing import parse_message
    except ImportError:
        return None

    def classify_raw(raw: bytes) -> Classification:
        return classify_message(parse_message(raw))

    return classify_raw


def _stdlib_classify(raw: bytes) -> Classification:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 BOM would hide the first header
    tree: Message = BytesParser(policy=compat32).parsebytes(raw)
    return classify_tree(tree)


def classify_file(path: Path, classify_raw: Callable[[bytes], Classification]) -> dict[str, Any]:
    """Classify one file; the result dict always has ``file`` and ``kind`` or ``error``."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return {"file": str(path), "error": f"file too large ({size} bytes)"}
        raw = path.read_bytes()
    except OSError as exc:
        return {"file": str(path), "error": f"cannot read: {exc.strerror or exc}"}
    try:
        result = classify_raw(raw)
    except Exception as exc:
        if classify_raw is _stdlib_classify:
            return {"file": str(path), "error": f"{type(exc).__name__}: {exc}"}
        try:
            result = _stdlib_classify(raw)
        except Exception as exc2:
            return {"file": str(path), "error": f"{type(exc2).__name__}: {exc2}"}
    return {"file": str(path), **result.to_dict()}


def run(args: argparse.Namespace) -> int:
    """Classify every file; exit 1 when some file could not be read, else 0."""
    classify_raw = None if args.stdlib_parser else _shopmail_parser()
    if classify_raw is None:
        classify_raw = _stdlib_classify
    failures = 0
    out = sys.stdout
    for path in iter_files(args.paths, args.glob):
        row = classify_file(path, classify_raw)
        if "error" in row:
            failures += 1
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    out.flush()
    return 1 if failures else 0
