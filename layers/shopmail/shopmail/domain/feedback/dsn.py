"""RFC 3464 delivery status notifications (``message/delivery-status``).

The compat32 parser exposes the status groups of a ``message/delivery-status`` part as
sub-messages (one per blank-line separated block); text that it could not read as headers is
re-read here by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from typing import Final

from shopmail.domain.feedback import _mime
from shopmail.domain.feedback.model import RecipientResult
from shopmail.domain.feedback.reasons import (
    classify_reason,
    find_smtp_code,
    find_status,
    hard_for,
    is_permanent,
)

MAX_GROUPS: Final = 200
MAX_DIAGNOSTIC: Final = 1000
_FIELD_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,60})\s*:\s*(.*)$")
_ADDR_RE: Final = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_DSN_TYPES: Final = ("message/delivery-status", "message/global-delivery-status")

Fields = dict[str, str]
_RECIPIENT_KEYS: Final = frozenset({"final-recipient", "original-recipient"})
_ACTIONS: Final = (
    ("fail", "failed"),
    ("delay", "delayed"),
    ("deliver", "delivered"),
    ("relay", "relayed"),
    ("expand", "expanded"),
)


@dataclass(frozen=True, slots=True)
class DsnReport:
    """What a ``message/delivery-status`` part says."""

    reporting_mta: str | None
    recipients: tuple[RecipientResult, ...]
    arrival_date: str | None = None


def find_dsn_parts(tree: Message, into_messages: bool = False) -> list[Message]:
    """All ``message/delivery-status`` parts (outside returned messages by default)."""
    return [p for p in _mime.walk(tree, into_messages) if _mime.content_type(p) in _DSN_TYPES]


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


def _groups(part: Message) -> list[Fields]:
    try:
        payload = part.get_payload()
    except Exception:
        return []
    if isinstance(payload, str):
        return _parse_text_groups(_mime.part_text(part))
    if not isinstance(payload, list):
        return []
    groups: list[Fields] = []
    for group in payload[:MAX_GROUPS]:
        if not isinstance(group, Message):
            continue
        fields: Fields = {}
        try:
            for key, value in group.items():
                lkey = str(key).lower().strip()
                if lkey not in fields:
                    fields[lkey] = _mime.decode_value(value)
        except Exception:  # noqa: S110
            pass
        rest: list[Fields] = []
        try:
            inner = group.get_payload()
        except Exception:
            inner = None
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


def recipient_from_fields(fields: Fields, fallback_text: str = "") -> RecipientResult | None:
    """Build a :class:`RecipientResult` from one per-recipient group."""
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
    smtp_code = find_smtp_code(diagnostic)
    if smtp_code is None:
        smtp_code = find_smtp_code(fields.get("status", ""))
    action = normalize_action(fields.get("action", ""), status, smtp_code)
    permanent = is_permanent(status, smtp_code, action)
    remote = bool(fields.get("remote-mta")) and fields.get(
        "diagnostic-code", ""
    ).strip().lower().startswith("smtp")
    reason_text = diagnostic or fallback_text
    reason = classify_reason(status, smtp_code, reason_text)
    if action in ("delivered", "relayed", "expanded"):
        return RecipientResult(
            address, action, status, smtp_code, False, "other", diagnostic or None
        )
    return RecipientResult(
        address=address,
        action=action,
        status=status,
        smtp_code=smtp_code,
        hard=hard_for(reason, permanent, status, diagnostic, remote),
        reason=reason,
        diagnostic=diagnostic or None,
    )


def read_dsn(part: Message, fallback_text: str = "") -> DsnReport:
    """Read one ``message/delivery-status`` part.

    Parameters
    ----------
    part:
        The ``message/delivery-status`` part of a compat32 tree.
    fallback_text:
        Human-readable text used for the reason when a recipient has no diagnostic.
    """
    groups = _groups(part)
    reporting_mta: str | None = None
    arrival: str | None = None
    recipients: list[RecipientResult] = []
    seen: set[str] = set()
    for fields in groups:
        if reporting_mta is None and fields.get("reporting-mta"):
            reporting_mta = strip_type(fields["reporting-mta"]) or None
        if arrival is None and fields.get("arrival-date"):
            arrival = fields["arrival-date"]
        if not any(k in fields for k in ("final-recipient", "original-recipient")):
            continue
        result = recipient_from_fields(fields, fallback_text)
        if result is None or result.address.lower() in seen:
            continue
        seen.add(result.address.lower())
        recipients.append(result)
    return DsnReport(reporting_mta, tuple(recipients), arrival)
