"""Configuration a running function re-reads: rebuilt on change, the last good one kept."""

from __future__ import annotations

import logging

import pytest
from shopmail.bootstrap.remote_config import Reloading
from shopmail.domain.locations import LocationKind, parse_location
from shopmail.errors import ConfigurationError, ServiceUnavailableError


class Source:
    """What the reader returns next (or raises)."""

    def __init__(self, value: object) -> None:
        self.value = value
        self.reads = 0

    def read(self) -> object:
        self.reads += 1
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


def build(raw: object) -> str:
    if raw == "broken":
        raise ConfigurationError("does not validate")
    return f"built({raw})"


class Builds:
    """:func:`build`, remembering what it was given."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    def __call__(self, raw: object) -> str:
        self.seen.append(raw)
        return build(raw)


def test_the_value_is_built_once_and_rebuilt_only_on_change() -> None:
    source, builds = Source("v1"), Builds()
    value = Reloading("s3://cfg-bucket/shop.toml", source.read, builds)
    assert value.get() == "built(v1)" and value.get() == "built(v1)"
    assert builds.seen == ["v1"] and source.reads == 2  # read each time (the reader caches)
    source.value = "v2"
    assert value.get() == "built(v2)" and builds.seen == ["v1", "v2"]


def test_the_first_failure_propagates() -> None:
    with pytest.raises(ConfigurationError, match="does not validate"):
        Reloading("x", Source("broken").read, build).get()
    with pytest.raises(ServiceUnavailableError):
        Reloading("x", Source(ServiceUnavailableError("throttled")).read, build).get()


def test_a_broken_change_keeps_the_last_good_value_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, builds = Source("v1"), Builds()
    value = Reloading("ssm:/shopmail/routes", source.read, builds)
    value.get()
    source.value = "broken"
    with caplog.at_level(logging.ERROR):
        assert value.get() == "built(v1)"
        assert value.get() == "built(v1)"
    assert builds.seen == ["v1", "broken"]  # a rejected content is not validated again
    (record,) = [r for r in caplog.records if r.getMessage() == "config_reload_failed"]
    assert record.__dict__["location"] == "ssm:/shopmail/routes"
    assert "does not validate" in record.__dict__["reason"]
    source.value = "v3"  # fixed: picked up
    assert value.get() == "built(v3)"


def test_a_failing_read_later_keeps_the_last_good_value(caplog: pytest.LogCaptureFixture) -> None:
    source = Source("v1")
    value = Reloading("s3://cfg-bucket/shop.toml", source.read, build)
    value.get()
    source.value = ServiceUnavailableError("S3 throttled")
    with caplog.at_level(logging.ERROR):
        assert value.get() == "built(v1)"
    assert any(r.getMessage() == "config_reload_failed" for r in caplog.records)


@pytest.mark.parametrize(
    ("text", "kind", "value", "bucket"),
    [
        ("s3://kaffee-config/shop/shop.toml", LocationKind.S3, "shop/shop.toml", "kaffee-config"),
        ("s3://kaffee-config/", LocationKind.S3, "", "kaffee-config"),
        ("ssm:/shopmail/shop", LocationKind.SSM, "/shopmail/shop", ""),
        ("ssm:shop-config", LocationKind.SSM, "shop-config", ""),
        ("/opt/shop/shop.toml", LocationKind.FILE, "/opt/shop/shop.toml", ""),
        ("shop.toml", LocationKind.FILE, "shop.toml", ""),
    ],
)
def test_locations(text: str, kind: LocationKind, value: str, bucket: str) -> None:
    location = parse_location(text)
    assert (location.kind, location.value, location.bucket) == (kind, value, bucket)
    assert str(location) == text
    assert location.remote is (kind is not LocationKind.FILE)


@pytest.mark.parametrize(
    "text", ["s3://", "s3://B/x", "s3://a/x", "ssm:/a b", "ssm://double", "https://x/y.toml"]
)
def test_bad_locations_are_configuration_errors_naming_the_setting(text: str) -> None:
    with pytest.raises(ConfigurationError, match="SHOP_CONFIG"):
        parse_location(text, "SHOP_CONFIG")
