"""Build the acknowledgement (``auto_reply``) to an inbound mail, RFC 3834 style.

Whether a reply may be sent at all is decided elsewhere (``shopmail.domain.loop_guard`` and the
per-sender rate limit); this module only builds it:

* to the ENVELOPE sender (RFC 3834 §4), from the shop address the mail was sent to (or the
  support address when that is not ours),
* ``Auto-Submitted: auto-replied``, ``X-Auto-Response-Suppress: All``, ``Precedence: auto_reply``
  is NOT used (non-standard),
* ``In-Reply-To`` = the original's Message-ID, ``References`` = its References + Message-ID,
* ``Subject: <prefix>: Re: <original subject>``, a plain text body, ``Content-Language``.

The texts are plain strings here, so the inbound function does not need Jinja: one structure
(greeting, the template's paragraphs, closing, signature) and per-language phrases in
:data:`TEXTS` (de, en, fr, it, es, nl, pl). ``language="auto"`` picks the language of the mail
(:func:`detect_language`: ``Content-Language``, then ``Accept-Language``, then words of the
subject and the new text) and writes German and English (German first) when none is known.
:data:`TEMPLATES` (``TEMPLATES[name][language] = (subject_prefix, body)``) is the rendered view.

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

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import Final

from shopmail.domain.forwarding import OutgoingMail, clean_header_text, header_address
from shopmail.domain.locale_chain import primary_language
from shopmail.domain.message import Envelope, InboundMessage
from shopmail.domain.message_ids import make_message_id
from shopmail.domain.reply_text import strip_reply
from shopmail.errors import InvalidRecipientError

DEFAULT_TEMPLATE = "acknowledgement"
#: Written when the mail's language is unknown, in this order.
BILINGUAL: Final = ("de", "en")
_NB = "\u00a0"  # no-break space (French punctuation)


@dataclass(frozen=True, slots=True)
class ReplyTexts:
    """The phrases of one language; :func:`render_body` puts them into the one structure.

    Attributes
    ----------
    greeting, closing, signature
        Around every body.
    subjects
        Template name -> subject prefix.
    paragraphs
        Template name -> the paragraphs between greeting and closing.
    subject_separator
        Between the prefix and ``Re: <original subject>`` (``": "``; French ``" : "``).
    """

    greeting: str
    closing: str
    signature: str
    subjects: Mapping[str, str]
    paragraphs: Mapping[str, tuple[str, ...]]
    subject_separator: str = field(default=": ")


#: language -> texts (the first two are also the bilingual reply)
TEXTS: Final[Mapping[str, ReplyTexts]] = {
    "de": ReplyTexts(
        greeting="Guten Tag,",
        closing="Freundliche Grüße",
        signature="Ihr Kundenservice",
        subjects={
            "acknowledgement": "Eingangsbestätigung",
            "return": "Eingangsbestätigung Rücksendung",
        },
        paragraphs={
            "acknowledgement": (
                "vielen Dank für Ihre Nachricht. Wir haben sie erhalten und melden uns so "
                "schnell wie möglich bei Ihnen.",
                "Bitte antworten Sie nicht auf diese automatische Bestätigung; wenn Sie uns "
                "noch etwas mitteilen möchten, schreiben Sie einfach eine neue Nachricht.",
            ),
            "return": (
                "vielen Dank für Ihre Nachricht zu Ihrer Rücksendung. Wir haben sie erhalten "
                "und prüfen Ihr Anliegen. Sobald die Rücksendung bearbeitet ist, erhalten Sie "
                "eine Bestätigung.",
            ),
        },
    ),
    "en": ReplyTexts(
        greeting="Hello,",
        closing="Kind regards",
        signature="Customer service",
        subjects={
            "acknowledgement": "We received your message",
            "return": "We received your return request",
        },
        paragraphs={
            "acknowledgement": (
                "Thank you for your message. We have received it and will get back to you as "
                "soon as possible.",
                "Please do not reply to this automatic confirmation; if you want to add "
                "something, just send us a new message.",
            ),
            "return": (
                "Thank you for your message about your return. We have received it and are "
                "looking into it. You will get a confirmation once the return has been "
                "processed.",
            ),
        },
    ),
    "fr": ReplyTexts(
        greeting="Bonjour,",
        closing="Cordialement,",
        signature="Le service client",
        subjects={
            "acknowledgement": "Accusé de réception",
            "return": "Accusé de réception de votre demande de retour",
        },
        paragraphs={
            "acknowledgement": (
                "Nous vous remercions pour votre message. Nous l’avons bien reçu et vous "
                "répondrons dans les meilleurs délais.",
                f"Merci de ne pas répondre à cette confirmation automatique{_NB}; si vous "
                "souhaitez ajouter quelque chose, envoyez-nous simplement un nouveau message.",
            ),
            "return": (
                "Nous vous remercions pour votre message concernant votre retour. Nous l’avons "
                "bien reçu et examinons votre demande. Vous recevrez une confirmation dès que "
                "votre retour aura été traité.",
            ),
        },
        subject_separator=f"{_NB}: ",
    ),
    "it": ReplyTexts(
        greeting="Gentile cliente,",
        closing="Cordiali saluti",
        signature="Il Servizio Clienti",
        subjects={
            "acknowledgement": "Conferma di ricezione",
            "return": "Conferma di ricezione della richiesta di reso",
        },
        paragraphs={
            "acknowledgement": (
                "La ringraziamo per il Suo messaggio. Lo abbiamo ricevuto e Le risponderemo "
                "il prima possibile.",
                "La preghiamo di non rispondere a questa conferma automatica; se desidera "
                "aggiungere qualcosa, ci invii semplicemente un nuovo messaggio.",
            ),
            "return": (
                "La ringraziamo per il Suo messaggio relativo al reso. Lo abbiamo ricevuto e "
                "stiamo esaminando la Sua richiesta. Non appena il reso sarà stato elaborato, "
                "riceverà una conferma.",
            ),
        },
    ),
    "es": ReplyTexts(
        greeting="Hola:",
        closing="Un cordial saludo",
        signature="El servicio de atención al cliente",
        subjects={
            "acknowledgement": "Confirmación de recepción",
            "return": "Confirmación de recepción de su devolución",
        },
        paragraphs={
            "acknowledgement": (
                "Le agradecemos su mensaje. Lo hemos recibido y le responderemos lo antes posible.",
                "Le rogamos que no responda a esta confirmación automática; si desea añadir "
                "algo, envíenos un mensaje nuevo.",
            ),
            "return": (
                "Le agradecemos su mensaje sobre su devolución. Lo hemos recibido y estamos "
                "revisando su solicitud. Recibirá una confirmación en cuanto hayamos "
                "tramitado la devolución.",
            ),
        },
    ),
    "nl": ReplyTexts(
        greeting="Beste klant,",
        closing="Met vriendelijke groet",
        signature="De klantenservice",
        subjects={
            "acknowledgement": "Ontvangstbevestiging",
            "return": "Ontvangstbevestiging retourzending",
        },
        paragraphs={
            "acknowledgement": (
                "Hartelijk dank voor uw bericht. Wij hebben het ontvangen en nemen zo snel "
                "mogelijk contact met u op.",
                "Reageer alstublieft niet op deze automatische bevestiging. Wilt u nog iets "
                "toevoegen? Stuur ons dan gewoon een nieuw bericht.",
            ),
            "return": (
                "Hartelijk dank voor uw bericht over uw retourzending. Wij hebben het "
                "ontvangen en bekijken uw verzoek. Zodra de retourzending is verwerkt, "
                "ontvangt u een bevestiging.",
            ),
        },
    ),
    "pl": ReplyTexts(
        greeting="Dzień dobry,",
        closing="Pozdrawiamy",
        signature="Dział Obsługi Klienta",
        subjects={
            "acknowledgement": "Potwierdzenie otrzymania wiadomości",
            "return": "Potwierdzenie otrzymania zgłoszenia zwrotu",
        },
        paragraphs={
            "acknowledgement": (
                "Dziękujemy za wiadomość. Otrzymaliśmy ją i odpowiemy najszybciej, jak to możliwe.",
                "Prosimy nie odpowiadać na to automatyczne potwierdzenie. Jeśli chcą Państwo "
                "coś dodać, wystarczy wysłać do nas nową wiadomość.",
            ),
            "return": (
                "Dziękujemy za wiadomość dotyczącą zwrotu. Otrzymaliśmy ją i rozpatrujemy "
                "Państwa zgłoszenie. Gdy zwrot zostanie przetworzony, otrzymają Państwo "
                "potwierdzenie.",
            ),
        },
    ),
}
#: The languages of the auto-reply.
LANGUAGES: Final = tuple(TEXTS)


def _compose(texts: ReplyTexts, template: str) -> str:
    parts = [texts.greeting, *texts.paragraphs[template], f"{texts.closing}\n{texts.signature}"]
    return "\n\n".join(parts) + "\n"


#: template name -> language -> (subject prefix, body)
TEMPLATES: Final[Mapping[str, Mapping[str, tuple[str, str]]]] = {
    name: {lang: (t.subjects[name], _compose(t, name)) for lang, t in TEXTS.items()}
    for name in TEXTS["de"].subjects
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


# --- language of the incoming mail --------------------------------------------------------

#: Common words of each language, written the way customers write about orders. Words that
#: appear under more than one language are dropped when the table is built (they tell nothing).
_HINT_WORDS: Final[Mapping[str, str]] = {
    "de": "und ich nicht ist mein meine meiner bitte bestellung danke vielen für habe wurde "
    "noch eine einen mit auf wann warum sehr geehrte geehrter hallo rücksendung lieferung "
    "paket grüße gruß freundlichen keine schon leider aber auch möchte bei wo sie ihre",
    "en": "the and my is not please order have has you thanks thank with for was this it of "
    "to where when why return delivery parcel package hello dear regards would like received "
    "yet still but can your just",
    "fr": "le les et je ma mon mes est pas commande merci vous votre pour avec une des "
    "bonjour livraison colis retour où ne suis j'ai cordialement madame monsieur toujours "
    "reçu depuis mais aussi du au aux qui ce cette",
    "it": "il lo gli di che non mio mia ordine grazie per con sono ho buongiorno salve "
    "consegna pacco reso dove è vorrei ancora ricevuto cordiali saluti gentile della del "
    "nel questo questa ma anche perché",
    "es": "el los las y que no mi mis pedido gracias por con una es tengo hola entrega "
    "paquete devolución dónde está todavía recibido saludos estimados pero también este esta "
    "quiero",
    "nl": "het en ik mijn is niet bestelling bedankt dank voor met een van heb graag levering "
    "pakket retour waar wanneer hallo wij u uw nog maar ook geen groet vriendelijke "
    "ontvangen al er dat dit",
    "pl": "w nie jest moje moja mój zamówienie zamówienia zamówieniu dziękuję proszę dla z "
    "na się mam dzień dobry zwrot dostawa paczka paczki gdzie czy jeszcze otrzymałem "
    "otrzymałam pozdrawiam ale też że to już kiedy witam",
}


def _distinct_words() -> dict[str, str]:
    owners: dict[str, set[str]] = {}
    for lang, words in _HINT_WORDS.items():
        for word in words.split():
            owners.setdefault(word, set()).add(lang)
    return {w: next(iter(langs)) for w, langs in owners.items() if len(langs) == 1}


_WORD_LANGUAGE: Final = _distinct_words()
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
#: Letters only one of the languages uses.
_LETTERS: Final = {"ß": "de", "ñ": "es", "¿": "es", "¡": "es", "ç": "fr", "œ": "fr"}
_LETTERS_PL: Final = frozenset("ąęłńśźż")
MAX_HINT_CHARS: Final = 2_000
MIN_HINT_SCORE: Final = 3


def guess_language(text: str) -> str | None:
    """The language of ``text`` from its common words, or ``None`` when it is not clear.

    A language wins with at least :data:`MIN_HINT_SCORE` hits and twice the hits of the
    runner-up; only the first :data:`MAX_HINT_CHARS` characters are read.

    >>> guess_language("Bonjour, où est ma commande ? Je ne l'ai pas reçue.")
    'fr'
    >>> guess_language("ok") is None
    True
    """
    sample = (text or "")[:MAX_HINT_CHARS].lower()
    scores: dict[str, int] = {}
    for word in _WORD.findall(sample):
        lang = _WORD_LANGUAGE.get(word)
        if lang:
            scores[lang] = scores.get(lang, 0) + 1
    for char, lang in _LETTERS.items():
        if char in sample:
            scores[lang] = scores.get(lang, 0) + 1
    if any(c in _LETTERS_PL for c in sample):
        scores["pl"] = scores.get("pl", 0) + 1
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    best, hits = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    return best if hits >= MIN_HINT_SCORE and hits >= 2 * second else None


def _header_languages(value: str, weighted: bool) -> list[str]:
    """Supported primary languages of a ``Content-Language`` / ``Accept-Language`` value."""
    entries: list[tuple[float, int, str]] = []
    for index, part in enumerate(value.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if weighted and params.strip().lower().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = primary_language(tag)
        if lang in TEXTS and quality > 0:
            entries.append((-quality, index, lang))
    return [lang for _, _, lang in sorted(entries)]


def detect_language(message: InboundMessage) -> str | None:
    """The language to answer ``message`` in (one of :data:`LANGUAGES`), or ``None``.

    In this order: ``Content-Language`` (RFC 3282; the first supported tag), then
    ``Accept-Language`` (highest q-value first), then the words of the subject and of the
    new text of the body (quotes stripped; :func:`guess_language`).
    """
    for name, weighted in (("Content-Language", False), ("Accept-Language", True)):
        found = _header_languages((message.header(name) or "")[:500], weighted)
        if found:
            return found[0]
    body = strip_reply((message.text or "")[: MAX_HINT_CHARS * 4])
    return guess_language(f"{message.subject or ''}\n{body}")


def render_body(template: str, language: str) -> tuple[str, str]:
    """Return ``(subject_prefix, body)`` for ``template`` in ``language`` (or ``auto``).

    A language without texts (``auto``) gives German and English, German first.
    """
    texts = TEMPLATES[resolve_template(template)]
    if language in texts:
        return texts[language]
    (de_subject, de_body), (en_subject, en_body) = (texts[lang] for lang in BILINGUAL)
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
        Template name (see :data:`TEMPLATES`, :data:`ALIASES`) and a language of
        :data:`LANGUAGES` (a locale such as ``fr-FR`` counts as its language) or ``auto``.

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
    chosen = primary_language(language)
    lang = chosen if chosen in TEXTS else (detect_language(message) or "auto")
    prefix, body = render_body(template or DEFAULT_TEMPLATE, lang)
    separator = TEXTS[lang].subject_separator if lang in TEXTS else ": "
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
    reply["Subject"] = f"{prefix}{separator}Re: {original_subject}" if original_subject else prefix
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
    # after set_content(), which clears Content-* headers (RFC 3282)
    reply["Content-Language"] = lang if lang in TEXTS else ", ".join(BILINGUAL)
    return OutgoingMail(
        envelope_from=from_hdr.addr_spec,
        recipients=(to.addr_spec,),
        message=reply.as_bytes(),
        message_id=mid,
    )
