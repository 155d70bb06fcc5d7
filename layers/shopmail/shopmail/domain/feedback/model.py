"""Result model of the feedback classifier (bounces, delays, complaints, auto-replies).

Frozen dataclasses only; :meth:`Classification.to_dict` gives the JSON shape the
``shopmail classify`` command prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class MessageKind(StrEnum):
    """What the classifier says a message is (the ``kind`` of a :class:`Classification`)."""

    BOUNCE = "bounce"
    DELAY = "delay"
    COMPLAINT = "complaint"
    AUTO_REPLY = "auto_reply"
    DELIVERY_REPORT = "delivery_report"
    NONE = "none"


KINDS: Final = frozenset(MessageKind)


class Stage(StrEnum):
    """The SMTP stage at which the remote server gave the failing reply (RFC 5321 3.3)."""

    CONNECT = "connect"  # the greeting, HELO/EHLO
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # after DATA or at the end of the data
    UNKNOWN = "unknown"


class Fault(StrEnum):
    """Whom a failure is about."""

    RECIPIENT = "recipient"  # the address or its mailbox
    SENDER = "sender"  # our host, sender address or domain, authentication, rate
    MESSAGE = "message"  # content, size, spam, virus
    TRANSPORT = "transport"  # network, DNS, mail systems, expiry
    UNKNOWN = "unknown"


STAGES: Final = frozenset(s.value for s in Stage)
FAULTS: Final = frozenset(f.value for f in Fault)

REASONS: Final = frozenset(
    {
        "user_unknown",
        "host_unknown",
        "mailbox_disabled",
        "mailbox_full",
        "message_too_large",
        "content_rejected",
        "spam_detected",
        "virus_detected",
        "blocked",
        "auth_failure",
        "policy",
        "relay_denied",
        "rate_limited",
        "expired",
        "network",
        "system",
        "syntax",
        "other",
    }
)


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The outcome for one recipient of the original message.

    Attributes
    ----------
    address:
        The recipient address as reported (Original-Recipient preferred over Final-Recipient).
    action:
        RFC 3464 action: ``failed``, ``delayed``, ``delivered``, ``relayed``, ``expanded``
        (``None`` for complaints).
    status:
        RFC 3463 status ``x.y.z`` when known.
    smtp_code:
        Three-digit SMTP reply code (as a string) when known.
    hard:
        ``True`` when the address itself is permanently undeliverable (suppress it),
        ``False`` when it is not (transient, or a refusal of the message/sender), ``None``
        when unknown.
    reason:
        One of :data:`REASONS`.
    diagnostic:
        The diagnostic text (bounded, whitespace collapsed), when known.
    stage:
        The SMTP stage of the failing reply (:class:`Stage`).
    fault:
        Whom the failure is about (:class:`Fault`); ``hard`` is only ever ``True`` for
        ``recipient``.
    """

    address: str
    action: str | None = None
    status: str | None = None
    smtp_code: str | None = None
    hard: bool | None = None
    reason: str = "other"
    diagnostic: str | None = None
    stage: Stage = Stage.UNKNOWN
    fault: Fault = Fault.UNKNOWN

    @property
    def permanent(self) -> bool | None:
        """``True`` for a permanent failure, ``False`` for a transient one, else ``None``."""
        if self.action == "failed":
            return True
        if self.action == "delayed":
            return False
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (the ``shopmail classify`` recipient shape)."""
        return {
            "address": self.address,
            "action": self.action,
            "status": self.status,
            "smtp_code": self.smtp_code,
            "hard": self.hard,
            "reason": self.reason,
            "diagnostic": self.diagnostic,
            "stage": str(self.stage),
            "fault": str(self.fault),
        }


@dataclass(frozen=True, slots=True)
class Classification:
    """What an inbound message is, as feedback about mail we sent.

    Attributes
    ----------
    kind:
        One of :data:`KINDS`.
    recipients:
        Per-recipient rows (may be empty, e.g. a bounce whose address could not be read).
    feedback_type:
        ARF ``Feedback-Type`` (complaints only).
    reporting_mta:
        ``Reporting-MTA`` of a DSN (``dns;`` prefix removed), when known.
    original_message_id:
        ``Message-ID`` of the returned original message, when the report carries it.
    reason, hard:
        Message-level summary: the first failed recipient's values, or what the text says when
        no recipient could be read.
    detector:
        Which reader produced the result (``dsn``, ``arf``, ``qmail``, ``exim``, ...).
    auto_reply_type:
        ``vacation`` or ``challenge`` for auto-replies.
    user_agent, original_mail_from, original_rcpt_to, arrival_date, source_ip, reported_domain:
        ARF fields (complaints only).
    defects:
        Problems met while reading the message (undecodable parts, malformed report fields,
        an internal error), recorded instead of raised, like ``email``'s message defects.
    """

    kind: str
    recipients: tuple[RecipientResult, ...] = ()
    feedback_type: str | None = None
    reporting_mta: str | None = None
    original_message_id: str | None = None
    reason: str | None = None
    hard: bool | None = None
    detector: str | None = None
    auto_reply_type: str | None = None
    user_agent: str | None = None
    original_mail_from: str | None = None
    original_rcpt_to: tuple[str, ...] = ()
    arrival_date: str | None = None
    source_ip: str | None = None
    reported_domain: str | None = None
    defects: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        """The recipient addresses, in report order."""
        return tuple(r.address for r in self.recipients)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (the ``shopmail classify`` shape, without ``file``).

        Complaints add an ``arf`` object with the other report fields.
        """
        out: dict[str, Any] = {
            "kind": self.kind,
            "recipients": [r.to_dict() for r in self.recipients],
            "feedback_type": self.feedback_type,
            "reporting_mta": self.reporting_mta,
            "original_message_id": self.original_message_id,
            "reason": self.reason,
            "hard": self.hard,
            "detector": self.detector,
            "auto_reply_type": self.auto_reply_type,
            "defects": list(self.defects),
        }
        if self.kind == MessageKind.COMPLAINT:
            out["arf"] = {
                "user_agent": self.user_agent,
                "original_mail_from": self.original_mail_from,
                "original_rcpt_to": list(self.original_rcpt_to),
                "arrival_date": self.arrival_date,
                "source_ip": self.source_ip,
                "reported_domain": self.reported_domain,
            }
        return out
