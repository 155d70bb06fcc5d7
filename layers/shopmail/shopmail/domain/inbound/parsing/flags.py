"""Loop-relevant flags: auto-submitted, list, bulk, DSN / ARF / MDN (multipart/report)."""

from __future__ import annotations

from email.message import Message

from shopmail.domain.inbound.parsing import signals
from shopmail.domain.message import MessageFlags

_REPORT_PARTS = {
    "message/delivery-status": "delivery-status",
    "message/global-delivery-status": "delivery-status",
    "message/feedback-report": "feedback-report",
    "message/disposition-notification": "disposition-notification",
    "message/global-disposition-notification": "disposition-notification",
}


def find_report_type(tree: Message, max_parts: int = 50) -> str | None:
    """The report type of a DSN / ARF / MDN, or ``None``.

    Read from ``multipart/report; report-type=...`` at the top or one level down (some MTAs
    wrap reports in multipart/mixed), else inferred from a machine-readable report part.
    """
    candidates = [tree]
    if tree.is_multipart():
        payload = tree.get_payload()
        if isinstance(payload, list):
            candidates.extend(p for p in payload[:max_parts] if isinstance(p, Message))
    for part in candidates:
        if part.get_content_type() == "multipart/report":
            value = part.get_param("report-type")
            if isinstance(value, str) and value.strip():
                return value.strip().lower()
            inner = part.get_payload()
            if isinstance(inner, list):
                for sub in inner[:max_parts]:
                    if isinstance(sub, Message) and sub.get_content_type() in _REPORT_PARTS:
                        return _REPORT_PARTS[sub.get_content_type()]
            return "unknown"
    return None


def compute_flags(tree: Message, report_type: str | None) -> MessageFlags:
    """Build :class:`MessageFlags` from the top-level headers and the report type.

    What counts as automatic, list or bulk mail is defined in
    :mod:`shopmail.domain.inbound.parsing.signals`.
    """
    present = {name.lower() for name in tree}  # the signal names are lower case
    auto_submitted = signals.is_auto_submitted(str(tree.get(signals.AUTO_SUBMITTED, ""))) or (
        not present.isdisjoint(signals.AUTO_REPLY_HEADERS)
    )
    return MessageFlags(
        auto_submitted=auto_submitted,
        is_list=not present.isdisjoint(signals.LIST_HEADERS),
        is_bulk=signals.is_bulk_precedence(str(tree.get("precedence", ""))),
        is_dsn=report_type == "delivery-status",
        is_arf=report_type == "feedback-report",
        is_mdn=report_type == "disposition-notification",
        suppress_auto_response=signals.suppresses_auto_reply(
            str(tree.get(signals.SUPPRESS_HEADER, ""))
        ),
    )
