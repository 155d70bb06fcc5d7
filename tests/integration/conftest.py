"""Every integration test also checks the privacy rule: no full address in any log record.

The autouse fixture :func:`no_addresses_in_logs` sees every record any logger handles during
the test (``logging.Logger.handle``; shopmail's loggers at DEBUG for the test), and scans the
message, its ``args``, the exception and every ``extra`` attribute for something shaped like an
address. Allowed are role addresses of the shop (``support@``, ``postmaster@``...; the local
parts in :data:`ROLE_LOCAL_PARTS`), addresses reduced to their domain (``***@domain``) and
Message-IDs in angle brackets (logs carry message ids). Anything else fails the test, naming the
logger and the place, never the value.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

#: Local parts of role addresses (RFC 2142, the shop's senders and the shipped routes' boxes).
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse", "billing", "bounce", "bounces", "contact", "help", "hostmaster", "info",
        "invoices", "kontakt", "kundenservice", "mailer-daemon", "marketing", "news",
        "no-reply", "noc", "noreply", "orders", "postmaster", "returns", "sales", "security",
        "service", "shop", "support", "team", "webmaster",
    }
)  # fmt: skip

_ADDRESS = re.compile(
    r"(?P<open><)?(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+)@"
    r"(?P<domain>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+)(?P<close>>)?"
)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _allowed(match: re.Match[str]) -> bool:
    local = match.group("local").lower().split("+", 1)[0]
    if set(local) <= {"*"} or local in ROLE_LOCAL_PARTS:
        return True
    # a Message-ID in angle brackets (ours: sm.<kind>..., SES's, or a sender's <...@host>)
    return bool(match.group("open") and match.group("close"))


def _texts(record: logging.LogRecord) -> Iterator[tuple[str, str]]:
    yield "message", record.getMessage()
    args = record.args if isinstance(record.args, tuple) else (record.args,)
    for index, arg in enumerate(a for a in args if a is not None):
        yield f"args[{index}]", _dump(arg)
    if record.exc_info and record.exc_info[1] is not None:
        yield "exception", repr(record.exc_info[1])
    for name, value in record.__dict__.items():
        if name not in _STANDARD:
            yield f"extra {name}", _dump(value)


def _dump(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def address_leaks(records: list[logging.LogRecord]) -> list[str]:
    """Where the records carry an address that is not allowed (logger, level, field)."""
    leaks = []
    for record in records:
        for where, text in _texts(record):
            if any(not _allowed(m) for m in _ADDRESS.finditer(text)):
                leaks.append(
                    f"{record.name} {record.levelname} {record.pathname}:{record.lineno} {where}"
                )
    return sorted(set(leaks))


@pytest.fixture(autouse=True)
def no_addresses_in_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[logging.LogRecord]]:
    """Capture every log record of the test and fail it if one carries a full address."""
    records: list[logging.LogRecord] = []
    handle = logging.Logger.handle

    def capture(self: logging.Logger, record: logging.LogRecord) -> None:
        records.append(record)
        handle(self, record)

    monkeypatch.setattr(logging.Logger, "handle", capture)
    ours = [
        logging.getLogger(name)
        for name in ["shopmail", "shopmail_local", *logging.root.manager.loggerDict]
        if name.split(".")[0].startswith("shopmail")
    ]
    levels = [(logger, logger.level) for logger in ours]
    for logger in ours:
        logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        for logger, level in levels:
            logger.setLevel(level)
    leaks = address_leaks(records)
    if leaks:
        pytest.fail("full addresses in log records:\n  " + "\n  ".join(leaks), pytrace=False)
