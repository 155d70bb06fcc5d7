"""The record of one mail the relay accepted (for correlating SES feedback with the event)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SentMail:
    """One accepted mail.

    Attributes
    ----------
    ses_message_id
        The id from SES's ``250 Ok <id>`` (SES feedback events carry it as ``mail.messageId``).
    message_id
        Our Message-ID (``<sm.kind.aggregate.digest@domain>``).
    idempotency_key
        The business key (``type:aggregate[:version]:recipient``).
    detail_type
        The event's detail-type (``OrderPlaced``).
    aggregate_id
        The order / customer / cart id.
    recipient
        The 7-bit recipient address.
    email_class
        ``transactional`` or ``marketing``.
    event_id
        The EventBridge id of the event that caused the mail.
    sent_at
        ISO 8601 UTC time of the ``250``.
    expires_at
        Epoch seconds (the table's TTL attribute).
    """

    ses_message_id: str
    message_id: str
    idempotency_key: str
    detail_type: str
    aggregate_id: str
    recipient: str
    email_class: str = "transactional"
    event_id: str = ""
    sent_at: str = ""
    expires_at: int = 0
