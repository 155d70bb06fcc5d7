"""Out-of-office, vacation and challenge-response detection.

The classifier asks for DSN/ARF first: a bounce with ``Auto-Submitted`` is still a bounce.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from shopmail.domain.feedback.literals import AnyOf
from shopmail.domain.inbound.parsing import signals

MAX_SCAN: Final = 8000

VACATION: Final = "vacation"
CHALLENGE: Final = "challenge"

_SUBJECT_RE: Final = AnyOf.of(
    r"out of (?:the )?office|\booo\b|abwesenheit|automatische antwort|automatic reply"
    r"|automatic response|auto[- ]?reply|autoreply|auto[- ]?response|^\s*auto\s*:|\bvacation\b"
    r"|on holiday|away from (?:the |my )?(?:office|desk)|im urlaub|nicht im b\u00fcro"
    r"|r\u00e9ponse automatique|absence notice|notice of absence|risposta automatica"
    r"|respuesta autom\u00e1tica"
    r"|automatyczna|autosvar|automatisch antwoord|afwezig|thank you for (?:your )?"
    r"(?:e-?mail|message|contacting)|vielen dank f\u00fcr ihre (?:e-?mail|nachricht|anfrage)"
    r"|eingangsbest\u00e4tigung|auto[- ]?antwort|autoantwort|out of town",
)
_BODY_VACATION_RE: Final = AnyOf.of(
    r"(?:i am|i'm|i will be|i shall be|i'll be) (?:currently |now )?(?:out of (?:the )?office"
    r"|away|on (?:vacation|holiday|leave|annual leave|business travel)|out of town"
    r"|traveling|travelling|not in the office)"
    r"|(?:ich bin|bin ich) .{0,60}(?:abwesend|nicht im b\u00fcro|im urlaub|nicht erreichbar)"
    r"|will (?:respond|reply|get back to you) .{0,40}(?:return|back)"
    r"|limited access to (?:my )?e-?mail"
    r"|this is an auto(?:matic|mated)?[- ]?(?:reply|response|generated reply)"
    r"|dies ist eine automatische (?:antwort|nachricht|benachrichtigung)",
)
_CHALLENGE_RE: Final = AnyOf.of(
    r"boxbe|bluebottle|spam ?arrest|choicemail|mailinblack|sender verification"
    r"|waitlisted|guest list"
    r"|added to (?:the |my |the recipient's )?(?:allowed|approved|white) ?list"
    r"|verify (?:that )?you (?:are (?:a )?(?:human|real|person)|sent)"
    r"|prove (?:that )?you are (?:a )?(?:human|real|person)"
    r"|confirm (?:that )?you are (?:a )?(?:human|real|person)"
    r"|requires? (?:your )?confirmation|challenge[- ]response|to ensure delivery of your"
    r"|verify your (?:e-?mail|message)|(?:account|mailbox|inbox) is protected by"
    r"|spam ?blocker|pending (?:your )?verification",
)
#: Looks up a top-level header: its decoded value, or ``None`` when absent.
HeaderLookup = Callable[[str], "str | None"]


def is_challenge_text(text: str) -> bool:
    """Whether ``text`` reads like a challenge-response / sender-verification request."""
    return _CHALLENGE_RE.search(text[:MAX_SCAN].lower()) is not None


def detect_auto_reply(header: HeaderLookup, subject: str, text: str) -> str | None:
    """Return ``"vacation"``, ``"challenge"`` or ``None``.

    Parameters
    ----------
    header:
        Looks up a top-level header (decoded value, ``None`` when absent).
    subject:
        The decoded subject.
    text:
        The decoded human-readable body text.
    """
    auto_submitted = signals.auto_submitted_keyword(header(signals.AUTO_SUBMITTED))
    header_hit = auto_submitted == "auto-replied" or signals.is_auto_reply_precedence(
        header("precedence")
    )
    header_hit = header_hit or any(header(name) is not None for name in signals.AUTO_REPLY_HEADERS)
    x_class = (header("x-post-messageclass") or "").lower()
    header_hit = header_hit or "autorespond" in x_class
    if is_challenge_text(subject) or is_challenge_text(text):
        return CHALLENGE
    if header_hit:
        return VACATION
    if _SUBJECT_RE.search(subject.lower()):
        return VACATION
    if auto_submitted == "auto-generated" or signals.is_bulk_precedence(header("precedence")):
        if _BODY_VACATION_RE.search(text[:MAX_SCAN].lower()):
            return VACATION
    elif _BODY_VACATION_RE.search(text[:2000].lower()):
        return VACATION
    return None
