"""Build the outbound MIME message (bytes ready for ``DATA``) from a rendered mail.

Rules the SES relay enforces or the recipients expect (see ``ses-smtp.md``):

* ``policy.SMTP`` (CRLF), 7-bit only: non-ASCII headers RFC 2047-encoded, bodies
  quoted-printable, attachments base64; no line longer than 998 characters.
* From = the verified sender of the stream (``transactional_from`` / ``marketing_from``),
  Reply-To = ``support_address``; with a shop configuration the display names are the shop's
  (``senders.transactional_name`` / ``marketing_name``, else its name; ``support_name``) and
  its ``support_address`` is the Reply-To.
* Inline images of the rendered mail (the shop's logo) go with the HTML into a
  ``multipart/related`` part, each with its ``Content-ID`` (RFC 2387, RFC 2392).
* Our deterministic Message-ID (:func:`shopmail.domain.outbound.message_ids.make_message_id`). SES
  replaces ``Message-ID``, so the same id also goes into ``References`` and ``X-Shopmail-Id``:
  a customer's reply quotes it and the inbound side matches it back to the order.
* ``Auto-Submitted: auto-generated``; ``X-SES-CONFIGURATION-SET`` when configured;
  ``X-SES-MESSAGE-TAGS`` (``[0-9A-Za-z_-]`` only; SES strips both headers; the tags are
  :mod:`~shopmail.domain.outbound.mail_tags`).
* RFC 8058 ``List-Unsubscribe`` + ``List-Unsubscribe-Post`` on marketing mail only.
* Each header at most once (SES: ``554 Duplicate header``).

Header injection: every value that comes from an event (names, subjects, ids, URLs) is
cleaned before it reaches a header: control characters (CR, LF, NUL, ..., U+0085, U+2028,
U+2029) become spaces, whitespace is collapsed, lengths are capped; addresses go through
``email.headerregistry.Address``; tag values are reduced to ``[0-9A-Za-z_-]``; the
unsubscribe URL must be a plain ``https`` URL or the mail is refused
(:class:`~shopmail.errors.InvalidEventError`). The finished bytes are checked once more
(ASCII, line lengths, single-instance headers).

Example
-------
>>> from shopmail.config import Settings
>>> from shopmail.domain.outbound.contracts import validate
>>> from shopmail.domain.outbound.rendering import render
>>> ev = validate({"detail-type": "OrderDelivered", "id": "e", "source": "shop",
...     "detail": {"locale": "en", "recipient": {"email": "k@example.com"},
...     "order": {"id": "ORD-1"}, "shipment": {"id": "S1",
...     "deliveredAt": "2026-11-28T10:00:00Z"}}})
>>> built = build_message(ev, render(ev, Settings()), Settings())
>>> built.recipients, built.envelope_from
(('k@example.com',), 'shop@shop.example')
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy, quoprimime
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any, cast

from shopmail.config import Settings
from shopmail.domain.outbound.contracts import ShopEvent, idempotency_key
from shopmail.domain.outbound.mail_tags import mail_tags
from shopmail.domain.outbound.mail_tags import tag_value as tag_value  # re-exported
from shopmail.domain.outbound.message_ids import make_message_id
from shopmail.domain.outbound.rendering import RenderedMail
from shopmail.domain.outbound.shop_config import ShopConfig
from shopmail.errors import ConfigurationError, InvalidEventError, TemplateError

#: Headers that must appear exactly once in every message we build.
SINGLE_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "References",
    "MIME-Version",
    "Content-Type",
    "Auto-Submitted",
    "X-Shopmail-Id",
)
#: Headers that appear at most once (present only in some messages).
OPTIONAL_SINGLE_HEADERS: tuple[str, ...] = (
    "X-SES-CONFIGURATION-SET",
    "X-SES-MESSAGE-TAGS",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "X-Auto-Response-Suppress",
)
MAX_LINE = 998

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_SAFE_URL = re.compile(r"https://[!#$%&()*+,\-./0-9:;=?@A-Z\[\]_a-z~]+")
_SES_NAME = re.compile(r"[0-9A-Za-z_-]{1,64}")


class _TokenHeader(UnstructuredHeader):
    """An ASCII header written on one line as it is (ids, tags, URLs).

    The stdlib treats ``References`` and ``X-*`` headers as unstructured text and would turn a
    value longer than 78 characters into RFC 2047 encoded-words, which hides a long
    Message-ID from every reader. Our values here are ASCII without control characters, so they
    are written unfolded (at most 998 characters; anything else falls back to normal folding).
    """

    name: str  # set by BaseHeader, which the registry mixes in

    def fold(self, *, policy: Any) -> str:
        value = str(self)
        line = f"{self.name}: {value}"
        if value.isascii() and not _CONTROLS.search(value) and len(line) <= MAX_LINE:
            return line + str(policy.linesep)
        base: Any = super()
        return str(base.fold(policy=policy))


#: Headers the policy writes on one line when their value is plain ASCII (:class:`_TokenHeader`).
_TOKEN_HEADERS = frozenset(
    {
        "message-id",
        "references",
        "x-shopmail-id",
        "x-ses-message-tags",
        "x-ses-configuration-set",
        "list-unsubscribe",
        "list-unsubscribe-post",
    }
)
_REGISTRY = HeaderRegistry()
for _name in sorted(_TOKEN_HEADERS):
    _REGISTRY.map_to_type(_name, cast("type[BaseHeader]", _TokenHeader))
#: ``policy.SMTP`` (CRLF, 78-column folding, RFC 2047) with the id/tag headers kept intact.
SMTP_POLICY = policy.SMTP.clone(header_factory=_REGISTRY)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to attach (already fetched, e.g. the invoice PDF from S3)."""

    filename: str
    data: bytes
    content_type: str = "application/pdf"


@dataclass(frozen=True, slots=True)
class BuiltMessage:
    """A message ready for the relay.

    Attributes
    ----------
    raw
        The message bytes (CRLF line ends, 7-bit).
    message_id
        Our Message-ID (``<sm....@domain>``); SES will replace the header but the id stays in
        ``References`` and ``X-Shopmail-Id``.
    envelope_from
        ``MAIL FROM`` (the stream's verified sender).
    recipients
        ``RCPT TO`` addresses (7-bit).
    idempotency_key
        The business key the id was derived from.
    """

    raw: bytes
    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    idempotency_key: str

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.raw)


def clean_header_text(value: object, max_length: int = 200) -> str:
    """Make an untrusted value safe to put in an unstructured header or display name.

    Control characters (including CR and LF) become spaces, whitespace runs collapse, the
    result is stripped and cut to ``max_length`` characters.

    Example
    -------
    >>> clean_header_text("Hi\\r\\nBcc: evil@example.com")
    'Hi Bcc: evil@example.com'
    """
    text = _CONTROLS.sub(" ", str(value))
    return " ".join(text.split())[:max_length]


def build_message(
    event: ShopEvent,
    rendered: RenderedMail,
    settings: Settings,
    *,
    attachments: Sequence[Attachment] = (),
    date: datetime | None = None,
    shop: ShopConfig | None = None,
) -> BuiltMessage:
    """Build the MIME message for ``event``.

    Parameters
    ----------
    event
        The validated event (recipient already normalized to 7-bit).
    rendered
        Its rendered content (:func:`shopmail.domain.outbound.rendering.render`).
    settings
        Senders, support address, mail domain, configuration set.
    attachments
        Fetched attachments (the PDFs named by ``rendered.attachments_refs``).
    date
        The ``Date`` header (default: now, UTC); SES overrides it anyway.
    shop
        The shop's configuration: From and Reply-To display names, the Reply-To address
        (default: the settings alone).

    Returns
    -------
    BuiltMessage

    Raises
    ------
    InvalidEventError
        Marketing mail without a usable one-click unsubscribe URL.
    ConfigurationError
        A sender or configuration-set name in the settings that cannot be used.
    TemplateError
        The built message breaks a relay rule (a construction bug; never expected).
    """
    key = idempotency_key(event)
    message_id = make_message_id(
        event.detail_type,
        event.aggregate_id,
        key,
        settings.mail_domain,
        key=settings.message_id_key,
    )
    stream = "marketing_from" if event.email_class == "marketing" else "transactional_from"
    sender = _address(getattr(settings, stream), stream)
    reply_to = _address(settings.support_address, "support_address")
    if shop is not None:
        sender = _named(sender, shop.sender_name(event.email_class))
        if shop.support_address:
            reply_to = _address(shop.support_address, "shop config support_address")
        reply_to = _named(reply_to, shop.senders.support_name)
    try:
        to = Address(
            display_name=clean_header_text(event.recipient_name, 120),
            addr_spec=event.recipient,
        )
    except (ValueError, IndexError) as exc:
        raise InvalidEventError("recipient cannot be written as an address header") from exc
    if not event.recipient.isascii() or _CONTROLS.search(event.recipient):
        raise InvalidEventError("recipient address is not 7-bit clean")

    headers: list[tuple[str, Any]] = [
        ("From", sender),
        ("To", to),
        ("Reply-To", reply_to),
        ("Subject", clean_header_text(rendered.subject, 250) or event.detail_type),
        ("Date", format_datetime(date or datetime.now(UTC))),
        ("Message-ID", message_id),
        ("References", message_id),
        ("X-Shopmail-Id", message_id),
        ("Auto-Submitted", "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
    ]
    if settings.configuration_set:
        if not _SES_NAME.fullmatch(settings.configuration_set):
            raise ConfigurationError("configuration set name has invalid characters")
        headers.append(("X-SES-CONFIGURATION-SET", settings.configuration_set))
    headers.append(("X-SES-MESSAGE-TAGS", _tags(event)))
    if event.email_class == "marketing":
        url = _unsubscribe_url(rendered.unsubscribe_url or event.data.get("unsubscribeUrl"))
        headers.append(("List-Unsubscribe", f"<{url}>"))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    # Deterministic boundaries: the same event gives the same bytes (for a fixed date). A
    # boundary starting with "=_" cannot occur in quoted-printable or base64 content.
    digest = hashlib.sha256(message_id.encode("ascii")).hexdigest()[:16]
    if rendered.inline_images:
        raw = _stdlib_raw(headers, rendered, attachments, digest)
    else:
        raw = _lean_raw(headers, rendered, attachments, digest)
    _check(raw)
    return BuiltMessage(
        raw=raw,
        message_id=message_id,
        envelope_from=sender.addr_spec,
        recipients=(event.recipient,),
        idempotency_key=key,
    )


# --- serialisation -----------------------------------------------------------------------


def _stdlib_raw(
    headers: Sequence[tuple[str, Any]],
    rendered: RenderedMail,
    attachments: Sequence[Attachment],
    digest: str,
) -> bytes:
    """The message as ``EmailMessage`` builds and ``policy.SMTP`` serialises it (any shape)."""
    msg = EmailMessage(policy=SMTP_POLICY)
    for name, value in headers:
        msg[name] = value
    msg.set_content(_crlf_safe(rendered.text), subtype="plain", cte="quoted-printable")
    msg.add_alternative(_crlf_safe(rendered.html), subtype="html", cte="quoted-printable")
    if rendered.inline_images:
        html_part = msg.get_body(preferencelist=("html",))
        assert html_part is not None  # just added
        for image in rendered.inline_images:
            maintype, _, subtype = image.content_type.partition("/")
            html_part.add_related(
                image.data,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{image.content_id}>",
                disposition="inline",
                filename=_filename(image.filename),
            )
        html_part.set_param("type", "text/html")  # RFC 2387: the root part's type
    for att in attachments:
        maintype, subtype = _attachment_type(att)
        msg.add_attachment(
            att.data,
            maintype=maintype,
            subtype=subtype,
            filename=_filename(att.filename),
        )
    for index, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_sm_{digest}_{index}")
    for part in msg.walk():
        if part is not msg:  # add_alternative() leaves a MIME-Version on the sub-part
            del part["MIME-Version"]
    return msg.as_bytes(policy=SMTP_POLICY)


def _lean_raw(
    headers: Sequence[tuple[str, Any]],
    rendered: RenderedMail,
    attachments: Sequence[Attachment],
    digest: str,
) -> bytes:
    """The bytes :func:`_stdlib_raw` gives for text + HTML (+ attachments), written directly.

    ``EmailMessage`` builds a header object per header and the generator folds each one again;
    here only the headers that may need RFC 2047 encoding or folding (addresses, a long or
    non-ASCII subject) go through the policy's header classes, ids and tags are written as the
    policy writes them (one line, see :class:`_TokenHeader`), and the bodies are encoded by the
    same stdlib encoders. ``tests/unit/test_mime_build.py`` checks that both give the same
    bytes; messages with inline images take :func:`_stdlib_raw`.
    """
    nl = "\r\n"
    out = [_fold(name, value) for name, value in headers]
    out.append("MIME-Version: 1.0" + nl)
    alternative = _multipart(
        f"=_sm_{digest}_{1 if attachments else 0}",
        [_text_part(rendered.text, "plain"), _text_part(rendered.html, "html")],
    )
    if attachments:
        mixed = [
            f'Content-Type: multipart/alternative; boundary="=_sm_{digest}_1"{nl}{nl}'
            + alternative,
            *(_attachment_part(att) for att in attachments),
        ]
        out.append(f'Content-Type: multipart/mixed; boundary="=_sm_{digest}_0"{nl}{nl}')
        out.append(_multipart(f"=_sm_{digest}_0", mixed))
    else:
        out.append(f'Content-Type: multipart/alternative; boundary="=_sm_{digest}_0"{nl}{nl}')
        out.append(alternative)
    return "".join(out).encode("ascii")


#: The policy's line width (78): headers are folded and quoted-printable lines wrapped to it.
_FOLD_WIDTH: int = SMTP_POLICY.max_line_length or 78
#: Unstructured headers written as they are when short and plain (no folding, no encoding).
_PLAIN_HEADERS = frozenset({"subject", "auto-submitted", "x-auto-response-suppress", "date"})


def _fold(name: str, value: Any) -> str:
    """``name: value`` as ``SMTP_POLICY`` writes it (CRLF-terminated)."""
    if isinstance(value, str) and value.isascii() and not _CONTROLS.search(value):
        line = f"{name}: {value}"
        key = name.lower()
        if key in _TOKEN_HEADERS and len(line) <= MAX_LINE:
            return line + "\r\n"
        if (
            key in _PLAIN_HEADERS
            and len(line) <= _FOLD_WIDTH
            and "=?" not in value
            and value == " ".join(value.split())
        ):
            return line + "\r\n"
    if isinstance(value, Address) and name in _SENDER_HEADERS:
        return _fold_sender(name, value.display_name, value.addr_spec)
    header: Any = SMTP_POLICY.header_factory(name, value)
    return str(header.fold(policy=SMTP_POLICY))


#: Address headers whose values come from settings and the shop configuration: the same few
#: addresses on every mail, so their folded form is remembered (:func:`_fold_sender`).
_SENDER_HEADERS = frozenset({"From", "Reply-To"})


@lru_cache(maxsize=64)
def _fold_sender(name: str, display_name: str, addr_spec: str) -> str:
    """The policy's folding of a sender address header, remembered per (name, address)."""
    value = Address(display_name=display_name, addr_spec=addr_spec)
    header: Any = SMTP_POLICY.header_factory(name, value)
    return str(header.fold(policy=SMTP_POLICY))


def _text_part(text: str, subtype: str) -> str:
    """A quoted-printable UTF-8 text part, as ``set_content(..., cte="quoted-printable")``."""
    lines = _crlf_safe(text).encode("utf-8").splitlines()
    body = quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), _FOLD_WIDTH)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body.replace("\n", "\r\n")
    )


def _attachment_part(att: Attachment) -> str:
    """A base64 attachment part, serialised by the stdlib (its parameters may need RFC 2231)."""
    maintype, subtype = _attachment_type(att)
    part = MIMEPart(policy=SMTP_POLICY)
    part.set_content(
        att.data,
        maintype=maintype,
        subtype=subtype,
        disposition="attachment",
        filename=_filename(att.filename),
    )
    return part.as_bytes(policy=SMTP_POLICY).decode("ascii")


def _multipart(boundary: str, parts: Sequence[str]) -> str:
    """The body of a multipart entity (no preamble or epilogue), as the generator writes it."""
    nl = "\r\n"
    return f"--{boundary}{nl}" + f"{nl}--{boundary}{nl}".join(parts) + f"{nl}--{boundary}--{nl}"


def _attachment_type(att: Attachment) -> tuple[str, str]:
    maintype, _, subtype = att.content_type.partition("/")
    if not maintype or not subtype or _CONTROLS.search(att.content_type):
        return "application", "octet-stream"
    return maintype, subtype


# --- helpers -----------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _address(value: str, setting: str) -> Address:
    """The sender address of a setting (remembered: ``Address`` is immutable)."""
    name, addr = parseaddr(value)
    if not addr or "@" not in addr or not addr.isascii() or _CONTROLS.search(value):
        raise ConfigurationError(f"setting {setting} is not a usable address")
    try:
        return Address(display_name=clean_header_text(name, 120), addr_spec=addr)
    except (ValueError, IndexError) as exc:
        raise ConfigurationError(f"setting {setting} is not a usable address") from exc


def _named(address: Address, name: str) -> Address:
    """``address`` with the display name ``name`` (kept as it is when ``name`` is empty)."""
    if not name:
        return address
    return Address(display_name=clean_header_text(name, 120), addr_spec=address.addr_spec)


def _tags(event: ShopEvent) -> str:
    return ", ".join(f"{k}={v}" for k, v in mail_tags(event))


def _unsubscribe_url(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidEventError("detail.unsubscribeUrl is required for marketing mail")
    if len(value) > 900 or not _SAFE_URL.fullmatch(value):
        raise InvalidEventError(
            "detail.unsubscribeUrl must be a plain https URL (ASCII, no spaces or brackets)"
        )
    return value


def _filename(value: str) -> str:
    name = clean_header_text(value, 120).replace("/", "_").replace("\\", "_").replace('"', "'")
    return name or "attachment"


def _crlf_safe(text: str) -> str:
    # Bodies may hold any text; normalise line ends (the generator writes CRLF) and drop
    # NULs, which no mail part may contain.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _check(raw: bytes) -> None:
    if not raw.isascii():
        raise TemplateError("built message is not 7-bit")
    for line in raw.split(b"\r\n"):
        if len(line) > MAX_LINE:
            raise TemplateError(f"built message has a line of {len(line)} characters")
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    names = [
        line.split(":", 1)[0].lower()
        for line in head.split("\r\n")
        if line and not line[0].isspace()
    ]
    for name in SINGLE_HEADERS + OPTIONAL_SINGLE_HEADERS:
        if names.count(name.lower()) > 1:
            raise TemplateError(f"built message has header {name} more than once")
