"""Decide, from all the evidence about one failed recipient, the reason and whether it is hard.

``hard`` is ``True`` only when the *address itself* is permanently undeliverable: no such user
or mailbox, a recipient domain without mail service, a mailbox disabled or moved for good, a
destination address with bad syntax. Everything else is ``False``: our reputation
(blocklists, PTR, rate), our sender address or domain, relay and authentication refusals,
content, spam, viruses and size, a full mailbox, network and DNS trouble, expiry. ``None``
means the evidence does not tell (the suppression policy then counts the bounce as soft).

Evidence order (:func:`judge`):

1. **Transience.** ``Action: delayed``, a 4.x.x status, a 4xx reply or a text that says
   "try again later" / "temporary" (not "check the address and try again", not "not a
   temporary error") makes the failure transient, and a transient failure is never hard:
   "Host not found, try again" is a DNS hiccup (``network``), not an unknown host. A failure
   reported as final whose cause is a retried condition of the path (``Action: failed``
   with a 4.x.x network status or a 4xx reply that names no condition, a refused
   connection) means the MTA gave up: ``expired``; a condition a server stated (a system
   error, full storage) keeps its reason.
2. **The diagnostic text, phrases that name a condition**
   (:mod:`~shopmail.domain.feedback.phrases`) of the recipient, of us or of the message. Such
   a phrase wins over any status, because the status is often generic (5.7.1, 5.0.0),
   guessed by the reporting MTA, or contradicted by the text ("550 5.1.1 ... IP address
   blacklisted" is ``blocked``). The phrase that comes first wins (a reply states its reason
   first); a hedged one ("the mailbox may not exist") does not count.
3. **The full enhanced status**, subject *and* detail
   (:mod:`~shopmail.domain.feedback.statuses`), when its detail is specific (5.1.1 bad
   mailbox, 5.1.8 bad *sender* domain, 5.2.2 mailbox full, 5.7.25 no PTR, ...). The status in
   the remote reply (the diagnostic) is preferred to the ``Status`` field, which the
   reporting MTA may have guessed; a vague refusal of us or of the message ("will not accept
   this message", "blocked", "access denied") still contradicts an address status, and a
   network status (5.4.1 "no answer from host") when no network trouble is named: the host
   answered. Phrases about the circumstances (a refused connection, a DNS or system error)
   explain a specific status ("4.4.7 expired"), they do not contradict it, except that a
   failed lookup makes x.4.4 "unable to route" a DNS failure (RFC 3463 gives x.4.4 for both).
   Then a specific reply code (521, 551, 556) when no enhanced status of another subject
   refines it ("551 5.7.1 delivery not authorized" is a policy refusal).
4. **Vague phrases** of the diagnostic ("mailbox unavailable", "rejected", "denied").
5. **The report text around the recipient** (the human-readable part), explicit phrases.
6. **A generic status** (x.y.0, 5.7.1, unknown details: only the subject's family), then a
   generic reply code.
7. **The SMTP stage** (:mod:`~shopmail.domain.feedback.stages`) overrides what the reason is
   *about*: a reply to ``MAIL FROM`` concerns our sender (an address-like reason there is a
   refusal of our sender: ``policy``), a refusal at connection or ``HELO`` concerns our host
   (``blocked``; spam words there mean our host is held for a spam source); neither is ever
   hard; a vague "blocked" or "access denied" there names no blocklist: our sender was
   refused (``policy``). A generic addressing status (x.1.0) in reply to ``RCPT TO`` is about
   the recipient. A reply that quotes one of our own addresses or domains (the report's
   recipient, the returned original's sender) and not the recipient's is about our sender
   at any stage (Postfix checks the sender at ``RCPT TO``, header checks of our From domain
   answer after ``DATA``); without a stated stage it was given to ``MAIL FROM``.

``hard`` is then true only for a recipient reason (user unknown, host unknown, mailbox
disabled, bad destination address syntax) of a final, non-transient failure whose evidence
is explicit (steps 2, 3, 5), or vague (steps 4, 6: "550 mailbox unavailable") and not given
after ``DATA``; a recipient reason on vague evidence after ``DATA`` is ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from shopmail.domain.feedback import phrases, stages, statuses
from shopmail.domain.feedback.model import Fault, RecipientResult, Stage
from shopmail.domain.feedback.statuses import (
    MESSAGE,
    RECIPIENT,
    SENDER,
    SMTP_CODE_RE,
    SPECIFIC,
    TRANSPORT,
    UNKNOWN,
    find_smtp_code,
    find_status,
    parse_status,
)
from shopmail.domain.inbound.parsing.signals import is_daemon_local_part

__all__ = [
    "ADDRESS_REASONS",
    "Verdict",
    "classify_reason",
    "find_smtp_code",
    "find_status",
    "hard_for",
    "is_permanent",
    "judge",
]

MAX_SCAN: Final = 4000
ADDRESS_REASONS: Final = frozenset({"user_unknown", "host_unknown", "mailbox_disabled"})
# Reasons of a failure that was retried until the MTA gave up: reported as "expired". A
# condition a server stated (a system error, full storage) stays what it was.
_GAVE_UP_REASONS: Final = frozenset({"network", "other"})
# Whom each reason is about when the evidence does not say.
_FAULT_OF: Final = {
    reason: fault
    for fault, names in (
        (RECIPIENT, "user_unknown host_unknown mailbox_disabled mailbox_full"),
        (MESSAGE, "message_too_large content_rejected spam_detected virus_detected"),
        (SENDER, "blocked auth_failure relay_denied rate_limited"),
        (TRANSPORT, "expired network system"),
    )
    for reason in names.split()
}

# Reasons that keep their meaning whatever the stage (they name a condition, not an address).
_STAGE_NEUTRAL: Final = frozenset(r for r, fault in _FAULT_OF.items() if fault != RECIPIENT)

# How much a piece of evidence weighs: explicit evidence may make an address fault hard;
# vague evidence not when the reply came after DATA.
_EXPLICIT: Final = "explicit"
_VAGUE: Final = "vague"
_NONE: Final = "none"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome for one failed recipient.

    Attributes
    ----------
    reason:
        One of :data:`shopmail.domain.feedback.model.REASONS`.
    hard:
        ``True``: the address is permanently undeliverable; ``False``: it is not (transient,
        or a refusal of our sender, host or message); ``None``: the evidence does not tell.
    fault:
        ``recipient``, ``sender``, ``message``, ``transport`` or ``unknown``.
    stage:
        ``connect``, ``mail``, ``rcpt``, ``data`` or ``unknown``.
    transient:
        Whether the cause is temporary (a 4xx/4.x.x or "try again" answer).
    """

    reason: str
    hard: bool | None
    fault: Fault
    stage: Stage
    transient: bool

    def row(
        self,
        address: str,
        action: str | None,
        *,
        status: str | None = None,
        smtp_code: str | None = None,
        diagnostic: str | None = None,
    ) -> RecipientResult:
        """The recipient's row with this verdict (an empty ``diagnostic`` is none)."""
        return RecipientResult(
            address=address,
            action=action,
            status=status,
            smtp_code=smtp_code,
            hard=self.hard,
            reason=self.reason,
            diagnostic=diagnostic or None,
            stage=self.stage,
            fault=self.fault,
        )


def is_permanent(status: str | None, smtp_code: str | None, action: str | None) -> bool | None:
    """``True`` for a final failure, ``False`` for a transient one, ``None`` when unknown."""
    if action:
        low = action.lower()
        if low.startswith("fail"):
            return True
        if low.startswith(("delay", "deliver", "relay", "expand")):
            return False
    if status and status[:1] in "45":
        return status[0] == "5"
    if smtp_code and smtp_code[:1] in "45":
        return smtp_code[0] == "5"
    return None


@dataclass(frozen=True, slots=True)
class _Evidence:
    reason: str
    fault: Fault
    weight: str
    retried: bool = False  # a condition MTAs retry (a final failure of it means "gave up")


_NO_EVIDENCE: Final = _Evidence("other", UNKNOWN, _NONE, retried=True)
# Status details of conditions that MTAs retry: no answer, bad connection, congestion.
_RETRIED_DETAILS: Final = frozenset({("4", "1"), ("4", "2"), ("4", "5"), ("4", "0")})


def _from_text(family: phrases.Family, weight: str) -> _Evidence:
    return _Evidence(family.reason, family.fault, weight, family.retried)


def _from_code(meaning: statuses.Meaning, weight: str, parsed: tuple[str, ...] | None) -> _Evidence:
    retried = meaning.reason == "system" or (
        parsed is not None and (parsed[1], parsed[2]) in _RETRIED_DETAILS
    )
    return _Evidence(meaning.reason, meaning.fault, weight, retried)


def _evidence(low: str, status: str | None, smtp_code: str | None, context_low: str) -> _Evidence:
    """The reason, fault and weight of the evidence, in the documented order (steps 2-6)."""
    condition = phrases.scan((phrases.CONDITIONS,), low)
    if condition is not None:
        return _from_text(condition, _EXPLICIT)
    parsed = parse_status(status)
    meaning = statuses.status_meaning(status)
    code = statuses.code_meaning(smtp_code)
    if code.weight == SPECIFIC and meaning.reason == "system":
        # RFC 7504: 521 / 556 say the host or domain accepts no mail at all, which is more
        # than "mail system not accepting messages" (x.3.2)
        return _from_code(code, _EXPLICIT, None)
    network = meaning.reason == "network"
    vague: phrases.Family | None = None
    if meaning.weight != SPECIFIC or meaning.fault == RECIPIENT or network:
        vague = phrases.scan(phrases.VAGUE, low)
    if meaning.weight == SPECIFIC:
        refusal = vague if vague is not None and vague.fault in (SENDER, MESSAGE) else None
        if refusal and (not network or phrases.scan((phrases.CIRCUMSTANCES,), low) is None):
            # "5.1.1 ... blocked": a refusal of us or of the message, worded vaguely, still
            # contradicts an address status; and a host that answered "access denied" was
            # reached, whatever a network status (5.4.1 no answer from host) says
            return _from_text(refusal, _VAGUE)
        if parsed is not None and (parsed[1], parsed[2]) == ("4", "4"):
            # x.4.4 "unable to route" covers failed lookups as well as names without mail
            # routing (RFC 3463): a text that says the lookup failed makes it a DNS failure
            failure = phrases.scan((phrases.CIRCUMSTANCES,), low)
            if failure is phrases.DNS_OR_ROUTING or failure is phrases.CONNECTION:
                return _from_text(failure, _EXPLICIT)
        # a circumstance ("connection refused") does not contradict a specific status
        # ("4.4.7 delivery time expired"): it is what led to it
        return _from_code(meaning, _EXPLICIT, parsed)
    circumstance = phrases.scan((phrases.CIRCUMSTANCES,), low)
    if circumstance is not None:
        return _from_text(circumstance, _EXPLICIT)
    if code.weight == SPECIFIC and (parsed is None or parsed[1] in ("0", "1")):
        # a reply code is coarser than an enhanced status of another subject: "551 5.7.1
        # delivery not authorized" is a policy refusal, not a user who is not local
        return _from_code(code, _EXPLICIT, None)
    if vague is not None:
        return _from_text(vague, _VAGUE)
    around = phrases.scan(phrases.EXPLICIT, context_low)
    if around is not None:
        return _from_text(around, _EXPLICIT)
    if meaning.reason != "other":
        return _from_code(meaning, _VAGUE, parsed)
    if code.reason != "other":
        return _from_code(code, _VAGUE, None)
    return _NO_EVIDENCE


_BRACKETED: Final = re.compile(r"<([^<>\s@]{1,64}@[^<>\s]{1,255})>")


def _names_only_ours(diag: str, address: str, ours: frozenset[str]) -> bool:
    """Whether the reply quotes one of our own addresses or domains (the sender's) and not the
    recipient's: "550 5.7.1 <bounces@shop.example>... Access denied" refuses our sender, and
    so does "553 shop.example does not exist" (our domain, not the recipient's)."""
    if not ours or not diag:
        return False
    scan = diag[:MAX_SCAN].lower()
    address = address.lower()
    if "<" in scan:
        named = set(_BRACKETED.findall(scan))
        if named & ours:
            return address not in named
    # the remote server's answer (from its reply code on; before it, a text bounce repeats
    # the recipient's address and the hosts it tried)
    code = SMTP_CODE_RE.search(scan)
    answer = scan[code.start() :] if code is not None else scan
    rcpt_domain = address.rpartition("@")[2]
    if not rcpt_domain or _names(answer, address) or _names(answer, rcpt_domain):
        return False
    for mine in ours:
        local, _at, domain = mine.rpartition("@")
        if is_daemon_local_part(local) or "." not in domain:
            continue  # the reporting MTA's own mailbox, not our sender
        related = domain == rcpt_domain or domain.endswith(f".{rcpt_domain}")
        if not related and not rcpt_domain.endswith(f".{domain}") and _names(answer, domain):
            return True
    return False


def _names(text: str, name: str) -> bool:
    """Whether ``name`` (an address or domain) stands in ``text`` as a whole word."""
    at = text.find(name)
    while at >= 0:
        before = text[at - 1 : at]
        after = text[at + len(name) : at + len(name) + 1]
        if not (before.isalnum() or before in ".-_@") and not (after.isalnum() or after in "-_@"):
            return True
        at = text.find(name, at + 1)
    return False


def judge(
    diagnostic: str | None,
    status: str | None = None,
    smtp_code: str | None = None,
    action: str | None = None,
    context: str = "",
    stage: Stage | None = None,
    *,
    address: str = "",
    ours: frozenset[str] = frozenset(),
) -> Verdict:
    """Weigh the evidence about one failed recipient in the documented order.

    Parameters
    ----------
    diagnostic:
        The remote server's reply or the MTA's diagnostic for this recipient (DSN
        ``Diagnostic-Code`` without its type, or the lines of a text bounce).
    status:
        The RFC 3463 status reported for the recipient (DSN ``Status``), if any; a status in
        the ``diagnostic`` is preferred.
    smtp_code:
        The reply code, if known (else read from ``diagnostic``).
    action:
        RFC 3464 action (``failed``, ``delayed``, ...) or ``None``.
    context:
        Other text about the failure (the report's human-readable part near the recipient),
        used when the diagnostic and the status do not tell, and for the stage.
    stage:
        The SMTP stage when the caller already knows it.
    address:
        The recipient address (lower or any case).
    ours:
        Lower-cased addresses of our side (the report's own recipient, the returned
        original's sender): a reply that quotes one of them or their domain instead of the
        recipient's is about our sender (given to ``MAIL FROM`` when no stage is stated).

    Returns
    -------
    Verdict
        Reason, ``hard``, fault, stage and transience.
    """
    diag = diagnostic or ""
    low = phrases.lower(diag)
    context_low = phrases.lower(context) if context else ""
    evidence_status = find_status(diag) or status
    code = smtp_code or find_smtp_code(diag)
    if stage is None or stage == stages.UNKNOWN:
        stage = stages.find_stage(diag)
        if stage == stages.UNKNOWN and context:
            stage = stages.find_stage(context)
    about_us = _names_only_ours(diag, address, ours)
    if stage == stages.UNKNOWN and about_us:
        stage = stages.MAIL
    final = is_permanent(status or evidence_status, code, action)
    parsed = parse_status(evidence_status)
    retry = phrases.says_transient(low)
    transient = (
        final is False
        or (parsed is not None and parsed[0] == "4")
        or (code is not None and code[0] == "4")
        or retry
    )
    evidence = _evidence(low, evidence_status, code, context_low)
    reason, fault = evidence.reason, evidence.fault

    if transient and reason == "host_unknown" and (retry or evidence.weight != _EXPLICIT):
        # a temporary DNS failure ("Host not found, try again"), not a missing domain; a
        # domain said to accept no mail stays host_unknown (not hard: the answer was 4xx)
        reason, fault = "network", TRANSPORT
    # a condition stated without any reply (the connection never succeeded)
    no_reply = code is None and parsed is None and evidence.weight != _NONE
    gave_up = final is True and (transient or no_reply) and evidence.retried
    if gave_up and reason in _GAVE_UP_REASONS:
        reason, fault = "expired", TRANSPORT  # retried until the MTA gave up
    if (
        stage == stages.RCPT
        and parsed is not None
        and parsed[1] == "1"
        and evidence.weight != _EXPLICIT
        and reason in ("other", "policy")
    ):
        reason, fault = "user_unknown", RECIPIENT  # x.1.0 in reply to RCPT TO: the recipient
    if stage in (stages.CONNECT, stages.MAIL) and reason == "spam_detected":
        reason = "blocked"  # no message was sent yet: we are held for a spam source
    sender_refused = stage == stages.MAIL or about_us
    if sender_refused and reason == "blocked" and evidence.weight == _VAGUE:
        # "Access denied" to our sender names no blocklist: our sender address was refused
        reason, fault = "policy", SENDER
    if sender_refused and reason not in _STAGE_NEUTRAL:
        # our sender address or domain was refused, whatever the stage (Postfix checks the
        # sender at RCPT TO; a header check of our From domain answers after DATA)
        reason, fault = "policy", SENDER
    elif stage == stages.CONNECT and reason not in _STAGE_NEUTRAL:
        reason, fault = "blocked", SENDER  # our host was refused
    fault = fault if fault != UNKNOWN else _FAULT_OF.get(reason, UNKNOWN)
    if reason == "syntax" and parsed is not None and (parsed[1], parsed[2]) == ("1", "3"):
        fault = RECIPIENT  # bad destination mailbox address syntax

    hard: bool | None
    if transient or final is False:
        hard = False
    elif final is None:
        hard = None
    elif fault == RECIPIENT and reason in ADDRESS_REASONS | {"syntax"}:
        # explicit evidence, or vague evidence that no stage puts elsewhere than RCPT TO
        hard = True if evidence.weight == _EXPLICIT or stage != stages.DATA else None
    elif reason == "other":
        hard = None
    else:
        hard = False
    return Verdict(reason, hard, fault, stage, transient)


def classify_reason(status: str | None, smtp_code: str | None, text: str | None) -> str:
    """The reason for a failed recipient (see :func:`judge` for the evidence order).

    Returns
    -------
    str
        One of :data:`shopmail.domain.feedback.model.REASONS`.
    """
    return judge(text, status, smtp_code).reason


def hard_for(
    reason: str,
    permanent: bool | None,
    status: str | None = None,
    diagnostic: str | None = None,
    remote: bool = False,
) -> bool | None:
    """Whether a failure with this ``reason`` makes the address undeliverable.

    For callers that only know the reason and whether the failure is final; :func:`judge`
    weighs all the evidence. Relay refusals are never hard (they may be our relay's
    configuration or a misconfigured MX; the address is not known to be bad).

    Parameters
    ----------
    reason:
        The classified reason.
    permanent:
        Result of :func:`is_permanent`.
    status:
        RFC 3463 status (tells destination address syntax from protocol syntax).
    diagnostic, remote:
        Accepted for compatibility; not used.
    """
    del diagnostic, remote
    if permanent is False:
        return False
    if permanent is None:
        return None
    if reason in ADDRESS_REASONS:
        return True
    if reason == "syntax":
        parsed = parse_status(status)
        return parsed is None or (parsed[1], parsed[2]) == ("1", "3")
    if reason == "other":
        return None
    return False
