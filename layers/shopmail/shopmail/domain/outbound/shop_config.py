"""The shop's configuration: brand, senders, legal block, links, languages and time zone.

One file, TOML or JSON (``SHOP_CONFIG``; its JSON Schema is ``shopmail/shop/schema.json``, a
commented example ``shopmail/shop/example.toml``)::

    name = "Kaffeerösterei Müller"               # the brand: header, signature, From name
    support_address = "service@kaffee.example"   # Reply-To and the footer (default: setting)
    time_zone = "Europe/Berlin"                  # times in mail are shown in this zone
    image_hosts = ["cdn.kaffee.example"]         # the only hosts an <img src> may load from

    [senders]     transactional_name, marketing_name, support_name (display names)
    [logo]        source (S3 object or file, sent inline as a CID part) | url (https, on
                  image_hosts); alt, width, height
    [colors]      background, surface, header_background, header_text, text, muted, border,
                  accent (buttons, links), accent_text: "#rgb" or "#rrggbb"
    [legal]       company, address, register, vat_id, managing_directors (text or list)
    [links]       shop, imprint, terms, privacy, withdrawal, withdrawal_form: an https URL, or a
                  table of URLs by locale ({de = "...", fr = "..."}, with the default locale)
    [locales]     default ("de"), supported (folders that serve customers; default: all),
                  fallback ("en"): the chain is requested -> default -> fallback

Only ``name`` is required. Without a file, :data:`DEFAULT_SHOP` applies: mail looks exactly as
the shipped templates render it. :func:`parse_shop_config` checks every field and reports every
problem at once in one :class:`~shopmail.errors.ConfigurationError` (``context["errors"]``: one
``field: why`` string each, e.g. ``legal.vat_id: must be text``).

Example
-------
>>> shop = parse_shop_config('name = "Kaffeerösterei Müller"\\n[legal]\\nvat_id = "DE1"\\n')
>>> shop.name, shop.sender_name("transactional"), shop.legal.vat_id
('Kaffeerösterei Müller', 'Kaffeerösterei Müller', 'DE1')
>>> try:
...     parse_shop_config('nmae = "x"')
... except ConfigurationError as exc:
...     exc.context["errors"]
["nmae: unknown field (did you mean 'name'?)", 'name: required']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from shopmail.domain.locations import LocationKind, parse_location
from shopmail.domain.outbound.locale_chain import (
    DEFAULT_LOCALE,
    FALLBACK_LOCALE,
    locale_chain,
    lookup_forms,
    normalize_tag,
)
from shopmail.domain.spelling import close_matches
from shopmail.errors import ConfigurationError

#: The JSON Schema of the file (package data; ``docs/shop-config.schema.json`` is a copy).
SCHEMA_PATH: Final = Path(__file__).resolve().parents[2] / "shop" / "schema.json"
DEFAULT_NAME: Final = "Shop"
DEFAULT_TIMEZONE: Final = "Europe/Berlin"
#: The links a shop may configure, in the order the footer and the order confirmation show them.
LINK_NAMES: Final = ("shop", "imprint", "terms", "withdrawal", "withdrawal_form", "privacy")
#: Shown in every footer (when configured).
FOOTER_LINKS: Final = ("imprint", "privacy")
#: Shown in the order confirmation (when configured): what a contract confirmation refers to.
ORDER_LINKS: Final = ("terms", "withdrawal", "withdrawal_form", "privacy")
MAX_CONFIG_BYTES: Final = 64 * 1024
MAX_LOGO_BYTES: Final = 200 * 1024
#: The content column of the layout is 600 px wide with 28 px padding on each side.
MAX_LOGO_WIDTH: Final = 544
DEFAULT_LOGO_WIDTH: Final = 160
_IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".gif")

_COLOR: Final = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_EMAIL: Final = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+"
)
_HTTPS_URL: Final = re.compile(r"https://[^\s<>\"'\\\x00-\x1f\x7f]{1,2040}")
_HOST: Final = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
)
_CONTROLS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class Senders:
    """Display names of the From (per stream) and Reply-To headers (``""``: the shop name for
    the streams, none for Reply-To)."""

    transactional_name: str = ""
    marketing_name: str = ""
    support_name: str = ""


@dataclass(frozen=True, slots=True)
class Colors:
    """The colours of the layout (the defaults are those of the shipped templates)."""

    background: str = "#f4f4f5"
    surface: str = "#ffffff"
    header_background: str = "#1f2937"
    header_text: str = "#ffffff"
    text: str = "#111827"
    muted: str = "#6b7280"
    border: str = "#e5e7eb"
    accent: str = "#2563eb"
    accent_text: str = "#ffffff"


@dataclass(frozen=True, slots=True)
class Logo:
    """The logo in the header (instead of the shop name).

    Attributes
    ----------
    source
        An image sent inline (a CID part): ``s3://bucket/key.png`` or a path; a relative path
        is looked up in the template overrides first, then next to a configuration file.
    url
        An ``https`` image URL instead, on a host of ``image_hosts``.
    alt, width, height
        The ``img`` attributes (``height`` 0: left to the image's proportions).
    """

    source: str = ""
    url: str = ""
    alt: str = ""
    width: int = DEFAULT_LOGO_WIDTH
    height: int = 0


@dataclass(frozen=True, slots=True)
class Legal:
    """The legal block every footer carries (a company's mandatory details)."""

    company: str = ""
    address: str = ""
    register: str = ""
    vat_id: str = ""
    managing_directors: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether nothing is configured."""
        return not any(
            (self.company, self.address, self.register, self.vat_id, self.managing_directors)
        )


@dataclass(frozen=True, slots=True)
class Locales:
    """The shop's languages: see :func:`shopmail.domain.outbound.locale_chain.locale_chain`.

    ``supported`` empty: every valid template language serves customers.
    """

    default: str = DEFAULT_LOCALE
    supported: tuple[str, ...] = ()
    fallback: str = FALLBACK_LOCALE


@dataclass(frozen=True, slots=True)
class LogoImage:
    """The logo's bytes, read once with the configuration, sent as an inline part."""

    data: bytes
    content_type: str

    @property
    def filename(self) -> str:
        """``logo.png`` / ``logo.jpg`` / ``logo.gif``."""
        return "logo." + self.content_type.rsplit("/", 1)[1].replace("jpeg", "jpg")

    def content_id(self, domain: str) -> str:
        """The ``Content-ID`` (without brackets), stable for the same image."""
        return f"logo.{hashlib.sha256(self.data).hexdigest()[:16]}@{domain}"


@dataclass(frozen=True)
class ShopConfig:
    """A validated shop configuration (see the module docs); :data:`DEFAULT_SHOP` without one.

    Attributes
    ----------
    links
        Link name (:data:`LINK_NAMES`) -> locale tag (``""``: every locale) -> URL.
    source
        Where the configuration was read (for messages).
    logo_image
        The inline logo once loaded (:meth:`with_logo_image`); ``None`` otherwise.
    """

    name: str = DEFAULT_NAME
    support_address: str = ""
    time_zone: str = DEFAULT_TIMEZONE
    image_hosts: tuple[str, ...] = ()
    senders: Senders = Senders()
    colors: Colors = Colors()
    logo: Logo | None = None
    legal: Legal = Legal()
    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    locales: Locales = Locales()
    source: str = ""
    logo_image: LogoImage | None = field(default=None, compare=False, repr=False)

    def sender_name(self, email_class: str) -> str:
        """The From display name of ``transactional`` or ``marketing`` mail."""
        if email_class == "marketing":
            return self.senders.marketing_name or self.senders.transactional_name or self.name
        return self.senders.transactional_name or self.name

    def link(self, name: str, locale: str) -> str:
        """The URL of link ``name`` for a customer of ``locale`` (``""``: not configured)."""
        urls = self.links.get(name) or {}
        if "" in urls:
            return urls[""]
        chain = locale_chain(locale, urls, self.locales.default, self.locales.fallback)
        return urls[chain[0]] if chain else ""

    def with_logo_image(self, image: LogoImage | None) -> ShopConfig:
        """A copy carrying the loaded inline logo."""
        return dataclasses.replace(self, logo_image=image)

    def view(self, locale: str, support_address: str, logo_src: str = "") -> dict[str, Any]:
        """What templates see as ``shop`` (plain values only; the sandbox gets no objects).

        Parameters
        ----------
        locale
            The customer's locale (picks localized links).
        support_address
            The address shown in the footer (this config's, else the setting).
        logo_src
            The ``img src`` of an inline logo (``cid:...``); ``""`` uses ``logo.url``.
        """
        logo = None
        src = logo_src or (self.logo.url if self.logo else "")
        if self.logo is not None and src:
            logo = {
                "src": src,
                "alt": self.logo.alt or self.name,
                "width": self.logo.width,
                "height": self.logo.height,
            }
        legal = None
        if not self.legal.empty:
            legal = {
                "company": self.legal.company,
                "address": self.legal.address,
                "register": self.legal.register,
                "vat_id": self.legal.vat_id,
                "managing_directors": ", ".join(self.legal.managing_directors),
            }
        links = {name: self.link(name, locale) for name in LINK_NAMES}
        return {
            "name": self.name,
            "support_address": support_address,
            "colors": dataclasses.asdict(self.colors),
            "logo": logo,
            "legal": legal,
            "links": links,
            "footer_links": [name for name in FOOTER_LINKS if links[name]],
            "order_links": [name for name in ORDER_LINKS if links[name]],
        }


#: The configuration of a shop without a file: the shipped look, no legal block, no links.
DEFAULT_SHOP: Final = ShopConfig()


# --- parsing and validation ---------------------------------------------------------------


def parse_shop_config(text: str | bytes, source: str = "<string>") -> ShopConfig:
    """Parse and validate a shop configuration (TOML, or JSON when it starts with ``{``).

    Parameters
    ----------
    text
        The file's content.
    source
        Where it was read (in messages; a ``.json`` name is read as JSON).

    Raises
    ------
    ConfigurationError
        Naming every invalid field (``context["errors"]``).
    """
    if isinstance(text, bytes):
        if len(text) > MAX_CONFIG_BYTES:
            raise _error(source, [f"file: larger than {MAX_CONFIG_BYTES} bytes"])
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _error(source, [f"file: not UTF-8 ({exc.reason} at byte {exc.start})"]) from exc
    if len(text) > MAX_CONFIG_BYTES:
        raise _error(source, [f"file: larger than {MAX_CONFIG_BYTES} characters"])
    as_json = source.lower().endswith(".json") or text.lstrip().startswith("{")
    import tomllib  # the parsers, difflib and zoneinfo load when a configuration is read

    try:
        data = json.loads(text) if as_json else tomllib.loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        kind = "JSON" if as_json else "TOML"
        raise _error(source, [f"file: not valid {kind}: {str(exc)[:200]}"]) from exc
    return shop_config_from(data, source)


def shop_config_from(data: Any, source: str = "<string>") -> ShopConfig:
    """Validate decoded data (a TOML table, a JSON object); see :func:`parse_shop_config`."""
    p = _Problems()
    if not isinstance(data, Mapping):
        raise _error(source, ["file: must be a table (TOML) or an object (JSON)"])
    p.unknown(data, _TOP_KEYS, "")
    name = p.get(data, "name", "name", _text(100), required=True) or DEFAULT_NAME
    hosts = tuple(p.get(data, "image_hosts", "image_hosts", _hosts) or ())
    locales = _locales(p, _table(p, data, "locales"))
    config = ShopConfig(
        name=name,
        support_address=p.get(data, "support_address", "support_address", _email) or "",
        time_zone=p.get(data, "time_zone", "time_zone", _time_zone) or DEFAULT_TIMEZONE,
        image_hosts=hosts,
        senders=_section(p, data, "senders", Senders, _text(100)),
        colors=_section(p, data, "colors", Colors, _color),
        logo=_logo(p, _table(p, data, "logo"), hosts) if "logo" in data else None,
        legal=_legal(p, _table(p, data, "legal")),
        links=_links(p, _table(p, data, "links"), locales),
        locales=locales,
        source=source,
    )
    if p.items:
        raise _error(source, p.items)
    return config


def sniff_image(data: bytes, source: str) -> LogoImage:
    """The logo image of ``data`` (PNG, JPEG or GIF, at most :data:`MAX_LOGO_BYTES`).

    Raises
    ------
    ConfigurationError
        Too large, or not one of the three formats every mail client shows.
    """
    if len(data) > MAX_LOGO_BYTES:
        raise ConfigurationError(
            f"logo {source}: {len(data)} bytes, more than {MAX_LOGO_BYTES}", source=source
        )
    for magic, content_type in (
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
    ):
        if data.startswith(magic):
            return LogoImage(data, content_type)
    raise ConfigurationError(f"logo {source}: not a PNG, JPEG or GIF image", source=source)


_TOP_KEYS: Final = (
    "name",
    "support_address",
    "time_zone",
    "image_hosts",
    "senders",
    "logo",
    "colors",
    "legal",
    "links",
    "locales",
)


def _error(source: str, problems: list[str]) -> ConfigurationError:
    summary = f"shop config {source}: {len(problems)} problem(s): " + "; ".join(problems)
    return ConfigurationError(summary[:2000], source=source, errors=list(problems))


class _Problems:
    """Collects ``field: why`` strings."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, why: str) -> None:
        self.items.append(f"{where}: {why}")

    def unknown(self, table: Mapping[str, Any], known: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key not in known:
                hint = close_matches(str(key), known)
                why = "unknown field" + (f" (did you mean '{prefix}{hint[0]}'?)" if hint else "")
                self.add(f"{prefix}{key}", why)

    def get(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        check: Callable[[Any], Any],
        *,
        required: bool = False,
    ) -> Any:
        """``check(table[key])``, or ``None`` (problem recorded) when missing or invalid."""
        if key not in table:
            if required:
                self.add(where, "required")
            return None
        try:
            return check(table[key])
        except ValueError as exc:
            self.add(where, str(exc))
            return None


def _table(p: _Problems, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        p.add(key, "must be a table ([" + key + "])")
        return {}
    return value


def _section(
    p: _Problems, data: Mapping[str, Any], key: str, cls: Any, check: Callable[[Any], Any]
) -> Any:
    table = _table(p, data, key)
    names = tuple(f.name for f in dataclasses.fields(cls))
    p.unknown(table, names, f"{key}.")
    values = {n: p.get(table, n, f"{key}.{n}", check) for n in names}
    return cls(**{n: v for n, v in values.items() if v is not None})


def _text(max_length: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be text")
        if _CONTROLS.search(value):
            raise ValueError("must be one line (no control characters)")
        text = " ".join(value.split())
        if not text:
            raise ValueError("must not be empty")
        if len(text) > max_length:
            raise ValueError(f"longer than {max_length} characters")
        return text

    return check


def _email(value: Any) -> str:
    text = _text(254)(value)
    if not _EMAIL.fullmatch(text) or not text.isascii():
        raise ValueError(f"{text[:80]!r} is not an e-mail address (ASCII, local@domain)")
    return text


def _https_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text (an https URL)")
    if not _HTTPS_URL.fullmatch(value):
        raise ValueError(f"{value[:80]!r} is not a plain https URL")
    return value


def _color(value: Any) -> str:
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise ValueError(f"{str(value)[:20]!r} is not a colour like '#1f2937' or '#fff'")
    return value.lower()


def _time_zone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text (an IANA time zone such as 'Europe/Berlin')")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"{value[:60]!r} is not an IANA time zone such as 'Europe/Berlin'"
        ) from exc
    return value


def _hosts(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else None
    if items is None:
        raise ValueError("must be a list of host names")
    out = []
    for item in items:
        if not isinstance(item, str) or not _HOST.fullmatch(item.lower()):
            raise ValueError(f"{str(item)[:60]!r} is not a host name such as 'cdn.shop.example'")
        out.append(item.lower())
    return tuple(dict.fromkeys(out))


def _locale(value: Any) -> str:
    tag = normalize_tag(value) if isinstance(value, str) else ""
    if not tag:
        raise ValueError(f"{str(value)[:40]!r} is not a locale tag such as 'de' or 'de-AT'")
    from babel import Locale, UnknownLocaleError  # lazy: Babel is needed from here on anyway

    try:
        Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError) as exc:
        raise ValueError(f"{tag!r} is not a locale Babel knows") from exc
    return tag


def _locale_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty list of locale tags such as ['de', 'en']")
    return tuple(dict.fromkeys(_locale(item) for item in value))


def _locales(p: _Problems, table: Mapping[str, Any]) -> Locales:
    p.unknown(table, ("default", "supported", "fallback"), "locales.")
    default = p.get(table, "default", "locales.default", _locale) or DEFAULT_LOCALE
    if isinstance(table.get("fallback"), list):
        p.add(
            "locales.fallback",
            "must be one locale tag such as 'en' (the chain is the customer's locale and its "
            "shorter forms, then default and its shorter forms, then fallback)",
        )
        fallback = FALLBACK_LOCALE
    else:
        fallback = p.get(table, "fallback", "locales.fallback", _locale) or FALLBACK_LOCALE
    supported = p.get(table, "supported", "locales.supported", _locale_list) or ()
    if supported:
        keys = {tag.lower() for tag in supported}
        if not any(form.lower() in keys for form in lookup_forms(default)):
            p.add("locales.default", f"{default!r} (or its language) is not in locales.supported")
        if not any(form.lower() in keys for form in lookup_forms(fallback)):
            p.add("locales.fallback", f"{fallback!r} is not in locales.supported")
    return Locales(default=default, supported=supported, fallback=fallback)


def _logo(p: _Problems, table: Mapping[str, Any], hosts: tuple[str, ...]) -> Logo | None:
    p.unknown(table, ("source", "url", "alt", "width", "height"), "logo.")
    source = p.get(table, "source", "logo.source", _image_source)
    url = p.get(table, "url", "logo.url", _https_url)
    if ("source" in table) == ("url" in table):
        p.add("logo", "needs exactly one of source (an inline image) and url (an https image)")
    if url:
        host = url[len("https://") :].split("/", 1)[0].split(":", 1)[0].lower()
        if host not in hosts:
            p.add("logo.url", f"host {host!r} is not in image_hosts {list(hosts)}")
    width = p.get(table, "width", "logo.width", _pixels(16, MAX_LOGO_WIDTH))
    height = p.get(table, "height", "logo.height", _pixels(16, 400))
    return Logo(
        source=source or "",
        url=url or "",
        alt=p.get(table, "alt", "logo.alt", _text(200)) or "",
        width=width or DEFAULT_LOGO_WIDTH,
        height=height or 0,
    )


def _image_source(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an s3://bucket/key or a path of a .png, .jpg or .gif file")
    try:
        location = parse_location(value, "logo.source")
    except ConfigurationError as exc:
        raise ValueError(exc.reason.split(": ", 1)[-1]) from None
    if location.kind is LocationKind.SSM:
        raise ValueError("an image cannot be an SSM parameter: use s3://bucket/key or a path")
    if not location.value.lower().endswith(_IMAGE_SUFFIXES):
        raise ValueError(f"{value[:80]!r} is not a .png, .jpg or .gif file")
    return value.strip()


def _pixels(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number of pixels from {low} to {high}")
        return value

    return check


def _legal(p: _Problems, table: Mapping[str, Any]) -> Legal:
    names = ("company", "address", "register", "vat_id", "managing_directors")
    p.unknown(table, names, "legal.")
    values = {n: p.get(table, n, f"legal.{n}", _text(300)) for n in names[:4]}
    directors = p.get(table, "managing_directors", "legal.managing_directors", _directors)
    return Legal(
        **{n: v for n, v in values.items() if v is not None}, managing_directors=directors or ()
    )


def _directors(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError("must be a name or a non-empty list of names")
    return tuple(_text(120)(item) for item in items)


def _links(
    p: _Problems, table: Mapping[str, Any], locales: Locales
) -> Mapping[str, Mapping[str, str]]:
    p.unknown(table, LINK_NAMES, "links.")
    out: dict[str, Mapping[str, str]] = {}
    for name in LINK_NAMES:
        if name not in table:
            continue
        value = table[name]
        where = f"links.{name}"
        if not isinstance(value, Mapping):
            url = p.get(table, name, where, _https_url)
            if url:
                out[name] = MappingProxyType({"": url})
            continue
        urls: dict[str, str] = {}
        for tag in value:
            locale = p.get({"k": tag}, "k", f"{where}.{tag}", _locale)
            url = p.get(value, tag, f"{where}.{tag}", _https_url)
            if locale and url:
                urls[locale] = url
        if not value:
            p.add(where, "must be an https URL or a table of URLs by locale")
        elif urls and not locale_chain(locales.default, urls, locales.default, locales.default):
            p.add(where, f"needs an entry for the default locale {locales.default!r}")
        if urls:
            out[name] = MappingProxyType(urls)
    return MappingProxyType(out)
