"""Recipient addresses for outbound mail: validated and made 7-bit for the SES relay.

The SES SMTP relay speaks no SMTPUTF8: an internationalized domain is sent as Punycode
(``.ascii_email``), a non-ASCII local part cannot be sent at all. email-validator runs with
``allow_smtputf8=False``, ``check_deliverability=False`` (the domain layer does no network
I/O) and ``strict=True`` (enforces RFC 5321's 64-character limit on the local part).

Example
-------
>>> normalize_recipient("kunde@büro.example").address
'kunde@xn--bro-hoa.example'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shopmail.errors import InvalidRecipientError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Recipient:
    """A recipient that can be put on the SMTP envelope and in the ``To`` header.

    Attributes
    ----------
    address
        The 7-bit address (domain lower-cased, IDN as Punycode).
    domain
        The ASCII domain (log this, never the full address).
    unicode_domain
        The domain as the customer wrote it (for display only).
    """

    address: str
    domain: str
    unicode_domain: str


def normalize_recipient(value: str) -> Recipient:
    """Validate ``value`` and return its 7-bit form.

    Parameters
    ----------
    value
        An address as the shop sent it (``user@domain``, no display name).

    Returns
    -------
    Recipient
        The ASCII address (``.ascii_email`` of email-validator) and its domain.

    Raises
    ------
    InvalidRecipientError
        When the address is not valid, has a non-ASCII local part or contains control
        characters; ``reason`` says why (the address itself is not in the reason, only its
        domain in ``context``).

    Example
    -------
    >>> normalize_recipient("Kunde@Example.COM").address
    'Kunde@example.com'
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecipientError("recipient address is empty")
    if _CONTROL.search(value):
        raise InvalidRecipientError("recipient address contains control characters")
    candidate = value.strip()
    domain_hint = candidate.rpartition("@")[2][:255] if "@" in candidate else ""
    local = candidate.rpartition("@")[0]
    if local and not local.isascii():
        raise InvalidRecipientError(
            "recipient local part is not ASCII (the SES relay has no SMTPUTF8)",
            domain=_safe_domain(domain_hint),
        )
    # lazy: its syntax tables are compiled on import; only the outbound function validates
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(
            candidate, allow_smtputf8=False, check_deliverability=False, strict=True
        )
    except EmailNotValidError as exc:
        raise InvalidRecipientError(
            f"invalid recipient address: {_strip_address(str(exc), candidate)}",
            domain=_safe_domain(domain_hint),
        ) from exc
    ascii_email = result.ascii_email
    if not ascii_email or not ascii_email.isascii():  # pragma: no cover - guarded above
        raise InvalidRecipientError("recipient address cannot be written in ASCII")
    return Recipient(
        address=ascii_email,
        domain=result.ascii_domain,
        unicode_domain=result.domain,
    )


def _safe_domain(domain: str) -> str:
    return _CONTROL.sub("", domain).lower()


def _strip_address(message: str, address: str) -> str:
    """email-validator messages rarely quote the address; make sure they never do."""
    return message.replace(address, "<address>")
