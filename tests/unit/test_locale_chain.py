"""The locale fallback chain: requested -> shorter forms -> shop default -> fallback."""

from __future__ import annotations

import pytest
from shopmail.domain.outbound import locale_chain as chain
from shopmail.domain.outbound.rendering import locale_chain as exported

SHIPPED = ("de", "en", "es", "fr", "it", "nl", "pl")


def test_defaults_are_german_then_english() -> None:
    assert (chain.DEFAULT_LOCALE, chain.FALLBACK_LOCALE) == ("de", "en")
    assert exported is chain.locale_chain  # also reachable next to render()


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("de-AT", ("de", "en")),
        ("de", ("de", "en")),
        ("fr-CA", ("fr", "de", "en")),
        ("fr_ca", ("fr", "de", "en")),
        ("pl-PL", ("pl", "de", "en")),
        ("en-US", ("en", "de")),
        ("xx", ("de", "en")),
        ("ru-RU", ("de", "en")),
        ("", ("de", "en")),
        ("not a locale", ("de", "en")),
        (None, ("de", "en")),
    ],
)
def test_chain_over_the_shipped_languages(requested: str | None, expected: tuple[str, ...]) -> None:
    assert chain.locale_chain(requested, SHIPPED) == expected


def test_shop_default_comes_before_the_fallback() -> None:
    assert chain.locale_chain("xx", SHIPPED, default="fr") == ("fr", "en")
    assert chain.locale_chain("it-CH", SHIPPED, default="fr") == ("it", "fr", "en")
    # a regional default tries its region first, then its language
    assert chain.locale_chain("xx", SHIPPED, default="nl-BE") == ("nl", "en")
    assert chain.locale_chain("xx", ("nl-BE", "nl", "en"), default="nl-BE") == ("nl-BE", "nl", "en")


def test_unsupported_default_and_fallback_are_skipped() -> None:
    assert chain.locale_chain("xx", ("en",), default="de") == ("en",)
    assert chain.locale_chain("xx", ("fr",), default="de", fallback="en") == ()
    assert chain.locale_chain("de", ()) == ()


def test_regional_folders_win_over_their_language_and_keep_their_spelling() -> None:
    supported = ("pt_BR", "pt", "en")
    assert chain.locale_chain("pt-BR", supported, default="en") == ("pt_BR", "pt", "en")
    assert chain.locale_chain("pt-PT", supported, default="en") == ("pt", "en")
    assert chain.locale_chain("PT-br", supported, default="en")[0] == "pt_BR"


def test_lookup_truncates_subtags_from_the_end() -> None:
    assert chain.lookup_forms("zh-Hant-TW") == ("zh-Hant-TW", "zh-Hant", "zh")
    assert chain.lookup_forms("de-DE-x-private") == ("de-DE-x-private", "de-DE", "de")
    assert chain.lookup_forms("") == ()
    assert chain.locale_chain("zh-Hant-TW", ("zh-Hant", "en")) == ("zh-Hant", "en")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("de_at", "de-AT"),
        ("DE", "de"),
        ("zh_hant_tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("en-GB", "en-GB"),
        ("", ""),
        ("d", ""),
        ("de--AT", ""),
        ("1234", ""),
        ("de AT", ""),
    ],
)
def test_normalize_tag(tag: str, expected: str) -> None:
    assert chain.normalize_tag(tag) == expected


def test_primary_language() -> None:
    assert chain.primary_language("fr-CA") == "fr"
    assert chain.primary_language("nonsense value") == ""
