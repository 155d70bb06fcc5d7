"""Loop safety for auto-replies and forwards (RFC 3834 and practice).

:func:`auto_reply_allowed` says whether shopmail may send an automatic acknowledgement to a
message, and why not. It refuses, in this order, when:

1. the message is a report (``multipart/report``: DSN, ARF, MDN) or an injected classifier
   said it is a bounce, delay, complaint or auto-reply;
2. ``Auto-Submitted`` is present and not ``no``;
3. the envelope sender is empty (null sender), ``MAILER-DAEMON``, ``postmaster`` or
   no-reply-like (``no-reply``, ``noreply``, ``do-not-reply``, ``bounce(s)``...);
4. ``Precedence`` is ``bulk``, ``list`` or ``junk``;
5. ``List-Id``, ``List-Unsubscribe`` or ``List-Post`` is present;
6. a header of the ``X-Autoreply`` family (``X-Autorespond``, ``X-Vacation``, ...) is present,
   or ``X-Auto-Response-Suppress`` names ``All``, ``AutoReply`` or ``OOF``;
7. the sender (envelope, else ``From``) is on the shop's own mail domain (or a subdomain);
8. the SES spam or virus verdict is ``FAIL``;
9. the DMARC verdict is ``FAIL`` (whatever the published policy).

What each header value means is defined once, in :mod:`shopmail.domain.inbound.parsing.signals`.
The once-per-sender-per-period rate limit is applied by the service (DynamoDB), not here.
Reasons name header fields and domains only, never full addresses.

:func:`forward_allowed` says whether a ``forward`` may go out. Every forward shopmail builds
carries ``Auto-Submitted: auto-forwarded`` (RFC 3834 section 5), our route header
(:data:`ROUTE_HEADER`) and a hop count (:data:`HOPS_HEADER`, one more than the message it
forwards). A message is not forwarded again when:

1. its hop count (or 1 when only our route header is there) reaches the hop limit
   (``FORWARD_HOP_LIMIT``, default :data:`DEFAULT_FORWARD_HOP_LIMIT`);
2. its ``Auto-Submitted`` keyword is ``auto-forwarded`` (an automatic forward, ours or anyone's:
   forwarding it again is how loops through aliases start).

Only the forward is refused: the other actions of the route (publish, store, ...) still run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from shopmail.domain.inbound.parsing import signals

if TYPE_CHECKING:
    from shopmail.domain.message import InboundMessage

_REFUSING_KINDS: Final = frozenset({"bounce", "delay", "complaint", "auto_reply"})

#: Written on every forward: the route that forwarded it (``domain/inbound/forwarding.py``).
ROUTE_HEADER: Final = "X-Shopmail-Route"
#: Written on every forward: how many shopmail forwards the message has been through.
HOPS_HEADER: Final = "X-Shopmail-Hops"
#: ``Auto-Submitted`` keyword of a forward (RFC 3834 section 5).
AUTO_FORWARDED: Final = "auto-forwarded"
#: A message that has been through this many of our forwards is not forwarded again.
DEFAULT_FORWARD_HOP_LIMIT: Final = 3
_MAX_HOPS: Final = 1_000_000  # bigger counts (or garbage digits) count as this many


def _display(name: str) -> str:
    """``list-id`` -> ``List-Id`` (header names as people write them, for reasons)."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower() if "@" in address else ""


def _clean(address: str) -> str:
    value = address.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def _on_domain(domain: str, mail_domain: str) -> bool:
    if not domain or not mail_domain:
        return False
    mail_domain = mail_domain.lower().strip(".")
    return domain == mail_domain or domain.endswith("." + mail_domain)


def effective_sender(message: InboundMessage, envelope_sender: str | None) -> str:
    """The address an auto-reply would go to.

    ``envelope_sender`` wins (``""`` is the null sender); ``None`` means unknown: then the
    SES envelope of the message, else ``Return-Path``, else the first ``From`` address.
    """
    if envelope_sender is not None:
        return _clean(envelope_sender)
    if message.envelope is not None:
        return _clean(message.envelope.sender)
    return_path = message.header("Return-Path")
    if return_path is not None:
        return _clean(return_path)
    return message.from_[0].address if message.from_ else ""


def auto_reply_allowed(
    message: InboundMessage,
    envelope_sender: str | None,
    mail_domain: str,
    *,
    kind: str | None = None,
) -> tuple[bool, str]:
    """Whether an automatic reply to ``message`` is loop-safe.

    Parameters
    ----------
    message
        The parsed message (flags, headers, envelope verdicts).
    envelope_sender
        SMTP ``MAIL FROM`` (``""`` = null sender). ``None`` = unknown: see
        :func:`effective_sender`.
    mail_domain
        The shop's mail domain (mail from it, or its subdomains, is never answered).
    kind
        Optional feedback kind from a classifier (``bounce``, ``complaint``, ``auto_reply``,
        ``delay``, ``none``...).

    Returns
    -------
    tuple[bool, str]
        ``(True, "ok")`` or ``(False, reason)``.
    """
    flags = message.flags
    if flags.is_dsn or flags.is_arf or flags.is_mdn or message.content_type == "multipart/report":
        report = message.report_type or ("feedback-report" if flags.is_arf else "report")
        return False, f"message is a report (multipart/report; {report})"
    if kind in _REFUSING_KINDS:
        return False, f"message classified as {kind}"

    auto_submitted = message.header("Auto-Submitted")
    if auto_submitted is not None and signals.is_auto_submitted(auto_submitted):
        return False, f"Auto-Submitted: {auto_submitted.strip()[:40]}"
    if flags.auto_submitted:
        return False, "message is auto-submitted"

    sender = effective_sender(message, envelope_sender)
    if not sender:
        return False, "null envelope sender"
    local = signals.local_part(sender)
    if signals.is_system_local_part(local):
        return False, f"envelope sender is a system or no-reply address ({local[:40].lower()})"

    precedence = message.header("Precedence")
    if signals.is_bulk_precedence(precedence):
        return False, f"Precedence: {signals.precedence(precedence)}"
    for name in signals.LIST_HEADERS:
        if message.header(name) is not None:
            return False, f"mailing-list header {_display(name)}"
    if flags.is_list or flags.is_bulk:
        return False, "mailing-list or bulk message"
    for name in signals.AUTO_REPLY_HEADERS:
        if message.header(name) is not None:
            return False, f"header {_display(name)}"
    suppress = message.header(signals.SUPPRESS_HEADER)
    if flags.suppress_auto_response or signals.suppresses_auto_reply(suppress):
        return False, "X-Auto-Response-Suppress"

    domains = {_domain(sender), *(a.domain for a in message.from_)}
    for domain in sorted(d for d in domains if d):
        if _on_domain(domain, mail_domain):
            return False, f"sender is on our own domain ({domain})"

    if message.envelope is not None:
        v = message.envelope.verdicts
        if v.spam.upper() == "FAIL":
            return False, "spam verdict FAIL"
        if v.virus.upper() == "FAIL":
            return False, "virus verdict FAIL"
        if v.dmarc.upper() == "FAIL":
            return False, f"DMARC verdict FAIL (policy {v.dmarc_policy or 'unknown'})"
    return True, "ok"


def forward_hops(message: InboundMessage) -> int:
    """How many shopmail forwards ``message`` has been through.

    The largest :data:`HOPS_HEADER` value (capped at 1,000,000; a value that is not a number
    counts as the cap); ``1`` when only :data:`ROUTE_HEADER` is present; else ``0``.
    """
    hops = 0
    seen = False
    for value in message.header_all(HOPS_HEADER):
        seen = True
        digits = value.strip()
        count = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 7 else None
        hops = max(hops, _MAX_HOPS if count is None else min(count, _MAX_HOPS))
    if not seen and message.header(ROUTE_HEADER) is not None:
        return 1
    return hops


def forward_allowed(
    message: InboundMessage, hop_limit: int = DEFAULT_FORWARD_HOP_LIMIT
) -> tuple[bool, str]:
    """Whether forwarding ``message`` is loop-safe (see the module docs).

    Parameters
    ----------
    message
        The parsed message.
    hop_limit
        Refuse when the message has been through this many of our forwards (at least 1).

    Returns
    -------
    tuple[bool, str]
        ``(True, "ok")`` or ``(False, reason)``; the reason names headers and counts only.
    """
    hops = forward_hops(message)
    limit = max(int(hop_limit), 1)
    if hops >= limit:
        return False, f"forward hop limit reached ({HOPS_HEADER}: {hops} >= {limit})"
    keyword = signals.auto_submitted_keyword(message.header(signals.AUTO_SUBMITTED))
    if keyword == AUTO_FORWARDED:
        return False, "Auto-Submitted: auto-forwarded (a forward is not forwarded again)"
    return True, "ok"
