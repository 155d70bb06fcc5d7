"""Reply stripping per language and client, and the reply-parser corpora."""

from __future__ import annotations

from pathlib import Path

import pytest
from shopmail.domain.inbound.reply_text import strip_reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Danke, passt.\n\nAm 02.03.2026 um 09:00 schrieb Shop <orders@shop.example>:\n"
            "> Ihre Bestellung\n> ist unterwegs.\n",
            "Danke, passt.",
        ),
        (
            "Danke!\r\n\r\nAm Mo., 2. März 2026 um 09:00 Uhr schrieb Shop\r\n"
            "<orders@shop.example>:\r\n> alt\r\n",
            "Danke!",
        ),
        (
            "Thanks.\n\nOn Mon, Mar 2, 2026 at 9:00 AM Shop <orders@shop.example>\nwrote:\n\n"
            "> old\n",
            "Thanks.",
        ),
        (
            "Bitte stornieren.\n\n-----Ursprüngliche Nachricht-----\nVon: Shop\n"
            "Gesendet: Montag, 2. März 2026 09:00\nAn: Kunde\nBetreff: Bestellung\n\nalt\n",
            "Bitte stornieren.",
        ),
        (
            "Please cancel.\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\n"
            "To: me\nSubject: Order\n\nold text\n",
            "Please cancel.",
        ),
        (
            "Neue Adresse.\n\n________________________________\nVon: Shop <s@shop.example>\n"
            "Gesendet: Montag\nAn: Kunde\nBetreff: Bestellung\n\nalter Text\n",
            "Neue Adresse.",
        ),
        (
            "Reply.\n\n*From:* Shop\n*Sent:* Monday\n*To:* me\n*Subject:* x\n\nold\n",
            "Reply.",
        ),
        ("Text\n\n-- \nMax Mustermann\nMusterstr. 1\n", "Text"),
        ("Text\n\nVon meinem iPhone gesendet\n", "Text"),
        ("Text\n\nSent from my iPhone\n", "Text"),
        ("Sent from my desk, it is easier.\n", "Sent from my desk, it is easier."),
        ("a -- b is not a signature\n", "a -- b is not a signature"),
        (
            "On Tue, 3 Mar 2026 at 10:00, X wrote:\n> question one\n\nanswer one\n\n"
            "> question two\n\nanswer two\n",
            "answer one\n\nanswer two",
        ),
        ("On the phone we said: fine.\nBye\n", "On the phone we said: fine.\nBye"),
        ("", ""),
    ],
)
def test_strip_reply(text: str, expected: str) -> None:
    assert strip_reply(text) == expected


SHOP = "Shop <orders@shop.example>"
#: (client and language, reply text, expected new text). Written after what the clients put
#: into plain-text replies; the quoted part is our own mail.
CLIENT_SAMPLES = [
    (
        "gmail-fr",
        f"Merci, c'est parfait.\n\nLe lun. 2 mars 2026 à 09:00, {SHOP} a écrit :\n\n"
        "> Votre commande n° 100234 est en route.\n",
        "Merci, c'est parfait.",
    ),
    (
        "gmail-it-wrapped",
        "Grazie, va bene.\n\nIl giorno lun 2 mar 2026 alle ore 09:00 Shop <orders@shop.example>"
        " ha\nscritto:\n\n> Il Suo ordine n. 100234 è stato spedito.\n",
        "Grazie, va bene.",
    ),
    (
        "gmail-es",
        "Perfecto, gracias.\n\nEl lun, 2 mar 2026 a las 9:00, Shop (<orders@shop.example>) "
        "escribió:\n\n> Su pedido n.º 100234 está en camino.\n",
        "Perfecto, gracias.",
    ),
    (
        "gmail-nl",
        f"Prima, dank u.\n\nOp ma 2 mrt 2026 om 09:00 schreef {SHOP}:\n\n"
        "> Uw bestelling 100234 is onderweg.\n",
        "Prima, dank u.",
    ),
    (
        "gmail-pl",
        f"Dziękuję, wszystko się zgadza.\n\npon., 2 mar 2026 o 09:00 {SHOP} napisał(a):\n\n"
        "> Zamówienie nr 100234 zostało wysłane.\n",
        "Dziękuję, wszystko się zgadza.",
    ),
    (
        "gmail-ru",
        f"Спасибо, всё получил.\n\nпн, 2 мар. 2026 г. в 09:00, {SHOP}:\n\n"
        "> Your order 100234 is on its way.\n",
        "Спасибо, всё получил.",
    ),
    (
        "android-ru",
        f"Спасибо!\n\n2 марта 2026 г., 09:00 пользователь {SHOP} написал:\n\n"
        "> Your order 100234 is on its way.\n",
        "Спасибо!",
    ),
    (
        "apple-ru",
        f"Хорошо.\n\n2 марта 2026 г., в 9:00, {SHOP} написал(а):\n\n> Ihre Bestellung\n",
        "Хорошо.",
    ),
    (
        "apple-fr-iphone",
        f"Merci !\n\nEnvoyé de mon iPhone\n\nLe 2 mars 2026 à 09:00, {SHOP} a écrit :\n\n"
        "> Votre commande n° 100234 est en route.\n",
        "Merci !",
    ),
    (
        "apple-nl",
        f"Dank u.\n\nVerstuurd vanaf mijn iPhone\n\nOp 2 mrt. 2026 om 09:00 heeft {SHOP} het "
        "volgende geschreven:\n\n> Uw bestelling 100234 is onderweg.\n",
        "Dank u.",
    ),
    (
        "apple-pl",
        "Dziękuję.\n\nWiadomość napisana przez Shop <orders@shop.example> w dniu 02.03.2026, "
        "o godz. 09:00:\n\n> Zamówienie nr 100234 zostało wysłane.\n",
        "Dziękuję.",
    ),
    (
        "apple-es",
        f"Gracias.\n\nEnviado desde mi iPhone\n\nEl 2 mar 2026, a las 9:00, {SHOP} escribió:"
        "\n\n> Su pedido n.º 100234 está en camino.\n",
        "Gracias.",
    ),
    (
        "thunderbird-de",
        "Passt, danke.\n\nAm 02.03.26 um 09:00 schrieb Shop:\n> Ihre Bestellung ist unterwegs.\n",
        "Passt, danke.",
    ),
    (
        "thunderbird-pl",
        "Dziękuję.\n\nW dniu 2.03.2026 o 09:00, Shop pisze:\n> Zamówienie nr 100234\n",
        "Dziękuję.",
    ),
    (
        "thunderbird-it",
        "Grazie.\n\nIl 02/03/2026 09:00, Shop ha scritto:\n> Il Suo ordine n. 100234\n",
        "Grazie.",
    ),
    (
        "thunderbird-es",
        "Gracias.\n\nEl 2/3/26 a las 9:00, Shop escribió:\n> Su pedido n.º 100234\n",
        "Gracias.",
    ),
    (
        "thunderbird-fr",
        "Merci.\n\nLe 02/03/2026 à 09:00, Shop a écrit :\n> Votre commande n° 100234\n",
        "Merci.",
    ),
    (
        "thunderbird-nl",
        "Bedankt.\n\nOp 02-03-2026 om 09:00 schreef Shop:\n> Uw bestelling 100234\n",
        "Bedankt.",
    ),
    (
        "yahoo-de",
        f"Bitte stornieren.\n\nAm Montag, 2. März 2026, 09:00:00 MEZ hat {SHOP} Folgendes "
        "geschrieben:\n\n\nIhre Bestellung 100234 ist eingegangen\n",
        "Bitte stornieren.",
    ),
    (
        "outlook-fr",
        "Pouvez-vous annuler ?\n\n________________________________\nDe : Shop "
        "<orders@shop.example>\nEnvoyé : lundi 2 mars 2026 09:00\nÀ : Client "
        "<client@example.org>\nObjet : Votre commande n° 100234\n\nVotre commande est en route.\n",
        "Pouvez-vous annuler ?",
    ),
    (
        "outlook-it",
        "Potete annullare?\n\nDa: Shop <orders@shop.example>\nInviato: lunedì 2 marzo 2026 "
        "09:00\nA: Cliente <cliente@example.org>\nOggetto: Il Suo ordine n. 100234\n\nvecchio\n",
        "Potete annullare?",
    ),
    (
        "outlook-es",
        "¿Pueden cancelarlo?\n\n*De:* Shop <orders@shop.example>\n*Enviado el:* lunes, 2 de "
        "marzo de 2026 9:00\n*Para:* Cliente\n*Asunto:* Su pedido n.º 100234\n\nantiguo\n",
        "¿Pueden cancelarlo?",
    ),
    (
        "outlook-nl",
        "Kunt u annuleren?\n\nVan: Shop <orders@shop.example>\nVerzonden: maandag 2 maart 2026 "
        "09:00\nAan: Klant\nOnderwerp: Uw bestelling 100234\n\noud\n",
        "Kunt u annuleren?",
    ),
    (
        "outlook-pl",
        "Proszę anulować.\n\nOd: Shop <orders@shop.example>\nWysłano: poniedziałek, 2 marca "
        "2026 09:00\nDo: Klient\nTemat: Zamówienie nr 100234\n\nstary tekst\n",
        "Proszę anulować.",
    ),
    (
        "outlook-ru",
        "Отмените, пожалуйста.\n\nОт: Shop <orders@shop.example>\nОтправлено: 2 марта 2026 г. "
        "9:00\nКому: Клиент\nТема: Заказ 100234\n\nстарый текст\n",
        "Отмените, пожалуйста.",
    ),
    (
        "gmx-de",
        'Bitte ändern.\n\nGesendet: Montag, 02. März 2026 um 09:00 Uhr\nVon: "Shop" '
        "<orders@shop.example>\nAn: kunde@example.org\nBetreff: Ihre Bestellung 100234\n\nalt\n",
        "Bitte ändern.",
    ),
    (
        "android-de",
        "Ok.\n\n-------- Ursprüngliche Nachricht --------\nVon: Shop <orders@shop.example>\n"
        "Datum: 02.03.26 09:00 (GMT+01:00)\nAn: kunde@example.org\nBetreff: Bestellung\n\nalt\n",
        "Ok.",
    ),
    (
        "android-fr",
        "D'accord.\n\n-------- Message d'origine --------\nDe : Shop\nDate : 02/03/2026 09:00\n"
        "À : client\nObjet : Commande\n\nancien\n",
        "D'accord.",
    ),
    ("original-it", "Va bene.\n\n-----Messaggio originale-----\nDa: Shop\n\nvecchio\n", "Va bene."),
    ("original-es", "Vale.\n\n-----Mensaje original-----\nDe: Shop\n\nantiguo\n", "Vale."),
    ("original-nl", "Goed.\n\n-----Oorspronkelijk bericht-----\nVan: Shop\n\noud\n", "Goed."),
    ("original-pl", "Dobrze.\n\n-----Oryginalna wiadomość-----\nOd: Shop\n\nstary\n", "Dobrze."),
    ("original-ru", "Да.\n\n-------- Исходное сообщение --------\nОт: Shop\n\nстарый\n", "Да."),
    (
        "inline-fr",
        "Le 2 mars 2026 à 09:00, Shop a écrit :\n> Question 1 ?\n\nRéponse 1\n\n> Question 2 ?"
        "\n\nRéponse 2\n",
        "Réponse 1\n\nRéponse 2",
    ),
]
MOBILE_SIGNATURES = [
    "Sent from my Samsung Galaxy smartphone.",
    "Von meinem Samsung Galaxy Smartphone gesendet.",
    "Gesendet mit der WEB.DE Mail App",
    "Outlook für Android herunterladen",
    "Envoyé de mon iPhone",
    "Envoyé depuis mon appareil Galaxy",
    "Télécharger Outlook pour Android",
    "Inviato da iPhone",
    "Inviato dal mio dispositivo Galaxy",
    "Scarica Outlook per Android",
    "Enviado desde mi iPhone",
    "Obtener Outlook para Android",
    "Verzonden vanaf mijn iPhone",
    "Outlook voor Android downloaden",
    "Wysłane z iPhone'a",
    "Wysłane z mojego smartfona Galaxy",
    "Pobierz aplikację Outlook dla systemu Android",
    "Отправлено с iPhone",
    "Отправлено из мобильной Почты Mail.ru",
]
#: Sentences customers write that look like client markers but are not.
NOT_MARKERS = [
    "Am Montag schrieb ich:\nBitte stornieren Sie die Bestellung.",
    "Le livreur a écrit :\nColis déposé chez le voisin.",
    "Il corriere ha scritto: arriva domani.\nGrazie.",
    "Mi vecino escribió:\nque el paquete estaba roto.",
    "Enviado desde mi casa, es más fácil.",
    "De: mijn buurman\nheeft het pakket.",
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CLIENT_SAMPLES],
                         ids=[c[0] for c in CLIENT_SAMPLES])  # fmt: skip
def test_clients_and_languages(text: str, expected: str) -> None:
    assert strip_reply(text) == expected


@pytest.mark.parametrize("signature", MOBILE_SIGNATURES)
def test_mobile_signatures(signature: str) -> None:
    assert strip_reply(f"Passt so.\n\n{signature}\n") == "Passt so."


@pytest.mark.parametrize("text", NOT_MARKERS)
def test_sentences_that_only_look_like_markers_are_kept(text: str) -> None:
    assert strip_reply(text) == text


# What the github/email_reply_parser tests assert as the visible reply, per file.
_CORPUS_EXPECTED: dict[str, tuple[str, str | None]] = {
    "email_1_2.txt": ("Hi,", 'delete them all individually."'),
    "email_1_3.txt": ("Oh thanks.\n\nHaving the function would be great.", "-Abhishek Kona"),
    "email_1_4.txt": ("Awesome! I haven't had another problem with it.", None),
    "email_1_6.txt": (
        "I get proper rendering as well.\n\nSent from a magnificent torch of pixels",
        None,
    ),
    "email_1_7.txt": (":+1:", None),
    "email_1_8.txt": ("I will reply under this one\n\nand under this.", None),
    "email_2_1.txt": ("Outlook with a reply", None),
    "email_2_2.txt": ("Outlook with a reply directly above line", None),
    "email_2_3.txt": ("", None),  # differs between the two corpora: its first line
    "email_BlackBerry.txt": ("Here is another email", None),
    "email_iPhone.txt": ("Here is another email", None),
    "email_multi_word_sent_from_my_mobile_device.txt": ("Here is another email", None),
    "email_sent_from_my_not_signature.txt": (
        "Here is another email\n\nSent from my desk, is much easier then my mobile phone.",
        None,
    ),
    "correct_sig.txt": ("this is an email with a correct -- signature.", None),
    "email_sig_delimiter_in_middle_of_line.txt": ("Hi there!", "kthxbai"),
    "email_one_is_not_on.txt": ("Thank, this is really helpful.", "when I run..."),
    "greedy_on.txt": ("On your remote host you can run:", "the tunnel is not working."),
    "email_partial_quote_header.txt": ("On your remote host", "the tunnel is not working."),
    "email_gmail.txt": ("This is a test for inbox replying to a github message.", None),
    "email_headers_no_delimiter.txt": ("And another reply!", None),
    "pathological.txt": ("I think you're onto something.", "get back to a computer."),
}


@pytest.mark.parametrize("folder", ["github-email-reply-parser", "zapier-email-reply-parser"])
def test_reply_parser_corpora(corpus_dir: Path, folder: str) -> None:
    emails = corpus_dir / folder / "test" / "emails"
    checked = 0
    for name, (start, end) in _CORPUS_EXPECTED.items():
        path = emails / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        reply = strip_reply(text)
        start = start or text.splitlines()[0]
        assert reply.startswith(start), name
        if end is None:
            assert reply == start, name
        else:
            assert reply.endswith(end), name
        assert ">" not in reply.splitlines()[0] if reply else True
        checked += 1
    assert checked >= 18


def test_every_corpus_reply_strips_quotes(corpus_dir: Path) -> None:
    for folder in ("github-email-reply-parser", "zapier-email-reply-parser"):
        for path in sorted((corpus_dir / folder / "test" / "emails").glob("*.txt")):
            reply = strip_reply(path.read_text(encoding="utf-8", errors="replace"))
            assert not any(line.startswith(">") for line in reply.splitlines()), path
            assert "wrote:" not in reply, path
