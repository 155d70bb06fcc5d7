"""Classify SES SMTP relay replies (code **and** text) into outcomes and errors.

SES rarely sends enhanced status codes, so the 3-digit code alone is not enough: ``454`` is a
per-second throttle (retry later) or the daily quota (stop the batch); ``554`` is a broken
message (permanent) or an account/identity problem (configuration). The table follows the
replies SES documents for its SMTP interface.

================================================  ===============
reply                                             outcome
================================================  ===============
``2xx`` (``250 Ok <id>`` after DATA)              SENT
``421 ...`` / ``451 4.4.2 Timeout waiting ...``   RECONNECT
connection lost (no reply)                        RECONNECT
``454 Throttling failure: Daily message quota``   QUOTA_EXCEEDED
other ``4xx`` (451, 454 rate/auth/service, ...)   TRANSIENT
``530``, ``534``, ``535``, ``538``                CONFIGURATION
``554 Access denied`` / ``not authorized``        CONFIGURATION
``554 ... Email address is not verified``         CONFIGURATION
``554 ... Sending paused``                        CONFIGURATION
``500``, ``502``, ``503``, ``504`` (client bug)   CONFIGURATION
``552``, ``553``, ``550``, ``554 Transaction``,   PERMANENT
other ``5xx``
================================================  ===============
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from shopmail.errors import (
    ConfigurationError,
    DeliveryDeferredError,
    MessageRejectedError,
    QuotaExceededError,
    ShopmailError,
)

#: smtplib's code for "no reply: the connection is gone" (``SMTPServerDisconnected`` etc.).
DISCONNECTED = -1


class ReplyOutcome(enum.Enum):
    """What the sender must do after a reply."""

    SENT = "sent"
    """Accepted: record the SES message id, mark the item sent."""
    TRANSIENT = "transient"
    """Retry this message later (SQS backoff); the batch continues."""
    RECONNECT = "reconnect"
    """The connection is unusable: reconnect once and resend; if it repeats, transient."""
    QUOTA_EXCEEDED = "quota_exceeded"
    """The daily quota is used up: stop the batch, keep everything queued, alarm."""
    PERMANENT = "permanent"
    """This message can never be sent as built: dead-letter it with the reason."""
    CONFIGURATION = "configuration"
    """The system is misconfigured: fail the whole batch, mark no message failed, alarm."""


_QUOTA = re.compile(r"daily\s+(?:message\s+|sending\s+)?quota", re.IGNORECASE)
_IDLE_TIMEOUT = re.compile(r"\b4\.4\.2\b|timeout\s+waiting\s+for\s+data", re.IGNORECASE)
_CONFIG_554 = re.compile(
    r"access\s+denied|not\s+authori[sz]ed|not\s+verified|sending\s+paused|account\s+(?:is\s+)?paused",
    re.IGNORECASE,
)
_CONFIG_5XX = frozenset({500, 502, 503, 504, 530, 534, 535, 538})
_SES_ID = re.compile(r"^\s*Ok\s+(\S+)", re.IGNORECASE)
_ADDRESS = re.compile(r"[^\s<>@:;,\"'()\[\]]+@([A-Za-z0-9.-]+)")


@dataclass(frozen=True)
class SmtpReply:
    """One SMTP reply.

    Parameters
    ----------
    code
        The 3-digit reply code; :data:`DISCONNECTED` when the connection was lost.
    text
        The reply text (multi-line replies joined with newlines).
    """

    code: int
    text: str = ""

    @classmethod
    def of(cls, code: int, text: str | bytes) -> SmtpReply:
        """Build a reply from smtplib's ``(code, bytes)`` pair."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return cls(int(code), text.strip())

    @property
    def outcome(self) -> ReplyOutcome:
        """The classified outcome (see :func:`classify`)."""
        return classify(self.code, self.text)

    @property
    def safe_text(self) -> str:
        """The reply text with e-mail addresses reduced to their domain (log-safe)."""
        return redact_addresses(self.text)

    def __str__(self) -> str:
        code = "disconnected" if self.code == DISCONNECTED else str(self.code)
        return f"{code} {self.safe_text}".strip()


def classify(code: int, text: str | bytes = "") -> ReplyOutcome:
    """Classify an SMTP reply from SES into a :class:`ReplyOutcome`.

    Parameters
    ----------
    code
        The 3-digit code, or :data:`DISCONNECTED` (any negative value) for a lost connection.
    text
        The reply text; it decides between outcomes sharing a code (454, 451, 554).

    Example
    -------
    >>> classify(454, "Throttling failure: Daily message quota exceeded.")
    <ReplyOutcome.QUOTA_EXCEEDED: 'quota_exceeded'>
    >>> classify(454, "Throttling failure: Maximum sending rate exceeded.")
    <ReplyOutcome.TRANSIENT: 'transient'>
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if code < 0:
        return ReplyOutcome.RECONNECT
    if 200 <= code < 400:
        # 2xx accepted; 3xx (354) only mid-DATA, treated by the caller as "continue".
        return ReplyOutcome.SENT
    if 400 <= code < 500:
        if code == 421:
            return ReplyOutcome.RECONNECT
        if code == 451 and _IDLE_TIMEOUT.search(text):
            return ReplyOutcome.RECONNECT
        if code == 454 and _QUOTA.search(text):
            return ReplyOutcome.QUOTA_EXCEEDED
        return ReplyOutcome.TRANSIENT
    if 500 <= code < 600:
        if code in _CONFIG_5XX:
            return ReplyOutcome.CONFIGURATION
        if code == 554 and _CONFIG_554.search(text):
            return ReplyOutcome.CONFIGURATION
        return ReplyOutcome.PERMANENT
    # Not an SMTP code at all: the peer is not speaking SMTP properly; try again later.
    return ReplyOutcome.TRANSIENT


def ses_message_id(text: str | bytes) -> str | None:
    """Return the SES message id from the final ``250 Ok <id>`` text, or ``None``.

    Example
    -------
    >>> ses_message_id(b"Ok 0102018c2f4e5a6b-1a2b3c4d-0000-0000-0000-000000000000-000000")
    '0102018c2f4e5a6b-1a2b3c4d-0000-0000-0000-000000000000-000000'
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    match = _SES_ID.match(text)
    return match.group(1) if match else None


def redact_addresses(text: str) -> str:
    """Replace every ``local@domain`` in ``text`` with ``***@domain`` (log-safe)."""
    return _ADDRESS.sub(lambda m: f"***@{m.group(1)}", text)


_ERRORS: dict[ReplyOutcome, type[ShopmailError]] = {
    ReplyOutcome.TRANSIENT: DeliveryDeferredError,
    ReplyOutcome.RECONNECT: DeliveryDeferredError,
    ReplyOutcome.QUOTA_EXCEEDED: QuotaExceededError,
    ReplyOutcome.PERMANENT: MessageRejectedError,
    ReplyOutcome.CONFIGURATION: ConfigurationError,
}


#: The reply classes a relay error can carry (every outcome but SENT): the bounded values of the
#: ``ReplyClass`` metric dimension.
ERROR_CLASSES: frozenset[str] = frozenset(
    o.value for o in ReplyOutcome if o is not ReplyOutcome.SENT
)


def reply_class(error: ShopmailError) -> str | None:
    """The reply class (a :class:`ReplyOutcome` value) of an error the relay caused.

    The relay records the outcome in the error's context (``outcome``); an error raised before
    anything reached the relay (an address it cannot take) has none and gives ``None``.

    Example
    -------
    >>> reply_class(error_for(SmtpReply(454, "Throttling failure: Daily message quota exceeded")))
    'quota_exceeded'
    >>> reply_class(ShopmailError("bad input")) is None
    True
    """
    value = error.context.get("outcome")
    return value if isinstance(value, str) and value in ERROR_CLASSES else None


def error_for(reply: SmtpReply, stage: str = "", **context: Any) -> ShopmailError:
    """Return the shopmail error matching a reply that is not SENT.

    ``TRANSIENT``/``RECONNECT`` -> :class:`DeliveryDeferredError`, ``QUOTA_EXCEEDED`` ->
    :class:`QuotaExceededError`, ``PERMANENT`` -> :class:`MessageRejectedError`,
    ``CONFIGURATION`` -> :class:`ConfigurationError`. The reason and context carry the code
    and the log-safe reply text (addresses reduced to their domain).

    Parameters
    ----------
    reply
        The reply to convert.
    stage
        The SMTP step that got it (``connect``, ``starttls``, ``auth``, ``mail``, ``rcpt``,
        ``data``), for the reason text.
    **context
        Extra log-safe context.

    Raises
    ------
    ValueError
        If the reply is a success.
    """
    outcome = reply.outcome
    if outcome is ReplyOutcome.SENT:
        raise ValueError(f"reply {reply.code} is a success, not an error")
    where = f" at {stage}" if stage else ""
    reason = f"SES relay answered {reply}{where} ({outcome.value})"
    return _ERRORS[outcome](
        reason,
        smtp_code=reply.code,
        smtp_reply=reply.safe_text,
        outcome=outcome.value,
        **({"stage": stage} if stage else {}),
        **context,
    )
