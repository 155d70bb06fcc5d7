"""RFC 8098 message disposition notifications (read receipts): a kind of delivery report."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import Final

from shopmail.domain.feedback.arf import report_fields
from shopmail.domain.feedback.dsn import clean_address
from shopmail.domain.inbound.parsing.headers import first_msg_id

MDN_TYPES: Final = frozenset(
    {"message/disposition-notification", "message/global-disposition-notification"}
)


@dataclass(frozen=True, slots=True)
class MdnReport:
    """What a ``message/disposition-notification`` part says."""

    recipient: str
    disposition: str  # displayed | deleted | dispatched | processed | ...
    reporting_ua: str | None
    original_message_id: str | None
    automatic: bool = False  # automatic-action (e.g. a Sieve reject, RFC 5429)


def read_mdn(part: Message, defects: list[str]) -> MdnReport:
    """Read the fields of a disposition notification."""
    fields = dict(reversed(report_fields(part, defects)))  # the first value of each name
    recipient = ""
    for name in ("original-recipient", "final-recipient"):
        candidate = clean_address(fields.get(name, ""))
        if "@" in candidate:
            recipient = candidate
            break
    disposition = fields.get("disposition", "")
    kind = disposition.rpartition(";")[2].strip().lower().split("/")[0] or "displayed"
    return MdnReport(
        recipient=recipient,
        disposition=kind[:40],
        reporting_ua=fields.get("reporting-ua", "").partition(";")[0].strip() or None,
        original_message_id=first_msg_id(fields.get("original-message-id")),
        automatic=disposition.lower().startswith("automatic-action"),
    )
