"""The unsubscribe endpoint's HTTP model and its small localized page (pure).

:class:`HttpRequest` reads a Lambda function URL event (payload format 2.0; the offline stack's
server builds the same event); :class:`HttpResponse` is what the handler returns. The page
(:func:`unsubscribe_page`) is plain HTML without scripts or external resources, in the language
of the link's ``l`` parameter, else of ``Accept-Language``, through the usual fallback chain
(:func:`~shopmail.domain.outbound.locale_chain.locale_chain`). Its texts are the
``unsubscribe_page`` section of each language's ``strings.json``.

========  ===========================================================  ======
state     when                                                          status
========  ===========================================================  ======
confirm   GET with a valid token: a button that POSTs the unsubscribe   200
done      POST with a valid token                                       200
invalid   no, a malformed or a forged token; a POST without the body     400/403
expired   a token past its expiry                                       410
error     a store failed (retry later)                                  503
========  ===========================================================  ======

Example
-------
>>> page = unsubscribe_page(PageState.CONFIRM, "en", token="1.x", locale="en",
...     address="kim@example.com")
>>> page.status, "k***@example.com" in page.body, 'method="post"' in page.body
(200, True, True)
"""

from __future__ import annotations

import base64
import html
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Any, Final

from shopmail.domain.addresses import split_address
from shopmail.domain.outbound.locale_chain import (
    DEFAULT_LOCALE,
    FALLBACK_LOCALE,
    locale_chain,
    normalize_tag,
)
from shopmail.domain.outbound.template_catalog import language_strings, load_catalog
from shopmail.domain.outbound.unsubscribe import LOCALE_PARAMETER, TOKEN_PARAMETER

#: The form field RFC 8058 clients POST (``List-Unsubscribe=One-Click``).
ONE_CLICK: Final = "List-Unsubscribe=One-Click"
#: The extra field our page's form POSTs (tells a person's click from a mail client's).
VIA_PAGE: Final = "via=page"
MAX_BODY_CHARS: Final = 8192
SECTION: Final = "unsubscribe_page"
#: Response headers of every page: no caching, no referrer (the link holds the token), no
#: framing, no scripts.
PAGE_HEADERS: Final = MappingProxyType(
    {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "X-Robots-Tag": "noindex",
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
    }
)


class PageState(StrEnum):
    """Which page the endpoint shows."""

    CONFIRM = "confirm"
    DONE = "done"
    INVALID = "invalid"
    EXPIRED = "expired"
    ERROR = "error"


@dataclass(frozen=True)
class HttpRequest:
    """One request to the endpoint.

    Attributes
    ----------
    method
        Upper-case HTTP method (``""`` when the event has none).
    query
        Query parameters (the first value of each).
    headers
        Header names lower-cased.
    body
        The decoded body (at most :data:`MAX_BODY_CHARS`).
    """

    method: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""

    @classmethod
    def from_function_url_event(cls, event: Any) -> HttpRequest:
        """Read a Lambda function URL event (payload 2.0); anything unreadable is left empty."""
        if not isinstance(event, Mapping):
            return cls("")
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, Mapping) else None
        method = str(http.get("method", "") if isinstance(http, Mapping) else "").upper()
        raw_query = event.get("rawQueryString")
        query: dict[str, str] = {}
        if isinstance(raw_query, str):
            for name, value in urllib.parse.parse_qsl(raw_query[:4096], keep_blank_values=True):
                query.setdefault(name, value)
        headers_in = event.get("headers")
        headers = (
            {str(k).lower(): str(v) for k, v in headers_in.items()}
            if isinstance(headers_in, Mapping)
            else {}
        )
        body = event.get("body") or ""
        if not isinstance(body, str):
            body = ""
        if event.get("isBase64Encoded") and body:
            try:
                body = base64.b64decode(body[: MAX_BODY_CHARS * 2]).decode("utf-8", "replace")
            except ValueError:
                body = ""
        return cls(method, query, headers, body[:MAX_BODY_CHARS])

    @property
    def token(self) -> str:
        """The ``t`` parameter."""
        return self.query.get(TOKEN_PARAMETER, "")

    @property
    def locale(self) -> str:
        """The ``l`` parameter, when it is a language tag."""
        return normalize_tag(self.query.get(LOCALE_PARAMETER, "")[:35])

    @property
    def one_click(self) -> bool:
        """Whether the body carries ``List-Unsubscribe=One-Click`` (form or multipart)."""
        if ONE_CLICK in self.body:
            return True
        return 'name="List-Unsubscribe"' in self.body and "One-Click" in self.body

    @property
    def via_page(self) -> bool:
        """Whether the POST came from our confirmation page's form."""
        return VIA_PAGE in self.body


@dataclass(frozen=True)
class HttpResponse:
    """The endpoint's answer."""

    status: int
    body: str
    headers: Mapping[str, str] = field(default_factory=lambda: PAGE_HEADERS)

    def to_function_url(self) -> dict[str, Any]:
        """The Lambda function URL response."""
        return {
            "statusCode": self.status,
            "headers": dict(self.headers),
            "body": self.body,
            "isBase64Encoded": False,
        }


def mask_address(address: str) -> str:
    """``k***@example.com``: enough for the customer to recognise, little for anyone else."""
    local, domain = split_address(address)
    return f"{local[:1]}***@{domain}" if domain else "***"


def preferred_languages(accept_language: str) -> list[str]:
    """The tags of an ``Accept-Language`` value, highest quality first (``q=0`` dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language[:500].split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        tag = normalize_tag(tag)
        if tag and weight > 0:
            ranked.append((-weight, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def page_language(request: HttpRequest) -> str:
    """The language folder serving the page (link's ``l``, then ``Accept-Language``)."""
    languages = load_catalog().languages
    candidates = [request.locale] if request.locale else []
    candidates += preferred_languages(request.headers.get("accept-language", ""))
    for candidate in candidates:
        chain = locale_chain(candidate, languages, default="", fallback="")
        if chain:
            return chain[0]
    chain = locale_chain(None, languages, DEFAULT_LOCALE, FALLBACK_LOCALE)
    return chain[0] if chain else FALLBACK_LOCALE


@cache
def _texts(language: str) -> Mapping[str, str]:
    strings = language_strings(language)
    section = strings.get(SECTION)
    out = {k: str(v) for k, v in section.items()} if isinstance(section, Mapping) else {}
    out["shop_name"] = str(strings.get("shop_name", ""))
    return MappingProxyType(out)


_STATUS: Final = {
    PageState.CONFIRM: 200,
    PageState.DONE: 200,
    PageState.INVALID: 400,
    PageState.EXPIRED: 410,
    PageState.ERROR: 503,
}
_STYLE: Final = (
    "body{font-family:Arial,Helvetica,sans-serif;background:#f4f4f5;color:#18181b;margin:0}"
    "main{max-width:32rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px}"
    "h1{font-size:1.4rem}button{font-size:1rem;padding:.7rem 1.4rem;border:0;"
    "border-radius:6px;background:#2563eb;color:#fff;cursor:pointer}"
)


def unsubscribe_page(
    state: PageState,
    language: str,
    *,
    token: str = "",
    locale: str = "",
    address: str = "",
    status: int | None = None,
) -> HttpResponse:
    """The page for ``state`` in ``language`` (a valid language folder).

    Parameters
    ----------
    state
        Which page.
    language
        The language folder (see :func:`page_language`).
    token, locale
        Put into the confirm page's form action (the POST goes to the same link).
    address
        Shown masked (:func:`mask_address`) on the confirm and done pages.
    status
        Overrides the state's status (``403`` for a forged token).
    """
    t = _texts(language)
    shown = html.escape(mask_address(address)) if address else ""
    title_key = {
        PageState.CONFIRM: "title",
        PageState.DONE: "done_title",
        PageState.INVALID: "invalid_title",
        PageState.EXPIRED: "invalid_title",
        PageState.ERROR: "error_title",
    }[state]
    text = html.escape(t.get(str(state), "")).replace("{address}", f"<strong>{shown}</strong>")
    title = html.escape(t.get(title_key, ""))
    form = ""
    if state is PageState.CONFIRM:
        query = {TOKEN_PARAMETER: token, **({LOCALE_PARAMETER: locale} if locale else {})}
        action = "?" + urllib.parse.urlencode(query, safe=".-_")
        form = (
            f'<form method="post" action="{html.escape(action)}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<input type="hidden" name="via" value="page">'
            f'<button type="submit">{html.escape(t.get("button", ""))}</button></form>'
        )
    body = (
        f'<!DOCTYPE html><html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><main>"
        f"<p>{html.escape(t.get('shop_name', ''))}</p><h1>{title}</h1><p>{text}</p>{form}"
        "</main></body></html>"
    )
    return HttpResponse(status or _STATUS[state], body)
