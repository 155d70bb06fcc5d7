"""SES event publishing, emulated: the events SES puts on the default bus for sent mail.

The local relay calls :func:`events_for` for each accepted message; the mailbox-simulator
addresses produce their documented outcome, every other recipient a delivery:

| recipient (``simulator.amazonses.com``) | events |
| --- | --- |
| ``success@`` | Delivery |
| ``bounce@`` | Bounce (Permanent / General, 5.1.1) |
| ``ooto@`` | Delivery (and an out-of-office reply to the sender, see the relay hook) |
| ``complaint@`` | Delivery, then Complaint (abuse) |
| ``suppressionlist@`` | Bounce (Permanent / OnAccountSuppressionList) |

``local+label@`` works as on SES. Events carry ``mail.tags`` with ``ses:configuration-set``
(from ``X-SES-CONFIGURATION-SET`` or the identity's default set) and the message tags.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

SIMULATOR_DOMAIN = "simulator.amazonses.com"
DETAIL_TYPES = {
    "Bounce": "Email Bounced",
    "Complaint": "Email Complaint Received",
    "Delivery": "Email Delivered",
    "Send": "Email Sent",
    "Reject": "Email Rejected",
    "DeliveryDelay": "Email Delivery Delayed",
}


def simulator_kind(address: str) -> str:
    """``success``/``bounce``/``ooto``/``complaint``/``suppressionlist`` or '' (not simulator)."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return ""
    kind = local.split("+", 1)[0]
    return kind if kind in ("success", "bounce", "ooto", "complaint", "suppressionlist") else ""


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_message_tags(value: str | None) -> dict[str, list[str]]:
    """``X-SES-MESSAGE-TAGS: k=v, k=v`` as SES reports them (``{k: [v]}``)."""
    tags: dict[str, list[str]] = {}
    for part in (value or "").split(","):
        key, sep, val = part.partition("=")
        if sep and key.strip():
            tags.setdefault(key.strip(), []).append(val.strip())
    return tags


@dataclass(frozen=True)
class SentMail:
    """What SES knows about a sent message."""

    ses_message_id: str
    mail_from: str
    recipients: tuple[str, ...]
    headers: Message
    configuration_set: str
    account_id: str = "123456789012"

    @classmethod
    def from_raw(
        cls,
        raw: bytes,
        *,
        ses_message_id: str,
        mail_from: str,
        recipients: Sequence[str],
        default_configuration_set: str = "",
        account_id: str = "123456789012",
    ) -> SentMail:
        """Read the headers of ``raw`` (the message as sent to the relay)."""
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        config_set = str(headers.get("X-SES-CONFIGURATION-SET") or default_configuration_set)
        return cls(
            ses_message_id, mail_from, tuple(recipients), headers, config_set.strip(), account_id
        )

    def mail_object(self) -> dict[str, Any]:
        """The ``mail`` object of SES events."""
        hidden = {"x-ses-configuration-set", "x-ses-message-tags"}
        headers = [
            {"name": k, "value": str(v).replace("\r\n", "").replace("\n", "")}
            for k, v in self.headers.items()
            if k.lower() not in hidden
        ]
        tags = parse_message_tags(self.headers.get("X-SES-MESSAGE-TAGS"))
        from_domain = self.mail_from.rpartition("@")[2]
        tags.update(
            {
                "ses:configuration-set": [self.configuration_set],
                "ses:source-ip": ["127.0.0.1"],
                "ses:from-domain": [from_domain],
                "ses:caller-identity": ["shopmail-local-smtp"],
                "ses:outgoing-ip": ["127.0.0.1"],
            }
        )
        common: dict[str, Any] = {}
        for key, name in (("from", "From"), ("to", "To"), ("cc", "Cc"), ("replyTo", "Reply-To")):
            values = self.headers.get_all(name) or []
            if values:
                common[key] = [a for _, a in getaddresses([str(v) for v in values]) if a]
        for key, name in (("subject", "Subject"), ("date", "Date"), ("messageId", "Message-ID")):
            if self.headers.get(name) is not None:
                common[key] = str(self.headers[name])
        return {
            "timestamp": _now(),
            "source": self.mail_from,
            "sendingAccountId": self.account_id,
            "messageId": self.ses_message_id,
            "destination": list(self.recipients),
            "headersTruncated": False,
            "headers": headers,
            "commonHeaders": common,
            "tags": tags,
        }


def _delivery(mail: SentMail, recipient: str) -> dict[str, Any]:
    return {
        "eventType": "Delivery",
        "mail": mail.mail_object(),
        "delivery": {
            "timestamp": _now(),
            "processingTimeMillis": 120,
            "recipients": [recipient],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-1.smtp-out.local.amazonses.com",
            "remoteMtaIp": "127.0.0.1",
        },
    }


def _bounce(mail: SentMail, recipient: str, sub_type: str) -> dict[str, Any]:
    recipient_info: dict[str, Any] = {"emailAddress": recipient}
    if sub_type == "General":
        recipient_info.update(
            action="failed",
            status="5.1.1",
            diagnosticCode="smtp; 550 5.1.1 user unknown",
        )
    return {
        "eventType": "Bounce",
        "mail": mail.mail_object(),
        "bounce": {
            "feedbackId": f"0102{uuid.uuid4().hex[:12]}-{uuid.uuid4()}-000000",
            "bounceType": "Permanent",
            "bounceSubType": sub_type,
            "bouncedRecipients": [recipient_info],
            "timestamp": _now(),
            "reportingMTA": "dns; a8-1.smtp-out.local.amazonses.com",
            "remoteMtaIp": "127.0.0.1",
        },
    }


def _complaint(mail: SentMail, recipient: str) -> dict[str, Any]:
    return {
        "eventType": "Complaint",
        "mail": mail.mail_object(),
        "complaint": {
            "feedbackId": f"0102{uuid.uuid4().hex[:12]}-{uuid.uuid4()}-000000",
            "complaintSubType": None,
            "complainedRecipients": [{"emailAddress": recipient}],
            "timestamp": _now(),
            "userAgent": "Amazon SES Mailbox Simulator",
            "complaintFeedbackType": "abuse",
            "arrivalDate": _now(),
        },
    }


def events_for(mail: SentMail, recipient: str) -> list[dict[str, Any]]:
    """The SES events (``detail`` objects) for one recipient of ``mail``."""
    kind = simulator_kind(recipient)
    if kind == "bounce":
        return [_bounce(mail, recipient, "General")]
    if kind == "suppressionlist":
        return [_bounce(mail, recipient, "OnAccountSuppressionList")]
    if kind == "complaint":
        return [_delivery(mail, recipient), _complaint(mail, recipient)]
    return [_delivery(mail, recipient)]


def put_ses_events(
    events_client: Any, details: Sequence[dict[str, Any]], *, bus: str = "default"
) -> int:
    """Put SES event ``details`` on ``bus`` as SES does (``source: aws.ses``)."""
    entries = [
        {
            "Source": "aws.ses",
            "DetailType": DETAIL_TYPES.get(d["eventType"], "Email " + d["eventType"]),
            "Detail": json.dumps(d),
            "EventBusName": bus,
            "Resources": [],
        }
        for d in details
    ]
    sent = 0
    for i in range(0, len(entries), 10):
        resp = events_client.put_events(Entries=entries[i : i + 10])
        sent += len(entries[i : i + 10]) - int(resp.get("FailedEntryCount", 0))
    return sent
