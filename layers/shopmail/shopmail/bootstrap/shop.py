"""A shop's outbound mail: its configuration and template overrides around render and build.

:class:`ShopMail` gives the outbound use case its ``renderer`` and ``builder``:

* ``SHOP_CONFIG`` (``s3://...``, ``ssm:/...`` or a path) is read and validated on the first
  render, not at import (a cold start loads neither Jinja2 nor Babel for it), with its inline
  logo (``logo.source``: an ``s3://`` object, a file of the template overrides, or a file next
  to a configuration file);
* ``TEMPLATES_LOCATION`` (``s3://bucket/prefix/`` or a folder) is laid over the shipped
  templates file by file into a temporary folder
  (:func:`~shopmail.domain.outbound.template_overlay.build_overlay`), which the renderer then
  uses like the shipped one;
* both are kept for the container and re-read after ``CONFIG_CACHE_SECONDS``
  (:class:`~shopmail.bootstrap.remote_config.Reloading`: rebuilt only when they changed, the
  last good one kept when a change is broken).

Without either setting mail is rendered exactly as the shipped templates render it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopmail.bootstrap.clients import AwsClients
from shopmail.bootstrap.remote_config import Reloading, config_source
from shopmail.config import ENV_NAMES, Settings
from shopmail.domain.locations import Location, LocationKind, parse_location
from shopmail.errors import ConfigurationError

if TYPE_CHECKING:
    from shopmail.adapters.config_source import ConfigSource
    from shopmail.domain.inbound.acknowledgement import ReplyShop
    from shopmail.domain.outbound.contracts import ShopEvent
    from shopmail.domain.outbound.mime_build import BuiltMessage
    from shopmail.domain.outbound.rendering import RenderedMail
    from shopmail.domain.outbound.shop_config import ShopConfig
    from shopmail.domain.outbound.template_overlay import Overlay

log = logging.getLogger(__name__)


class ShopMail:
    """Renders and builds a shop's mail (see the module docs).

    Parameters
    ----------
    settings
        ``SHOP_CONFIG``, ``TEMPLATES_LOCATION``, ``CONFIG_CACHE_SECONDS``.
    clients
        The AWS clients S3/SSM locations are read with (created on first use).
    source
        A ready reader instead (the CLI's); default: :func:`config_source` on ``clients``.
    """

    def __init__(
        self,
        settings: Settings,
        clients: AwsClients | None = None,
        *,
        source: ConfigSource | None = None,
    ) -> None:
        self.settings = settings
        self._clients = clients
        self._source = source
        self._shop: Reloading[Any, ShopConfig] | None = None
        self._overlay: Reloading[Mapping[str, bytes], Overlay] | None = None
        self._overlay_root: Path | None = None
        if settings.shop_config:
            location = parse_location(settings.shop_config, ENV_NAMES["shop_config"])
            self._shop = Reloading(
                str(location),
                lambda: (self.source().read_bytes(location), self._assets()),
                lambda raw: self._load_shop(location, raw[0], raw[1]),
            )
        if settings.templates_location:
            where = parse_location(settings.templates_location, ENV_NAMES["templates_location"])
            self._overlay = Reloading(
                str(where), lambda: self.source().read_tree(where), self._load_overlay
            )

    def source(self) -> ConfigSource:
        """The configuration reader (created on first use)."""
        if self._source is None:
            self._source = config_source(self.settings, self._clients or _no_clients())
        return self._source

    def shop(self) -> ShopConfig:
        """The shop's configuration (the shipped look when ``SHOP_CONFIG`` is not set)."""
        if self._shop is None:
            from shopmail.domain.outbound.shop_config import DEFAULT_SHOP

            return DEFAULT_SHOP
        return self._shop.get()

    def template_dir(self) -> Path | None:
        """The template folder with the overrides applied (``None``: the shipped one)."""
        return None if self._overlay is None else self._overlay.get().root

    def render(self, event: ShopEvent, settings: Settings) -> RenderedMail:
        """:func:`~shopmail.domain.outbound.rendering.render` with the shop and its templates."""
        from shopmail.domain.outbound.rendering import render

        template_dir = self.template_dir()
        return render(event, settings, shop=self.shop(), template_dir=template_dir)

    def build(
        self, event: ShopEvent, rendered: RenderedMail, settings: Settings, **kwargs: Any
    ) -> BuiltMessage:
        """:func:`~shopmail.domain.outbound.mime_build.build_message` with the shop's names
        (without ``SHOP_CONFIG`` the headers are the settings' alone)."""
        from shopmail.domain.outbound.mime_build import build_message

        shop = self.shop() if self._shop is not None else None
        return build_message(event, rendered, settings, shop=shop, **kwargs)

    # --- loading ---------------------------------------------------------------------------

    def _assets(self) -> Mapping[str, bytes]:
        return {} if self._overlay is None else self._overlay.get().assets

    def _load_shop(self, location: Location, raw: bytes, assets: Mapping[str, bytes]) -> ShopConfig:
        from shopmail.domain.outbound.shop_config import parse_shop_config, sniff_image

        shop = parse_shop_config(raw, str(location))
        if shop.logo is None or not shop.logo.source:
            return shop
        logo = parse_location(shop.logo.source, "logo.source")
        if logo.kind is LocationKind.S3:
            data = self.source().read_bytes(logo)
        elif logo.value in assets:
            data = assets[logo.value]
        elif Path(logo.value).is_absolute() or location.kind is LocationKind.FILE:
            path = Path(location.value).parent / logo.value
            data = self.source().read_bytes(parse_location(str(path)))
        else:
            raise ConfigurationError(
                f"shop config {location}: logo.source {logo.value!r} is not among the template "
                "overrides (TEMPLATES_LOCATION); put it there or name an s3:// object",
                source=str(location),
            )
        return shop.with_logo_image(sniff_image(data, shop.logo.source))

    def _load_overlay(self, files: Mapping[str, bytes]) -> Overlay:
        from shopmail.domain.outbound.template_catalog import load_catalog
        from shopmail.domain.outbound.template_overlay import build_overlay

        folder = Path(tempfile.mkdtemp(prefix="shopmail-templates-"))
        try:
            overlay = build_overlay(files, folder / "templates")
            catalog = load_catalog(overlay.root)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ConfigurationError(f"template overrides: cannot be laid out: {exc}") from exc
        for name, why in overlay.problems.items():
            log.error("template_override_skipped", extra={"file": name, "reason": why})
        if not catalog.languages:
            shutil.rmtree(folder, ignore_errors=True)
            raise ConfigurationError(
                "template overrides leave no valid language: "
                + "; ".join(f"{k}: {', '.join(v[:3])}" for k, v in catalog.problems.items())[:400]
            )
        log.info(
            "template_overrides_loaded",
            extra={"files": len(overlay.applied), "languages": list(catalog.languages)},
        )
        previous, self._overlay_root = self._overlay_root, folder
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        return overlay


def reply_shop(
    settings: Settings, clients: AwsClients, *, source: ConfigSource | None = None
) -> Callable[[], ReplyShop] | None:
    """The shop answering inbound auto-replies: name and locales of ``SHOP_CONFIG``.

    Only the configuration file is read (no logo, no template overrides), on the first reply,
    kept and re-read like :class:`ShopMail`'s; ``None`` when ``SHOP_CONFIG`` is not set.
    """
    if not settings.shop_config:
        return None
    location = parse_location(settings.shop_config, ENV_NAMES["shop_config"])
    reader: list[ConfigSource] = [source] if source is not None else []

    def read() -> bytes:
        if not reader:
            reader.append(config_source(settings, clients))
        return reader[0].read_bytes(location)

    def build(raw: bytes) -> ReplyShop:
        from shopmail.domain.inbound.acknowledgement import ReplyShop
        from shopmail.domain.outbound.shop_config import parse_shop_config

        shop = parse_shop_config(raw, str(location))
        return ReplyShop(
            name=shop.sender_name("transactional"),
            languages=(shop.locales.default, shop.locales.fallback),
        )

    return Reloading(str(location), read, build).get


def _no_clients() -> AwsClients:
    def refuse(service: str) -> Any:
        raise ConfigurationError(f"no AWS clients to read the configuration ({service})")

    return AwsClients(refuse)
