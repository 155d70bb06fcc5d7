"""What an RFC 3463 enhanced status code and an SMTP reply code say about a failure.

An enhanced status is ``class.subject.detail``. The class says permanent (5) or transient (4);
the subject says what the status is about (1 addressing, 2 mailbox, 3 mail system, 4 network
and routing, 5 protocol, 6 content, 7 security or policy); the detail says exactly what
(RFC 3463, extended by RFC 4468, 4954, 5248, 6531, 6710, 7293, 7372, 7505, 8689 and the IANA
registry). The subject alone is never enough: ``5.1.1`` is a bad *destination* mailbox,
``5.1.7`` / ``5.1.8`` are about the *sender's* address and domain, ``5.1.10`` is a recipient
domain with a null MX. Each meaning carries a *weight*: ``specific`` details name one
condition; ``generic`` ones (``x.y.0``, ``5.7.1`` "delivery not authorised, message refused",
details this table does not know) only say which family the failure belongs to, so any
recognisable diagnostic text wins over them.

Reply codes (RFC 5321 4.2, RFC 7504) are coarser still; only 521, 551 and 556 name a condition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from shopmail.domain.feedback.model import Fault

SPECIFIC: Final = "specific"
GENERIC: Final = "generic"

RECIPIENT: Final = Fault.RECIPIENT
SENDER: Final = Fault.SENDER
MESSAGE: Final = Fault.MESSAGE
TRANSPORT: Final = Fault.TRANSPORT
UNKNOWN: Final = Fault.UNKNOWN

STATUS_RE: Final = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
SMTP_CODE_RE: Final = re.compile(r"(?<![\w.\-/:=])([245]\d\d)(?=[ \-\]),;]|$)", re.MULTILINE)
MAX_SCAN: Final = 4000


@dataclass(frozen=True, slots=True)
class Meaning:
    """What a code says: a reason (one of ``REASONS``), who it is about, and how precisely."""

    reason: str
    fault: Fault
    weight: str


def _table(rows: str) -> dict[str, Meaning]:
    out: dict[str, Meaning] = {}
    for line in rows.strip().splitlines():
        key, reason, fault, weight = line.split()
        out[key] = Meaning(reason, Fault(fault), weight)
    return out


# subject.detail -> meaning (RFC 3463 section 3 and the IANA "Enumerated Status Codes").
_STATUS: Final = _table(
    """
    0.0 other unknown generic
    1.0 other unknown generic
    1.1 user_unknown recipient specific
    1.2 host_unknown recipient specific
    1.3 syntax recipient specific
    1.4 user_unknown recipient generic
    1.5 other unknown generic
    1.6 user_unknown recipient specific
    1.7 syntax sender specific
    1.8 policy sender specific
    1.9 other transport generic
    1.10 host_unknown recipient specific
    2.0 other unknown generic
    2.1 mailbox_disabled recipient specific
    2.2 mailbox_full recipient specific
    2.3 message_too_large message specific
    2.4 system transport specific
    3.0 system transport generic
    3.1 system transport specific
    3.2 system transport specific
    3.3 content_rejected message specific
    3.4 message_too_large message specific
    3.5 system transport specific
    3.6 other unknown generic
    4.0 network transport generic
    4.1 network transport specific
    4.2 network transport specific
    4.3 network transport specific
    4.4 host_unknown recipient specific
    4.5 network transport specific
    4.6 network transport specific
    4.7 expired transport specific
    5.0 system transport generic
    5.1 syntax sender specific
    5.2 syntax sender specific
    5.3 rate_limited sender specific
    5.4 syntax sender specific
    5.5 system transport specific
    5.6 auth_failure sender specific
    6.0 content_rejected message generic
    7.0 policy unknown generic
    7.1 policy unknown generic
    7.2 policy unknown specific
    7.3 policy message specific
    7.4 policy message specific
    7.5 policy message specific
    7.6 policy message specific
    7.7 content_rejected message specific
    7.8 auth_failure sender specific
    7.9 auth_failure sender specific
    7.10 policy sender specific
    7.11 policy sender specific
    7.12 auth_failure sender specific
    7.13 auth_failure sender specific
    7.14 auth_failure sender specific
    7.15 policy message specific
    7.16 message_too_large message specific
    7.17 user_unknown recipient specific
    7.18 host_unknown recipient specific
    7.19 other unknown generic
    7.20 auth_failure sender specific
    7.21 auth_failure sender specific
    7.22 auth_failure sender specific
    7.23 auth_failure sender specific
    7.24 auth_failure sender specific
    7.25 blocked sender specific
    7.26 auth_failure sender specific
    7.27 policy sender specific
    7.28 blocked sender specific
    7.29 auth_failure sender specific
    7.30 policy message specific
    """
)
# Subjects whose every detail 1..10 is specific to message content (RFC 3463 3.7, RFC 6531).
_CONTENT_DETAILS: Final = frozenset(str(n) for n in range(1, 11))
# A detail the table does not know (a provider's own, e.g. 5.7.606): the subject's family.
_SUBJECT_DEFAULT: Final = {
    "0": Meaning("other", UNKNOWN, GENERIC),
    "1": Meaning("other", UNKNOWN, GENERIC),
    "2": Meaning("other", UNKNOWN, GENERIC),
    "3": Meaning("system", TRANSPORT, GENERIC),
    "4": Meaning("network", TRANSPORT, GENERIC),
    "5": Meaning("system", TRANSPORT, GENERIC),
    "6": Meaning("content_rejected", MESSAGE, GENERIC),
    "7": Meaning("policy", UNKNOWN, GENERIC),
}
_NOTHING: Final = Meaning("other", UNKNOWN, GENERIC)

# Reply codes (RFC 5321 4.2.2-4.2.3, RFC 7504, RFC 4954, RFC 3207).
_CODES: Final = _table(
    """
    421 system transport generic
    450 other unknown generic
    451 system transport generic
    452 system transport generic
    454 system transport generic
    455 system transport generic
    471 content_rejected message generic
    500 syntax sender generic
    501 syntax sender generic
    502 syntax sender generic
    503 syntax sender generic
    504 syntax sender generic
    521 host_unknown recipient specific
    523 message_too_large message generic
    530 auth_failure sender generic
    534 auth_failure sender generic
    535 auth_failure sender generic
    541 spam_detected message generic
    550 other unknown generic
    551 user_unknown recipient specific
    552 mailbox_full recipient generic
    553 syntax unknown generic
    554 policy unknown generic
    555 syntax sender generic
    556 host_unknown recipient specific
    557 policy unknown generic
    571 policy unknown generic
    572 policy unknown generic
    """
)


#: Reply codes RFC 5321 / RFC 7504 define for failures (others are taken for numbers).
FAILURE_CODES: Final = frozenset(_CODES)


def parse_status(status: str | None) -> tuple[str, str, str] | None:
    """``"5.1.1"`` -> ``("5", "1", "1")`` (leading zeros dropped); ``None`` when not a status."""
    if not status:
        return None
    parts = status.strip().split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or parts[0] not in "245":
        return None
    return parts[0], str(int(parts[1])), str(int(parts[2]))


def status_meaning(status: str | None) -> Meaning:
    """What an enhanced status says (``other`` / generic when it says nothing usable)."""
    parsed = parse_status(status)
    if parsed is None or parsed[0] == "2":
        return _NOTHING
    _klass, subject, detail = parsed
    found = _STATUS.get(f"{subject}.{detail}")
    if found is not None:
        return found
    if subject == "6" and detail in _CONTENT_DETAILS:
        return Meaning("content_rejected", MESSAGE, SPECIFIC)
    return _SUBJECT_DEFAULT.get(subject, _NOTHING)


def code_meaning(code: str | None) -> Meaning:
    """What an SMTP reply code says (``other`` / generic when unknown)."""
    return _CODES.get(code or "", _NOTHING)


def find_status(text: str) -> str | None:
    """The first RFC 3463 status code (``x.y.z``) in ``text``, or ``None``."""
    match = STATUS_RE.search(text[:MAX_SCAN])
    if match is None:
        return None
    return f"{match.group(1)}.{match.group(2)}.{match.group(3)}"


def find_smtp_code(text: str) -> str | None:
    """The first plausible SMTP failure reply code in ``text``, or ``None``."""
    for match in SMTP_CODE_RE.finditer(text[:MAX_SCAN]):
        code = match.group(1)
        if code in FAILURE_CODES:
            return code
    return None
