"""Mail rendered and built with a shop configuration: brand, colours, logo, legal block, links,
languages, time zone, sender names."""

from __future__ import annotations

import email
import json
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from shopmail.config import Settings
from shopmail.domain.outbound.contracts import ShopEvent, validate, with_locale
from shopmail.domain.outbound.mime_build import build_message
from shopmail.domain.outbound.rendering import TEMPLATE_DIR, render
from shopmail.domain.outbound.shop_config import (
    DEFAULT_SHOP,
    ShopConfig,
    parse_shop_config,
    sniff_image,
)
from shopmail.errors import TemplateError

from tests.fixtures.paths import EVENTS
from tests.fixtures.shop import PNG, override_page

SETTINGS = Settings(mail_domain="shop.example")
SAMPLES = sorted((EVENTS / "outbound").glob("*.json"))
SEVEN = ("de", "en", "es", "fr", "it", "nl", "pl")
SHOP_TOML = """\
name = "Kaffeerösterei Müller"
support_address = "service@kaffee.example"
image_hosts = ["cdn.kaffee.example"]
[senders]
transactional_name = "Kaffeerösterei Müller"
marketing_name = "Müller Newsletter"
support_name = "Kundenservice Müller"
[colors]
header_background = "#3b2a20"
accent = "#8a5a2b"
border = "#d6c7b5"
[legal]
company = "Kaffeerösterei Müller GmbH"
address = "Röstweg 1, 34117 Kassel"
register = "Amtsgericht Kassel HRB 4711"
vat_id = "DE123456789"
managing_directors = ["Anna Müller", "Ben Müller"]
[links]
imprint = "https://kaffee.example/impressum"
privacy = "https://kaffee.example/datenschutz"
withdrawal = "https://kaffee.example/widerruf"
withdrawal_form = "https://kaffee.example/widerrufsformular.pdf"
[links.terms]
de = "https://kaffee.example/agb"
fr = "https://kaffee.example/fr/cgv"
"""
SHOP = parse_shop_config(SHOP_TOML, "shop.toml")


def event(name: str, locale: str = "de-DE") -> ShopEvent:
    raw = json.loads((EVENTS / "outbound" / f"{name}.json").read_text(encoding="utf-8"))
    return with_locale(validate(raw), locale)


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


# --- without a configuration nothing changes ---------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_the_default_shop_renders_exactly_as_without_one(path: Path) -> None:
    ev = validate(json.loads(path.read_text(encoding="utf-8")))
    assert render(ev, SETTINGS, shop=DEFAULT_SHOP) == render(ev, SETTINGS)


# --- brand, legal block and links -------------------------------------------------------------


@pytest.mark.parametrize("language", SEVEN)
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_mail_carries_the_brand_and_the_legal_block(path: Path, language: str) -> None:
    ev = with_locale(validate(json.loads(path.read_text(encoding="utf-8"))), language)
    mail = render(ev, SETTINGS, shop=SHOP)
    assert mail.language == language
    for part in (mail.text, mail.html):
        assert "Kaffeerösterei Müller GmbH" in part and "Röstweg 1, 34117 Kassel" in part
        assert "Amtsgericht Kassel HRB 4711" in part and "DE123456789" in part
        assert "Anna Müller, Ben Müller" in part
        assert "service@kaffee.example" in part and "support@shop.example" not in part
        assert "https://kaffee.example/impressum" in part
        assert "Shop" not in part.replace("Shopping", "")  # the default brand is gone
    # the signature names the shop in every language
    strings = json.loads((TEMPLATE_DIR / language / "strings.json").read_text("utf-8"))
    assert strings["signature"].replace("{shop}", "Kaffeerösterei Müller") in mail.text
    # the shop's colours replace the shipped ones; the others stay
    assert "background-color:#3b2a20" in mail.html and "#1f2937" not in mail.html
    assert "#d6c7b5" in mail.html and "#e5e7eb" not in mail.html


def test_the_legal_block_reads_well_in_text_and_html() -> None:
    mail = render(event("OrderShipped"), SETTINGS, shop=SHOP)
    footer = mail.text.split("\n-- \n", 1)[1]  # below the signature separator
    assert (
        "Kaffeerösterei Müller GmbH · Röstweg 1, 34117 Kassel\n"
        "Geschäftsführung: Anna Müller, Ben Müller\n"
        "Handelsregister: Amtsgericht Kassel HRB 4711\n"
        "USt-IdNr.: DE123456789\n"
    ) in footer
    assert "Impressum: https://kaffee.example/impressum\n" in footer
    assert (
        "<br><br>Kaffeerösterei Müller GmbH · Röstweg 1, 34117 Kassel<br>Geschäftsführung: "
        "Anna Müller, Ben Müller · Handelsregister: Amtsgericht Kassel HRB 4711 · USt-IdNr.: "
        "DE123456789<br>"
    ) in mail.html
    assert '<a href="https://kaffee.example/impressum" style="color:#8a5a2b;">Impressum</a>' in (
        mail.html
    )


def test_a_partial_legal_block_leaves_no_empty_lines() -> None:
    shop = parse_shop_config('name = "K"\n[legal]\nvat_id = "DE1"\n')
    mail = render(event("OrderShipped"), SETTINGS, shop=shop)
    assert "\n\nUSt-IdNr.: DE1\n" in mail.text
    assert "<br><br>USt-IdNr.: DE1</td>" in mail.html.replace("\n", "")


def test_the_order_confirmation_links_terms_withdrawal_and_privacy() -> None:
    de = render(event("OrderPlaced"), SETTINGS, shop=SHOP)
    assert (
        "Rechtliche Hinweise zu Ihrer Bestellung:\n"
        "AGB: https://kaffee.example/agb\n"
        "Widerrufsbelehrung: https://kaffee.example/widerruf\n"
        "Muster-Widerrufsformular: https://kaffee.example/widerrufsformular.pdf\n"
        "Datenschutzerklärung: https://kaffee.example/datenschutz\n"
    ) in de.text
    for url in ("agb", "widerruf", "widerrufsformular.pdf", "datenschutz"):
        assert f'href="https://kaffee.example/{url}"' in de.html
    fr = render(event("OrderPlaced", "fr-FR"), SETTINGS, shop=SHOP)
    assert "https://kaffee.example/fr/cgv" in fr.text and "kaffee.example/agb" not in fr.text
    assert "Conditions générales de vente" in fr.text
    # other mails carry the footer links only, not the order section
    shipped = render(event("OrderShipped"), SETTINGS, shop=SHOP)
    assert "widerruf" not in shipped.text and "Rechtliche Hinweise" not in shipped.text


def test_without_links_there_is_no_order_section() -> None:
    shop = parse_shop_config('name = "K"\n')
    mail = render(event("OrderPlaced"), SETTINGS, shop=shop)
    assert "Rechtliche Hinweise" not in mail.text + mail.html


def test_the_shop_home_page_links_the_header() -> None:
    shop = parse_shop_config('name = "K & Söhne"\n[links]\nshop = "https://k.example/"\n')
    html = render(event("OrderShipped"), SETTINGS, shop=shop).html
    assert '<a href="https://k.example/" style="color:#ffffff;text-decoration:none;">' in html
    assert "K &amp; Söhne</a>" in html  # escaped like any value


def test_hostile_values_of_the_config_are_escaped() -> None:
    shop = parse_shop_config('name = "<script>x</script>"\n[legal]\ncompany = "A\\"><b>B"\n')
    html = render(event("OrderShipped"), SETTINGS, shop=shop).html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>B" not in html


# --- the logo -----------------------------------------------------------------------------------


def test_an_inline_logo_is_a_cid_part_of_the_mail() -> None:
    shop = parse_shop_config('name = "K"\n[logo]\nsource = "logo.png"\nwidth = 180\n')
    shop = shop.with_logo_image(sniff_image(PNG, "logo.png"))
    ev = event("OrderPlaced")
    mail = render(ev, SETTINGS, shop=shop)
    (image,) = mail.inline_images
    assert image.content_id.endswith("@shop.example") and image.data == PNG
    assert f'<img src="cid:{image.content_id}" alt="K" width="180"' in mail.html
    msg = parsed(build_message(ev, mail, SETTINGS, shop=shop).raw)
    related = next(p for p in msg.walk() if p.get_content_type() == "multipart/related")
    assert related.get_param("type") == "text/html"
    html_part, logo_part = list(related.iter_parts())
    assert html_part.get_content_type() == "text/html"
    assert logo_part["Content-ID"] == f"<{image.content_id}>"
    assert logo_part.get_content_disposition() == "inline"
    assert logo_part.get_content() == PNG


def test_a_configured_logo_not_yet_loaded_shows_the_name() -> None:
    shop = parse_shop_config('name = "K"\n[logo]\nsource = "logo.png"\n')
    mail = render(event("OrderPlaced"), SETTINGS, shop=shop)
    assert mail.inline_images == () and "<img" not in mail.html


def test_a_logo_url_on_an_allowed_host_is_the_only_outside_image() -> None:
    shop = parse_shop_config(
        'name = "K"\nimage_hosts = ["cdn.k.example"]\n'
        '[logo]\nurl = "https://cdn.k.example/logo.png"\nheight = 40\n'
    )
    mail = render(event("OrderPlaced"), SETTINGS, shop=shop)
    assert '<img src="https://cdn.k.example/logo.png" alt="K" width="160" height="40"' in mail.html
    assert mail.inline_images == ()


@pytest.mark.parametrize(
    ("src", "allowed"),
    [
        ("https://cdn.k.example/banner.png", True),
        ("https://CDN.K.example/banner.png", True),
        ("https://tracker.example/pixel.gif", False),
        ("http://cdn.k.example/banner.png", False),  # https only
        ("//cdn.k.example/banner.png", False),
        ("https://cdn.k.example.evil.example/x.png", False),
    ],
)
def test_override_images_may_come_only_from_the_shops_hosts(
    tmp_path: Path, src: str, allowed: bool
) -> None:
    from shopmail.domain.outbound.template_overlay import build_overlay

    page = override_page("OrderShipped.html", f'<img src="{src}" alt="">')
    root = build_overlay({"OrderShipped.html": page.encode()}, tmp_path / "t").root
    shop = parse_shop_config('name = "K"\nimage_hosts = ["cdn.k.example"]\n')
    ev = event("OrderShipped")
    if allowed:
        assert src in render(ev, SETTINGS, shop=shop, template_dir=root).html
    else:
        with pytest.raises(TemplateError, match="external resource"):
            render(ev, SETTINGS, shop=shop, template_dir=root)
    with pytest.raises(TemplateError, match="external resource"):  # no hosts: nothing outside
        render(ev, SETTINGS, template_dir=root)


# --- languages and time zone --------------------------------------------------------------------


def test_supported_locales_limit_the_languages_and_the_chain_follows_the_default() -> None:
    shop = parse_shop_config(
        'name = "K"\n[locales]\ndefault = "de"\nsupported = ["de", "en", "fr"]\nfallback = "en"\n'
    )
    assert render(event("OrderShipped", "it-IT"), SETTINGS, shop=shop).language == "de"
    assert render(event("OrderShipped", "fr-BE"), SETTINGS, shop=shop).language == "fr"
    assert render(event("OrderShipped", "it-IT"), SETTINGS).language == "it"  # all by default


def test_a_regional_supported_locale_is_served_by_its_language_folder() -> None:
    shop = parse_shop_config(
        'name = "K"\n[locales]\ndefault = "de-AT"\nsupported = ["de-AT", "en"]\n'
    )
    mail = render(event("OrderPlaced", "nl-NL"), SETTINGS, shop=shop)
    assert mail.language == "de"
    de_at = render(event("OrderPlaced", "de-AT"), SETTINGS, shop=shop)
    assert "€\xa01.234,56" in de_at.text  # Austrian format: the customer's own region


def test_the_shop_default_and_fallback_feed_the_chain() -> None:
    shop = parse_shop_config('name = "K"\n[locales]\ndefault = "fr"\nfallback = "de"\n')
    assert render(event("OrderShipped", "ru-RU"), SETTINGS, shop=shop).language == "fr"
    # explicit parameters still win over the shop's
    mail = render(event("OrderShipped", "ru-RU"), SETTINGS, shop=shop, default_locale="nl")
    assert mail.language == "nl"


def test_times_are_shown_in_the_shops_time_zone() -> None:
    raw: dict[str, Any] = json.loads((EVENTS / "outbound" / "OrderDelivered.json").read_text())
    raw["detail"]["shipment"]["deliveredAt"] = "2026-11-28T23:30:00Z"
    ev = with_locale(validate(raw), "de-DE")
    berlin = render(ev, SETTINGS, shop=parse_shop_config('name = "K"\n'))
    tokyo = render(ev, SETTINGS, shop=parse_shop_config('name = "K"\ntime_zone = "Asia/Tokyo"\n'))
    assert "29. November 2026, 00:30" in berlin.text
    assert "29. November 2026, 08:30" in tokyo.text


# --- headers ------------------------------------------------------------------------------------


def test_from_and_reply_to_carry_the_shops_names() -> None:
    ev = event("OrderPlaced")
    msg = parsed(build_message(ev, render(ev, SETTINGS, shop=SHOP), SETTINGS, shop=SHOP).raw)
    assert msg["From"].addresses[0].display_name == "Kaffeerösterei Müller"
    assert msg["From"].addresses[0].addr_spec == "shop@shop.example"  # the verified sender
    assert msg["Reply-To"].addresses[0].display_name == "Kundenservice Müller"
    assert msg["Reply-To"].addresses[0].addr_spec == "service@kaffee.example"
    marketing = event("CheckoutAbandoned")
    mail = render(marketing, SETTINGS, shop=SHOP)
    msg = parsed(build_message(marketing, mail, SETTINGS, shop=SHOP).raw)
    assert msg["From"].addresses[0].display_name == "Müller Newsletter"
    assert msg["From"].addresses[0].addr_spec == "news@shop.example"


def test_without_a_shop_the_headers_are_the_settings_alone() -> None:
    ev = event("OrderPlaced")
    plain = parsed(build_message(ev, render(ev, SETTINGS), SETTINGS).raw)
    assert str(plain["From"]) == "shop@shop.example"
    assert str(plain["Reply-To"]) == "support@shop.example"
    named = Settings(mail_domain="shop.example", transactional_from="Laden <shop@shop.example>")
    shop = ShopConfig(name="Kaffee")
    msg = parsed(build_message(ev, render(ev, named, shop=shop), named, shop=shop).raw)
    assert str(msg["From"]) == "Kaffee <shop@shop.example>"  # the shop's name wins


def test_hostile_sender_names_cannot_inject_headers() -> None:
    shop = ShopConfig(name="K\r\nBcc: evil@example.com")  # built directly, not validated
    ev = event("OrderPlaced")
    raw = build_message(ev, render(ev, SETTINGS, shop=shop), SETTINGS, shop=shop).raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"^Bcc:", head, re.M | re.I)
