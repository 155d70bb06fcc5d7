"""Build the acknowledgement (``auto_reply``) to an inbound mail, RFC 3834 style.

Whether a reply may be sent at all is decided elsewhere (the loop guard,
``shopmail.domain.inbound.loop_guard``, and the per-sender rate limit); this module only builds
it:

* to the ENVELOPE sender (RFC 3834 §4), from the shop address the mail was sent to (or the
  support address when that is not ours),
* ``Auto-Submitted: auto-replied``, ``X-Auto-Response-Suppress: All``, ``Precedence: auto_reply``
  is NOT used (non-standard),
* ``In-Reply-To`` = the original's Message-ID, ``References`` = its References + Message-ID,
* ``Subject: Re: <original subject>``, a plain text body from a small de/en template.

Templates are plain strings here (``TEMPLATES[name][language] = (subject_prefix, body)``), so
the inbound function does not need Jinja. ``language="auto"`` picks German or English from
``Content-Language``/``Accept-Language``, and writes both (German first) when unknown.

Example
-------
>>> from shopmail.domain.message import Address, Envelope, InboundMessage
>>> msg = InboundMessage(subject="Wo ist meine Bestellung?", message_id="<a@example.org>")
>>> env = Envelope("m1", "kim@example.org", ("support@shop.example",))
>>> out = build_auto_reply(msg, env, recipient="support@shop.example",
...     mail_domain="shop.example", support_address="support@shop.example")
>>> out.recipients, b"Auto-Submitted: auto-replied" in out.message
(('kim@example.org',), True)
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from shopmail.domain.inbound.forwarding import OutgoingMail, clean_header_text, header_address
from shopmail.domain.message import Envelope, InboundMessage
from shopmail.domain.outbound.message_ids import make_message_id
from shopmail.errors import InvalidRecipientError

DEFAULT_TEMPLATE = "acknowledgement"

_DE_ACK = (
    "Guten Tag,\n\n"
    "vielen Dank für Ihre Nachricht. Wir haben sie erhalten und melden uns so schnell wie "
    "möglich bei Ihnen.\n\n"
    "Bitte antworten Sie nicht auf diese automatische Bestätigung; wenn Sie uns noch etwas "
    "mitteilen möchten, schreiben Sie einfach eine neue Nachricht.\n\n"
    "Freundliche Grüße\nIhr Kundenservice\n"
)
_EN_ACK = (
    "Hello,\n\n"
    "thank you for your message. We have received it and will get back to you as soon as "
    "possible.\n\n"
    "Please do not reply to this automatic confirmation; if you want to add something, just "
    "send us a new message.\n\n"
    "Kind regards\nCustomer service\n"
)
_DE_RETURN = (
    "Guten Tag,\n\n"
    "vielen Dank für Ihre Nachricht zu Ihrer Rücksendung. Wir haben sie erhalten und prüfen "
    "Ihr Anliegen. Sobald die Rücksendung bearbeitet ist, erhalten Sie eine Bestätigung.\n\n"
    "Freundliche Grüße\nIhr Kundenservice\n"
)
_EN_RETURN = (
    "Hello,\n\n"
    "thank you for your message about your return. We have received it and are looking into "
    "it. You will get a confirmation once the return has been processed.\n\n"
    "Kind regards\nCustomer service\n"
)

#: template name -> language -> (subject prefix, body)
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "acknowledgement": {
        "de": ("Eingangsbestätigung", _DE_ACK),
        "en": ("We received your message", _EN_ACK),
    },
    "return": {
        "de": ("Eingangsbestätigung Rücksendung", _DE_RETURN),
        "en": ("We received your return request", _EN_RETURN),
    },
}
# Names routes may use for the same texts.
ALIASES = {
    "ack": "acknowledgement",
    "autoreply": "acknowledgement",
    "auto_reply": "acknowledgement",
    "support": "acknowledgement",
    "support_ack": "acknowledgement",
    "support_acknowledgement": "acknowledgement",
    "default": "acknowledgement",
    "returns": "return",
    "return_ack": "return",
    "returns_ack": "return",
    "return_acknowledgement": "return",
    "returns_acknowledgement": "return",
}


def resolve_template(name: str | None) -> str:
    """The canonical template name for ``name`` (unknown names -> the acknowledgement)."""
    key = (name or DEFAULT_TEMPLATE).strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    return key if key in TEMPLATES else DEFAULT_TEMPLATE


def detect_language(message: InboundMessage) -> str | None:
    """``"de"``/``"en"`` from Content-Language or Accept-Language, else ``None``."""
    for name in ("Content-Language", "Accept-Language"):
        value = (message.header(name) or "").strip().lower()
        if value.startswith("de"):
            return "de"
        if value.startswith("en"):
            return "en"
    return None


def render_body(template: str, language: str) -> tuple[str, str]:
    """Return ``(subject_prefix, body)`` for ``template`` in ``language`` (``de|en|auto``)."""
    texts = TEMPLATES[resolve_template(template)]
    if language in texts:
        return texts[language]
    de_subject, de_body = texts["de"]
    en_subject, en_body = texts["en"]
    return f"{de_subject} / {en_subject}", f"{de_body}\n{'-' * 40}\n\n{en_body}"


def build_auto_reply(
    message: InboundMessage,
    envelope: Envelope,
    *,
    recipient: str,
    mail_domain: str,
    support_address: str,
    template: str | None = None,
    language: str = "auto",
) -> OutgoingMail:
    """Build the acknowledgement of ``message``.

    Parameters
    ----------
    message, envelope
        The original and its SES envelope (the reply goes to ``envelope.sender``).
    recipient
        The shop address the original was sent to (used as From when it is in
        ``mail_domain``).
    support_address
        From address otherwise.
    template, language
        Template name (see :data:`TEMPLATES`, :data:`ALIASES`) and ``de|en|auto``.

    Raises
    ------
    InvalidRecipientError
        The envelope sender is empty or unusable.
    """
    to = header_address(envelope.sender)
    if to is None:
        raise InvalidRecipientError("auto_reply: the envelope sender is empty or unusable")
    own = recipient.rpartition("@")[2].lower() == mail_domain.lower() and "+" not in recipient
    from_hdr = header_address(recipient if own else support_address)
    if from_hdr is None:
        raise InvalidRecipientError("auto_reply: no usable from address")
    lang = language if language in ("de", "en") else (detect_language(message) or "auto")
    prefix, body = render_body(template or DEFAULT_TEMPLATE, lang)
    mid = make_message_id(
        "autoreply",
        envelope.message_id,
        f"auto_reply:{envelope.message_id}:{recipient}",
        mail_domain,
    )
    reply = EmailMessage(policy=policy.SMTP)
    reply["From"] = from_hdr
    reply["To"] = to
    original_subject = clean_header_text(message.subject, 300)
    reply["Subject"] = f"{prefix}: Re: {original_subject}" if original_subject else prefix
    reply["Date"] = formatdate(usegmt=True)
    reply["Message-ID"] = mid
    original_id = clean_header_text(message.message_id, 500) if message.message_id else ""
    if original_id:
        reply["In-Reply-To"] = original_id
        refs = [clean_header_text(r, 500) for r in message.references[-10:]]
        reply["References"] = " ".join([*refs, original_id])
    reply["Auto-Submitted"] = "auto-replied"
    reply["X-Auto-Response-Suppress"] = "All"
    reply["X-Shopmail-SES-Message-ID"] = clean_header_text(envelope.message_id, 100)
    reply.set_content(body, cte="quoted-printable")
    return OutgoingMail(
        envelope_from=from_hdr.addr_spec,
        recipients=(to.addr_spec,),
        message=reply.as_bytes(),
        message_id=mid,
    )
