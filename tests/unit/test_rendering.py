"""Rendering of outbound mail: every sample in the seven languages, formats, limits, failures."""

from __future__ import annotations

import copy
import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from shopmail.config import Settings
from shopmail.domain.inbound.order_numbers import find_order_numbers
from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.outbound import rendering
from shopmail.domain.outbound.contracts import ShopEvent, validate, with_locale
from shopmail.domain.outbound.mime_build import build_message
from shopmail.domain.outbound.rendering import (
    MAX_HTML_BYTES,
    MAX_ITEMS,
    TEMPLATE_DIR,
    available_languages,
    fill,
    render,
)
from shopmail.errors import InvalidEventError, TemplateError

from tests.fixtures.paths import EVENTS

SAMPLES = sorted((EVENTS / "outbound").glob("*.json"))
SETTINGS = Settings(mail_domain="shop.example")
#: A typical customer locale per shipped language.
LOCALES = {
    "de": "de-DE",
    "en": "en-GB",
    "es": "es-ES",
    "fr": "fr-FR",
    "it": "it-IT",
    "nl": "nl-NL",
    "pl": "pl-PL",
}
SEVEN = tuple(sorted(LOCALES))
#: Templates whose subject is the shop's own text (SendEmailRequested's data.subject).
SUBJECT_FROM_DATA = {"Notice"}
EXTERNAL = re.compile(
    r"""(src\s*=\s*["']?\s*(https?:)?//|url\(|<link\b|@import|<img\b|<script\b|<iframe\b)""",
    re.IGNORECASE,
)


VOID_TAGS = {"meta", "br", "hr", "img", "input", "link"}


class _TagBalance(HTMLParser):
    """Records end tags that do not close the innermost open tag."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in VOID_TAGS:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.errors.append(f"</{tag}> while open: {self.stack[-3:]}")


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / "outbound" / f"{name}.json").read_text(encoding="utf-8"))


def event_of(name: str, locale: str | None = None) -> ShopEvent:
    ev = validate(sample(name))
    return with_locale(ev, locale) if locale else ev


def strings(language: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (TEMPLATE_DIR / language / "strings.json").read_text(encoding="utf-8")
    )
    return data


def english_sentences() -> set[str]:
    """The English sentences of the per-template sections (without their placeholders)."""
    out: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, str):
            out.update(p.strip() for p in re.split(r"\{\w+\}", node) if len(p.strip()) > 12)

    for key, section in strings("en").items():
        if key not in ("subjects", "auto_reply") and isinstance(section, dict):
            walk(section)
    return out


def test_the_seven_languages_ship() -> None:
    assert available_languages() == SEVEN


@pytest.mark.parametrize("language", SEVEN)
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_renders_in_every_language(path: Path, language: str) -> None:
    ev = with_locale(validate(json.loads(path.read_text(encoding="utf-8"))), LOCALES[language])
    mail = render(ev, SETTINGS)
    assert mail.language == language
    assert mail.subject and "\n" not in mail.subject and "{{" not in mail.subject
    assert mail.text.strip() and mail.html.strip()
    assert "{{" not in mail.text + mail.html and "{%" not in mail.text + mail.html
    assert not re.search(r"\{[A-Za-z_]\w*\}", mail.text + mail.html), "unfilled placeholder"
    assert len(mail.html.encode("utf-8")) < MAX_HTML_BYTES
    assert not EXTERNAL.search(mail.html), "external resource in HTML"
    assert f'<html lang="{language}">' in mail.html
    assert "<table" in mail.html and 'style="' in mail.html  # table layout, inline styles
    assert "<style" not in mail.html
    balance = _TagBalance()
    balance.feed(mail.html)
    assert balance.errors == [] and balance.stack == []
    assert SETTINGS.support_address in mail.text
    texts = strings(language)
    assert mail.text.startswith(texts["greeting_named"].split("{name}")[0])
    signature = texts["signature"].replace("{shop}", "Shop")  # the default shop's name
    assert texts["closing"] in mail.text and signature in mail.text
    if language != "en":
        english = render(with_locale(ev, "en"), SETTINGS)
        if ev.template not in SUBJECT_FROM_DATA:
            assert mail.subject != english.subject, "subject not localized"
        leaked = [s for s in english_sentences() if s in mail.text or s in mail.html]
        assert leaked == [], f"English sentences in the {language} mail"


@pytest.mark.parametrize("language", SEVEN)
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_language_parses_back_through_the_inbound_parser(path: Path, language: str) -> None:
    ev = with_locale(validate(json.loads(path.read_text(encoding="utf-8"))), LOCALES[language])
    mail = render(ev, SETTINGS)
    built = build_message(ev, mail, SETTINGS)
    back = parse_message(built.raw)
    # the MIME builder collapses all white space of a header, no-break spaces included
    assert back.subject == " ".join(mail.subject.split())
    assert (back.text or "").replace("\r\n", "\n").strip() == mail.text.strip()
    assert (back.html or "").replace("\r\n", "\n").strip() == mail.html.strip()
    # a customer replying "Re: <our subject>" is matched to the order the subject names
    label = rendering._order_label(ev.data, ev.aggregate_id)
    if label in mail.subject and ev.template not in SUBJECT_FROM_DATA:
        assert label in find_order_numbers(f"Re: {back.subject}"), back.subject


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_html_layout_is_the_same_in_every_language(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    shapes = {}
    for language in SEVEN:
        html = render(with_locale(validate(raw), LOCALES[language]), SETTINGS).html
        shape = _Shape()
        shape.feed(html)
        shapes[language] = shape.tags
    assert len(shapes["de"]) > 20
    for language in SEVEN:
        assert shapes[language] == shapes["de"], language


class _Shape(HTMLParser):
    """Tags with their attributes (text and ``lang`` left out): the layout of a mail."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(a for a in attrs if a[0] != "lang")))

    def handle_endtag(self, tag: str) -> None:
        self.tags.append((f"/{tag}", ()))


@pytest.mark.parametrize(
    ("locale", "money", "day"),
    [
        ("de-DE", "1.234,56\xa0€", "27. November 2026"),
        ("de-AT", "€\xa01.234,56", "27. November 2026"),
        ("en-GB", "€1,234.56", "27 November 2026"),
        ("fr-FR", "1\u202f234,56\xa0€", "27 novembre 2026"),
        ("fr-CA", "1\xa0234,56\xa0€", "27 novembre 2026"),
        ("it-IT", "1.234,56\xa0€", "27 novembre 2026"),
        ("es-ES", "1.234,56\xa0€", "27 de noviembre de 2026"),
        ("nl-NL", "€\xa01.234,56", "27 november 2026"),
        ("pl-PL", "1\xa0234,56\xa0€", "27 listopada 2026"),
    ],
)
def test_money_and_dates_follow_the_customer_locale(locale: str, money: str, day: str) -> None:
    mail = render(event_of("OrderPlaced", locale), SETTINGS)
    assert mail.locale == locale.replace("-", "_")
    assert money in mail.text and money in mail.html
    assert day in mail.text


def test_french_text_uses_french_punctuation() -> None:
    mail = render(event_of("OrderPlaced", "fr-FR"), SETTINGS)
    assert "Total\xa0: 1\u202f234,56\xa0€" in mail.text
    assert "Une question\xa0?" in mail.text
    # the subject keeps its no-break space, so the heading never breaks after "n°"
    assert mail.subject == "Nous avons bien reçu votre commande n°\xa0100234"
    assert ">Nous avons bien reçu votre commande n°\xa0100234</h1>" in mail.html


def test_de_money_and_dates() -> None:
    mail = render(event_of("OrderPlaced", "de-DE"), SETTINGS)
    assert "1.234,56\xa0€" in mail.text
    assert "1.234,56\xa0€" in mail.html
    assert "27. November 2026" in mail.text
    assert "Gesamtsumme" in mail.text
    assert mail.subject == "Ihre Bestellung 100234 ist eingegangen"


def test_en_money_and_dates() -> None:
    mail = render(event_of("OrderPlaced", "en"), SETTINGS)
    assert "€1,234.56" in mail.text
    assert "November 27, 2026" in mail.text
    assert mail.subject == "We have received your order 100234"


def test_times_are_local_to_the_shop_timezone() -> None:
    # expiresAt 2026-11-28T10:15:00Z = 11:15 in Berlin
    mail = render(event_of("PasswordResetRequested", "de-DE"), SETTINGS)
    assert "28. November 2026, 11:15" in mail.text
    mail = render(event_of("PasswordResetRequested", "de-DE"), SETTINGS, timezone="UTC")
    assert "28. November 2026, 10:15" in mail.text
    mail = render(event_of("PasswordResetRequested", "fr-FR"), SETTINGS, timezone="Europe/London")
    assert "28 novembre 2026, 10:15" in mail.text
    with pytest.raises(TemplateError, match="unknown timezone"):
        render(event_of("PasswordResetRequested"), SETTINGS, timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("name", "container"), [("OrderShipped", "shipment"), ("ReturnRequested", "return")]
)
def test_optional_item_lists_may_be_missing(name: str, container: str) -> None:
    raw = sample(name)
    del raw["detail"][container]["items"]
    for language in SEVEN:
        mail = render(with_locale(validate(raw), LOCALES[language]), SETTINGS)
        assert strings(language)["quantity"] not in mail.html  # no empty item table


def test_other_currency_in_german() -> None:
    mail = render(event_of("PaymentFailed", "de-DE"), SETTINGS)
    assert "99,90\xa0$" in mail.text


def test_html_is_escaped_text_is_not() -> None:
    raw = sample("OrderPlaced")
    raw["detail"]["order"]["items"][0]["name"] = '<script>alert("x")</script> & Co'
    mail = render(validate(raw), SETTINGS)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in mail.html
    assert '<script>alert("x")</script> & Co' in mail.text


def test_hostile_url_quote_cannot_break_the_attribute() -> None:
    raw = sample("OrderShipped")
    # the schema forbids quotes in URLs; render must stay safe even without the schema
    ev = validate(raw)
    data = copy.deepcopy(dict(ev.data))
    data["shipment"] = {**data["shipment"], "trackingUrl": 'https://x.example/"><b>x</b>'}
    hostile = type(ev)(**{**_fields(ev), "data": data})
    mail = render(hostile, SETTINGS)
    assert '"><b>x</b>' not in mail.html
    assert "&#34;&gt;&lt;b&gt;" in mail.html


def _fields(ev: ShopEvent) -> dict[str, Any]:
    return {f: getattr(ev, f) for f in ev.__dataclass_fields__}


def test_missing_value_is_a_template_error_not_a_blank() -> None:
    ev = event_of("OrderPlaced")
    data = copy.deepcopy(dict(ev.data))
    del data["order"]["total"]  # bypassing the schema: StrictUndefined must catch it
    broken = type(ev)(**{**_fields(ev), "data": data})
    with pytest.raises(TemplateError) as info:
        render(broken, SETTINGS)
    assert "UndefinedError" in info.value.reason
    assert "total" in info.value.reason
    assert info.value.permanent


def test_sandbox_blocks_unsafe_access(monkeypatch: pytest.MonkeyPatch) -> None:
    env = rendering._environment(TEMPLATE_DIR, "de")
    with pytest.raises(Exception) as info:
        env.from_string("{{ ''.__class__.__mro__ }}").render()
    assert "unsafe" in str(info.value).lower() or "undefined" in type(info.value).__name__.lower()


def test_french_is_no_longer_english() -> None:
    mail = render(event_of("OrderPlaced", "fr-FR"), SETTINGS)
    assert (mail.language, mail.locale) == ("fr", "fr_FR")
    assert mail.subject == "Nous avons bien reçu votre commande n°\xa0100234"


def _fallbacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "template_fallback"]


def test_unknown_language_follows_the_chain_to_the_shop_default_with_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ev = event_of("OrderPlaced", "ru-RU")
    with caplog.at_level(logging.WARNING, logger="shopmail.domain.outbound.rendering"):
        mail = render(ev, SETTINGS)
    assert (mail.language, mail.locale) == ("de", "de")
    assert mail.subject == "Ihre Bestellung 100234 ist eingegangen"
    assert "1.234,56\xa0€" in mail.text  # formatted like the text it stands in
    (record,) = _fallbacks(caplog)
    assert (record.requested_locale, record.used_locale) == ("ru-RU", "de")  # type: ignore[attr-defined]
    assert record.template == "OrderPlaced"  # type: ignore[attr-defined]
    assert "juergen" not in caplog.text  # no addresses in logs


def test_the_shop_default_is_a_parameter(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shopmail.domain.outbound.rendering"):
        mail = render(event_of("OrderPlaced", "ru-RU"), SETTINGS, default_locale="fr")
    assert mail.language == "fr"
    assert _fallbacks(caplog)[0].used_locale == "fr"  # type: ignore[attr-defined]
    mail = render(event_of("OrderPlaced", "ru-RU"), SETTINGS, default_locale="xx")
    assert mail.language == "en"  # no such default: the fallback


def test_regional_locales_use_their_language_without_a_fallback_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="shopmail.domain.outbound.rendering"):
        at = render(event_of("OrderPlaced", "de-AT"), SETTINGS)
        ca = render(event_of("OrderPlaced", "fr-CA"), SETTINGS)
    assert (at.language, at.locale, ca.language, ca.locale) == ("de", "de_AT", "fr", "fr_CA")
    assert "€\xa01.234,56" in at.text  # Austrian format
    assert _fallbacks(caplog) == []


def test_a_template_missing_everywhere_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="not found in any language") as info:
        render(event_of("OrderPlaced"), SETTINGS, template_dir=tmp_path)
    assert info.value.permanent


def test_fill_puts_values_into_placeholders_only() -> None:
    assert fill("Order {order} ({count} items)", order="A-1", count=3) == "Order A-1 (3 items)"
    assert fill("a { b } {x-y} stays", b="no") == "a { b } {x-y} stays"
    with pytest.raises(TemplateError, match="placeholder"):
        fill("Order {order} on {day}", order="A-1")


def test_regional_locale_uses_its_language_and_region() -> None:
    mail = render(event_of("OrderPlaced", "de-CH"), SETTINGS)
    assert mail.language == "de"
    assert "Gesamtsumme" in mail.text
    assert "EUR\xa01'234.56" in mail.text  # Swiss format, not Germany's


def test_long_item_lists_are_capped_and_html_stays_small() -> None:
    raw = sample("OrderPlaced")
    item = raw["detail"]["order"]["items"][0]
    item["name"] = "X" * 200
    raw["detail"]["order"]["items"] = [item] * 500
    mail = render(validate(raw), SETTINGS)
    assert len(mail.html.encode()) < MAX_HTML_BYTES
    assert mail.html.count("X" * 200) == MAX_ITEMS
    assert "450 more items" in mail.html or "450 weitere" in mail.html


def test_oversized_html_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering, "MAX_HTML_BYTES", 1000)
    with pytest.raises(TemplateError, match="limit 1000"):
        render(event_of("OrderPlaced"), SETTINGS)


def test_invoice_lists_its_pdf_reference() -> None:
    mail = render(event_of("InvoiceIssued"), SETTINGS)
    (ref,) = mail.attachments_refs
    assert (ref.bucket, ref.key) == ("shop-invoices", "invoices/2026/RE-2026-000451.pdf")
    assert ref.filename == "Rechnung RE-2026-000451.pdf"
    assert ref.content_type == "application/pdf"
    assert render(event_of("OrderPlaced"), SETTINGS).attachments_refs == ()


def test_marketing_mail_carries_unsubscribe_link_transactional_does_not() -> None:
    marketing = render(event_of("CheckoutAbandoned"), SETTINGS)
    url = "https://shop.example/newsletter/unsubscribe?token=u-8812"
    assert marketing.unsubscribe_url == url
    assert url in marketing.html and url in marketing.text
    transactional = render(event_of("OrderPlaced"), SETTINGS)
    assert transactional.unsubscribe_url == ""
    assert "unsubscribe" not in transactional.html.lower()


def test_subject_whitespace_and_newlines_are_collapsed() -> None:
    raw = sample("SendEmailRequested")
    raw["detail"]["data"]["subject"] = "Hello\r\n  World\tagain"
    assert render(validate(raw), SETTINGS).subject == "Hello World again"


def test_environment_is_cached_per_language() -> None:
    assert rendering._environment(TEMPLATE_DIR, "fr") is rendering._environment(TEMPLATE_DIR, "fr")
    assert rendering._environment(TEMPLATE_DIR, "fr") is not rendering._environment(
        TEMPLATE_DIR, "de"
    )


@pytest.mark.parametrize("locale", SEVEN)
def test_auto_reply_template(locale: str) -> None:
    raw = sample("SendEmailRequested")
    raw["detail"]["locale"] = locale
    raw["detail"]["template"] = "AutoReply"
    raw["detail"]["data"] = {"originalSubject": "Frage zu <Bestellung> 100234", "ticketId": "T-9"}
    mail = render(validate(raw), SETTINGS)
    assert "Frage zu <Bestellung> 100234" in mail.subject
    assert "Frage zu &lt;Bestellung&gt; 100234" in mail.html
    assert "T-9" in mail.text
    raw["detail"]["data"] = {"ticketId": "T-9"}
    with pytest.raises(InvalidEventError, match="originalSubject"):
        validate(raw)


@pytest.mark.parametrize(
    "html",
    [
        '<img src="//cdn.evil.example/x.png">',
        '<img SRC = "https://cdn.evil.example/x.png">',
        '<img \u017frc="http://evil.example/x.png">',  # long s matches s case-insensitively
        '<div style="background: URL( //evil.example/x.png)">',
        '<LINK rel="stylesheet" href="x.css">',
        '<l\u0131nk rel="stylesheet" href="x.css">',  # dotless i matches i case-insensitively
        "<style>@IMPORT 'x.css';</style>",
    ],
)
def test_external_resources_are_refused_in_any_spelling(html: str) -> None:
    """The quick word test in front of the pattern lets every spelling the pattern sees through."""
    with pytest.raises(TemplateError, match="external resource"):
        rendering._check_external(f"<p>Hallo</p>{html}", "T", ("cdn.shop.example",))


def test_allowed_image_hosts_and_plain_html_pass_the_external_check() -> None:
    rendering._check_external("<p>support@shop.example</p>", "T", ())
    rendering._check_external(
        '<img src="https://cdn.shop.example/l.png">', "T", ("cdn.shop.example",)
    )


def test_amounts_and_dates_are_formatted_once_per_mail() -> None:
    """Text and HTML show the same amounts: each distinct value is formatted once per render."""
    calls: list[object] = []

    def count(value: object) -> str:
        calls.append(value)
        return f"<{value}>"

    money = rendering._once(count, rendering._money_key)
    first = money({"amount": "1.00", "currency": "EUR"})
    assert (
        money({"amount": "1.00", "currency": "EUR"})
        == first
        == "<{'amount': '1.00', 'currency': 'EUR'}>"
    )
    money({"amount": "2.00", "currency": "EUR"})
    assert len(calls) == 2
    with pytest.raises(TemplateError):  # not a money object: formatted (and refused) each time
        rendering._once(lambda v: rendering._money(v, None), rendering._money_key)("x")
