"""Configuration a running function re-reads: the shop config, template overrides and routes.

Each is read through :class:`~shopmail.adapters.config_source.ConfigSource` (S3, SSM or a
packaged file; values cached ``CONFIG_CACHE_SECONDS``, default 300) and turned into what the
use case needs (a validated :class:`ShopConfig`, a template folder, a router) by
:class:`Reloading`, which builds it again only when the file's content changed. So a shop that
updates the S3 object or SSM parameter sees its change in every warm function within the cache
time, without a deploy.

Safe outcomes: the first read must succeed (else the error propagates: a
:class:`~shopmail.errors.ConfigurationError` keeps the work and raises the alarm); a later read
that fails, or a changed file that does not validate, keeps the last good value and is logged
(``config_reload_failed`` with the location and reason).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from shopmail.bootstrap.clients import AwsClients
from shopmail.config import Settings
from shopmail.errors import ShopmailError

if TYPE_CHECKING:
    from shopmail.adapters.config_source import ConfigSource

log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")


def config_source(settings: Settings, aws: AwsClients) -> ConfigSource:
    """The configuration reader on the function's clients, cached ``config_cache_seconds``."""
    from shopmail.adapters.config_source import ConfigSource  # lazy: Powertools parameters

    return ConfigSource(aws.s3(), aws.ssm, max_age=max(0, settings.config_cache_seconds))


class Reloading(Generic[R, T]):
    """A value built from a configuration file, rebuilt when the file's content changes.

    Parameters
    ----------
    what
        The location, for logs.
    read
        Returns the raw content (cheap while the reader's cache is fresh).
    build
        Validates the raw content and builds the value (raises a :class:`ShopmailError`).
    """

    def __init__(self, what: str, read: Callable[[], R], build: Callable[[R], T]) -> None:
        self.what = what
        self._read = read
        self._build = build
        self._raw: R | None = None
        self._rejected: R | None = None
        self._value: T | None = None

    def get(self) -> T:
        """The current value (see the module docs for what happens on failures)."""
        try:
            raw = self._read()
        except ShopmailError as exc:
            if self._value is None:
                raise
            self._log_kept(exc)
            return self._value
        if self._value is not None and (raw is self._raw or raw == self._raw):
            return self._value
        if self._value is not None and raw == self._rejected:
            return self._value
        try:
            value = self._build(raw)
        except ShopmailError as exc:
            if self._value is None:
                raise
            self._rejected = raw
            self._log_kept(exc)
            return self._value
        if self._value is not None:
            log.info("config_reloaded", extra={"location": self.what})
        self._raw, self._value, self._rejected = raw, value, None
        return value

    def _log_kept(self, exc: ShopmailError) -> None:
        log.error(
            "config_reload_failed",
            extra={"location": self.what, "reason": exc.reason[:500], "kept": "previous"},
        )
