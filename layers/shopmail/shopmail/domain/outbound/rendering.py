"""Render an outbound mail (subject, text, HTML) from a validated :class:`ShopEvent`.

Templates are package data in ``shopmail/templates`` (another folder of the same shape can be
given as ``template_dir``)::

    layout.html / layout.txt       the one shared layout (table layout, inline styles)
    macros.html / macros.txt       buttons, fact tables, item tables, totals
    <Template>.html / .txt         one language-neutral pair per detail-type (and generic ones)
    <lang>/strings.json            every subject, sentence and label of one language
    <lang>/<file>                  optional override of a shared file for that language

Templates hold structure only; every word comes from the language's strings: ``t.<key>``, and
sentences that contain values are filled with ``fill``
(``{{ t.OrderCanceled.intro|fill(order=order_label) }}`` for ``"Your order {order} has been
cancelled."``). A language's own ``<file>`` is looked up before the shared one, so
``fr/OrderPlaced.html`` would replace the shared ``OrderPlaced.html`` for French only.

Jinja2 runs sandboxed (``SandboxedEnvironment``) with ``StrictUndefined``; HTML templates are
autoescaped, text templates and subjects are not (they never reach a header unencoded: the MIME
builder encodes them). The environment is created once per process.

Languages are the sub-folders present (:mod:`shopmail.domain.outbound.template_catalog` finds and
validates them; a folder that lacks a key or a template is not used). The customer's locale is
served by the first language of its fallback chain
(:func:`shopmail.domain.outbound.locale_chain.locale_chain`)::

    de-AT -> de -> <shop default, "de"> -> en

A chain that leaves the customer's language (``xx`` -> ``de``) is logged as
``template_fallback`` with the requested and the used locale (never an address); a regional
locale served by its language folder (``de-AT`` by ``de``) is the normal case and not logged.

Money and dates are formatted with Babel in the customer's locale when its language is served
(``1.234,56 €`` in de-DE, ``€ 1.234,56`` in de-AT, ``1 234,56 €`` in fr), otherwise in the
locale of the language used; times are shown in the ``timezone`` given to :func:`render`
(:data:`DEFAULT_TIMEZONE` by default). A template missing in every language of the chain is a
:class:`~shopmail.errors.TemplateError` (permanent).

The shop (:class:`~shopmail.domain.outbound.shop_config.ShopConfig`, ``shop=``; the shipped look
without one) gives the templates ``shop``: its name, colours, logo, legal block and links. Its
locales and time zone fill ``default_locale``, ``fallback_locale`` and ``timezone`` unless they
are given, and ``locales.supported`` limits the languages that serve customers. An inline logo
becomes an :class:`InlineImage` of the result (``src="cid:..."``); the HTML may load images only
from the shop's ``image_hosts`` over https, nothing else from outside.

Example
-------
>>> from shopmail.config import Settings
>>> from shopmail.domain.outbound.contracts import validate
>>> ev = validate({"detail-type": "OrderDelivered", "id": "e", "source": "shop",
...     "detail": {"locale": "de-DE", "recipient": {"email": "k@example.com"},
...     "order": {"id": "ORD-1"}, "shipment": {"id": "S1",
...     "deliveredAt": "2026-11-28T10:00:00Z"}}})
>>> render(ev, Settings()).subject
'Ihre Bestellung ORD-1 wurde zugestellt'
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopmail.config import Settings
from shopmail.domain.outbound.contracts import ShopEvent
from shopmail.domain.outbound.locale_chain import (
    DEFAULT_LOCALE,
    FALLBACK_LOCALE,
    locale_chain,
    lookup_forms,
    normalize_tag,
    primary_language,
)
from shopmail.domain.outbound.shop_config import DEFAULT_SHOP, DEFAULT_TIMEZONE, ShopConfig
from shopmail.domain.outbound.template_catalog import (
    PLACEHOLDER,
    TEMPLATE_DIR,
    Catalog,
    load_catalog,
)
from shopmail.errors import TemplateError

if TYPE_CHECKING:
    import jinja2
    from babel import Locale
    from jinja2.sandbox import SandboxedEnvironment

# Jinja2 and Babel are imported by the functions that use them (first render, not import):
# importing this module (for RenderedMail, AttachmentRef) costs a handler's cold start nothing.

logger = logging.getLogger(__name__)

__all__ = [
    "CONTEXT_NAMES",
    "DEFAULT_LOCALE",
    "DEFAULT_TIMEZONE",
    "FALLBACK_LANGUAGE",
    "FALLBACK_LOCALE",
    "MAX_HTML_BYTES",
    "MAX_ITEMS",
    "TEMPLATE_DIR",
    "AttachmentRef",
    "InlineImage",
    "RenderedMail",
    "available_languages",
    "fill",
    "locale_chain",
    "render",
    "template_environment",
]

#: Kept for callers of the first version (the fallback of every chain).
FALLBACK_LANGUAGE = FALLBACK_LOCALE
#: Gmail clips HTML above ~102 KB; stay clearly below.
MAX_HTML_BYTES = 100 * 1024
#: Longest item list shown in a mail (the rest is summarised as "... and N more").
MAX_ITEMS = 50

_EXTERNAL = re.compile(
    r"""(?:\bsrc\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|<link\b|@import)""",
    re.IGNORECASE,
)
#: Words at least one of which every match of ``_EXTERNAL`` contains (a quick first test).
_EXTERNAL_WORDS = ("src", "url(", "<link", "@import")
#: An ``src`` that loads an image over https from a host (allowed for the shop's image hosts).
_HTTPS_SRC = re.compile(r"""\bsrc\s*=\s*["']?\s*https://([^/\s"'>:?#]+)[^\s"'>]*["']?""", re.I)
#: Every name a template sees (``d``, ``t``, ``shop``, the helpers...).
CONTEXT_NAMES = frozenset(
    {
        "d",
        "t",
        "shop",
        "lang",
        "locale",
        "support_address",
        "order_label",
        "max_items",
        "unsubscribe_url",
        "money",
        "date",
        "datetime",
        "greeting",
        "subject",
    }
)


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """An attachment the sender must fetch (S3) before building the message."""

    bucket: str
    key: str
    filename: str
    content_type: str = "application/pdf"


@dataclass(frozen=True, slots=True)
class InlineImage:
    """An image the HTML shows as ``cid:<content_id>`` (a part of ``multipart/related``)."""

    content_id: str
    data: bytes
    content_type: str
    filename: str


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """The rendered content of one mail.

    Attributes
    ----------
    subject
        One line, whitespace collapsed except no-break spaces (not yet RFC 2047 encoded).
    text, html
        The two alternatives.
    attachments_refs
        Attachments to fetch and attach (InvoiceIssued's PDF).
    language
        The template language actually used (the folder name: ``de``, ``fr``...; differs from
        the event's language on fallback).
    unsubscribe_url
        The one-click unsubscribe URL of marketing mail (``""`` for transactional mail).
    locale
        The Babel locale money and dates were formatted in (``de_AT``).
    inline_images
        Images the HTML refers to by ``cid:`` (the shop's inline logo).
    """

    subject: str
    text: str
    html: str
    attachments_refs: tuple[AttachmentRef, ...] = ()
    language: str = FALLBACK_LANGUAGE
    unsubscribe_url: str = ""
    locale: str = ""
    inline_images: tuple[InlineImage, ...] = ()


def render(
    event: ShopEvent,
    settings: Settings,
    *,
    timezone: str | None = None,
    default_locale: str | None = None,
    fallback_locale: str | None = None,
    template_dir: str | Path | None = None,
    shop: ShopConfig | None = None,
) -> RenderedMail:
    """Render ``event`` as subject, text and HTML in the customer's language.

    Parameters
    ----------
    event
        A validated event (:func:`shopmail.domain.outbound.contracts.validate`).
    settings
        Used for the support address shown in the footer (unless the shop names one) and the
        domain of inline images' Content-IDs.
    timezone
        IANA zone in which times are shown (default: the shop's, Europe/Berlin).
    default_locale
        The shop's default language: second in every chain, and the reference every language
        folder is validated against (default: the shop's, ``de``).
    fallback_locale
        The last language of every chain (default: the shop's, ``en``).
    template_dir
        A template folder of the shipped shape (default: the shipped templates).
    shop
        The shop's configuration (default: :data:`~shopmail.domain.outbound.shop_config.
        DEFAULT_SHOP`, the shipped look).

    Returns
    -------
    RenderedMail

    Raises
    ------
    TemplateError
        A template is missing, refers to an undefined value, breaks the sandbox, or the HTML
        exceeds :data:`MAX_HTML_BYTES` or references an external resource.
    """
    shop = shop or DEFAULT_SHOP
    timezone = timezone or shop.time_zone
    default_locale = default_locale or shop.locales.default
    fallback_locale = fallback_locale or shop.locales.fallback
    catalog = load_catalog(template_dir, default_locale, fallback_locale)
    language, locale = _resolve_language(
        event, catalog, default_locale, fallback_locale, shop.locales.supported
    )
    env = _environment(catalog.root, language)
    strings = _strings(catalog.root, language)
    import jinja2
    from babel.dates import get_timezone

    try:
        tz = get_timezone(timezone)
    except LookupError as exc:
        raise TemplateError(f"unknown timezone {timezone!r}") from exc
    detail = json.loads(json.dumps(dict(event.data)))  # plain, private copy
    unsubscribe_url = ""
    if event.email_class == "marketing":
        unsubscribe_url = str(detail.get("unsubscribeUrl", ""))
    support_address = shop.support_address or settings.support_address
    images: tuple[InlineImage, ...] = ()
    logo_src = ""
    if shop.logo is not None and shop.logo_image is not None:
        image = shop.logo_image
        cid = image.content_id(settings.mail_domain)
        images = (InlineImage(cid, image.data, image.content_type, image.filename),)
        logo_src = f"cid:{cid}"
    context: dict[str, Any] = {
        "d": detail,
        "t": strings,
        "shop": shop.view(event.locale, support_address, logo_src),
        "lang": language,
        "locale": str(locale),
        "support_address": support_address,
        "order_label": _order_label(detail, event.aggregate_id),
        "max_items": MAX_ITEMS,
        "unsubscribe_url": unsubscribe_url,
        # each mail shows its amounts and dates twice (text and HTML): formatted once
        "money": _once(lambda m: _money(m, locale), _money_key),
        "date": _once(lambda s: _date(s, locale, tz), str),
        "datetime": _once(lambda s: _datetime(s, locale, tz), str),
    }
    context["greeting"] = _greeting(event, detail, strings)
    try:
        subject_source = strings["subjects"][event.template]
    except KeyError:
        raise TemplateError(
            f"no subject for template {event.template!r}", template=event.template
        ) from None
    try:
        subject = _subject_template(catalog.root, language, subject_source).render(context)
        subject = _SUBJECT_SPACE.sub(" ", subject).strip()
        context["subject"] = subject
        text = env.get_template(f"{event.template}.txt").render(context)
        html = env.get_template(f"{event.template}.html").render(context)
    except TemplateError:
        raise
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template {exc.name!r} not found", template=event.template) from exc
    except Exception as exc:  # UndefinedError, SecurityError, syntax errors, bad data types
        raise TemplateError(
            f"template {event.template!r} ({language}) failed: {type(exc).__name__}: "
            f"{str(exc)[:200]}",
            template=event.template,
        ) from exc
    if not subject:
        raise TemplateError(f"template {event.template!r} rendered an empty subject")
    size = len(html.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        raise TemplateError(
            f"HTML of {event.template!r} is {size} bytes (limit {MAX_HTML_BYTES})",
            template=event.template,
        )
    _check_external(html, event.template, shop.image_hosts)
    return RenderedMail(
        subject=subject,
        text=_tidy_text(text),
        html=html,
        attachments_refs=_attachments(event, detail),
        language=language,
        unsubscribe_url=unsubscribe_url,
        locale=str(locale),
        inline_images=images,
    )


def available_languages(
    template_dir: str | Path | None = None,
    default_locale: str = DEFAULT_LOCALE,
    supported: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """The valid language folders, sorted (``('de', 'en', 'es', 'fr', 'it', 'nl', 'pl')``).

    Parameters
    ----------
    template_dir
        The template folder (default: the shipped templates).
    default_locale
        The reference language of the validation (see
        :mod:`~shopmail.domain.outbound.template_catalog`).
    supported
        Only these locales (a shop's ``locales.supported``; empty: all).
    """
    return _serving(load_catalog(template_dir, default_locale).languages, supported)


def _serving(languages: tuple[str, ...], supported: tuple[str, ...]) -> tuple[str, ...]:
    """The ``languages`` a shop serves customers with (``supported`` empty: all).

    A folder serves when it is a supported locale or a shorter form of one (``de`` serves a
    shop that supports ``de-AT``).
    """
    if not supported:
        return languages
    wanted = {form.lower() for tag in supported for form in lookup_forms(tag)}
    return tuple(lang for lang in languages if normalize_tag(lang).lower() in wanted)


def _check_external(html: str, template: str, image_hosts: tuple[str, ...]) -> None:
    """Refuse HTML that loads anything from outside, except https images of ``image_hosts``."""
    # Every match of _EXTERNAL holds one of these words; casefold() maps each character the
    # case-insensitive pattern matches to the word's letters except the dotless i (U+0131).
    folded = html.casefold().replace("\u0131", "i")
    if not any(word in folded for word in _EXTERNAL_WORDS):
        return
    for match in _EXTERNAL.finditer(html):
        allowed = _HTTPS_SRC.match(html, match.start())
        if allowed is None or allowed.group(1).lower() not in image_hosts:
            raise TemplateError(
                f"HTML of {template!r} references an external resource "
                f"({html[match.start() : match.start() + 60]!r}; allowed: https images of "
                f"{list(image_hosts)})",
                template=template,
            )


# --- environment -------------------------------------------------------------------------


def template_environment(
    template_dir: str | Path | None = None, language: str = ""
) -> SandboxedEnvironment:
    """The sandboxed environment mail is rendered with (``language``'s files first).

    For tools that inspect templates (``shopmail templates check``); cached like the renderer's.
    """
    root = Path(template_dir).resolve() if template_dir is not None else TEMPLATE_DIR
    return _environment(root, language)


@cache
def _environment(root: Path = TEMPLATE_DIR, language: str = "") -> SandboxedEnvironment:
    """The sandboxed environment of one language: its own files first, then the shared ones."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    folders = [str(root / language), str(root)] if language else [str(root)]
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(folders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["fill"] = fill
    return env


@cache
def _strings(root: Path, language: str) -> dict[str, Any]:
    path = root / language / "strings.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TemplateError(f"strings for {language!r} cannot be read: {exc}") from exc
    return data


@cache
def _subject_template(root: Path, language: str, source: str) -> jinja2.Template:
    return _environment(root, language).from_string(source)


def fill(text: Any, **values: Any) -> str:
    """Put ``values`` into the ``{name}`` placeholders of a sentence from ``strings.json``.

    Only ``{name}`` is special (no attribute access, no formatting); the result is plain text,
    escaped by the HTML templates like any other value.

    Raises
    ------
    TemplateError
        The sentence names a placeholder the template does not fill.

    >>> fill("Your order {order} has been cancelled.", order="ORD-1")
    'Your order ORD-1 has been cancelled.'
    """
    _defined(text)
    for value in values.values():
        _defined(value)

    def put(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise TemplateError(
                f"string {str(text)[:60]!r} has a placeholder {{{name}}} that is not filled"
            )
        return str(values[name])

    return PLACEHOLDER.sub(put, str(text))


def _resolve_language(
    event: ShopEvent,
    catalog: Catalog,
    default_locale: str,
    fallback_locale: str,
    supported: tuple[str, ...] = (),
) -> tuple[str, Locale]:
    """The template language serving ``event`` and the Babel locale to format in."""
    chain = _chain(
        catalog, event.template, event.locale, default_locale, fallback_locale, supported
    )
    if not chain:
        raise TemplateError(
            f"template {event.template!r} not found in any language "
            f"(chain of {event.locale!r}: {default_locale!r}, {fallback_locale!r})",
            template=event.template,
        )
    language = chain[0]
    requested = normalize_tag(event.locale)
    if primary_language(language) == primary_language(requested):
        locale_name = requested  # the customer's own language: format as in de-AT, fr-CA
    else:
        logger.warning(
            "template_fallback",
            extra={
                "template": event.template,
                "requested_locale": event.locale,
                "used_locale": language,
            },
        )
        locale_name = language
    return language, _babel_locale(locale_name, language)


#: ``(id(catalog), template, locale, ...) -> (catalog, chain)``: the catalogs are cached per
#: folder (:func:`load_catalog`) but hold dicts, so they are keyed by identity (and kept alive).
_CHAINS: dict[tuple[Any, ...], tuple[Catalog, tuple[str, ...]]] = {}
_MAX_CHAINS = 1024


def _chain(
    catalog: Catalog,
    template: str,
    locale: str,
    default_locale: str,
    fallback_locale: str,
    supported: tuple[str, ...],
) -> tuple[str, ...]:
    """The languages to try for ``template`` in ``locale`` (a pure function of its arguments)."""
    key = (id(catalog), template, locale, default_locale, fallback_locale, supported)
    hit = _CHAINS.get(key)
    if hit is not None and hit[0] is catalog:
        return hit[1]
    languages = _serving(catalog.languages_for(template), supported)
    chain = tuple(locale_chain(locale, languages, default_locale, fallback_locale))
    if len(_CHAINS) >= _MAX_CHAINS:
        _CHAINS.clear()
    _CHAINS[key] = (catalog, chain)
    return chain


@lru_cache(maxsize=256)
def _babel_locale(name: str, language: str) -> Locale:
    from babel import Locale, UnknownLocaleError

    for candidate in (name, language, primary_language(language)):
        try:
            return Locale.parse(normalize_tag(candidate), sep="-")
        except (ValueError, UnknownLocaleError):
            continue
    return Locale.parse(FALLBACK_LOCALE)


# --- helpers exposed to templates ---------------------------------------------------------


def _defined(value: Any) -> None:
    """Make a StrictUndefined passed into a helper fail as loudly as in the template."""
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        str(value)  # raises jinja2.UndefinedError naming the missing value


def _money(value: Any, locale: Locale) -> str:
    _defined(value)
    if not isinstance(value, Mapping):
        raise TemplateError("money value is not an object")
    try:
        amount = Decimal(str(value["amount"]))
    except (KeyError, InvalidOperation) as exc:
        raise TemplateError("money amount is not a decimal string") from exc
    from babel.numbers import format_currency

    return str(format_currency(amount, str(value["currency"]), locale=locale))


def _money_key(value: Any) -> Any:
    if isinstance(value, Mapping):
        return (str(value.get("amount")), str(value.get("currency")))
    return None  # not cached: _money raises


def _once(format_value: Any, key_of: Any) -> Any:
    """``format_value`` remembering its results for the values of one mail (by ``key_of``)."""
    seen: dict[Any, str] = {}

    def formatted(value: Any) -> str:
        _defined(value)
        key = key_of(value)
        if key is None:
            return str(format_value(value))
        hit = seen.get(key)
        if hit is None:
            hit = seen[key] = str(format_value(value))
        return hit

    return formatted


def _parse_ts(value: Any) -> datetime:
    _defined(value)
    try:
        ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise TemplateError(f"not an ISO timestamp: {str(value)[:40]!r}") from exc
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts


def _date(value: Any, locale: Locale, tz: Any) -> str:
    from babel.dates import format_date

    return str(format_date(_parse_ts(value).astimezone(tz).date(), format="long", locale=locale))


def _datetime(value: Any, locale: Locale, tz: Any) -> str:
    """Long date and short time, joined the locale's way (``28. November 2026, 11:15``)."""
    from babel.dates import format_date, format_time, get_datetime_format

    local = _parse_ts(value).astimezone(tz)
    day = format_date(local.date(), format="long", locale=locale)
    time = format_time(local, format="short", tzinfo=tz, locale=locale)
    glue = str(get_datetime_format("medium", locale=locale))
    return glue.replace("{1}", day).replace("{0}", time)


def _order_label(detail: Mapping[str, Any], fallback: str) -> str:
    order = detail.get("order")
    if isinstance(order, Mapping):
        return str(order.get("number") or order.get("id") or fallback)
    return fallback


def _greeting(event: ShopEvent, detail: Mapping[str, Any], strings: Mapping[str, Any]) -> str:
    customer = detail.get("customer")
    name = ""
    if isinstance(customer, Mapping):
        name = str(customer.get("firstName") or "").strip()
    if not name:
        name = event.recipient_name.strip().split(" ")[0] if event.recipient_name.strip() else ""
    name = " ".join(name.split())[:100]
    if name:
        return str(strings["greeting_named"]).replace("{name}", name)
    return str(strings["greeting"])


def _attachments(event: ShopEvent, detail: Mapping[str, Any]) -> tuple[AttachmentRef, ...]:
    invoice = detail.get("invoice")
    if event.template != "InvoiceIssued" or not isinstance(invoice, Mapping):
        return ()
    pdf = invoice["pdf"]
    filename = str(pdf.get("filename") or f"{invoice['number']}.pdf")
    return (AttachmentRef(bucket=str(pdf["bucket"]), key=str(pdf["key"]), filename=filename),)


_BLANKS = re.compile(r"\n{3,}")
#: Runs of white space in a subject, except the no-break spaces a language sets on purpose
#: (French "n° 123", "message : ...").
_SUBJECT_SPACE = re.compile(r"[^\S\u00a0\u202f\u2007]+")


def _tidy_text(text: str) -> str:
    lines = [
        line if line == "-- " else line.rstrip() for line in text.replace("\r\n", "\n").split("\n")
    ]
    joined = "\n".join(lines).strip("\n")
    return _BLANKS.sub("\n\n", joined) + "\n"
