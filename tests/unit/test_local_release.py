"""Release options of ``shopmail run`` and the release target's address checks (no network)."""

from __future__ import annotations

import argparse

import pytest

from shopmail_local.cli.commands.run import release_target
from shopmail_local.cli.main import build_parser
from shopmail_local.stack.release import (
    PASSWORD_ENV,
    ReleaseError,
    ReleaseTarget,
    ReleaseTls,
    parse_host_port,
)


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", *argv])


def test_release_is_off_unless_a_server_is_given() -> None:
    assert release_target(_args()) is None
    assert _args().reset is False and _args("--reset").reset is True


def test_release_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    target = release_target(
        _args("--release-smtp", "smtp.example.net:465", "--release-tls", "tls",
              "--release-user", "me", "--release-allow", r".*@example\.net")
    )  # fmt: skip
    assert target == ReleaseTarget(
        "smtp.example.net", 465, ReleaseTls.TLS, "me", "s3cret", "", r".*@example\.net"
    )
    assert "s3cret" not in target.label


def test_bad_release_options_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(ValueError, match="HOST:PORT"):
        release_target(_args("--release-smtp", "host:notaport"))
    with pytest.raises(ValueError, match="regular expression"):
        release_target(_args("--release-smtp", "h:25", "--release-allow", "("))
    with pytest.raises(ValueError, match=PASSWORD_ENV):
        release_target(_args("--release-smtp", "h:25", "--release-user", "me"))


def test_host_port_parsing() -> None:
    assert parse_host_port("smtp.example.net") == ("smtp.example.net", 587)
    assert parse_host_port("[::1]:2525") == ("::1", 2525)
    for bad in ("", ":25", "h:0", "h:70000"):
        with pytest.raises(ValueError):
            parse_host_port(bad)


def test_recipients_are_checked_before_anything_is_sent() -> None:
    target = ReleaseTarget("127.0.0.1", 1, allow=r"[^@]+@example\.net")
    assert target.check_recipient("  tester@example.net ") == "tester@example.net"
    assert target.check_recipient("TESTER@EXAMPLE.NET") == "TESTER@EXAMPLE.NET"
    for bad in ("tester@example.org", "a@b@example.net", "x\r\nRCPT TO:<y@example.net>", ""):
        with pytest.raises(ReleaseError):
            target.check_recipient(bad)
    with pytest.raises(ReleaseError, match="not an e-mail address"):
        ReleaseTarget("127.0.0.1", 1).check_recipient("no address")
