"""Shared helpers of the ``render`` and ``preview`` commands (load an event file)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shopmail.domain.outbound.contracts import ShopEvent, validate, with_locale
from shopmail.errors import ShopmailError


def load_shop_event(path: str, locale: str | None = None) -> ShopEvent | None:
    """Read and validate an EventBridge event file; print the reason and return ``None``.

    Accepts the full EventBridge envelope, or an SQS record / message whose ``body`` is one.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"{path}: cannot read event: {exc}", file=sys.stderr)
        return None
    if isinstance(data, dict) and "detail-type" not in data and isinstance(data.get("body"), str):
        try:
            data = json.loads(data["body"])
        except ValueError as exc:
            print(f"{path}: SQS body is not JSON: {exc}", file=sys.stderr)
            return None
    try:
        event = validate(data)
        return with_locale(event, locale) if locale else event
    except ShopmailError as exc:
        print(f"{path}: {exc.code}: {exc.reason}", file=sys.stderr)
        return None
