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

    def __init_subclass__(
        cls, *, kind: ErrorKind | None = None, code: str | None = None, **kwargs: Any
    ) -> None:
        """Set the branch and the code in the class header: ``class X(PermanentError, code="x")``;
        what a subclass does not name, it inherits."""
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind
        if code is not None:
            cls.code = code

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


class PermanentError(ShopmailError, kind=ErrorKind.PERMANENT, code="permanent"):
    """Retrying cannot help: dead-letter with the reason, do not retry."""


class TransientError(ShopmailError, kind=ErrorKind.TRANSIENT, code="transient"):
    """Retrying later may help: re-raise so the platform retries."""


class ConfigurationError(ShopmailError, kind=ErrorKind.CONFIGURATION, code="configuration"):
    """The system is misconfigured (530, 535, 554 access denied / not verified / paused, a
    missing or invalid setting, a bus that does not exist).

    Not the input's fault: callers keep the work for later (fail the whole batch without
    marking any message as failed, or let the platform retry the event) and raise an alarm.
    """


# --- permanent -------------------------------------------------------------------------------


class InvalidMessageError(PermanentError, code="invalid_message"):
    """Raw mail that cannot be read as a message (e.g. no usable header block)."""


class RawMailMissingError(PermanentError, code="raw_mail_missing"):
    """The raw message is not in the bucket where the receipt rule should have put it."""


class InvalidEventError(PermanentError, code="invalid_event"):
    """An event (SES, shop or SQS record) that does not match its contract."""


class RouteConfigError(PermanentError, code="route_config"):
    """A routes file that does not validate."""


class InvalidRecipientError(PermanentError, code="invalid_recipient"):
    """A recipient address that cannot be sent to (syntax, non-ASCII local part, ...)."""


class TemplateError(PermanentError, code="template"):
    """A mail template that is missing or fails to render."""


class MessageRejectedError(PermanentError, code="message_rejected"):
    """The relay refused this message for good (552, 553, 554 Transaction failed)."""


class DeliveryAmbiguousError(PermanentError, code="delivery_ambiguous"):
    """The connection to the relay was lost after the whole message, final dot included, was
    sent: the relay may or may not have accepted it.

    In the permanent branch because sending it again could deliver it twice: it is never
    resent automatically. The use cases count it as sent and flag it ``ambiguous`` (see
    ``shopmail.services.outbound``); any other caller dead-letters it with this reason.
    """


class RetriesExhaustedError(PermanentError, code="retries_exhausted"):
    """An item failed on its last allowed delivery (the queue's ``maxReceiveCount``): it is
    dead-lettered with the last reason instead of being moved there without one."""


class StoreRejectedError(PermanentError, code="store_rejected"):
    """A data store refused the request as invalid (DynamoDB ``ValidationException``, e.g. a
    key over 2 KB): the same input fails the same way every time."""


class InvalidTokenError(PermanentError, code="invalid_token"):
    """A signed token (one-click unsubscribe) that is malformed, forged or expired.

    ``problem`` says which: ``malformed``, ``forged`` or ``expired``.
    """

    def __init__(self, reason: str, problem: str, **context: object) -> None:
        super().__init__(reason, problem=problem, **context)
        self.problem = problem


# --- transient -------------------------------------------------------------------------------


class ServiceUnavailableError(TransientError, code="service_unavailable"):
    """An AWS service throttled or failed (S3, DynamoDB, EventBridge partial failure, ...)."""


class DeliveryDeferredError(TransientError, code="delivery_deferred"):
    """The relay answered 4xx: try this message again later."""


class QuotaExceededError(TransientError, code="quota_exceeded"):
    """SES's daily quota is used up: stop the batch, keep everything queued."""


class RelayUnavailableError(TransientError, code="relay_unavailable"):
    """The relay cannot be used right now (unreachable, or it failed while the session was being
    opened: greeting, EHLO, STARTTLS, AUTH, also after one reconnect): stop the batch, keep
    everything queued; every later message would fail the same way."""


class AttachmentMissingError(TransientError, code="attachment_missing"):
    """An attachment the mail needs (an invoice PDF) is not in its bucket (yet): retry the item
    later, for a bounded time."""


class InProgressError(TransientError, code="in_progress"):
    """Another invocation is handling the same item right now."""
