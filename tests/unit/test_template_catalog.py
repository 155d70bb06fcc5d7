"""Languages come from the folders present: completeness, dropped-in folders, overrides."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from shopmail.config import Settings
from shopmail.domain.outbound.contracts import ShopEvent, validate, with_locale
from shopmail.domain.outbound.rendering import available_languages, render
from shopmail.domain.outbound.template_catalog import (
    TEMPLATE_DIR,
    load_catalog,
    placeholders,
)

from tests.fixtures.paths import EVENTS

SETTINGS = Settings(mail_domain="shop.example")
SEVEN = ("de", "en", "es", "fr", "it", "nl", "pl")
#: Shipped translations that leave a value out on purpose (the Polish formal greeting
#: "Dzień dobry," does not use the first name).
OMITTED = {("pl", "greeting_named"): {"name"}}


def flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def strings_of(root: Path, language: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / language / "strings.json").read_text("utf-8"))
    return data


def event(locale: str, name: str = "OrderPlaced") -> ShopEvent:
    raw = json.loads((EVENTS / "outbound" / f"{name}.json").read_text(encoding="utf-8"))
    return with_locale(validate(raw), locale)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A private copy of the shipped template folder."""
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def write_strings(root: Path, language: str, data: dict[str, Any]) -> None:
    (root / language).mkdir(exist_ok=True)
    (root / language / "strings.json").write_text(
        json.dumps(data, ensure_ascii=False), encoding="utf-8"
    )


# --- the shipped folder -------------------------------------------------------------------


def test_shipped_catalog_has_seven_complete_languages() -> None:
    catalog = load_catalog()
    assert catalog.problems == {}
    assert catalog.languages == SEVEN
    assert catalog.reference == "de"
    for language in SEVEN:
        assert catalog.templates[language] == catalog.templates["de"]
    assert {"OrderPlaced", "Notice", "AutoReply"} <= catalog.templates["de"]
    assert not {"layout", "macros"} & catalog.templates["de"]


def test_language_folders_hold_only_strings() -> None:
    for language in SEVEN:
        assert [p.name for p in (TEMPLATE_DIR / language).iterdir()] == ["strings.json"]


@pytest.mark.parametrize("language", SEVEN)
def test_strings_have_exactly_the_keys_and_placeholders_of_german(language: str) -> None:
    reference = flat(strings_of(TEMPLATE_DIR, "de"))
    texts = flat(strings_of(TEMPLATE_DIR, language))
    assert sorted(texts) == sorted(reference)
    for key, value in texts.items():
        assert isinstance(value, str) and value.strip(), key
        if key.startswith("subjects."):
            continue
        expected = placeholders(reference[key]) - OMITTED.get((language, key), set())
        assert placeholders(value) == expected, key


@pytest.mark.parametrize("language", SEVEN)
def test_every_shared_template_has_a_subject(language: str) -> None:
    subjects = strings_of(TEMPLATE_DIR, language)["subjects"]
    assert set(subjects) == set(load_catalog().templates[language])


# --- dropping in a folder -----------------------------------------------------------------


def test_a_dropped_in_folder_is_a_new_language(templates: Path) -> None:
    swedish = strings_of(templates, "en")
    swedish["subjects"]["OrderPlaced"] = "Vi har tagit emot din beställning {{ order_label }}"
    swedish["greeting_named"] = "Hej {name},"
    swedish["OrderPlaced"]["intro"] = "Tack för din beställning."
    write_strings(templates, "sv", swedish)

    assert "sv" in available_languages(templates)
    assert "sv" not in available_languages()  # the shipped folder is untouched
    mail = render(event("sv-SE"), SETTINGS, template_dir=templates)
    assert (mail.language, mail.locale) == ("sv", "sv_SE")
    assert mail.subject == "Vi har tagit emot din beställning 100234"
    assert mail.text.startswith("Hej Jürgen,\n\nTack för din beställning.")
    assert '<html lang="sv">' in mail.html


def test_an_incomplete_folder_is_not_used_and_says_why(
    templates: Path, caplog: pytest.LogCaptureFixture
) -> None:
    danish = strings_of(templates, "en")
    del danish["OrderPlaced"]["intro"]
    del danish["subjects"]["OrderShipped"]
    write_strings(templates, "da", danish)
    with caplog.at_level(logging.WARNING):
        catalog = load_catalog(templates)
        mail = render(event("da-DK"), SETTINGS, template_dir=templates)
    assert "da" not in catalog.languages
    assert catalog.problems["da"] == (
        "strings.json lacks subjects.OrderShipped",
        "strings.json lacks OrderPlaced.intro",
    )
    assert mail.language == "de"  # the chain: da-DK -> da (invalid) -> de
    messages = [r.getMessage() for r in caplog.records]
    assert "template_folder_invalid" in messages and "template_fallback" in messages


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["OrderCanceled"].update(intro="Order {order} on {day}"), "unknown ['day']"),
        (lambda d: d.update(closing={"nested": "x"}), "closing is an object, not text"),
        (lambda d: d.update(OrderPlaced="flat"), "OrderPlaced is text, not an object"),
        (lambda d: d.update(price=12), "price is not text"),
        (lambda d: d.pop("subjects"), "no 'subjects' object"),
    ],
)
def test_broken_strings_make_a_folder_invalid(templates: Path, change: Any, problem: str) -> None:
    norwegian = strings_of(templates, "en")
    change(norwegian)
    write_strings(templates, "nb", norwegian)
    catalog = load_catalog(templates)
    assert "nb" not in catalog.languages
    assert any(problem in reason for reason in catalog.problems["nb"]), catalog.problems


def test_unreadable_strings_and_unknown_locales_are_reported(templates: Path) -> None:
    (templates / "sv").mkdir()
    (templates / "sv" / "strings.json").write_text("{not json", encoding="utf-8")
    write_strings(templates, "qq", strings_of(templates, "en"))  # no such locale
    (templates / "fi").mkdir()  # a locale folder without strings
    (templates / "partials").mkdir()  # not a language at all
    catalog = load_catalog(templates)
    assert catalog.languages == SEVEN
    assert "unreadable" in catalog.problems["sv"][0]
    assert catalog.problems["qq"] == ("'qq' is not a locale Babel knows",)
    assert catalog.problems["fi"] == ("strings.json missing",)
    assert "partials" not in catalog.problems


def test_the_reference_is_the_shop_default(templates: Path) -> None:
    french = strings_of(templates, "fr")
    french["extra_for_french_shops"] = "Livraison offerte dès 50 €"
    write_strings(templates, "fr", french)
    assert load_catalog(templates, reference="fr").languages == ("fr",)  # others lack the key
    assert load_catalog(templates, reference="de").languages == SEVEN  # extra keys are fine
    assert load_catalog(templates, reference="xx").reference == "en"  # missing: the fallback


def test_a_shared_template_without_a_subject_breaks_the_reference(templates: Path) -> None:
    (templates / "GiftCardIssued.html").write_text("x", encoding="utf-8")
    (templates / "GiftCardIssued.txt").write_text("x", encoding="utf-8")
    catalog = load_catalog(templates)
    assert catalog.problems["de"] == ("no subject for template GiftCardIssued",)
    assert "de" not in catalog.languages


# --- per-language overrides ---------------------------------------------------------------


def test_a_language_file_overrides_the_shared_one_for_that_language_only(
    templates: Path,
) -> None:
    (templates / "fr" / "OrderPlaced.txt").write_text(
        '{% extends "layout.txt" %}\n{% block content %}Texte propre à la France.\n'
        "{% endblock %}\n",
        encoding="utf-8",
    )
    (templates / "it" / "layout.html").write_text(
        '<html lang="{{ lang }}"><body>{{ subject }}|{% block content %}{% endblock %}'
        "</body></html>",
        encoding="utf-8",
    )
    french = render(event("fr-FR"), SETTINGS, template_dir=templates)
    assert "Texte propre à la France." in french.text
    assert "Jürgen Müller" in french.html  # the shared HTML is still used
    italian = render(event("it-IT"), SETTINGS, template_dir=templates)
    assert italian.html.startswith('<html lang="it"><body>Abbiamo ricevuto il Suo ordine n.')
    german = render(event("de-DE"), SETTINGS, template_dir=templates)
    assert "Texte propre" not in german.text and german.html.startswith("<!DOCTYPE html>")


def test_a_template_only_one_language_has_falls_back_for_the_others(templates: Path) -> None:
    for name in ("Notice.html", "Notice.txt"):
        shutil.move(str(templates / name), str(templates / "de" / name))
    catalog = load_catalog(templates)
    assert catalog.languages_for("Notice") == ("de",)
    assert (
        render(event("fr-FR", "SendEmailRequested"), SETTINGS, template_dir=templates).language
        == "de"
    )
