"""Build the ``forward`` message: a NEW message to a team inbox with the original attached.

Why a new message (not a resend of the original): SES only sends from verified identities, and
the original's DKIM signature, Return-Path and From belong to the customer. So:

* ``From``: the shop's verified address (display name ``"<customer name> via shop"``),
* ``Reply-To``: the customer (original ``Reply-To``, else ``From``) so the team answers them,
* ``To``: the team inbox(es) from the route, ``Subject: Fwd: <original subject>``,
* a short text part (who wrote, to which address, verdicts, route, then the original text),
* ``Auto-Submitted: auto-forwarded`` (RFC 3834), ``X-Shopmail-Route`` and ``X-Shopmail-Hops``
  (one more than the original's), which the loop guard reads when a forward comes back
  (:func:`shopmail.domain.inbound.loop_guard.forward_allowed`),
* the original, byte for byte (line endings made CRLF), as ``message/rfc822`` named
  ``original.eml``. A message/rfc822 part may only be 7bit/8bit, so an original with lines
  longer than 998 octets is attached as ``application/octet-stream`` (base64), still
  ``original.eml``.

Headers are written with ``policy.SMTP`` through :mod:`shopmail.domain.inbound.built_headers`:
every value that comes from the original (names, subject, ids) has control characters removed
first, so nothing can inject a header, and an address or name the standard library cannot
write is left out (with a note in :attr:`OutgoingMail.notes`) instead of failing the build.

Example
-------
>>> from shopmail.domain.inbound.loop_guard import (
    AUTO_FORWARDED,
    HOPS_HEADER,
    ROUTE_HEADER,
    forward_hops,
)
from shopmail.domain.message import Address, Envelope, InboundMessage
>>> msg = InboundMessage(subject="Hallo", from_=(Address("Kim", "kim@example.org"),))
>>> env = Envelope("m1", "kim@example.org", ("support@shop.example",))
>>> out = build_forward(msg, env, b"Subject: Hallo\\r\\n\\r\\nHi\\r\\n",
...     from_address="shop@shop.example", to=["team@shop.example"], route="support",
...     mail_domain="shop.example")
>>> b"Reply-To: Kim <kim@example.org>" in out.message
True
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, formatdate

from shopmail.domain.inbound.built_headers import (
    FOLD_ERRORS,
    clean_header_text,
    header_address,
    set_text_header,
)
from shopmail.domain.inbound.loop_guard import (
    AUTO_FORWARDED,
    HOPS_HEADER,
    ROUTE_HEADER,
    forward_hops,
)
from shopmail.domain.message import Address, Envelope, InboundMessage
from shopmail.domain.outbound.message_ids import make_message_id
from shopmail.errors import InvalidRecipientError

_MAX_LINE = 998
MAX_TEXT_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A built message ready for ``MailSender.send``."""

    envelope_from: str
    recipients: tuple[str, ...]
    message: bytes
    message_id: str
    #: What the build had to leave out (log-safe: field names, never values).
    notes: tuple[str, ...] = ()


_BARE_EOL = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_LONG_LINE = re.compile(rb"[^\r\n]{%d}" % (_MAX_LINE + 1))


def _crlf(raw: bytes) -> bytes:
    """CRLF line endings; returns ``raw`` itself (no copy) when it already has only CRLF."""
    if _BARE_EOL.search(raw) is None:
        return raw
    return re.sub(rb"\r\n|\r|\n", b"\r\n", raw)


def _header_lines(message: EmailMessage) -> Iterable[bytes]:
    """The header block of ``message`` as written: values set raw (already encoded and folded
    by :func:`set_text_header`) stand as they are, because parsing them again would decode
    encoded-word lookalikes of the customer's text into undecodable bytes."""
    for name, value in message.raw_items():
        if not hasattr(value, "fold") and value.isascii():  # set raw, not a header object
            yield f"{name}: {value}\r\n".encode("ascii")
        else:
            yield policy.SMTP.fold_binary(name, value)


def _has_long_lines(raw: bytes) -> bool:
    return _LONG_LINE.search(raw) is not None


def _date(message: InboundMessage) -> str:
    """The original's date (RFC 5322 form), else now."""
    if message.date is not None:
        try:
            return format_datetime(message.date)
        except (*FOLD_ERRORS, OverflowError):
            pass
    return formatdate(usegmt=True)


def _customer(message: InboundMessage) -> Address | None:
    for addr in (*message.reply_to, *message.from_):
        if addr.address and "@" in addr.address:
            return addr
    return None


def _intro(message: InboundMessage, envelope: Envelope, recipient: str, route: str) -> str:
    sender = message.from_[0] if message.from_ else None
    who = f"{sender.name} <{sender.address}>" if sender and sender.name else None
    v = envelope.verdicts
    lines = [
        "Forwarded by shopmail.",
        f"From: {who or (sender.address if sender else envelope.sender or '(unknown)')}",
        f"To: {recipient}",
        f"Subject: {clean_header_text(message.subject, 500)}",
        f"Route: {route}",
        f"SES message id: {envelope.message_id}",
        f"Verdicts: spam={v.spam} virus={v.virus} spf={v.spf} dkim={v.dkim} dmarc={v.dmarc}",
    ]
    if message.attachments:
        names = ", ".join(a.filename for a in message.attachments[:20])
        lines.append(f"Attachments: {names}")
    lines.append("The original message is attached (original.eml). Reply to answer the sender.")
    text = message.text or ""
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + "\n[…]"
    return "\n".join(lines) + "\n\n" + "-" * 40 + "\n\n" + text + "\n"


def build_forward(
    message: InboundMessage,
    envelope: Envelope,
    raw: bytes | Iterable[bytes],
    *,
    from_address: str,
    to: Sequence[str],
    route: str,
    mail_domain: str,
    recipient: str = "",
    brand: str = "shop",
) -> OutgoingMail:
    """Build the forward of ``message`` to ``to``.

    Parameters
    ----------
    message, envelope
        The parsed original and its SES envelope.
    raw
        The original's raw bytes (or chunks), attached unchanged.
    from_address
        The shop's verified sender address.
    to
        The team inbox(es).
    route
        The route's name (in the text and ``X-Shopmail-Route``).
    mail_domain
        The shop's mail domain (Message-ID).
    recipient
        The envelope recipient the original was addressed to.

    Raises
    ------
    InvalidRecipientError
        ``from_address`` or every ``to`` address is unusable.
    """
    recipient = recipient or (envelope.recipients[0] if envelope.recipients else "")
    from_hdr = None
    customer = _customer(message)
    display = customer.name or customer.domain if customer else envelope.message_id
    from_hdr = header_address(from_address, f"{clean_header_text(display, 60)} via {brand}")
    if from_hdr is None:
        raise InvalidRecipientError("forward: the shop's from address is unusable")
    targets = [h for h in (header_address(t) for t in to) if h is not None]
    if not targets:
        raise InvalidRecipientError("forward: no usable target address", route=route)

    mid = make_message_id(
        "forward",
        envelope.message_id,
        f"forward:{envelope.message_id}:{recipient}:{','.join(sorted(to))}",
        mail_domain,
    )
    notes: list[str] = []
    outer = EmailMessage(policy=policy.SMTP)
    outer["From"] = from_hdr
    outer["To"] = targets
    if len(targets) < len(to):
        notes.append(f"To: {len(to) - len(targets)} unusable target address(es) left out")
    reply_to = header_address(customer.address, customer.name) if customer else None
    if reply_to is not None:
        outer["Reply-To"] = reply_to
    elif customer is not None:
        notes.append("Reply-To: the customer's address cannot be written; left out")
    subject = clean_header_text(message.subject, 400)
    subject = subject if subject.lower().startswith("fwd:") else f"Fwd: {subject}"
    set_text_header(outer, "Subject", subject)
    outer["Date"] = _date(message)
    outer["Message-ID"] = mid
    outer["References"] = mid
    if message.message_id:
        original_id = clean_header_text(message.message_id, 500)
        set_text_header(outer, "X-Shopmail-Original-Message-ID", original_id)
    outer["Auto-Submitted"] = AUTO_FORWARDED
    set_text_header(outer, ROUTE_HEADER, clean_header_text(route, 100))
    outer[HOPS_HEADER] = str(forward_hops(message) + 1)
    set_text_header(outer, "X-Shopmail-SES-Message-ID", clean_header_text(envelope.message_id, 100))

    text_part = MIMEPart(policy=policy.SMTP)
    text_part.set_content(_intro(message, envelope, recipient, route), cte="quoted-printable")

    original = _crlf(bytes(raw) if isinstance(raw, bytes | bytearray) else b"".join(raw))
    boundary = "=_sm_" + secrets.token_hex(16)
    while boundary.encode("ascii") in original:  # pragma: no cover - 128 random bits
        boundary = "=_sm_" + secrets.token_hex(16)
    outer["MIME-Version"] = "1.0"
    outer["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'

    if _has_long_lines(original):
        att = MIMEPart(policy=policy.SMTP)
        att.set_content(
            original,
            maintype="application",
            subtype="octet-stream",
            disposition="attachment",
            filename="original.eml",
        )
        att_parts = [att.as_bytes()]
    else:
        cte = "7bit" if original.isascii() else "8bit"
        att_parts = [
            b"Content-Type: message/rfc822\r\n"
            b'Content-Disposition: attachment; filename="original.eml"\r\n'
            + f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode("ascii"),
            original,
        ]
    if not att_parts[-1].endswith(b"\r\n"):
        att_parts.append(b"\r\n")
    b = boundary.encode("ascii")
    head = b"".join(_header_lines(outer)) + b"\r\n"
    data = b"".join(  # one copy of the original, not one per concatenation
        [
            head,
            b"This is a multi-part message in MIME format.\r\n",
            b"--" + b + b"\r\n",
            text_part.as_bytes(),
            b"\r\n--" + b + b"\r\n",
            *att_parts,
            b"--" + b + b"--\r\n",
        ]
    )
    return OutgoingMail(
        envelope_from=from_hdr.addr_spec,
        recipients=tuple(t.addr_spec for t in targets),
        message=data,
        message_id=mid,
        notes=tuple(notes),
    )
