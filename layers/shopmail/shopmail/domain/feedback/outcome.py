"""What feedback did: the outcome of one report, and the mail-borne feedback the inbound side
hands over (the :class:`~shopmail.ports.FeedbackSink` seam).

Example
-------
>>> FeedbackOutcome(OutcomeStatus.IGNORED).suppressed
0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from shopmail.domain.feedback.model import Classification
from shopmail.domain.feedback.references import References
from shopmail.domain.feedback.verification import UnverifiedReason


class OutcomeStatus(StrEnum):
    """What happened to one report."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class MailFeedback:
    """A DSN/ARF mail the inbound side classified, with the ids of our mail it quotes.

    Attributes
    ----------
    classification
        The classifier's result.
    references
        :func:`~shopmail.domain.feedback.references.find_references` of the message.
    inbound_message_id
        The SES receipt id of the report mail (deduplication key; its raw copy's name).
    received_at
        When it arrived (ISO 8601; default: now).
    """

    classification: Classification
    references: References = field(default_factory=References)
    inbound_message_id: str = ""
    received_at: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackOutcome:
    """What happened to one report (log-safe counts; the handlers turn them into metrics).

    Attributes
    ----------
    status
        :class:`OutcomeStatus`.
    suppressed
        Recipients suppressed by this report.
    published
        Detail-types published, in order.
    unverified
        One reason per recipient the report named that did not count.
    not_address
        ``(recipient domain, reason)`` of each bounced recipient the policy did not suppress
        (our reputation, content, network ...): the shop's deliverability, not the customer.
    """

    status: OutcomeStatus
    suppressed: int = 0
    published: tuple[str, ...] = ()
    unverified: tuple[UnverifiedReason, ...] = ()
    not_address: tuple[tuple[str, str], ...] = ()
