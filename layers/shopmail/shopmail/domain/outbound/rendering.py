"""Render an outbound mail (subject, text, HTML) from a validated :class:`ShopEvent`.

Templates are package data in ``shopmail/templates``::

    layout.html / layout.txt       the one shared layout (table layout, inline styles)
    macros.html / macros.txt       buttons, fact tables, item tables, totals
    <lang>/strings.json            subjects per template and the layout's phrases
    <lang>/<Template>.html / .txt  one pair per detail-type (and per generic template)

Jinja2 runs sandboxed (``SandboxedEnvironment``) with ``StrictUndefined``; HTML templates are
autoescaped, text templates and subjects are not (they never reach a header unencoded: the MIME
builder encodes them). The environment is created once per process.

Money and dates are formatted with Babel in the customer's locale (``1.234,56 €`` in de-DE,
``€1,234.56`` in en); times are shown in :data:`DEFAULT_TIMEZONE`.

Missing translation (decision): a locale whose language has no templates (``fr-FR``) falls back
to English *templates and formatting* with a logged warning (``template_fallback``) rather than
failing: a customer with an unexpected locale still gets their receipt. A template missing in
every language is a :class:`~shopmail.errors.TemplateError` (permanent).

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
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_timezone
from babel.numbers import format_currency
from jinja2.sandbox import SandboxedEnvironment

from shopmail.config import Settings
from shopmail.domain.outbound.contracts import ShopEvent
from shopmail.errors import TemplateError

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"
FALLBACK_LANGUAGE = "en"
DEFAULT_TIMEZONE = "Europe/Berlin"
#: Gmail clips HTML above ~102 KB; stay clearly below.
MAX_HTML_BYTES = 100 * 1024
#: Longest item list shown in a mail (the rest is summarised as "... and N more").
MAX_ITEMS = 50

_EXTERNAL = re.compile(
    r"""(?:\bsrc\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|<link\b|@import)""",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """An attachment the sender must fetch (S3) before building the message."""

    bucket: str
    key: str
    filename: str
    content_type: str = "application/pdf"


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """The rendered content of one mail.

    Attributes
    ----------
    subject
        One line, whitespace collapsed (not yet RFC 2047 encoded).
    text, html
        The two alternatives.
    attachments_refs
        Attachments to fetch and attach (InvoiceIssued's PDF).
    language
        The template language actually used (``de``/``en``; differs from the event's on
        fallback).
    unsubscribe_url
        The one-click unsubscribe URL of marketing mail (``""`` for transactional mail).
    """

    subject: str
    text: str
    html: str
    attachments_refs: tuple[AttachmentRef, ...] = ()
    language: str = FALLBACK_LANGUAGE
    unsubscribe_url: str = ""


def render(
    event: ShopEvent, settings: Settings, *, timezone: str = DEFAULT_TIMEZONE
) -> RenderedMail:
    """Render ``event`` as subject, text and HTML in the customer's language.

    Parameters
    ----------
    event
        A validated event (:func:`shopmail.domain.outbound.contracts.validate`).
    settings
        Used for the support address shown in the footer.
    timezone
        IANA zone in which times are shown.

    Returns
    -------
    RenderedMail

    Raises
    ------
    TemplateError
        A template is missing, refers to an undefined value, breaks the sandbox, or the HTML
        exceeds :data:`MAX_HTML_BYTES` or references an external resource.
    """
    env = _environment()
    language, locale = _resolve_language(event)
    strings = _strings(language)
    try:
        tz = get_timezone(timezone)
    except LookupError as exc:
        raise TemplateError(f"unknown timezone {timezone!r}") from exc
    detail = json.loads(json.dumps(dict(event.data)))  # plain, private copy
    unsubscribe_url = ""
    if event.email_class == "marketing":
        unsubscribe_url = str(detail.get("unsubscribeUrl", ""))
    context: dict[str, Any] = {
        "d": detail,
        "t": strings,
        "lang": language,
        "locale": str(locale),
        "support_address": settings.support_address,
        "order_label": _order_label(detail, event.aggregate_id),
        "max_items": MAX_ITEMS,
        "unsubscribe_url": unsubscribe_url,
        "money": lambda m: _money(m, locale),
        "date": lambda s: _date(s, locale, tz),
        "datetime": lambda s: _datetime(s, locale, tz),
    }
    context["greeting"] = _greeting(event, detail, strings)
    try:
        subject_source = strings["subjects"][event.template]
    except KeyError:
        raise TemplateError(
            f"no subject for template {event.template!r}", template=event.template
        ) from None
    try:
        subject = _subject_template(language, subject_source).render(context)
        subject = " ".join(subject.split())
        context["subject"] = subject
        text = env.get_template(f"{language}/{event.template}.txt").render(context)
        html = env.get_template(f"{language}/{event.template}.html").render(context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template {exc.name!r} not found", template=event.template) from exc
    except jinja2.TemplateError as exc:  # UndefinedError, SecurityError, syntax errors
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
    if _EXTERNAL.search(html):
        raise TemplateError(f"HTML of {event.template!r} references an external resource")
    return RenderedMail(
        subject=subject,
        text=_tidy_text(text),
        html=html,
        attachments_refs=_attachments(event, detail),
        language=language,
        unsubscribe_url=unsubscribe_url,
    )


def available_languages() -> tuple[str, ...]:
    """The languages that have templates (``('de', 'en')``)."""
    return tuple(sorted(p.name for p in TEMPLATE_DIR.iterdir() if (p / "strings.json").is_file()))


# --- environment -------------------------------------------------------------------------


@cache
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )


@cache
def _strings(language: str) -> dict[str, Any]:
    path = TEMPLATE_DIR / language / "strings.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TemplateError(f"strings for {language!r} cannot be read: {exc}") from exc
    if language != FALLBACK_LANGUAGE:  # fill gaps from English
        base = _strings(FALLBACK_LANGUAGE)
        data = {**base, **data, "subjects": {**base["subjects"], **data.get("subjects", {})}}
    return data


@cache
def _subject_template(language: str, source: str) -> jinja2.Template:
    return _environment().from_string(source)


@cache
def _has_template(language: str, template: str) -> bool:
    folder = TEMPLATE_DIR / language
    return (folder / f"{template}.html").is_file() and (folder / f"{template}.txt").is_file()


def _resolve_language(event: ShopEvent) -> tuple[str, Locale]:
    language = event.language
    locale_name = event.locale
    if not _has_template(language, event.template):
        logger.warning(
            "template_fallback",
            extra={
                "template": event.template,
                "locale": event.locale,
                "fallback": FALLBACK_LANGUAGE,
            },
        )
        language, locale_name = FALLBACK_LANGUAGE, FALLBACK_LANGUAGE
    try:
        locale = Locale.parse(locale_name, sep="-")
    except (ValueError, UnknownLocaleError):
        locale = Locale.parse(language)
    return language, locale


# --- helpers exposed to templates ---------------------------------------------------------


def _defined(value: Any) -> None:
    """Make a StrictUndefined passed into a helper fail as loudly as in the template."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # raises jinja2.UndefinedError naming the missing value


def _money(value: Any, locale: Locale) -> str:
    _defined(value)
    if not isinstance(value, Mapping):
        raise TemplateError("money value is not an object")
    try:
        amount = Decimal(str(value["amount"]))
    except (KeyError, InvalidOperation) as exc:
        raise TemplateError("money amount is not a decimal string") from exc
    return str(format_currency(amount, str(value["currency"]), locale=locale))


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
    return str(format_date(_parse_ts(value).astimezone(tz).date(), format="long", locale=locale))


def _datetime(value: Any, locale: Locale, tz: Any) -> str:
    local = _parse_ts(value).astimezone(tz)
    day = format_date(local.date(), format="long", locale=locale)
    return f"{day}, {format_time(local, format='short', tzinfo=tz, locale=locale)}"


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


def _tidy_text(text: str) -> str:
    lines = [
        line if line == "-- " else line.rstrip() for line in text.replace("\r\n", "\n").split("\n")
    ]
    joined = "\n".join(lines).strip("\n")
    return _BLANKS.sub("\n\n", joined) + "\n"
