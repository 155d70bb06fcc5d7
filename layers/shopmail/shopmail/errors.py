"""One error hierarchy for shopmail.

Every error is a :class:`ShopmailError` and belongs to exactly one of three branches:

* :class:`PermanentError`: retrying cannot help (bad input, a message the relay refused).
  Logged with its reason, counted, sent to a dead-letter sink, never retried.
* :class:`TransientError`: retrying later may help (throttling, 4xx SMTP replies, a partial
  EventBridge failure). Re-raised so Lambda/SQS retry, and after the retries the platform's
  dead-letter queue keeps the input.
* :class:`ConfigurationError`: the system, not the input, is wrong (rotated SMTP key, missing
  setting, unverified sender, a bus that does not exist). Nothing is dead-lettered and no input
  is marked failed: the work is kept (retried later) and an alarm is raised, because the fix is
  an operator's.

``ShopmailError.kind`` names the branch (``permanent`` | ``transient`` | ``configuration``), so
callers can dispatch on one attribute instead of ordering ``except`` clauses.

Each error carries a short machine-readable ``code`` and a human ``reason``; ``context`` holds
structured, privacy-safe details (ids, domains), never bodies or full addresses.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorKind(StrEnum):
    """The three branches of the hierarchy."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    CONFIGURATION = "configuration"


class ShopmailError(Exception):
    """Base of every shopmail error.

    Parameters
    ----------
    reason
        A readable explanation (which field, why). Must not contain bodies or full addresses.
    **context
        Structured, log-safe details.
    """

    kind: ClassVar[ErrorKind] = ErrorKind.TRANSIENT
    code: ClassVar[str] = "shopmail_error"

    def __init__(self, reason: str, **context: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.context = context

    @property
    def permanent(self) -> bool:
        """Whether retrying the same input can never help (the permanent branch)."""
        return self.kind is ErrorKind.PERMANENT

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description (for logs and dead-letter messages)."""
        return {
            "error": type(self).__name__,
            "code": self.code,
            "permanent": self.permanent,
            "kind": str(self.kind),
            "reason": self.reason,
            **({"context": self.context} if self.context else {}),
        }


class PermanentError(ShopmailError):
    """Retrying cannot help: dead-letter with the reason, do not retry."""

    kind = ErrorKind.PERMANENT
    code = "permanent"


class TransientError(ShopmailError):
    """Retrying later may help: re-raise so the platform retries."""

    kind = ErrorKind.TRANSIENT
    code = "transient"


class ConfigurationError(ShopmailError):
    """The system is misconfigured (530, 535, 554 access denied / not verified / paused, a
    missing or invalid setting, a bus that does not exist).

    Not the input's fault: callers keep the work for later (fail the whole batch without
    marking any message as failed, or let the platform retry the event) and raise an alarm.
    """

    kind = ErrorKind.CONFIGURATION
    code = "configuration"


# --- permanent -------------------------------------------------------------------------------


class InvalidMessageError(PermanentError):
    """Raw mail that cannot be read as a message (e.g. no usable header block)."""

    code = "invalid_message"


class RawMailMissingError(PermanentError):
    """The raw message is not in the bucket where the receipt rule should have put it."""

    code = "raw_mail_missing"


class InvalidEventError(PermanentError):
    """An event (SES, shop or SQS record) that does not match its contract."""

    code = "invalid_event"


class RouteConfigError(PermanentError):
    """A routes file that does not validate."""

    code = "route_config"


class InvalidRecipientError(PermanentError):
    """A recipient address that cannot be sent to (syntax, non-ASCII local part, ...)."""

    code = "invalid_recipient"


class TemplateError(PermanentError):
    """A mail template that is missing or fails to render."""

    code = "template"


class MessageRejectedError(PermanentError):
    """The relay refused this message for good (552, 553, 554 Transaction failed)."""

    code = "message_rejected"


class DeliveryAmbiguousError(PermanentError):
    """The connection to the relay was lost after the whole message, final dot included, was
    sent: the relay may or may not have accepted it.

    In the permanent branch because sending it again could deliver it twice: it is never
    resent automatically. The use cases count it as sent and flag it ``ambiguous`` (see
    ``shopmail.services.outbound``); any other caller dead-letters it with this reason.
    """

    code = "delivery_ambiguous"


class RetriesExhaustedError(PermanentError):
    """An item failed on its last allowed delivery (the queue's ``maxReceiveCount``): it is
    dead-lettered with the last reason instead of being moved there without one."""

    code = "retries_exhausted"


class StoreRejectedError(PermanentError):
    """A data store refused the request as invalid (DynamoDB ``ValidationException``, e.g. a
    key over 2 KB): the same input fails the same way every time."""

    code = "store_rejected"


class InvalidTokenError(PermanentError):
    """A signed token (one-click unsubscribe) that is malformed, forged or expired.

    ``problem`` says which: ``malformed``, ``forged`` or ``expired``.
    """

    code = "invalid_token"

    def __init__(self, reason: str, problem: str, **context: object) -> None:
        super().__init__(reason, problem=problem, **context)
        self.problem = problem


# --- transient -------------------------------------------------------------------------------


class ServiceUnavailableError(TransientError):
    """An AWS service throttled or failed (S3, DynamoDB, EventBridge partial failure, ...)."""

    code = "service_unavailable"


class DeliveryDeferredError(TransientError):
    """The relay answered 4xx: try this message again later."""

    code = "delivery_deferred"


class QuotaExceededError(TransientError):
    """SES's daily quota is used up: stop the batch, keep everything queued."""

    code = "quota_exceeded"


class RelayUnavailableError(TransientError):
    """The relay cannot be used right now (unreachable, or it failed while the session was being
    opened: greeting, EHLO, STARTTLS, AUTH, also after one reconnect): stop the batch, keep
    everything queued; every later message would fail the same way."""

    code = "relay_unavailable"


class AttachmentMissingError(TransientError):
    """An attachment the mail needs (an invoice PDF) is not in its bucket (yet): retry the item
    later, for a bounded time."""

    code = "attachment_missing"


class InProgressError(TransientError):
    """Another invocation is handling the same item right now."""

    code = "in_progress"
