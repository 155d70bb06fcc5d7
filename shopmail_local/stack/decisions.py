"""Capture the inbound service's routing decisions from its log records (for the web inbox).

The inbound service logs ``routing decision`` and ``action done`` records with log-safe extra
keys (message id, route, domains, action names). A handler on its logger copies those keys
(and only those) into the stack's state, so the web inbox can show each mail's route.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

SAFE_KEYS = (
    "message_id",
    "route",
    "recipient_domain",
    "actions",
    "action",
    "why",
    "detail_type",
    "reason",
    "stored",
)
MESSAGES = frozenset({"routing decision", "action done", "action already done", "action failed"})
LOGGERS = ("shopmail.services.inbound",)


class DecisionCapture(logging.Handler):
    """A logging handler that forwards routing records to ``sink`` (never raises)."""

    def __init__(self, sink: Callable[[dict[str, Any]], object]) -> None:
        super().__init__(level=logging.INFO)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        """Forward one record if it is a routing record."""
        try:
            message = record.getMessage()
            if message not in MESSAGES or not hasattr(record, "message_id"):
                return
            data = {k: getattr(record, k) for k in SAFE_KEYS if hasattr(record, k)}
            kind = "decision" if message == "routing decision" else "action"
            self.sink({"kind": kind, "event": message, **data})
        except Exception:
            self.handleError(record)


def attach(
    sink: Callable[[dict[str, Any]], object], loggers: Sequence[str] = LOGGERS
) -> Callable[[], None]:
    """Attach a :class:`DecisionCapture` to ``loggers``; return a function that detaches it."""
    handler = DecisionCapture(sink)
    targets = [logging.getLogger(name) for name in loggers]
    for logger in targets:
        logger.addHandler(handler)

    def detach() -> None:
        for logger in targets:
            logger.removeHandler(handler)

    return detach
