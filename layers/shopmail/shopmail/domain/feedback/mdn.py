"""RFC 8098 message disposition notifications (read receipts): a kind of delivery report."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from shopmail.domain.feedback import _mime
from shopmail.domain.feedback.dsn import clean_address


@dataclass(frozen=True, slots=True)
class MdnReport:
    """What a ``message/disposition-notification`` part says."""

    recipient: str
    disposition: str  # displayed | deleted | dispatched | processed | ...
    reporting_ua: str | None
    original_message_id: str | None
    automatic: bool = False  # automatic-action (e.g. a Sieve reject, RFC 5429)


def find_mdn_part(tree: Message) -> Message | None:
    """The first ``message/disposition-notification`` part, or ``None``."""
    for part in _mime.walk(tree):
        if _mime.content_type(part) == "message/disposition-notification":
            return part
    return None


def read_mdn(part: Message) -> MdnReport:
    """Read the fields of a disposition notification."""
    try:
        payload = part.get_payload()
    except Exception:
        payload = None
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        fields = payload[0]
    else:
        fields = _mime.parse_headers(_mime.part_text(part))
    recipient = ""
    for name in ("Original-Recipient", "Final-Recipient"):
        candidate = clean_address(_mime.header(fields, name))
        if "@" in candidate:
            recipient = candidate
            break
    disposition = _mime.header(fields, "Disposition")
    kind = disposition.rpartition(";")[2].strip().lower().split("/")[0] or "displayed"
    return MdnReport(
        recipient=recipient,
        disposition=kind[:40],
        reporting_ua=_mime.header(fields, "Reporting-UA").partition(";")[0].strip() or None,
        original_message_id=_mime.clean_message_id(_mime.header(fields, "Original-Message-ID")),
        automatic=disposition.lower().startswith("automatic-action"),
    )
