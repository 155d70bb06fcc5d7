"""What marks a message as machine-sent: one header and sender knowledge base (pure).

Used by the parser's flags, the auto-reply loop guard, the router's feedback gate and the
feedback classifier, so that they agree on what "automatic" means:

* ``Auto-Submitted`` (RFC 3834): any value but ``no`` marks automatic mail; ``auto-replied``
  is a response to a message (vacation notices, but also DSNs and MDNs), ``auto-generated``
  mail that was not caused by one message (reports, newsletters).
* the de-facto ``X-Autoreply`` family of headers (vacation programs, Exchange, cPanel, ...) and
  ``Precedence: auto_reply``;
* ``Precedence: bulk | list | junk`` and the RFC 2369 / RFC 2919 ``List-*`` headers;
* ``X-Auto-Response-Suppress`` (Exchange): the sender asks for no automatic answers;
* the null reverse path ``<>`` (RFC 5321 4.5.5: DSNs and other notifications);
* system mailboxes: ``postmaster`` (RFC 5321 4.5.1), ``MAILER-DAEMON`` and their relatives,
  no-reply addresses, and the display names mail systems sign their notifications with.

Every function takes plain strings (decoded header values or address parts) and never raises.
"""

from __future__ import annotations

import re
from typing import Final

AUTO_SUBMITTED: Final = "auto-submitted"
#: Non-standard headers that vacation programs and autoresponders add (lower case).
AUTO_REPLY_HEADERS: Final = (
    "x-autoreply",
    "x-autorespond",
    "x-autoresponder",
    "x-auto-reply",
    "x-vacation",
    "x-autoreply-from",
)
#: Mailing-list headers (RFC 2369, RFC 2919), lower case.
LIST_HEADERS: Final = ("list-id", "list-unsubscribe", "list-post")
#: ``Precedence`` values of list and bulk mail.
BULK_PRECEDENCE: Final = frozenset({"bulk", "list", "junk"})
#: ``Precedence`` values that autoresponders set on their answers.
AUTO_REPLY_PRECEDENCE: Final = frozenset({"auto_reply", "auto-reply"})
SUPPRESS_HEADER: Final = "x-auto-response-suppress"
#: ``X-Auto-Response-Suppress`` tokens that ask for no automatic reply.
SUPPRESS_TOKENS: Final = frozenset({"all", "autoreply", "oof"})
#: Headers only mail systems put on their notifications (bounce reports, provider NDRs).
REPORT_HEADERS: Final = frozenset(
    {"x-failed-recipients", "x-ms-exchange-generated-message-source", "feedback-type"}
)

_TOKEN_SPLIT: Final = re.compile(r"[,;\s]+")
_COMMENT: Final = re.compile(r"\([^()]*\)")
# Local parts of system and no-reply mailboxes (a +/-/. suffix allowed: bounces+123, ...).
_SYSTEM_LOCAL: Final = re.compile(
    r"^(?:mailer[-_.]?daemon|post[-_.]?master|no[-_.]?reply|do[-_.]?not[-_.]?reply|"
    r"dont[-_.]?reply|bounces?|mail[-_.]?delivery[-_.]?(?:system|subsystem)|"
    r"auto[-_.]?(?:reply|responder|mailer))(?:[-_.+].*)?$",
    re.IGNORECASE,
)
_NO_REPLY_ANYWHERE: Final = re.compile(r"no[-_.]?reply|do[-_.]?not[-_.]?reply", re.IGNORECASE)
_DAEMON_LOCAL: Final = re.compile(
    r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|post[-_.]?master|mdaemon|double-bounce"
    r"|mail[-_.]?delivery[-_.]?(?:system|subsystem))(?:[-_.+].*)?$",
    re.IGNORECASE,
)
# Local parts of return-path (VERP) addresses: bounces+..., ...-return-..., mailer-daemon.
_BOUNCE_LOCAL: Final = re.compile(
    r"(?:^|[-_.+])(?:bounces?|bounce-?handler|returns?|mailer-daemon)(?:[-_.+=]|$)",
    re.IGNORECASE,
)
#: What a mail system's notification has in its From (display name or address).
DAEMON_SENDER_RE: Final = re.compile(
    r"mailer[-_ ]?daemon|post[-_ ]?master|mail delivery|mail administrator|mail ?system"
    r"|delivery (?:subsystem|system|service|notification)|\bmdaemon\b|post ?office"
    r"|mail ?server|returned mail|nondeliver|e-?mail-?dienst|systemadministrator"
    r"|smtp[-_ ]?gateway|mail router|\bmaildelivery|\bmmdf\b|mail transport"
    r"|internet mail delivery|ims@|mailagent|mail-?router|mail gateway|smtp[-_ ]?mail"
    r"|mail[-_]service",
    re.IGNORECASE,
)


def auto_submitted_keyword(value: str | None) -> str:
    """The ``Auto-Submitted`` keyword (lower case, comments and parameters removed).

    ``""`` when the header is absent or empty.

    >>> auto_submitted_keyword("Auto-Replied; owner-email=x@example.org")
    'auto-replied'
    """
    if not value:
        return ""
    text = _COMMENT.sub(" ", value)
    token = _TOKEN_SPLIT.split(text.strip(), maxsplit=1)[0]
    return token.lower()


def is_auto_submitted(value: str | None) -> bool:
    """Whether an ``Auto-Submitted`` value marks automatic mail (RFC 3834: not ``no``)."""
    keyword = auto_submitted_keyword(value)
    return bool(keyword) and keyword != "no"


def precedence(value: str | None) -> str:
    """The ``Precedence`` value, lower case and trimmed (``""`` when absent)."""
    return (value or "").strip().lower()


def is_bulk_precedence(value: str | None) -> bool:
    """``Precedence: bulk``, ``list`` or ``junk``."""
    return precedence(value) in BULK_PRECEDENCE


def is_auto_reply_precedence(value: str | None) -> bool:
    """``Precedence: auto_reply`` (autoresponders)."""
    return precedence(value) in AUTO_REPLY_PRECEDENCE


def suppresses_auto_reply(value: str | None) -> bool:
    """Whether ``X-Auto-Response-Suppress`` names ``All``, ``AutoReply`` or ``OOF``."""
    if not value:
        return False
    tokens = {t for t in _TOKEN_SPLIT.split(value.lower()) if t}
    return bool(tokens & SUPPRESS_TOKENS)


def clean_path(value: str | None) -> str:
    """An address or reverse path without white space, comments and angle brackets."""
    text = _COMMENT.sub("", value or "").strip()
    if text.startswith("<") and ">" in text:
        text = text[1 : text.index(">")]
    return text.strip()


def is_null_sender(value: str | None) -> bool:
    """Whether a reverse path (envelope sender, ``Return-Path``) is the null path ``<>``.

    ``None`` (unknown) is not the null sender; ``""`` and ``<>`` are.
    """
    if value is None:
        return False
    return clean_path(value) == ""


def local_part(address: str) -> str:
    """The part of ``address`` before the last ``@`` (the whole text when there is none)."""
    text = clean_path(address)
    return text.rpartition("@")[0] if "@" in text else text


def is_daemon_local_part(local: str) -> bool:
    """A mail system's own mailbox: ``MAILER-DAEMON``, ``postmaster`` and relatives."""
    return bool(_DAEMON_LOCAL.match(local.strip()))


def is_system_local_part(local: str) -> bool:
    """A mailbox nobody reads answers to: system mailboxes, no-reply, bounce addresses."""
    local = local.strip()
    return bool(_SYSTEM_LOCAL.match(local) or _NO_REPLY_ANYWHERE.search(local))


def is_bounce_local_part(local: str) -> bool:
    """A return-path (VERP) local part such as ``bounces+123`` or ``list-return-7``."""
    return bool(_BOUNCE_LOCAL.search(local))


def looks_like_daemon(text: str) -> bool:
    """Whether a From value (display name and/or address) is a mail system's."""
    return bool(DAEMON_SENDER_RE.search(text))
