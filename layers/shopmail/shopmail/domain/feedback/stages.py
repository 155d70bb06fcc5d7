"""At which SMTP stage the remote server gave the failing reply (RFC 5321 3.3).

The stage says what a reply is about: a refusal of the connection or of ``HELO``/``EHLO`` is
about our host; one in reply to ``MAIL FROM`` is about our sender address or domain; one in
reply to ``RCPT TO`` may be about the recipient address (or about us, as the text tells); one
after ``DATA`` or at the end of the data is about the message. MTAs write the stage in their
own words; these are the common ones:

* Postfix: ``(in reply to RCPT TO command)``, ``(in reply to end of DATA command)``,
  ``refused to talk to me`` (greeting);
* Exim: ``SMTP error from remote mail server after RCPT TO:<...>``, ``after MAIL FROM``,
  ``after end of data``, ``after initial connection``;
* Sendmail transcripts: ``>>> RCPT To:<...>`` followed by ``<<< 550 ...``;
* qmail: ``does not like recipient``, ``but sender was rejected``, ``but my name was
  rejected``, ``but greeting failed``, ``failed after I sent the message``;
* others: ``for RCPT TO command``, ``did not like our RCPT TO``, ``[RCPT_TO]``, ``while
  sending RCPT TO``, ``during the DATA phase``.
"""

from __future__ import annotations

import re
from typing import Final

from shopmail.domain.feedback.literals import AnyOf
from shopmail.domain.feedback.model import Stage

CONNECT: Final = Stage.CONNECT
MAIL: Final = Stage.MAIL
RCPT: Final = Stage.RCPT
DATA: Final = Stage.DATA
UNKNOWN: Final = Stage.UNKNOWN

MAX_SCAN: Final = 6000

_LEAD: Final = r"(?:in reply to|after|for|during|while sending|in response to|on|at) (?:the |our )?"
# Stage phrases, for lower-cased text; the leftmost one found wins.
_PHRASES: Final = (
    (
        RCPT,
        AnyOf(
            _LEAD + r"rcpt(?: to)?\b",
            r"rcpt to command",
            r"\[rcpt_to\]",
            r"did not like (?:our )?rcpt",
            r"does not like recipient",
            r"rcpt(?:-to)? (?:validation|command) (?:failed|rejected)",
            r"recipient command",
        ),
    ),
    (
        MAIL,
        AnyOf(
            _LEAD + r"mail from\b",
            r"mail from command",
            r"\[mail_from\]",
            r"but sender was rejected",
            r"did not like (?:our )?mail from",
        ),
    ),
    (
        DATA,
        AnyOf(
            _LEAD + r"(?:end of )?data\b",
            r"end of data command",
            r"failed after i sent the message",
            r"after (?:sending )?(?:the )?(?:message|data) (?:text|body|content|was sent)",
            r"\bdata (?:command|phase)",
            r"for text command",
            r"\[data\]",
        ),
    ),
    (
        CONNECT,
        AnyOf(
            r"after initial connection",
            _LEAD + r"(?:initial )?(?:helo|ehlo|lhlo|greeting|banner|connect(?:ion)?)\b",
            r"(?:initial )?(?:server )?greeting (?:failed|rejected|refused)",
            r"while receiving the (?:initial )?(?:server )?greeting",
            r"my name was rejected",
            r"refused to talk to me",
            r"(?:helo|ehlo) (?:command )?(?:rejected|refused)",
        ),
    ),
)
# Sendmail-style transcripts: ">>> COMMAND" lines and "<<< NNN reply" lines (MDaemon and
# others put a time stamp before them).
_TRANSCRIPT: Final = re.compile(r"^[^<>\n]{0,60}?(>>>|<<<)[ \t]*(\S+)", re.MULTILINE)
_COMMANDS: Final = {"rcpt": RCPT, "mail": MAIL, "data": DATA, ".": DATA}


def _from_transcript(text: str) -> Stage | None:
    last: Stage | None = None
    for match in _TRANSCRIPT.finditer(text):
        if match.group(1) == ">>>":
            word = match.group(2).lower()
            last = _COMMANDS.get(word.partition(":")[0], CONNECT)
        elif match.group(2)[:1] in ("4", "5"):
            return last  # None: a reply quoted without the command it answered
    return None


def find_stage(text: str) -> Stage:
    """The SMTP stage of the failing reply described in ``text``.

    Returns
    -------
    Stage
        ``connect`` (greeting, ``HELO``/``EHLO``), ``mail``, ``rcpt``, ``data`` or ``unknown``.
    """
    scan = text[:MAX_SCAN]
    if not scan:
        return UNKNOWN
    if ">>>" in scan:
        found = _from_transcript(scan)
        if found is not None:
            return found
    low = scan.lower()
    best, best_at = UNKNOWN, len(low) + 1
    for stage, phrases in _PHRASES:
        match = phrases.search(low)
        if match is not None and match.start() < best_at:
            best, best_at = stage, match.start()
    return best
