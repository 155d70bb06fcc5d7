"""Map an RFC 3463 status, an SMTP reply code and diagnostic text to a reason and ``hard``.

``hard`` is ``True`` only when the *address itself* is permanently undeliverable (user unknown,
host unknown / null MX, mailbox disabled or moved, bad address syntax). A permanent refusal for
policy, spam, reputation or content is ``False``: the address is fine, the message or the sender
was refused. Transient failures are ``False``; an unknown permanent failure is ``None``.
"""

from __future__ import annotations

import re
from typing import Final

MAX_SCAN: Final = 4000

STATUS_RE: Final = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_SMTP_CODES: Final = frozenset(
    [
        "421",
        "450",
        "451",
        "452",
        "454",
        "455",
        "471",
        "500",
        "501",
        "502",
        "503",
        "504",
        "521",
        "523",
        "530",
        "534",
        "535",
        "541",
        "550",
        "551",
        "552",
        "553",
        "554",
        "555",
        "556",
        "557",
        "571",
        "572",
    ]
)
SMTP_CODE_RE: Final = re.compile(r"(?<![\w.\-/:=])([245]\d\d)(?=[ \-\]),;]|$)", re.MULTILINE)

_REMOTE_RCPT_RE: Final = re.compile(r"(?:in reply to|after) rcpt to", re.IGNORECASE)
ADDRESS_REASONS: Final = frozenset({"user_unknown", "host_unknown", "mailbox_disabled"})

# Specific statuses win over the text (the text is often a generic sentence).
_SPECIFIC_STATUS: Final[dict[str, str]] = {
    "1.1": "user_unknown",
    "1.2": "host_unknown",
    "1.6": "mailbox_disabled",
    "2.1": "mailbox_disabled",
    "2.2": "mailbox_full",
    "2.3": "message_too_large",
    "3.4": "message_too_large",
    "4.7": "expired",
    "7.13": "mailbox_disabled",
    "7.23": "auth_failure",
    "7.25": "blocked",
    "7.26": "auth_failure",
    "7.27": "policy",
}

# Generic statuses: used only when the text says nothing recognisable.
_GENERIC_STATUS: Final[dict[str, str]] = {
    "1.0": "user_unknown",
    "1.4": "user_unknown",
    "1.3": "syntax",
    "1.7": "syntax",
    "1.10": "host_unknown",
    "1.8": "policy",
    "2.0": "other",
    "2.4": "system",
    "3.0": "system",
    "3.1": "system",
    "3.2": "system",
    "3.3": "content_rejected",
    "3.5": "system",
    "4.0": "network",
    "4.1": "network",
    "4.2": "network",
    "4.3": "network",
    "4.4": "host_unknown",
    "4.5": "system",
    "4.6": "system",
    "5.0": "system",
    "5.1": "syntax",
    "5.2": "syntax",
    "5.3": "rate_limited",
    "5.4": "syntax",
    "5.5": "system",
    "6.0": "content_rejected",
    "6.1": "content_rejected",
    "6.2": "content_rejected",
    "6.3": "content_rejected",
    "6.4": "content_rejected",
    "6.5": "content_rejected",
    "7.0": "policy",
    "7.1": "policy",
    "7.2": "policy",
    "7.3": "policy",
    "7.4": "policy",
    "7.7": "content_rejected",
    "7.8": "auth_failure",
    "7.9": "auth_failure",
    "7.20": "auth_failure",
    "7.21": "auth_failure",
    "7.22": "auth_failure",
    "7.24": "auth_failure",
    "7.28": "blocked",
}

_SMTP_REASON: Final[dict[str, str]] = {
    "421": "system",
    "450": "other",
    "451": "system",
    "452": "mailbox_full",
    "454": "system",
    "471": "content_rejected",
    "500": "syntax",
    "501": "syntax",
    "502": "syntax",
    "503": "syntax",
    "504": "syntax",
    "521": "host_unknown",
    "523": "message_too_large",
    "530": "auth_failure",
    "534": "auth_failure",
    "535": "auth_failure",
    "541": "spam_detected",
    "551": "user_unknown",
    "552": "mailbox_full",
    "553": "syntax",
    "554": "policy",
    "556": "host_unknown",
    "571": "policy",
}


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(parts), re.IGNORECASE)


# Ordered: the first matching family wins. Specific before generic.
_TEXT_RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        # unambiguous "no such mailbox" answers win over words like "denied" or "spam" nearby
        "user_unknown",
        _rx(
            r"recipient address rejected: (?:access denied|user unknown|undeliverable address)",
            r"\buser unknown\b",
            r"\bunknown user\b",
            r"no such (?:user|mailbox)\b",
            r"mailbox (?:not found|does not exist|unknown)",
            r"recipientnotfound",
            r"account that you tried to reach does not exist",
            r"nosuchuser",
            r"benutzer unbekannt",
        ),
    ),
    (
        "virus_detected",
        _rx(r"\bvirus", r"malware", r"\binfected\b", r"trojan", r"\bworm\b", r"virengepr"),
    ),
    (
        "mailbox_full",
        _rx(
            r"mail\s?box (?:is )?full",
            r"mailbox (?:has )?exceeded",
            r"mail ?folder is full",
            r"over ?quota",
            r"quota (?:exceeded|exceed|full|violation)",
            r"exceeded? (?:his|her|their|its|the|my)? ?(?:storage|quota|mailbox)",
            r"exceed(?:s|ed)? (?:the )?(?:storage|disk|mailbox)",
            r"disk quota",
            r"insufficient (?:disk )?(?:space|storage)",
            r"not enough (?:disk )?space",
            r"storage (?:allocation|limit|quota)",
            r"\bquota\b",
            r"mailbox size limit",
            r"user(?:'s)? (?:mailbox )?is over",
            r"postfach (?:ist )?(?:voll|\u00fcberf\u00fcllt)",
            r"speicherplatz",
            r"mailbox voll",
            r"too many messages in (?:this|the) mailbox",
            r"full mailbox",
            r"account is full",
            r"mailbox_full",
            r"too many messages (?:on|in|stored)",
            r"zu ?viele (?:mails|nachrichten)",
            r"postfach .{0,40}(?:voll|\u00fcberf\u00fcllt|\u00fcberschritten)",
            r"speicher(?:platz|grenze|kapazit\u00e4t) .{0,30}(?:ersch\u00f6pft|\u00fcberschritten)",
            r"mail ?box (?:size )?exceeds",
            r"mailbox (?:size )?limit",
        ),
    ),
    (
        "message_too_large",
        _rx(
            r"message (?:is )?too (?:large|big)",
            r"too large",
            r"too big",
            r"message size",
            r"size (?:limit|exceeds?)",
            r"exceeds? (?:the )?(?:maximum|max|fixed|size|allowed)",
            r"message length exceeds",
            r"message exceeds",
            r"zu gro(?:\u00df|ss)",
        ),
    ),
    (
        "auth_failure",
        _rx(
            r"\bspf\b",
            r"\bdkim\b",
            r"\bdmarc\b",
            r"sender policy framework",
            r"not authorized to send on behalf",
            r"unauthenticated (?:email|mail|sender)",
            r"authentication (?:required|failed)",
            r"failed authentication",
        ),
    ),
    (
        "relay_denied",
        _rx(
            r"relay(?:ing)? (?:access )?(?:denied|not (?:allowed|permitted))",
            r"not (?:permitted|allowed|authori[sz]ed) to relay",
            r"unable to relay",
            r"(?:we|i) do not relay",
            r"no relaying",
            r"relay (?:is )?not permitted",
            r"cannot relay",
            r"not a gateway",
            r"relaying (?:prohibited|denied)",
            r"relay access",
            r"as a relay",
            r"rcpthosts",
            r"relay not allowed",
        ),
    ),
    (
        "rate_limited",
        _rx(
            r"rate limit",
            r"rate[- ]limited",
            r"too many (?:connections|messages|recipients|mails|concurrent|emails|sessions)",
            r"throttl",
            r"exceeded (?:the )?(?:message |sending |connection )?rate",
            r"sending rate",
            r"try again later",
            r"temporarily deferred",
            r"greylist",
            r"graylist",
            r"please retry later",
        ),
    ),
    (
        "blocked",
        _rx(
            r"black ?list",
            r"block ?list",
            r"deny ?list",
            r"\bblocked\b",
            r"\bbanned\b",
            r"spamhaus",
            r"spamcop",
            r"\bsorbs\b",
            r"barracuda",
            r"\brbl\b",
            r"\bdnsbl\b",
            r"\bdnsrbl\b",
            r"\buribl\b",
            r"\bsurbl\b",
            r"reputation",
            r"\bptr\b",
            r"reverse (?:dns|lookup|hostname)",
            r"\brdns\b",
            r"client host (?:\[[^\]]*\] )?rejected",
            r"(?<!not )listed (?:at|on|in|by)",
            r"(?<!not )is listed",
            r"poor (?:sender )?reputation",
            r"your (?:ip|host|server|network|domain)",
            r"connection (?:refused|rejected) (?:from|by policy)",
            r"sender (?:address|domain) (?:is )?(?:blocked|rejected)",
            r"access denied",
            r"mail from .* (?:refused|rejected)",
        ),
    ),
    (
        "spam_detected",
        _rx(
            r"spam",
            r"mass mailer",
            r"\bjunk\b",
            r"unsolicited",
            r"bulk (?:e-?)?mail",
            r"spamassassin",
            r"looks like spam",
            r"scored? (?:too high|higher)",
            r"high (?:spam )?probability",
            r"suspicious",
            r"\bubc?e\b",
            r"\buce\b",
            r"content[- ]filter",
            r"rejected by (?:the )?(?:recipient'?s? )?(?:filter|content)",
        ),
    ),
    (
        "content_rejected",
        _rx(
            r"attachment",
            r"embedded image",
            r"message content",
            r"content (?:rejected|not accepted|policy)",
            r"prohibited",
            r"not accept(?:ing)? (?:mail|messages|e-?mail) with",
            r"disallowed",
            r"\bmime\b",
            r"file ?type",
        ),
    ),
    (
        "mailbox_disabled",
        _rx(
            r"\bdisabled\b",
            r"\bsuspended\b",
            r"\binactive\b",
            r"deactivated",
            r"account (?:has been |is )?(?:closed|expired|locked|terminated|cancell?ed)",
            r"no longer (?:active|valid|available|in use|exists?|with|at|employed|accepts?)",
            r"has moved",
            r"\bmoved\b",
            r"account (?:is )?(?:unavailable|not active)",
            r"not (?:an )?active",
            r"gesperrt",
            r"deaktiviert",
            r"\bfrozen\b",
            r"\bexpired account\b",
        ),
    ),
    (
        "host_unknown",
        _rx(
            r"host (?:or domain name )?(?:not found|unknown)",
            r"unknown host",
            r"domain (?:name )?(?:not found|does not exist|doesn't exist|unknown|is not valid)",
            r"no such (?:domain|host)",
            r"unknown (?:mail )?domain",
            r"unrouteable (?:mail )?domain",
            r"name service error",
            r"\bnxdomain\b",
            r"null mx",
            r"no mx",
            r"mx (?:record|lookup)",
            r"unable to route",
            r"no route to",
            r"domain (?:is )?(?:invalid|not (?:valid|registered|exist))",
            r"host not reached",
            r"name or service not known",
            r"host name lookup failure",
            r"dns (?:lookup )?(?:error|failure)",
            r"unknown or invalid domain",
            r"domain .{0,40}(?:does not exist|not found)",
            r"domain .{0,40}existiert nicht",
        ),
    ),
    (
        "user_unknown",
        _rx(
            r"user(?:name)? (?:is )?unknown",
            r"unknown (?:user|recipient|local[- ]part|mailbox|account|address|alias)",
            r"no such (?:user|mailbox|recipient|address|account|person|local user)",
            r"mail ?box (?:is )?(?:not found|unknown|does not exist|unavailable|not exist)",
            r"does ?(?:not|n't) (?:exist|have an? (?:account|mailbox))",
            r"doesn'?t exist",
            r"not (?:a )?(?:known|valid) (?:user|recipient|mailbox|address|e-?mail)",
            r"(?:recipient|user|mailbox|address|account|addressee) (?:\S+ )?(?:not found|unknown|"
            r"invalid|does not exist|doesn't exist|not exist|rejected|not listed|not recognized)",
            r"invalid (?:recipient|user|mailbox|address|account|e-?mail address)",
            r"user not (?:found|known|listed|here)",
            r"not our customer",
            r"bad destination mailbox",
            r"badrcptto",
            r"unrouteable address",
            r"no mailbox",
            r"no mail ?box",
            r"unknown e-?mail address",
            r"nosuchuser",
            r"recipientnotfound",
            r"wasn'?t found at",
            r"not a registered (?:gateway )?user",
            r"invalid .{0,20}userid",
            r"does not have a final (?:e-?mail )?delivery point",
            r"n'existe pas",
            r"unbekannter empf\u00e4nger",
            r"bad[_ ]recipient",
            r"nie istnieje",
            r"couldn'?t be found",
            r"could not be found",
            r"not listed in",
            r"no (?:such )?account",
            r"unknown or illegal alias",
            r"name (?:is )?not recogni[sz]ed",
            r"address (?:is )?(?:invalid|unknown|not valid)",
            r"benutzer (?:ist )?unbekannt",
            r"unbekannte?r? (?:empf\u00e4nger|benutzer|adresse)",
            r"empf\u00e4nger (?:ist )?unbekannt",
            r"existiert nicht",
            r"gibt es nicht",
            r"nicht gefunden",
            r"user doesn'?t have",
            r"no valid recipients",
            r"\bunknown\b.{0,80}\b(?:user|recipient)\b",
            r"not a valid mailbox",
            r"mailbox unavailable",
            r"recipient (?:address )?rejected",
            r"user (?:account )?(?:is )?(?:unavailable|not available)",
            r"addressee unknown",
            r"(?:account|mailbox|user|address) (?:has been |was |is )?deleted",
        ),
    ),
    (
        "expired",
        _rx(
            r"expired",
            r"retry (?:time|timeout|period) (?:exceeded|expired)",
            r"delivery time",
            r"could not be delivered (?:with)?in",
            r"in the queue too long",
            r"queue too long",
            r"gave up",
            r"failed \d+ attempts",
            r"giving up",
            r"too long",
            r"time limit",
            r"has not been delivered .{0,40}(?:for|within)",
            r"could not (?:be )?deliver(?:ed)? for",
        ),
    ),
    (
        "network",
        _rx(
            r"connection (?:refused|timed out|reset|closed|lost|failed)",
            r"timed out",
            r"time(?:d)?-?out",
            r"network (?:error|unreachable|is unreachable)",
            r"unreachable",
            r"lost connection",
            r"can(?:'t|not) connect",
            r"could not connect",
            r"unable to connect",
            r"connect to .* failed",
            r"\btls\b",
            r"\bssl\b",
        ),
    ),
    (
        "system",
        _rx(
            r"system (?:error|failure|problem)",
            r"local error",
            r"internal (?:server )?error",
            r"server error",
            r"temporary (?:local )?(?:failure|problem|error)",
            r"temporarily (?:unavailable|rejected)",
            r"(?:mail )?loop",
            r"too many hops",
            r"hop count",
            r"i/o error",
            r"resources",
            r"out of memory",
            r"service (?:not )?(?:unavailable|available)",
            r"try again",
            r"currently unavailable",
            r"command died",
            r"message looping",
        ),
    ),
    (
        "syntax",
        _rx(
            r"syntax",
            r"malformed",
            r"illegal (?:address|character)",
            r"bad address",
            r"invalid (?:address )?format",
        ),
    ),
    (
        "policy",
        _rx(
            r"policy",
            r"not (?:allowed|permitted|authori[sz]ed)",
            r"\brefused\b",
            r"\bdenied\b",
            r"\brejected\b",
            r"administrative prohibition",
            r"prohibited",
            r"\bforbidden\b",
            r"restricted",
            r"verweigert",
            r"abgelehnt",
        ),
    ),
)


def find_status(text: str) -> str | None:
    """The first RFC 3463 status code (``x.y.z``) in ``text``, or ``None``."""
    match = STATUS_RE.search(text[:MAX_SCAN])
    if match is None:
        return None
    return f"{match.group(1)}.{match.group(2)}.{match.group(3)}"


def find_smtp_code(text: str) -> str | None:
    """The first plausible SMTP reply code in ``text``, or ``None``."""
    for match in SMTP_CODE_RE.finditer(text[:MAX_SCAN]):
        code = match.group(1)
        if code in _SMTP_CODES:
            return code
    return None


def reason_from_text(text: str) -> str | None:
    """The reason the diagnostic text describes, or ``None`` when nothing matches."""
    scan = text[:MAX_SCAN]
    if not scan:
        return None
    for reason, pattern in _TEXT_RULES:
        if pattern.search(scan):
            return reason
    return None


def classify_reason(status: str | None, smtp_code: str | None, text: str | None) -> str:
    """Pick the reason for a failed recipient.

    Parameters
    ----------
    status:
        RFC 3463 status ``x.y.z`` or ``None``.
    smtp_code:
        Three-digit SMTP code or ``None``.
    text:
        Diagnostic text (any length; only the start is scanned).

    Returns
    -------
    str
        One of :data:`shopmail.domain.feedback.model.REASONS`.
    """
    sub = None
    if status:
        parts = status.split(".")
        if len(parts) == 3:
            sub = f"{int(parts[1]) if parts[1].isdigit() else parts[1]}."
            sub += f"{int(parts[2]) if parts[2].isdigit() else parts[2]}"
    if sub and sub in _SPECIFIC_STATUS:
        return _SPECIFIC_STATUS[sub]
    found = reason_from_text(text or "")
    if found is not None:
        return found
    if sub and sub in _GENERIC_STATUS:
        return _GENERIC_STATUS[sub]
    if smtp_code and smtp_code in _SMTP_REASON:
        return _SMTP_REASON[smtp_code]
    return "other"


def is_permanent(status: str | None, smtp_code: str | None, action: str | None) -> bool | None:
    """``True`` for a permanent failure, ``False`` for a transient one, ``None`` when unknown."""
    if action:
        low = action.lower()
        if low.startswith("fail"):
            return True
        if low.startswith("delay"):
            return False
        if low.startswith(("deliver", "relay", "expand")):
            return False
    if status and status[:1] in "45":
        return status[0] == "5"
    if smtp_code and smtp_code[:1] in "45":
        return smtp_code[0] == "5"
    return None


def hard_for(
    reason: str,
    permanent: bool | None,
    status: str | None = None,
    diagnostic: str | None = None,
    remote: bool = False,
) -> bool | None:
    """Whether the address itself is permanently undeliverable.

    A permanent ``relay_denied`` given by the remote host in reply to ``RCPT TO`` counts as
    hard: the recipient domain's own MX does not accept mail for that domain. A relay refusal
    without that evidence may be our own relay's configuration and is not hard.

    Parameters
    ----------
    reason:
        The classified reason.
    permanent:
        Result of :func:`is_permanent`.
    status:
        RFC 3463 status (only used to tell address syntax from protocol syntax).
    diagnostic:
        The diagnostic text (only used for ``relay_denied``).
    remote:
        The refusal came from the recipient's MX (a DSN ``Remote-MTA`` with an SMTP
        diagnostic); only used for ``relay_denied``.
    """
    if permanent is False:
        return False
    if permanent is None:
        return None
    if reason in ADDRESS_REASONS:
        return True
    if reason == "syntax":
        return bool(status and status[2:5] == "1.3") or status is None
    if reason == "other":
        return None
    return reason == "relay_denied" and (
        remote or bool(diagnostic and _REMOTE_RCPT_RE.search(diagnostic[:MAX_SCAN]))
    )
