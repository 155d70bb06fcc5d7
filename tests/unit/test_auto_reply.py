"""The acknowledgement message (RFC 3834 headers, texts in seven languages, language choice)."""

from __future__ import annotations

import json
import shutil
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from shopmail.domain.inbound.acknowledgement import (
    LANGUAGES,
    TEMPLATES,
    TEXTS,
    ReplyShop,
    build_auto_reply,
    detect_language,
    guess_language,
    load_texts,
    render_body,
    resolve_template,
    unknown_language_replies,
)
from shopmail.domain.inbound.forwarding import OutgoingMail
from shopmail.domain.message import Address, Envelope, InboundMessage
from shopmail.domain.outbound.rendering import TEMPLATE_DIR, available_languages
from shopmail.errors import InvalidRecipientError

ENV = Envelope("sesid9", "kim@example.org", ("support@shop.example",))


def _auto_reply(
    message: InboundMessage,
    envelope: Envelope = ENV,
    *,
    recipient: str = "support@shop.example",
    support_address: str = "support@shop.example",
    **kw: Any,
) -> OutgoingMail:
    """``build_auto_reply`` of ``message`` for the shop.example support address."""
    return build_auto_reply(
        message,
        envelope,
        recipient=recipient,
        mail_domain="shop.example",
        support_address=support_address,
        **kw,
    )


def _msg(**kw: object) -> InboundMessage:
    base: dict[str, object] = {
        "subject": "Wo ist meine Bestellung?",
        "from_": (Address("Kim", "kim@example.org"),),
        "message_id": "<orig-9@example.org>",
        "references": ("<older@example.org>",),
    }
    base.update(kw)
    return InboundMessage(**base)  # type: ignore[arg-type]


def test_headers() -> None:
    out = _auto_reply(_msg(), support_address="help@shop.example")
    assert out.recipients == ("kim@example.org",)
    assert out.envelope_from == "support@shop.example"
    parsed = message_from_bytes(out.message, policy=policy.default)
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Auto-Response-Suppress"] == "All"
    assert parsed["In-Reply-To"] == "<orig-9@example.org>"
    assert parsed["References"] == "<older@example.org> <orig-9@example.org>"
    assert parsed["To"].addresses[0].addr_spec == "kim@example.org"
    assert "Re: Wo ist meine Bestellung?" in parsed["Subject"]
    assert parsed["Message-ID"].startswith("<sm.autoreply.sesid9.")


def test_reply_goes_to_envelope_sender_not_from() -> None:
    env = Envelope("sesid9", "bounces+kim@lists.example.org", ("support@shop.example",))
    out = _auto_reply(_msg(), env)
    assert out.recipients == ("bounces+kim@lists.example.org",)


def test_foreign_or_tagged_recipient_uses_support_address() -> None:
    out = _auto_reply(
        _msg(), recipient="support+ORD-1@shop.example", support_address="help@shop.example"
    )
    assert out.envelope_from == "help@shop.example"


def _reply(message: InboundMessage, **kw: str) -> tuple[str, str, str]:
    """(Subject, Content-Language, body) of the auto-reply to ``message``."""
    out = _auto_reply(message, **kw)
    parsed = message_from_bytes(out.message, policy=policy.default)
    return str(parsed["Subject"]), str(parsed["Content-Language"]), parsed.get_content()


def test_the_seven_languages_come_from_the_template_folders() -> None:
    assert LANGUAGES == ("de", "en", "es", "fr", "it", "nl", "pl")  # German, English first
    assert set(TEMPLATES) == {"acknowledgement", "return"}
    assert set(load_texts(TEMPLATE_DIR)) == set(available_languages())


def test_a_dropped_in_folder_adds_a_reply_language(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATE_DIR / "en", tmp_path / "en")
    (tmp_path / "sv").mkdir()
    swedish = json.loads((TEMPLATE_DIR / "en" / "strings.json").read_text(encoding="utf-8"))
    swedish["auto_reply"]["greeting"] = "Hej,"
    (tmp_path / "sv" / "strings.json").write_text(json.dumps(swedish), encoding="utf-8")
    (tmp_path / "da").mkdir()
    broken = dict(swedish, auto_reply={"greeting": "Hej,"})
    (tmp_path / "da" / "strings.json").write_text(json.dumps(broken), encoding="utf-8")
    texts = load_texts(tmp_path)
    assert list(texts) == ["en", "sv"]  # the incomplete Danish section is skipped
    assert texts["sv"].greeting == "Hej,"
    assert texts["sv"].paragraphs["return"] == TEXTS["en"].paragraphs["return"]
    assert load_texts(tmp_path / "missing") == {}  # logged, no crash


@pytest.mark.parametrize("language", ["de", "en", "fr", "it", "es", "nl", "pl"])
def test_content_language_picks_the_language(language: str) -> None:
    texts = TEXTS[language]
    subject, content_language, body = _reply(
        _msg(subject="x", headers=(("Content-Language", f"{language}-XX"),))
    )
    assert content_language == language
    assert subject == f"{texts.subjects['acknowledgement']}{texts.subject_separator}Re: x"
    body = body.replace("\r\n", "\n")
    assert body.startswith(texts.greeting + "\n\n" + texts.paragraphs["acknowledgement"][0])
    assert body.endswith(f"{texts.closing}\n{texts.signature}\n")
    for other, other_texts in TEXTS.items():
        if other != language:
            assert other_texts.paragraphs["acknowledgement"][0] not in body


@pytest.mark.parametrize(
    ("headers", "subject", "text", "expected"),
    [
        ((("Content-Language", "pt-BR, fr-CH"),), "x", "", "fr"),  # first supported tag
        ((("Accept-Language", "en;q=0.4, nl;q=0.9, de;q=0.8"),), "x", "", "nl"),
        ((("Content-Language", "it"), ("Accept-Language", "de")), "Wo ist mein Paket?", "", "it"),
        ((), "Wo ist meine Bestellung?", "", "de"),
        ((), "Re: ORD-1002", "Where is my parcel? I have not received it yet.", "en"),
        ((), "Commande 100234", "Bonjour, je n'ai toujours pas reçu mon colis. Merci.", "fr"),
        ((), "Ordine", "Buongiorno, non ho ancora ricevuto il pacco. Grazie.", "it"),
        ((), "Pedido", "Hola, todavía no he recibido el paquete. ¿Dónde está? Gracias.", "es"),
        ((), "Bestelling", "Hallo, ik heb mijn pakket nog niet ontvangen. Waar is het?", "nl"),
        ((), "Zamówienie", "Dzień dobry, jeszcze nie otrzymałem paczki. Gdzie jest?", "pl"),
        # the quoted German original does not count, the Italian reply does
        (
            (),
            "R: Ihre Bestellung 100234 ist unterwegs",
            "Non ho ancora ricevuto il pacco, grazie.\n\nIl giorno lun 2 mar 2026 alle ore "
            "09:00 Shop <ordini@shop.example> ha scritto:\n> Ihre Bestellung ist unterwegs."
            "\n> Wir wünschen viel Freude damit!\n",
            "it",
        ),
        ((), "ORD-1002", "", None),
        ((), "Frage", "ok", None),
    ],
)
def test_language_detection(
    headers: tuple[tuple[str, str], ...], subject: str, text: str, expected: str | None
) -> None:
    assert detect_language(_msg(headers=headers, subject=subject, text=text)) == expected


def test_unknown_language_writes_german_then_english() -> None:
    subject, content_language, body = _reply(_msg(subject="ORD-1002"))
    assert content_language == "de, en"
    assert subject == "Eingangsbestätigung / We received your message: Re: ORD-1002"
    assert body.index("vielen Dank") < body.index("Thank you")


KAFFEE = ReplyShop(name="Kaffeerösterei Müller", languages=("fr-FR", "en"))


def test_a_shop_signs_its_replies_and_is_the_from_display_name() -> None:
    out = _auto_reply(_msg(), shop=KAFFEE)
    parsed = message_from_bytes(out.message, policy=policy.default)
    assert parsed["From"].addresses[0].display_name == "Kaffeerösterei Müller"
    assert parsed["From"].addresses[0].addr_spec == "support@shop.example"
    assert out.envelope_from == "support@shop.example"
    body = parsed.get_content().replace("\r\n", "\n")
    # the German mail is answered in German, signed by the team and then the shop's name
    assert str(parsed["Content-Language"]) == "de"
    signature = TEXTS["de"].signature
    assert body.rstrip().endswith(f"{signature}\nKaffeerösterei Müller")


def test_a_shops_languages_answer_mail_of_unknown_language() -> None:
    subject, content_language, body = _reply(_msg(subject="ORD-1002"), shop=KAFFEE)  # type: ignore[arg-type]
    assert content_language == "fr, en"
    assert subject.startswith("Accusé de réception / We received your message")
    assert body.index("Kaffeerösterei Müller") < body.index("Thank you")
    assert body.count("Kaffeerösterei Müller") == 2 and "vielen Dank" not in body


@pytest.mark.parametrize(
    ("languages", "expected"),
    [
        ((), ("de", "en")),
        (("de-AT", "de", "en"), ("de", "en")),  # one language once, at most two
        (("pl-PL",), ("pl",)),
        (("xx", "it"), ("it",)),  # a locale without texts is passed over
        (("xx",), ("de", "en")),
    ],
)
def test_the_languages_for_mail_of_unknown_language(
    languages: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    assert unknown_language_replies(ReplyShop("Shop", languages)) == expected
    assert unknown_language_replies(None) == ("de", "en")


def test_a_shop_name_cannot_inject_headers() -> None:
    shop = ReplyShop(name="Evil\r\nBcc: victim@example.net", languages=("en",))
    out = _auto_reply(_msg(), shop=shop)
    parsed = message_from_bytes(out.message, policy=policy.default)
    assert parsed["Bcc"] is None and b"\r\nBcc:" not in out.message
    assert "Evil" in parsed["From"].addresses[0].display_name


def test_explicit_language_wins_and_may_be_a_locale() -> None:
    _, content_language, body = _reply(_msg(), language="fr-FR", template="returns")
    assert content_language == "fr"
    assert "votre retour" in body and "vielen Dank" not in body
    _, content_language, _ = _reply(_msg(), language="xx")  # unknown: detect
    assert content_language == "de"  # the German subject "Wo ist meine Bestellung?"


def test_french_subject_has_french_punctuation() -> None:
    subject, _, _ = _reply(_msg(subject="Colis"), language="fr")
    assert subject == "Accusé de réception\xa0: Re: Colis"


def test_guess_needs_a_clear_majority() -> None:
    assert guess_language("") is None
    assert guess_language("Bestellung order commande") is None  # one hit each
    assert guess_language("x" * 5000 + " und ich habe nicht") is None  # beyond the sample


#: The German and English texts as they were before the texts got one structure (the English
#: now starts its sentence with a capital letter).
_BEFORE = {
    ("acknowledgement", "de"): (
        "Eingangsbestätigung",
        "Guten Tag,\n\nvielen Dank für Ihre Nachricht. Wir haben sie erhalten und melden uns "
        "so schnell wie möglich bei Ihnen.\n\nBitte antworten Sie nicht auf diese automatische "
        "Bestätigung; wenn Sie uns noch etwas mitteilen möchten, schreiben Sie einfach eine "
        "neue Nachricht.\n\nFreundliche Grüße\nIhr Kundenservice\n",
    ),
    ("acknowledgement", "en"): (
        "We received your message",
        "Hello,\n\nThank you for your message. We have received it and will get back to you as "
        "soon as possible.\n\nPlease do not reply to this automatic confirmation; if you want "
        "to add something, just send us a new message.\n\nKind regards\nCustomer service\n",
    ),
    ("return", "de"): (
        "Eingangsbestätigung Rücksendung",
        "Guten Tag,\n\nvielen Dank für Ihre Nachricht zu Ihrer Rücksendung. Wir haben sie "
        "erhalten und prüfen Ihr Anliegen. Sobald die Rücksendung bearbeitet ist, erhalten Sie "
        "eine Bestätigung.\n\nFreundliche Grüße\nIhr Kundenservice\n",
    ),
    ("return", "en"): (
        "We received your return request",
        "Hello,\n\nThank you for your message about your return. We have received it and are "
        "looking into it. You will get a confirmation once the return has been processed.\n\n"
        "Kind regards\nCustomer service\n",
    ),
}


@pytest.mark.parametrize(("template", "language"), sorted(_BEFORE))
def test_german_and_english_texts_are_unchanged(template: str, language: str) -> None:
    assert render_body(template, language) == _BEFORE[(template, language)]


def test_templates() -> None:
    assert resolve_template("returns_ack") == "return"
    assert resolve_template(None) == "acknowledgement"
    assert resolve_template("no-such-template") == "acknowledgement"
    subject, body = render_body("support", "de")
    assert subject == "Eingangsbestätigung" and "Kundenservice" in body
    bodies = {render_body(t, lang)[1] for t in TEMPLATES for lang in LANGUAGES}
    assert len(bodies) == len(TEMPLATES) * len(LANGUAGES)  # every text is its own


def test_empty_envelope_sender_is_refused() -> None:
    with pytest.raises(InvalidRecipientError):
        _auto_reply(_msg(), Envelope("x", "", ("support@shop.example",)))


def test_subject_injection_is_cleaned() -> None:
    out = _auto_reply(_msg(subject="x\r\nBcc: a@example.com"))
    parsed = message_from_bytes(out.message, policy=policy.default)
    assert parsed["Bcc"] is None
