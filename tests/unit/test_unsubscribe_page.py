"""The unsubscribe page: strings in every language, states, language choice, request model."""

from __future__ import annotations

import base64
import html
import json
import shutil
from pathlib import Path

import pytest
from shopmail.domain.outbound.template_catalog import (
    TEMPLATE_DIR,
    language_strings,
    load_catalog,
    placeholders,
)
from shopmail.domain.outbound.unsubscribe_page import (
    PAGE_HEADERS,
    SECTION,
    HttpRequest,
    PageState,
    mask_address,
    page_language,
    preferred_languages,
    unsubscribe_page,
)

LANGUAGES = ("de", "en", "es", "fr", "it", "nl", "pl")
KEYS = (
    "title", "confirm", "button", "done_title", "done", "invalid_title", "invalid",
    "expired", "error_title", "error",
)  # fmt: skip


def test_every_language_has_every_page_string() -> None:
    catalog = load_catalog()
    assert set(LANGUAGES) <= set(catalog.languages) and catalog.problems == {}
    for lang in LANGUAGES:
        texts = language_strings(lang)[SECTION]
        assert set(texts) == set(KEYS), lang
        for key in KEYS:
            assert texts[key].strip(), (lang, key)
        assert placeholders(texts["confirm"]) == placeholders(texts["done"]) == {"address"}, lang
    # the texts are translations, not copies of English
    english = language_strings("en")[SECTION]
    for lang in set(LANGUAGES) - {"en"}:
        assert language_strings(lang)[SECTION]["done"] != english["done"], lang


def test_catalog_refuses_a_language_without_the_page_strings(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, root)
    strings = json.loads((root / "fr" / "strings.json").read_text(encoding="utf-8"))
    del strings[SECTION]["expired"]
    (root / "fr" / "strings.json").write_text(json.dumps(strings), encoding="utf-8")
    catalog = load_catalog(root)
    assert "fr" not in catalog.languages
    assert any("unsubscribe_page.expired" in p for p in catalog.problems["fr"])


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (PageState.CONFIRM, 200),
        (PageState.DONE, 200),
        (PageState.INVALID, 400),
        (PageState.EXPIRED, 410),
        (PageState.ERROR, 503),
    ],
)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_page_in_each_language(state: PageState, status: int, lang: str) -> None:
    page = unsubscribe_page(state, lang, token="1.t", locale="fr-CA", address="kim@example.com")
    texts = language_strings(lang)[SECTION]
    assert page.status == status
    assert f'<html lang="{lang}">' in page.body
    key = {"confirm": "title", "done": "done_title", "error": "error_title"}.get(
        str(state), "invalid_title"
    )
    assert f"<h1>{html.escape(texts[key])}</h1>" in page.body
    body_key = str(state)
    assert html.escape(texts[body_key]).split("{address}")[0] in page.body
    assert ('method="post"' in page.body) is (state is PageState.CONFIRM)
    assert "<script" not in page.body and "http" not in page.body.split("<body>")[1]
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_confirm_form_posts_the_one_click_body_to_the_same_link() -> None:
    page = unsubscribe_page(PageState.CONFIRM, "en", token="1.a.b", locale="en", address="k@x.io")
    assert 'action="?t=1.a.b&amp;l=en"' in page.body
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.body
    assert "k***@x.io" in page.body and "k@x.io" not in page.body


def test_the_address_is_masked_and_escaped() -> None:
    assert mask_address("kim@example.com") == "k***@example.com"
    assert mask_address("nothing") == "***"
    page = unsubscribe_page(PageState.DONE, "en", address='"<b>"@evil.example')
    assert "<b>" not in page.body and "&quot;***@evil.example" in page.body


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ({"l": "fr-CA"}, "de", "fr"),
        ({"l": "pl"}, "", "pl"),
        ({"l": "xx"}, "nl;q=0.4, it;q=0.9", "it"),
        ({}, "es-MX,es;q=0.9", "es"),
        ({}, "zh, ja;q=0.5", "de"),
        ({}, "", "de"),
        ({"l": "<script>"}, "en;q=0", "de"),
    ],
)
def test_page_language(query: dict[str, str], accept: str, expected: str) -> None:
    request = HttpRequest("GET", query, {"accept-language": accept})
    assert page_language(request) == expected


def test_preferred_languages_orders_by_quality() -> None:
    assert preferred_languages("en;q=0.5, de, fr;q=0.8, it;q=0") == ["de", "fr", "en"]
    assert preferred_languages("garbage;;;q=x, *") == []


def test_request_from_a_function_url_event() -> None:
    body = base64.b64encode(b"List-Unsubscribe=One-Click&via=page").decode()
    event = {
        "requestContext": {"http": {"method": "post"}},
        "rawQueryString": "t=1.abc&l=de-AT&t=second",
        "headers": {"Accept-Language": "de"},
        "body": body,
        "isBase64Encoded": True,
    }
    request = HttpRequest.from_function_url_event(event)
    assert (request.method, request.token, request.locale) == ("POST", "1.abc", "de-AT")
    assert request.headers["accept-language"] == "de"
    assert request.one_click and request.via_page
    multipart = HttpRequest(
        "POST",
        body='--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click',
    )
    assert multipart.one_click and not multipart.via_page
    assert not HttpRequest("POST", body="unsubscribe=yes").one_click


@pytest.mark.parametrize("event", [None, [], {"requestContext": "x"}, {"body": 5, "headers": 3}])
def test_unreadable_events_give_an_empty_request(event: object) -> None:
    request = HttpRequest.from_function_url_event(event)
    assert request.method == "" and request.token == "" and request.body == ""


def test_page_headers_forbid_scripts_framing_and_caching() -> None:
    csp = PAGE_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp
    assert PAGE_HEADERS["X-Frame-Options"] == "DENY"
