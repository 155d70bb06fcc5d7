"""Build the acknowledgement (``auto_reply``) to an inbound mail, RFC 3834 style.

Whether a reply may be sent at all is decided elsewhere (the loop guard,
``shopmail.domain.inbound.loop_guard``, and the per-sender rate limit); this module only builds
it:

* to the ENVELOPE sender (RFC 3834 §4), from the shop address the mail was sent to (or the
  support address when that is not ours),
* ``Auto-Submitted: auto-replied``, ``X-Auto-Response-Suppress: All``, ``Precedence: auto_reply``
  is NOT used (non-standard),
* ``In-Reply-To`` = the original's Message-ID, ``References`` = its References + Message-ID,
* ``Subject: <prefix>: Re: <original subject>``, a plain text body, ``Content-Language``.

The texts are plain strings, so the inbound function does not need Jinja: one structure
(greeting, the template's paragraphs, closing, signature) filled with the phrases of the
``auto_reply`` section of each language's ``templates/<lang>/strings.json`` (de, en, fr, it,
es, nl, pl ship; a language folder dropped in with that section adds a language here too)::

    "auto_reply": {"greeting": "Guten Tag,", "closing": "Freundliche Grüße",
                   "signature": "Ihr Kundenservice", "subject_separator": ": ",
                   "acknowledgement": {"subject": "Eingangsbestätigung", "body": "..."},
                   "return": {"subject": "...", "body": "..."},
                   "hint_words": "und ich nicht ..."}

Paragraphs of a ``body`` are separated by a blank line. ``language="auto"`` picks the language
of the mail (:func:`detect_language`: ``Content-Language``, then ``Accept-Language``, then the
``hint_words`` found in the subject and the new text) and writes German and English (German
first) when none is known. :data:`TEXTS` holds the phrases per language, :data:`TEMPLATES`
(``TEMPLATES[name][language] = (subject_prefix, body)``) the rendered texts.

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

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Final

from shopmail.domain.inbound.built_headers import (
    clean_header_text,
    header_address,
    set_text_header,
)
from shopmail.domain.inbound.forwarding import OutgoingMail
from shopmail.domain.inbound.reply_text import strip_reply
from shopmail.domain.message import Envelope, InboundMessage
from shopmail.domain.outbound.locale_chain import lookup_forms, normalize_tag
from shopmail.domain.outbound.message_ids import make_message_id
from shopmail.errors import InvalidRecipientError

logger = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "acknowledgement"
#: The reply templates every language has.
TEMPLATE_NAMES: Final = ("acknowledgement", "return")
#: Written when the mail's language is unknown, in this order.
BILINGUAL: Final = ("de", "en")
#: Where the phrases live (the outbound template folder; only its JSON is read here).
TEXTS_DIR: Final = Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True, slots=True)
class ReplyShop:
    """Who answers: the shop of ``SHOP_CONFIG`` (``None`` everywhere: the shipped texts alone).

    Attributes
    ----------
    name
        The From display name and the line under the signature (``Kaffeerösterei Müller``).
    languages
        The shop's locales, default first (``de-AT``, ``en``): the reply to a mail whose
        language is unknown is written in their languages instead of German and English.
    """

    name: str = ""
    languages: tuple[str, ...] = ()


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
    hint_words
        Common words of the language, for :func:`guess_language`.
    """

    greeting: str
    closing: str
    signature: str
    subjects: Mapping[str, str]
    paragraphs: Mapping[str, tuple[str, ...]]
    subject_separator: str = ": "
    hint_words: frozenset[str] = frozenset()

    @classmethod
    def from_strings(cls, section: Mapping[str, Any]) -> ReplyTexts:
        """Read the ``auto_reply`` section of a ``strings.json`` (``KeyError``/``TypeError``
        when it is incomplete)."""

        def text(value: Any) -> str:
            if not isinstance(value, str) or not value.strip():
                raise TypeError("not a text")
            return value

        return cls(
            greeting=text(section["greeting"]),
            closing=text(section["closing"]),
            signature=text(section["signature"]),
            subjects={n: text(section[n]["subject"]) for n in TEMPLATE_NAMES},
            paragraphs={
                n: tuple(p.strip() for p in text(section[n]["body"]).split("\n\n") if p.strip())
                for n in TEMPLATE_NAMES
            },
            subject_separator=str(section.get("subject_separator") or ": "),
            hint_words=frozenset(str(section.get("hint_words") or "").lower().split()),
        )


def load_texts(root: Path = TEXTS_DIR) -> dict[str, ReplyTexts]:
    """The reply texts of every language folder in ``root`` (``de`` and ``en`` first).

    A folder whose ``strings.json`` is unreadable or lacks part of the ``auto_reply`` section
    is skipped and logged (``auto_reply_texts_invalid``, folder name and reason only).
    """
    found: dict[str, ReplyTexts] = {}
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and normalize_tag(p.name))
    except OSError as exc:
        logger.error("auto_reply_texts_unreadable", extra={"reason": str(exc)[:200]})
        folders = []
    for folder in folders:
        path = folder / "strings.json"
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found[folder.name] = ReplyTexts.from_strings(data["auto_reply"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning(
                "auto_reply_texts_invalid",
                extra={"language": folder.name, "reason": f"{type(exc).__name__}: {exc}"[:200]},
            )
    first = [lang for lang in BILINGUAL if lang in found]
    return {lang: found[lang] for lang in [*first, *sorted(set(found) - set(first))]}


#: language -> texts, read once from the template folder
TEXTS: Final[Mapping[str, ReplyTexts]] = load_texts()
#: The languages of the auto-reply.
LANGUAGES: Final = tuple(TEXTS)


def _compose(texts: ReplyTexts, template: str) -> str:
    parts = [texts.greeting, *texts.paragraphs[template], f"{texts.closing}\n{texts.signature}"]
    return "\n\n".join(parts) + "\n"


#: template name -> language -> (subject prefix, body)
TEMPLATES: Final[Mapping[str, Mapping[str, tuple[str, str]]]] = {
    name: {lang: (t.subjects[name], _compose(t, name)) for lang, t in TEXTS.items()}
    for name in TEMPLATE_NAMES
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


def _distinct_words(texts: Mapping[str, ReplyTexts]) -> dict[str, str]:
    """Hint word -> its language; words listed by more than one language tell nothing."""
    owners: dict[str, set[str]] = {}
    for lang, reply in texts.items():
        for word in reply.hint_words:
            owners.setdefault(word, set()).add(lang)
    return {w: next(iter(langs)) for w, langs in owners.items() if len(langs) == 1}


_WORD_LANGUAGE: Final = _distinct_words(TEXTS)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
#: Letters that, among the shipped languages, only one uses.
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


def _language_of(tag: str | None) -> str | None:
    """The language folder (key of :data:`TEXTS`) serving ``tag`` (``fr-CH`` -> ``fr``)."""
    by_key = {normalize_tag(name).lower(): name for name in TEXTS}
    for form in lookup_forms(tag):
        if form.lower() in by_key:
            return by_key[form.lower()]
    return None


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
        lang = _language_of(tag)
        if lang is not None and quality > 0:
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


def unknown_language_replies(shop: ReplyShop | None = None) -> tuple[str, ...]:
    """The languages a reply is written in when the mail's own is unknown: the shop's
    (:attr:`ReplyShop.languages` that have texts, in order, at most two), else
    :data:`BILINGUAL`."""
    found: list[str] = []
    for tag in shop.languages if shop else ():
        lang = _language_of(tag)
        if lang is not None and lang not in found:
            found.append(lang)
    return tuple(found[:2]) or tuple(x for x in BILINGUAL if x in TEXTS)


def render_body(template: str, language: str, shop: ReplyShop | None = None) -> tuple[str, str]:
    """Return ``(subject_prefix, body)`` for ``template`` in ``language`` (or ``auto``).

    A language without texts (``auto``) gives the languages of
    :func:`unknown_language_replies` (German and English, German first, without a shop).
    With a shop name, the name follows the signature.
    """
    texts = TEMPLATES[resolve_template(template)]
    name = clean_header_text(shop.name, 100) if shop else ""

    def signed(body: str) -> str:
        return f"{body.rstrip()}\n{name}\n" if name else body

    if language in texts:
        prefix, body = texts[language]
        return prefix, signed(body)
    langs = unknown_language_replies(shop)
    both = [texts[lang] for lang in langs if lang in texts] or list(texts.values())[:1]
    subject = " / ".join(prefix for prefix, _ in both)
    return subject, f"\n{'-' * 40}\n\n".join(signed(body) for _, body in both)


_MSG_ID: Final = re.compile(r"<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>")


def _msg_id(value: str | None) -> str:
    """``value`` when it is a plain ASCII ``<id@domain>`` (RFC 5322 msg-id), else ``""``: an
    id we cannot repeat safely is left out of In-Reply-To / References."""
    value = (value or "").strip()
    return value if _MSG_ID.fullmatch(value) else ""


def build_auto_reply(
    message: InboundMessage,
    envelope: Envelope,
    *,
    recipient: str,
    mail_domain: str,
    support_address: str,
    template: str | None = None,
    language: str = "auto",
    shop: ReplyShop | None = None,
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
    shop
        The shop's name (From display name, under the signature) and languages (for mail
        whose language is unknown); ``None``: the shipped texts, German and English.

    Raises
    ------
    InvalidRecipientError
        The envelope sender is empty or unusable.
    """
    to = header_address(envelope.sender)
    if to is None:
        raise InvalidRecipientError("auto_reply: the envelope sender is empty or unusable")
    own = recipient.rpartition("@")[2].lower() == mail_domain.lower() and "+" not in recipient
    from_hdr = header_address(recipient if own else support_address, shop.name if shop else "")
    if from_hdr is None:
        raise InvalidRecipientError("auto_reply: no usable from address")
    lang = _language_of(language) or detect_language(message) or "auto"
    prefix, body = render_body(template or DEFAULT_TEMPLATE, lang, shop)
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
    set_text_header(
        reply,
        "Subject",
        f"{prefix}{separator}Re: {original_subject}" if original_subject else prefix,
    )
    reply["Date"] = formatdate(usegmt=True)
    reply["Message-ID"] = mid
    original_id = _msg_id(message.message_id)
    if original_id:
        reply["In-Reply-To"] = original_id
        refs = [r for r in (_msg_id(r) for r in message.references[-10:]) if r]
        reply["References"] = " ".join([*refs, original_id])
    reply["Auto-Submitted"] = "auto-replied"
    reply["X-Auto-Response-Suppress"] = "All"
    set_text_header(reply, "X-Shopmail-SES-Message-ID", clean_header_text(envelope.message_id, 100))
    reply.set_content(body, cte="quoted-printable")
    # after set_content(), which clears Content-* headers (RFC 3282)
    reply["Content-Language"] = lang if lang in TEXTS else ", ".join(unknown_language_replies(shop))
    return OutgoingMail(
        envelope_from=from_hdr.addr_spec,
        recipients=(to.addr_spec,),
        message=reply.as_bytes(),
        message_id=mid,
    )
