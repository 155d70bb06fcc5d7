"""Bounces that are not RFC 3464: read the human-readable text of common MTAs and providers.

Covers the usual shapes of qmail, Exim, Postfix (old), Sendmail, Exchange / Office 365,
Lotus Notes, GroupWise, Gmail, Yahoo, AOL, GMX / web.de, T-Online and Amazon SES, in English
and German: the recipient lines, their diagnostic text and whether the failure is a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from shopmail.domain.feedback.model import RecipientResult
from shopmail.domain.feedback.reasons import (
    classify_reason,
    find_smtp_code,
    find_status,
    hard_for,
)

MAX_SECTION: Final = 20_000
MAX_LINES: Final = 600
MAX_RECIPIENTS: Final = 50
MAX_DIAGNOSTIC: Final = 1000

FROM_DAEMON_RE: Final = re.compile(
    r"mailer[-_ ]?daemon|postmaster|mail delivery|mail administrator|mail system"
    r"|delivery (?:subsystem|system|service|notification)|\bmdaemon\b|post ?office"
    r"|mail ?server|returned mail|nondeliver|e-?mail-?dienst|mailsystem|systemadministrator"
    r"|smtp[-_ ]?gateway|mail router|\bmaildelivery|\bmmdf\b|mail transport|mailserver"
    r"|internet mail delivery|ims@|mailagent|mail-?router|mail gateway|smtp[-_ ]?mail"
    r"|mail[-_ ]service",
    re.IGNORECASE,
)
SUBJECT_RE: Final = re.compile(
    r"undeliver|undelivered|not delivered|non[- ]?deliver|nondeliverable|delivery (?:status )?"
    r"notification|delivery fail|delivery failure|failure notice|returned mail|returned to sender"
    r"|mail delivery|delivery problem|delivery report|could not (?:be )?deliver|unable to deliver"
    r"|cannot be delivered|can't be delivered|couldn't be delivered|failed delivery"
    r"|delivery error|error sending|mail failed|message failed|mail system error|rejected"
    r"|unzustellbar|nicht zustellbar|konnte nicht zugestellt|zustellung|\u00fcbermittlungsstatus"
    r"|fehlgeschlagen|unbekannt|warning: could not send|delayed mail|delivery delay"
    r"|delivery has been delayed|message delayed|delivery final failure|\bndn\b|bounced?"
    r"|mail not delivered|message status|delivery to the following recipient"
    r"|nicht zugestellt|unable to process|returned message|permanent error|failed mail"
    r"|nachricht konnte nicht|invalid address|user unknown",
    re.IGNORECASE,
)
BODY_RE: Final = re.compile(
    r"qmail-send program|could not be delivered|couldn't be delivered|can't be delivered"
    r"|cannot be delivered|wasn't delivered|was not delivered|not be delivered|undeliverable"
    r"|permanent (?:fatal )?errors?|delivery (?:to the following recipients? )?(?:has )?failed"
    r"|unable to deliver|failed to deliver|could not deliver|the mail system"
    r"|mail delivery software|delivery failure|message you sent|following address(?:es)?"
    r"|following recipients?|did not reach|could not be reached|returned to the sender"
    r"|konnte nicht zugestellt|nicht zugestellt werden|unzustellbar|zustellung (?:ist )?"
    r"fehlgeschlagen|this is a permanent error|delivery status notification|not delivered"
    r"|no such user|user unknown|mailbox (?:is )?full|over quota|delivery to .{0,60} failed"
    r"|rejected your message|this message was created automatically"
    r"|not a valid (?:user|recipient|mailbox|address)"
    r"|(?:user|mailbox|address) (?:does not|doesn't) exist",
    re.IGNORECASE,
)
WARNING_RE: Final = re.compile(
    r"this is (?:only )?a warning|warning message only|will (?:continue to |keep )?(?:retry|try "
    r"again|trying|attempt (?:to deliver|delivery|again)|be made)"
    r"|still (?:being )?(?:retried|trying|be retried)|has been delayed|delivery (?:has been )?"
    r"delayed|not yet been delivered|will be retried|could not send message for (?:the )?past"
    r"|no need to resend|delivery attempts will continue|will try again|temporarily deferred"
    r"|retry (?:again )?(?:later|for|until)|(?:message|delivery) (?:is )?(?:delayed|deferred)"
    r"|verz\u00f6ger|weiterhin versuch|wird erneut versucht|noch nicht zugestellt"
    r"|delivery delay|delayed mail|still trying|temporary (?:failure|problem)"
    r"|has not yet been delivered|will keep trying|retrying|continue to try|been postponed"
    r"|advisory[- ]only",
    re.IGNORECASE,
)
PERMANENT_RE: Final = re.compile(
    r"permanent(?:ly)? (?:fatal )?(?:error|failure|failed)|not going to try again|giving up"
    r"|gave up|delivery has failed|failed permanently|will not be retried|permanently failed"
    r"|endg\u00fcltig|dauerhaft",
    re.IGNORECASE,
)
# Where the returned original (or its headers) starts: everything after is ignored.
_CUT_RE: Final = re.compile(
    r"^[ \t>]*[-=_*]{2,}[ \t]*(?:original message|returned message|original mail"
    r"|undelivered message|this is a copy|below this line|unsent message|message text"
    r"|start of returned|the header|headers? of|copy of|text of the original|returned mail"
    r"|original headers|\"?original message|forwarded message|message headers|urspr\u00fcngliche"
    r"|original e-?mail|enclosed message|rfc ?822|attachment is a copy)"
    r"|^[ \t]*(?:original message follows|unsent message below|message headers follow"
    r"|--- below this line|---+ ?original message|the original message headers"
    r"|-+ ?the header of the original message|your message reads \(in part\)"
    r"|the original message was:|original message:)"
    r"|^(?:Received|Return-Path|DKIM-Signature|Delivered-To|X-Original-To|ARC-Seal"
    r"|Authentication-Results|Received-SPF):[ \t]",
    re.IGNORECASE | re.MULTILINE,
)
ADDRESS_RE: Final = re.compile(
    r"(?<![\w.+\-=/%&#?])([A-Za-z0-9!#$%&'*+/=?^_`{|}~\-][A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]{0,63}"
    r"@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,8})(?![\w\-])"
)
_SKIP_LINE_RE: Final = re.compile(
    r"^\s*(?:>>>\s*)?(?:mail from|from|sender|reply-to|return-path|message-id|references"
    r"|in-reply-to|x-[\w-]+|received|envelope-from|errors-to|list-[\w-]+|dkim-signature"
    r"|smtp\.mail|resent-from|<<< 250)\b"
    r"|\bmail from\s*:?\s*<|for further assistance|please (?:send|contact|forward)"
    r"|contact (?:the )?"
    r"(?:postmaster|administrator|helpdesk)|postmaster@|\bsender ok\b|\bsender\b.{0,10}ok\b"
    r"|x-postfix-sender|original-mail-from|\bsent by\b|\bfrom:",
    re.IGNORECASE,
)
_FROM_BEFORE_RE: Final = re.compile(
    r"(?<!generated )(?<!expanded )(?<!forwarded )\b(?:from|von|by)\s*:?\s*[<\"']?$",
    re.IGNORECASE,
)
_ANSWER_LINE_RE: Final = re.compile(
    r"^.{0,80}?(?<![\w.])[45]\d\d[ \-]+(?:#?[45]\.\d{1,3}\.\d{1,3}\b)?.*$", re.MULTILINE
)
_SEPARATOR_RE: Final = re.compile(r"^\s*(?:-{2,}|={3,}|\*{3,}|_{3,})")
_TLD_RE: Final = re.compile(r"\.[a-z][a-z0-9\-]*$")
_PREFIX_RE: Final = re.compile(r"^(?:smtp|rfc822|mailto|sip)[=:]", re.IGNORECASE)
_AOL_NAME_RE: Final = re.compile(r"^\s+([A-Za-z][A-Za-z0-9._\-]{1,40})\s*$")
_NOT_RECIPIENT_LOCAL: Final = frozenset(
    {
        "postmaster",
        "mailer-daemon",
        "mailer_daemon",
        "mailerdaemon",
        "abuse",
        "hostmaster",
        "webmaster",
        "double-bounce",
        "nobody",
        "noreply",
        "no-reply",
        "do-not-reply",
        "donotreply",
        "mail-daemon",
        "maildaemon",
        "mdaemon",
    }
)
_DETECTORS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("qmail", re.compile(r"qmail-send program|qmail\b", re.I)),
    (
        "exim",
        re.compile(
            r"mail delivery software|a message that you sent could not be"
            r"|this message was created automatically",
            re.I,
        ),
    ),
    ("postfix", re.compile(r"this is the mail system at host|the mail system\s*$", re.I | re.M)),
    (
        "sendmail",
        re.compile(
            r"permanent fatal errors|transcript of session follows"
            r"|the original message was received at",
            re.I,
        ),
    ),
    (
        "exchange",
        re.compile(
            r"did not reach (?:some or all of )?the intended|could not be reached"
            r"|delivery has failed to these recipients|microsoft exchange"
            r"|your message couldn't be delivered|office ?365|outlook\.com|microsoft outlook"
            r"|exchangelabs|resolver\.|couldn't be delivered|onmicrosoft",
            re.I,
        ),
    ),
    ("gmail", re.compile(r"delivery to the following recipient|google|gmail", re.I)),
    ("yahoo", re.compile(r"yahoo|sorry, we were unable to deliver your message", re.I)),
    ("aol", re.compile(r"\baol\b|america online", re.I)),
    ("gmx", re.compile(r"\bgmx\b|web\.de|1und1|1&1|ionos", re.I)),
    ("t-online", re.compile(r"t-online", re.I)),
    ("ses", re.compile(r"amazon ?ses|amazonses", re.I)),
    ("lotus", re.compile(r"lotus|domino", re.I)),
    ("groupwise", re.compile(r"groupwise|novell", re.I)),
    ("german", re.compile(r"zugestellt|unzustellbar|empf\u00e4nger", re.I)),
)


@dataclass(frozen=True, slots=True)
class TextBounce:
    """What the text of a non-standard bounce says."""

    detector: str
    recipients: tuple[RecipientResult, ...]
    transient: bool
    reason: str
    hard: bool | None


def bounce_signals(from_: str, subject: str, text: str, null_sender: bool) -> int:
    """A score: 2 per strong signal (daemon sender, bounce subject), 1 per body phrase."""
    score = 0
    if FROM_DAEMON_RE.search(from_ or ""):
        score += 2
    if SUBJECT_RE.search(subject or ""):
        score += 2
    if BODY_RE.search(text[:6000]):
        score += 1
    if null_sender:
        score += 1
    return score


def cut_section(text: str) -> str:
    """The report part of the text, before the returned original starts."""
    text = text[: MAX_SECTION * 3]
    start = 0
    while True:
        match = _CUT_RE.search(text, start)
        if match is None:
            return text[:MAX_SECTION]
        # never cut in the first lines (a bounce may start with a header-like summary)
        if match.start() > 40 or text[: match.start()].strip():
            return text[: match.start()][:MAX_SECTION]
        start = match.end()


def detector_for(text: str) -> str:
    """Name of the MTA/provider family the text looks like (``generic`` when unknown)."""
    head = text[:4000]
    for name, pattern in _DETECTORS:
        if pattern.search(head):
            return name
    return "generic"


def _diagnostic(lines: list[str], index: int, address: str) -> str:
    """The line at ``index`` without the address, plus its continuation lines."""
    parts = [lines[index]]
    for follow in lines[index + 1 : index + 8]:
        if _SEPARATOR_RE.match(follow):
            break
        if not follow.strip():
            if len(parts) == 1:
                continue  # qmail/Exim: diagnostic may follow after one blank line
            break
        others = [a for a in ADDRESS_RE.findall(follow) if a.lower() != address.lower()]
        if others and not _SKIP_LINE_RE.search(follow):
            break
        parts.append(follow)
    text = " ".join(" ".join(parts).split())
    return text[:MAX_DIAGNOSTIC]


def _score_diag(diag: str) -> int:
    score = 0
    if find_smtp_code(diag):
        score += 2
    if find_status(diag):
        score += 2
    if len(diag) > 60:
        score += 1
    return score


def read_text_bounce(text: str, exclude: frozenset[str], from_: str = "") -> TextBounce:
    """Read recipients and reasons from the text of a bounce.

    Parameters
    ----------
    text:
        The decoded human-readable body (not the returned original).
    exclude:
        Lower-cased addresses that are not recipients (the bounce's own From/To/...).
    from_:
        The bounce's decoded From (helps to tell the provider).
    """
    section = cut_section(text)
    lines = section.splitlines()[:MAX_LINES]
    transient_msg = bool(WARNING_RE.search(section)) and not PERMANENT_RE.search(section)
    best: dict[str, tuple[int, str]] = {}
    order: list[str] = []
    for index, line in enumerate(lines):
        if "@" not in line:
            continue
        if _SKIP_LINE_RE.search(line):
            continue
        for match in ADDRESS_RE.finditer(line):
            if _FROM_BEFORE_RE.search(line, 0, match.start()):
                continue
            address = _PREFIX_RE.sub("", match.group(1).strip(".'`"))
            low = address.lower()
            local = low.partition("@")[0]
            if low in exclude or local in _NOT_RECIPIENT_LOCAL or local.startswith("owner-"):
                continue
            domain = low.partition("@")[2]
            if not _TLD_RE.search(domain):
                continue
            diag = _diagnostic(lines, index, address)
            score = _score_diag(diag)
            if low not in best:
                order.append(low)
                best[low] = (score, diag)
                best[low + "\0addr"] = (0, address)
            elif score > best[low][0]:
                best[low] = (score, diag)
    detector = detector_for(f"{from_}\n{text}")
    if not order and detector == "aol":
        for index, line in enumerate(lines):
            name_match = _AOL_NAME_RE.match(line)
            if name_match:
                address = f"{name_match.group(1)}@aol.com"
                order.append(address.lower())
                best[address.lower()] = (0, _diagnostic(lines, index, address))
                best[address.lower() + "\0addr"] = (0, address)
    if (
        len(order) == 1
        and not find_status(best[order[0]][1])
        and not find_smtp_code(best[order[0]][1])
    ):
        # one recipient, the server's answer elsewhere (Gmail "The response was:", O365 details)
        answer = _ANSWER_LINE_RE.search(section)
        if answer:
            best[order[0]] = (0, f"{best[order[0]][1]} {answer.group(0).strip()}"[:MAX_DIAGNOSTIC])
    recipients: list[RecipientResult] = []
    for low in order[:MAX_RECIPIENTS]:
        diag = best[low][1]
        address = best[low + "\0addr"][1]
        status = find_status(diag)
        code = find_smtp_code(diag)
        if PERMANENT_RE.search(diag):
            permanent = True
        elif status and status[0] in "45":
            permanent = status[0] == "5"
        elif code:
            permanent = code[0] == "5"
        else:
            permanent = not transient_msg
        reason = classify_reason(status, code, diag)
        if reason == "other":
            reason = classify_reason(None, None, section)
        recipients.append(
            RecipientResult(
                address=address,
                action="failed" if permanent else "delayed",
                status=status,
                smtp_code=code,
                hard=hard_for(reason, permanent, status, diag),
                reason=reason,
                diagnostic=diag or None,
            )
        )
    msg_reason = (
        recipients[0].reason
        if recipients
        else classify_reason(find_status(section), find_smtp_code(section), section)
    )
    if recipients:
        msg_hard = recipients[0].hard
    else:
        msg_hard = hard_for(msg_reason, not transient_msg, find_status(section))
    return TextBounce(
        detector=detector,
        recipients=tuple(recipients),
        transient=transient_msg
        if not recipients
        else all(r.action == "delayed" for r in recipients),
        reason=msg_reason,
        hard=msg_hard,
    )
