"""RFC 3464 delivery status notifications (``message/delivery-status``).

The compat32 parser exposes the status groups of a ``message/delivery-status`` part as
sub-messages (one per blank-line separated block); text that it could not read as headers is
re-read here by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Final

from shopmail.domain.feedback.model import RecipientResult
from shopmail.domain.feedback.reasons import find_smtp_code, find_status, judge
from shopmail.domain.inbound.parsing.bodies import body_text
from shopmail.domain.inbound.parsing.headers import decode_words

MAX_GROUPS: Final = 200
MAX_DIAGNOSTIC: Final = 1000
MAX_FIELD: Final = 4000
DSN_TYPES: Final = frozenset({"message/delivery-status", "message/global-delivery-status"})
_FIELD_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,60})\s*:\s*(.*)$")
_ADDR_RE: Final = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_RECIPIENT_KEYS: Final = frozenset({"final-recipient", "original-recipient"})
_ACTIONS: Final = (
    ("fail", "failed"),
    ("delay", "delayed"),
    ("deliver", "delivered"),
    ("relay", "relayed"),
    ("expand", "expanded"),
)
_NOT_FAILURES: Final = frozenset({"delivered", "relayed", "expanded"})

Fields = dict[str, str]
#: Text about one recipient from elsewhere in the report (``address -> text``).
ContextFn = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class DsnReport:
    """What a ``message/delivery-status`` part says."""

    reporting_mta: str | None
    recipients: tuple[RecipientResult, ...]
    arrival_date: str | None = None


def _parse_text_groups(text: str) -> list[Fields]:
    groups: list[Fields] = []
    current: Fields = {}
    last: str | None = None
    for line in text.splitlines()[:2000]:
        if not line.strip():
            if current:
                groups.append(current)
                current, last = {}, None
            continue
        if line[:1] in (" ", "\t") and last is not None:
            current[last] = f"{current[last]} {line.strip()}"
            continue
        match = _FIELD_RE.match(line)
        if match:
            last = match.group(1).lower()
            if last not in current:
                current[last] = match.group(2).strip()
            else:
                last = None
    if current:
        groups.append(current)
    return groups[:MAX_GROUPS]


def _group_fields(group: Message, defects: list[str]) -> Fields:
    fields: Fields = {}
    for key, value in group.raw_items():
        name = key.lower().strip()
        if name not in fields:
            text = value if isinstance(value, str) else str(value)
            fields[name] = " ".join(decode_words(text[:MAX_FIELD], defects).split())
    return fields


def _groups(part: Message, defects: list[str]) -> list[Fields]:
    payload = part.get_payload()
    if isinstance(payload, str):
        return _parse_text_groups(body_text(part, defects))
    if not isinstance(payload, list):
        defects.append("DsnWithoutFields: delivery-status part is empty")
        return []
    groups: list[Fields] = []
    for group in payload[:MAX_GROUPS]:
        if not isinstance(group, Message):
            continue
        fields = _group_fields(group, defects)
        rest: list[Fields] = []
        inner = group.get_payload()
        if isinstance(inner, str) and inner.strip():
            rest = _parse_text_groups(inner)
            if rest and fields and not _RECIPIENT_KEYS & rest[0].keys():
                # lines after a malformed one continue the same group (a new group would
                # start with its recipient, e.g. message/global-delivery-status)
                for key, value in rest[0].items():
                    fields.setdefault(key, value)
                rest = rest[1:]
        if fields:
            groups.append(fields)
        groups.extend(rest)
    return groups


def strip_type(value: str) -> str:
    """``rfc822; <a@b>`` -> ``<a@b>``; ``smtp; 550 ...`` -> ``550 ...``."""
    head, sep, tail = value.partition(";")
    if sep and " " not in head.strip() and len(head) < 30:
        return tail.strip()
    return value.strip()


def clean_address(value: str) -> str:
    """The bare address of a recipient field (``""`` when there is none)."""
    value = strip_type(value)
    match = _ADDR_RE.search(value)
    if match:
        return match.group(0).strip(".").strip()
    value = value.strip().strip("<>").strip()
    return value if value and " " not in value and len(value) < 320 else ""


def normalize_action(value: str, status: str | None, smtp_code: str | None) -> str:
    """One of the RFC 3464 actions; unknown values are read from the status class."""
    low = value.strip().lower()
    for prefix, action in _ACTIONS:
        if low.startswith(prefix):
            return action
    code = (status or smtp_code or "5")[0]
    return {"4": "delayed", "2": "delivered"}.get(code, "failed")


def _no_context(_address: str) -> str:
    return ""


def recipient_from_fields(
    fields: Fields, context: ContextFn = _no_context, ours: frozenset[str] = frozenset()
) -> RecipientResult | None:
    """Build a :class:`RecipientResult` from one per-recipient group.

    Parameters
    ----------
    fields:
        The group's fields (lower-case names).
    context:
        Text about the recipient from the report's human-readable part (the stage of the
        reply and, when the group has no diagnostic, the reason may be read from it).
    ours:
        Lower-cased addresses of our side (see :func:`~shopmail.domain.feedback.reasons.judge`).
    """
    address = ""
    for name in ("original-recipient", "final-recipient", "x-actual-recipient"):
        value = fields.get(name)
        if value:
            candidate = clean_address(value)
            if candidate and "@" in candidate:
                address = candidate
                break
            if candidate and not address:
                address = candidate
    if not address:
        return None
    diagnostic = " ".join(strip_type(fields.get("diagnostic-code", "")).split())
    diagnostic = diagnostic[:MAX_DIAGNOSTIC]
    status = find_status(fields.get("status", "")) or find_status(diagnostic)
    smtp_code = find_smtp_code(diagnostic) or find_smtp_code(fields.get("status", ""))
    action = normalize_action(fields.get("action", ""), status, smtp_code)
    if action in _NOT_FAILURES:
        return RecipientResult(
            address, action, status, smtp_code, False, "other", diagnostic or None
        )
    verdict = judge(
        diagnostic, status, smtp_code, action, context(address), address=address, ours=ours
    )
    return verdict.row(address, action, status=status, smtp_code=smtp_code, diagnostic=diagnostic)


def read_dsn(
    part: Message,
    context: ContextFn = _no_context,
    defects: list[str] | None = None,
    ours: frozenset[str] = frozenset(),
) -> DsnReport:
    """Read one ``message/delivery-status`` part.

    Parameters
    ----------
    part:
        The ``message/delivery-status`` part of a compat32 tree.
    context:
        Text about a recipient from the human-readable part (see
        :func:`recipient_from_fields`).
    defects:
        Receives a description of each problem met.
    ours:
        Lower-cased addresses of our side (see :func:`recipient_from_fields`).
    """
    found_defects: list[str] = [] if defects is None else defects
    return _report(_groups(part, found_defects), context, found_defects, ours)


def read_dsn_text(
    text: str,
    context: ContextFn = _no_context,
    defects: list[str] | None = None,
    ours: frozenset[str] = frozenset(),
) -> DsnReport:
    """Read RFC 3464 fields written into a report's text.

    Some reports carry their status groups as text: a "Technical report" section of the
    human-readable part, or a whole ``multipart/report`` whose MIME headers were lost on the
    way, so that its ``message/delivery-status`` part is plain text. A group counts when it
    names a recipient and says what happened to it (``Action`` or ``Status``).

    Parameters
    ----------
    text:
        The report's text (without the returned original).
    context, defects, ours:
        As for :func:`read_dsn`.
    """
    found_defects: list[str] = [] if defects is None else defects
    low = text.lower()
    if "final-recipient" not in low and "original-recipient" not in low:
        return DsnReport(None, ())
    groups = [
        g
        for g in _parse_text_groups(text)
        if not _RECIPIENT_KEYS & g.keys() or ("action" in g or "status" in g)
    ]
    return _report(groups, context, found_defects, ours)


def _report(
    groups: list[Fields], context: ContextFn, defects: list[str], ours: frozenset[str]
) -> DsnReport:
    reporting_mta: str | None = None
    arrival: str | None = None
    recipients: list[RecipientResult] = []
    seen: set[str] = set()
    for fields in groups:
        if reporting_mta is None and fields.get("reporting-mta"):
            reporting_mta = strip_type(fields["reporting-mta"]) or None
        if arrival is None and fields.get("arrival-date"):
            arrival = fields["arrival-date"]
        if not _RECIPIENT_KEYS & fields.keys():
            continue
        result = recipient_from_fields(fields, context, ours)
        if result is None:
            defects.append("DsnRecipientUnreadable: no address in the recipient fields")
            continue
        if result.address.lower() in seen:
            continue
        seen.add(result.address.lower())
        recipients.append(result)
    return DsnReport(reporting_mta, tuple(recipients), arrival)
