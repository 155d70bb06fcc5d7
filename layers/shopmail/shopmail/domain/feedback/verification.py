"""Whether mail-borne feedback may act on an address: only for mail we sent to that address.

Anyone can send a DSN or an ARF report to any of our addresses and name any customer in it;
SPF/DKIM/DMARC do not help (a forger passes them for its own domain). So a report that arrives
as mail counts for a recipient only when

1. it quotes one of our mails (:mod:`shopmail.domain.feedback.references`: an SES message id
   or a shopmail Message-ID),
2. that mail is in the sent-mail records (we really sent it, and not long ago), and
3. the record's recipient is the recipient the report names (case-insensitive). A complaint
   whose recipient the reporter redacted names nobody; it counts for the record's recipient.

SES's own events are trusted: they arrive from SES (the default bus's ``aws.ses`` source, or
SNS from our topic), not from the internet.

Example
-------
>>> from shopmail.domain.outbound.sent_mail import SentMail
>>> sent = SentMail("0102abc", "<sm.x@shop.example>", "k", "OrderPlaced", "ORD-1", "a@example.org")
>>> verify_recipient(sent, "A@Example.org"), verify_recipient(sent, "b@example.org")
(None, <UnverifiedReason.RECIPIENT_MISMATCH: 'recipient_mismatch'>)
>>> verify_recipient(None, "a@example.org", quoted=False)
<UnverifiedReason.NO_REFERENCE: 'no_reference'>
"""

from __future__ import annotations

from enum import StrEnum

from shopmail.domain.outbound.sent_mail import SentMail
from shopmail.domain.suppression.entries import suppression_key


class UnverifiedReason(StrEnum):
    """Why mail-borne feedback does not count for a recipient."""

    #: The report quotes no id of a mail we could have sent.
    NO_REFERENCE = "no_reference"
    #: It quotes ids of our form, but none is a mail we sent (or its record expired).
    UNKNOWN_MAIL = "unknown_mail"
    #: The mail it quotes went to someone else.
    RECIPIENT_MISMATCH = "recipient_mismatch"


def verify_recipient(
    sent: SentMail | None, address: str | None, *, quoted: bool = True
) -> UnverifiedReason | None:
    """``None`` when the report counts for ``address``, else why not.

    Parameters
    ----------
    sent
        The sent-mail record the report's references resolved to (``None``: none did).
    address
        The recipient the report names (``None``: redacted).
    quoted
        Whether the report quoted any id of ours at all.
    """
    if sent is None:
        return UnverifiedReason.UNKNOWN_MAIL if quoted else UnverifiedReason.NO_REFERENCE
    if address is None:
        return None
    if suppression_key(address) != suppression_key(sent.recipient):
        return UnverifiedReason.RECIPIENT_MISMATCH
    return None
