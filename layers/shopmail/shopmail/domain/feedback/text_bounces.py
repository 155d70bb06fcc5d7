"""Bounces that are not RFC 3464: read the human-readable text of common MTAs and providers.

Covers the usual shapes of qmail, Exim, Postfix (old), Sendmail, Exchange / Office 365,
Lotus Notes, GroupWise, Gmail, Yahoo, AOL, GMX / web.de, T-Online and Amazon SES, in English
and German: the recipient lines, their diagnostic text and whether the failure is a warning.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Final

from shopmail.domain.feedback.literals import AnyOf
from shopmail.domain.feedback.model import RecipientResult, Stage
from shopmail.domain.feedback.reasons import find_smtp_code, find_status, judge
from shopmail.domain.feedback.stages import UNKNOWN as UNKNOWN_STAGE
from shopmail.domain.feedback.stages import find_stage
from shopmail.domain.inbound.parsing.signals import (
    is_bounce_local_part,
    is_daemon_local_part,
    is_system_local_part,
    looks_like_daemon,
)

MAX_SECTION: Final = 20_000
MAX_LINES: Final = 600
MAX_RECIPIENTS: Final = 50
MAX_DIAGNOSTIC: Final = 1000
MAX_CONTEXT: Final = 4000

SUBJECT_RE: Final = AnyOf.of(
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
)
BODY_RE: Final = AnyOf.of(
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
)
WARNING_RE: Final = AnyOf.of(
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
)
PERMANENT_RE: Final = AnyOf.of(
    r"permanent(?:ly)? (?:fatal )?(?:error|failure|failed)|not going to try again|giving up"
    r"|gave up|delivery has failed|failed permanently|will not be retried|permanently failed"
    r"|endg\u00fcltig|dauerhaft",
)
# Headings under which MTAs list failed or only delayed addresses.
FAILED_HEADING_RE: Final = AnyOf.of(
    r"permanent fatal errors|following address(?:es)?(?:\(es\))? failed|failed addresses"
    r"|could ?n[o']t be delivered to|(?:was|wasn't|were) not delivered to|wasn't delivered to"
    r"|delivery (?:to the following recipients? )?(?:has )?failed|failed recipients?"
    r"|unable to deliver (?:your )?(?:message )?to|following recipients? (?:could not|failed)"
    r"|konnte nicht (?:an folgende empf\u00e4nger )?zugestellt werden",
)
DELAYED_HEADING_RE: Final = AnyOf.of(
    r"transient non-fatal errors|has not yet been delivered|not yet (?:been )?delivered"
    r"|delivery (?:to the following recipients? )?(?:has been |is )?delayed"
    r"|(?:still|will) (?:be )?(?:retried|retrying|trying)|temporary failure"
    r"|noch nicht zugestellt|verz\u00f6gert",
)
_DELAYED_HEADINGS: Final = (DELAYED_HEADING_RE, WARNING_RE)
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
# Lines that name a contact for help: their addresses are contacts wherever they appear.
_CONTACT_LINE_RE: Final = AnyOf.of(
    r"for further assistance|please (?:send|contact|forward)|contact (?:the )?"
    r"(?:postmaster|administrator|helpdesk)|postmaster@",
)
_SKIP_LINE_RE: Final = AnyOf.of(
    r"^\s*(?:>>>\s*)?(?:mail from|from|sender|reply-to|return-path|message-id|references"
    r"|in-reply-to|x-[\w-]+|received|envelope-from|errors-to|list-[\w-]+|dkim-signature"
    r"|smtp\.mail|resent-from|<<< 250)\b"
    r"|\bmail from\s*:?\s*<|\bsender ok\b|\bsender\b.{0,10}ok\b"
    r"|x-postfix-sender|original-mail-from|\bsent by\b|\bfrom:",
)
_FROM_BEFORE_RE: Final = re.compile(
    r"(?<!generated )(?<!expanded )(?<!forwarded )\b(?:from|von|by)\s*:?\s*[<\"']?$",
    re.IGNORECASE,
)
_ANSWER_LINE_RE: Final = re.compile(
    r"^.{0,80}?(?<![\w.])[45]\d\d[ \-]+(?:#?[45]\.\d{1,3}\.\d{1,3}\b)?.*$", re.MULTILINE
)
_SEPARATOR_RE: Final = re.compile(r"^\s*(?:-{2,}|={3,}|\*{3,}|_{3,})")
# A Sendmail error line: "550 5.1.1 <who>... reason" (the target, then three dots).
_ERROR_LINE_RE: Final = re.compile(
    r"^\s*[45]\d\d(?:[ -][45]\.\d{1,3}\.\d{1,3})? (.{1,200}?)\.\.\.[ \t]"
)
_WORD_RE: Final = re.compile(r"[^\W\d_]{2,}")
_TLD_RE: Final = re.compile(r"\.[a-z][a-z0-9\-]*$")
_PREFIX_RE: Final = re.compile(r"^(?:smtp|rfc822|mailto|sip)[=:]", re.IGNORECASE)
_AOL_NAME_RE: Final = re.compile(r"^\s+([A-Za-z][A-Za-z0-9._\-]{1,40})\s*$")
# Role mailboxes a report names as contacts, not as failed recipients (RFC 2142).
_CONTACT_LOCALS: Final = frozenset({"abuse", "hostmaster", "webmaster", "nobody"})
_DETECTORS: Final[tuple[tuple[str, AnyOf], ...]] = (
    ("qmail", AnyOf.of(r"qmail-send program|qmail\b")),
    (
        "exim",
        AnyOf.of(
            r"mail delivery software|a message that you sent could not be"
            r"|this message was created automatically"
        ),
    ),
    ("postfix", AnyOf.of(r"this is the mail system at host|the mail system\s*$", re.M)),
    (
        "sendmail",
        AnyOf.of(
            r"permanent fatal errors|transcript of session follows"
            r"|the original message was received at"
        ),
    ),
    (
        "exchange",
        AnyOf.of(
            r"did not reach (?:some or all of )?the intended|could not be reached"
            r"|delivery has failed to these recipients|microsoft exchange"
            r"|your message couldn't be delivered|office ?365|outlook\.com|microsoft outlook"
            r"|exchangelabs|resolver\.|couldn't be delivered|onmicrosoft"
        ),
    ),
    ("gmail", AnyOf.of(r"delivery to the following recipient|google|gmail")),
    ("yahoo", AnyOf.of(r"yahoo|sorry, we were unable to deliver your message")),
    ("aol", AnyOf.of(r"\baol\b|america online")),
    ("gmx", AnyOf.of(r"\bgmx\b|web\.de|1und1|1&1|ionos")),
    ("t-online", AnyOf.of(r"t-online")),
    ("ses", AnyOf.of(r"amazon ?ses|amazonses")),
    ("lotus", AnyOf.of(r"lotus|domino")),
    ("groupwise", AnyOf.of(r"groupwise|novell")),
    ("german", AnyOf.of(r"zugestellt|unzustellbar|empf\u00e4nger")),
)


@dataclass(frozen=True, slots=True)
class TextBounce:
    """What the text of a non-standard bounce says."""

    detector: str
    recipients: tuple[RecipientResult, ...]
    transient: bool
    reason: str
    hard: bool | None


def _not_a_recipient(local: str) -> bool:
    """Mail systems' own and no-reply mailboxes, and contacts (``abuse``, ``webmaster``)."""
    return (
        local in _CONTACT_LOCALS
        or is_daemon_local_part(local)
        or (is_system_local_part(local) and not is_bounce_local_part(local))
    )


def bounce_signals(from_: str, subject: str, text: str, null_sender: bool) -> int:
    """A score: 2 per strong signal (daemon sender, bounce subject), 1 per body phrase."""
    score = 0
    if looks_like_daemon(from_ or ""):
        score += 2
    if SUBJECT_RE.search((subject or "").lower()):
        score += 2
    if BODY_RE.search(text[:6000].lower()):
        score += 1
    if null_sender:
        score += 1
    return score


def cut_position(text: str) -> int:
    """Where the returned original starts in ``text`` (``len(text)`` when it is not found)."""
    start = 0
    while True:
        match = _CUT_RE.search(text, start, MAX_SECTION * 3)
        if match is None:
            return len(text)
        # never cut in the first lines (a bounce may start with a header-like summary)
        if match.start() > 40 or text[: match.start()].strip():
            return match.start()
        start = match.end()


def cut_section(text: str) -> str:
    """The report part of the text, before the returned original starts."""
    return text[: cut_position(text)][:MAX_SECTION]


def detector_for(text: str) -> str:
    """Name of the MTA/provider family the text looks like (``generic`` when unknown)."""
    head = text[:4000].lower()
    for name, pattern in _DETECTORS:
        if pattern.search(head):
            return name
    return "generic"


@dataclass(frozen=True, slots=True)
class _Lines:
    """The report part of a text, as lines, lower-cased lines and one lower-cased string."""

    lines: list[str]
    lows: list[str]
    low: str
    starts: list[int]

    @classmethod
    def of(cls, section: str) -> _Lines:
        lines = section.splitlines()[:MAX_LINES]
        lows = [line.lower() for line in lines]
        starts: list[int] = []
        at = 0
        for line in lows:
            starts.append(at)
            at += len(line) + 1
        return cls(lines, lows, "\n".join(lows), starts)

    def line_of(self, offset: int) -> int:
        """The index of the line holding character ``offset`` of :attr:`low`."""
        return bisect_right(self.starts, offset) - 1


def _skipped(low: str) -> bool:
    """Whether a (lower-cased) line names senders, headers or contacts, never recipients."""
    return bool(_SKIP_LINE_RE.search(low) or _CONTACT_LINE_RE.search(low))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _transcript_before(text: _Lines, index: int, address: str) -> list[str]:
    """The Sendmail transcript lines that a recipient's error line at ``index`` reports on.

    Sendmail writes the failing command and the server's answer (``>>> MAIL From:<...>`` /
    ``<<< 550 ...``) right before the error line of each recipient it failed: an answer to
    ``MAIL FROM``, ``DATA`` or the greeting concerns every recipient of that session; an
    answer to ``RCPT TO`` only the recipient that command names.
    """
    if index < 1 or not text.lows[index - 1].lstrip().startswith("<<<"):
        return []
    if text.lows[index].lstrip().startswith((">>>", "<<<")):
        return []
    start = index - 1
    while start > 0 and text.lows[start - 1].lstrip().startswith("<<<"):
        start -= 1
    command = text.lows[start - 1].lstrip() if start > 0 else ""
    if command.startswith(">>>"):
        if command[3:].lstrip().startswith("rcpt") and address.lower() not in command:
            return []
        start -= 1
    return text.lines[start:index]


def _diagnostic(text: _Lines, index: int, address: str) -> str:
    """The line at ``index`` without the address, plus its continuation lines.

    Also the transcript lines that the line reports on (:func:`_transcript_before`), and,
    for an address that stands alone on its line with nothing after it, the line before it
    in the same paragraph (Lotus Notes writes the reason above the address).
    """
    lines = text.lines
    parts = [*_transcript_before(text, index, address), lines[index]]
    own = len(parts) - 1
    for offset, follow in enumerate(lines[index + 1 : index + 8], start=index + 1):
        if _SEPARATOR_RE.match(follow):
            break
        statement = _ERROR_LINE_RE.match(text.lows[offset])
        if statement is not None and address.lower() not in statement.group(1):
            break  # Sendmail: "550 <other>... reason", a statement about another target
        if not follow.strip():
            if len(parts) == 1 or parts[-1].rstrip().endswith(":"):
                # qmail/Exim: the diagnostic may follow after a blank line, and so may the
                # paragraph a lead-in announces ("Technical details of permanent failure:")
                continue
            break
        # Postfix/Exim continuation lines are indented under the address; a lead-in line
        # ("Technical details of permanent failure:") announces what follows
        belongs = _indent(follow) > _indent(lines[index]) or parts[-1].rstrip().endswith(":")
        others = [a for a in ADDRESS_RE.findall(follow) if a.lower() != address.lower()]
        if others and not belongs and not _skipped(text.lows[offset]):
            break
        parts.append(follow)
    if len(parts) == own + 1 and _bare(lines[index], address):
        before = _line_above(text, index)
        if before:
            parts.insert(own, before)
    return " ".join(" ".join(parts).split())[:MAX_DIAGNOSTIC]


def _bare(line: str, address: str) -> bool:
    """Whether ``line`` says nothing but the address (and punctuation)."""
    rest = line.lower().replace(address.lower(), " ")
    return _WORD_RE.search(rest) is None


def _line_above(text: _Lines, index: int) -> str:
    """The line above ``index`` when it is in the same paragraph and names no address."""
    if index < 1:
        return ""
    above = text.lines[index - 1]
    if not above.strip() or _SEPARATOR_RE.match(above) or "@" in above:
        return ""
    if _skipped(text.lows[index - 1]) or FAILED_HEADING_RE.search(text.lows[index - 1]):
        return ""
    return above


def _score_diag(diag: str) -> int:
    score = 0
    if find_smtp_code(diag):
        score += 2
    if find_status(diag):
        score += 2
    if len(diag) > 60:
        score += 1
    return score


def text_about(text: str, address: str) -> str:
    """What the report's text says about ``address``: the best-scored diagnostic among the
    lines that name it (``""`` when the text does not name it).

    For a DSN, whose human-readable part often holds what the status fields leave out
    (Postfix writes the SMTP stage there: "(in reply to RCPT TO command)").
    """
    section = cut_section(text)
    needle = address.lower()
    if not needle or needle not in section.lower():
        return ""
    lines = _Lines.of(section)
    best = (-1, "")
    for index, line in enumerate(lines.lows):
        if needle in line:
            diag = _diagnostic(lines, index, address)
            score = _score_diag(diag)
            if score > best[0]:
                best = (score, diag)
    return best[1]


def _headings(text: _Lines) -> list[tuple[int, str]]:
    """``(line index, action)`` for each line that says the following addresses failed or are
    only delayed (Sendmail's "permanent fatal errors" / "transient non-fatal errors" headings,
    Exim's "The following address(es) failed", "will be retried", ...), in line order; on a
    line that says both, ``failed`` comes last (it wins)."""
    found: set[tuple[int, int]] = set()
    for rank, patterns in ((1, (FAILED_HEADING_RE, PERMANENT_RE)), (0, _DELAYED_HEADINGS)):
        for pattern in patterns:
            match = pattern.search(text.low)
            while match is not None:
                found.add((text.line_of(match.start()), rank))
                match = pattern.search(text.low, match.end() + 1)
    return [(line, "failed" if rank else "delayed") for line, rank in sorted(found)]


def _action_at(headings: list[tuple[int, str]], index: int, transient_msg: bool, diag: str) -> str:
    """The action for an address on line ``index``: the last heading at or before it, else the
    message's tone, else the class of the reply quoted for it."""
    action = None
    for line, value in headings:
        if line > index:
            break
        action = value
    if action is not None:
        return action
    if transient_msg:
        return "delayed"
    status = find_status(diag)
    code = find_smtp_code(diag)
    klass = (status or code or "5")[0]
    return "delayed" if klass == "4" else "failed"


def read_text_bounce(
    text: str, exclude: frozenset[str], from_: str = "", ours: frozenset[str] = frozenset()
) -> TextBounce:
    """Read recipients and reasons from the text of a bounce.

    Parameters
    ----------
    text:
        The decoded human-readable body (not the returned original).
    exclude:
        Lower-cased addresses that are not recipients (the bounce's own From/To/...).
    from_:
        The bounce's decoded From (helps to tell the provider).
    ours:
        Lower-cased addresses of our side (see :func:`~shopmail.domain.feedback.reasons.judge`);
        like ``exclude``, never a failed recipient.

    Each recipient's action follows the heading it is listed under (a report may list failed
    and delayed addresses), then the tone of the whole text (a warning), then the class of the
    reply quoted for it; reason, ``hard``, stage and fault come from
    :func:`~shopmail.domain.feedback.reasons.judge`.
    """
    section = cut_section(text)
    text_lines = _Lines.of(section)
    lines = text_lines.lines
    transient_msg = bool(WARNING_RE.search(text_lines.low)) and not PERMANENT_RE.search(
        text_lines.low
    )
    best: dict[str, tuple[int, str, int]] = {}
    stages: dict[str, Stage] = {}
    spelled: dict[str, str] = {}
    order: list[str] = []
    contact_lines = {
        index
        for index, line in enumerate(lines)
        if "@" in line and _CONTACT_LINE_RE.search(text_lines.lows[index])
    }
    contacts = {m.group(1).lower() for i in contact_lines for m in ADDRESS_RE.finditer(lines[i])}
    for index, line in enumerate(lines):
        if "@" not in line or index in contact_lines:
            continue
        if _SKIP_LINE_RE.search(text_lines.lows[index]):
            continue
        for match in ADDRESS_RE.finditer(line):
            if _FROM_BEFORE_RE.search(line, 0, match.start()):
                continue
            address = _PREFIX_RE.sub("", match.group(1).strip(".'`"))
            low = address.lower()
            local = low.partition("@")[0]
            if low in exclude or low in ours or low in contacts or _not_a_recipient(local):
                continue
            if local.startswith("owner-"):
                continue
            domain = low.partition("@")[2]
            if not _TLD_RE.search(domain):
                continue
            diag = _diagnostic(text_lines, index, address)
            score = _score_diag(diag)
            if low not in best:
                order.append(low)
                spelled[low] = address
                best[low] = (score, diag, index)
            elif score > best[low][0]:
                best[low] = (score, diag, best[low][2])
            if stages.get(low, UNKNOWN_STAGE) == UNKNOWN_STAGE:
                transcript = _transcript_before(text_lines, index, address)
                stages[low] = find_stage("\n".join([*transcript, line]) if transcript else diag)
    detector = detector_for(f"{from_}\n{text}")
    if not order and detector == "aol":
        for index, line in enumerate(lines):
            name_match = _AOL_NAME_RE.match(line)
            if name_match:
                address = f"{name_match.group(1)}@aol.com"
                order.append(address.lower())
                spelled[address.lower()] = address
                best[address.lower()] = (0, _diagnostic(text_lines, index, address), index)
    if (
        len(order) == 1
        and not find_status(best[order[0]][1])
        and not find_smtp_code(best[order[0]][1])
    ):
        # one recipient, the server's answer elsewhere (Gmail "The response was:", O365 details)
        answer = _ANSWER_LINE_RE.search(section)
        if answer:
            score, diag, index = best[order[0]]
            best[order[0]] = (score, f"{diag} {answer.group(0).strip()}"[:MAX_DIAGNOSTIC], index)
    headings = _headings(text_lines)
    context = section[:MAX_CONTEXT] if len(order) <= 1 else ""
    recipients: list[RecipientResult] = []
    for low in order[:MAX_RECIPIENTS]:
        _score, diag, index = best[low]
        action = _action_at(headings, index, transient_msg, diag)
        verdict = judge(diag, None, None, action, context, stages.get(low), address=low, ours=ours)
        recipients.append(
            verdict.row(
                spelled[low],
                action,
                status=find_status(diag),
                smtp_code=find_smtp_code(diag),
                diagnostic=diag,
            )
        )
    if recipients:
        first = next((r for r in recipients if r.action == "failed"), recipients[0])
        msg_reason, msg_hard = first.reason, first.hard
    else:
        verdict = judge(section, None, None, "delayed" if transient_msg else "failed")
        msg_reason, msg_hard = verdict.reason, verdict.hard
    return TextBounce(
        detector=detector,
        recipients=tuple(recipients),
        transient=transient_msg
        if not recipients
        else all(r.action == "delayed" for r in recipients),
        reason=msg_reason,
        hard=msg_hard,
    )
