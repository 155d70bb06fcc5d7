"""Rendering of outbound mail: every sample in both languages, formats, limits, failures."""

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
from shopmail.domain.outbound import rendering
from shopmail.domain.outbound.contracts import ShopEvent, validate, with_locale
from shopmail.domain.outbound.rendering import MAX_HTML_BYTES, MAX_ITEMS, render
from shopmail.errors import InvalidEventError, TemplateError

from tests.fixtures.paths import EVENTS

SAMPLES = sorted((EVENTS / "outbound").glob("*.json"))
SETTINGS = Settings(mail_domain="shop.example")
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


@pytest.mark.parametrize("locale", ["de-DE", "en"])
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_renders_in_both_languages(path: Path, locale: str) -> None:
    ev = with_locale(validate(json.loads(path.read_text(encoding="utf-8"))), locale)
    mail = render(ev, SETTINGS)
    assert mail.language == locale[:2]
    assert mail.subject and "\n" not in mail.subject and "{{" not in mail.subject
    assert mail.text.strip() and mail.html.strip()
    assert "{{" not in mail.text + mail.html and "{%" not in mail.text + mail.html
    assert len(mail.html.encode("utf-8")) < MAX_HTML_BYTES
    assert not EXTERNAL.search(mail.html), "external resource in HTML"
    assert f'<html lang="{locale[:2]}">' in mail.html
    assert "<table" in mail.html and 'style="' in mail.html  # table layout, inline styles
    assert "<style" not in mail.html
    balance = _TagBalance()
    balance.feed(mail.html)
    assert balance.errors == [] and balance.stack == []
    assert SETTINGS.support_address in mail.text
    greeting = {"de": ("Hallo", "Guten Tag"), "en": ("Hello",)}[locale[:2]]
    assert mail.text.startswith(greeting)


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
    env = rendering._environment()
    with pytest.raises(Exception) as info:
        env.from_string("{{ ''.__class__.__mro__ }}").render()
    assert "unsafe" in str(info.value).lower() or "undefined" in type(info.value).__name__.lower()


def test_unknown_language_falls_back_to_english_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ev = event_of("OrderPlaced", "fr-FR")
    with caplog.at_level(logging.WARNING, logger="shopmail.domain.outbound.rendering"):
        mail = render(ev, SETTINGS)
    assert mail.language == "en"
    assert mail.subject == "We have received your order 100234"
    assert "€1,234.56" in mail.text
    assert any(r.getMessage() == "template_fallback" for r in caplog.records)
    assert "juergen" not in caplog.text  # no addresses in logs


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


def test_environment_is_cached() -> None:
    assert rendering._environment() is rendering._environment()


@pytest.mark.parametrize("locale", ["de", "en"])
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
