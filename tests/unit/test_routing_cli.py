"""``shopmail route`` and ``shopmail routes check`` run in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shopmail.domain.outbound.message_ids import make_message_id

from shopmail_local.cli.main import main

SUPPORT_MAIL = (
    b"From: Kunde <kunde@kunde.example>\r\n"
    b"To: support+ORD-1001@shop.example, Orders <orders@shop.example>\r\n"
    b"Cc: SUPPORT+ORD-1001@shop.example, team@other.example\r\n"
    b"Subject: Frage zu Bestellung 55555\r\n"
    b"Message-ID: <m1@kunde.example>\r\n"
    b"\r\n"
    b"Hallo!\r\n"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def mails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ROUTES_FILE", raising=False)
    monkeypatch.delenv("MAIL_DOMAIN", raising=False)
    (tmp_path / "a-support.eml").write_bytes(SUPPORT_MAIL)
    mid = make_message_id("OrderPlaced", "ORD-100234", "k", "shop.example")
    (tmp_path / "b-reply.eml").write_bytes(
        b"From: k@kunde.example\nTo: shop@shop.example\nSubject: Re: Ihre Bestellung\n"
        b"In-Reply-To: " + mid.encode() + b"\n\nDanke\n"
    )
    (tmp_path / "c-none.eml").write_bytes(b"From: k@kunde.example\nSubject: hi\n\nbody\n")
    (tmp_path / "d-junk.eml").write_bytes(b"\x00\x01 this is not mail at all")
    return tmp_path


def test_route_without_recipient_uses_to_and_cc(
    mails: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = run(capsys, "route", str(mails / "a-support.eml"))
    assert code == 0
    assert [r["recipient"] for r in rows] == [
        "support+ORD-1001@shop.example",
        "orders@shop.example",
        "team@other.example",
    ]
    assert [r["route"] for r in rows] == ["support", "orders", "catch-all"]
    first = rows[0]
    for key in ("file", "recipient", "route", "actions", "detail_type", "tag"):
        assert key in first
    for key in ("order_numbers", "captures", "why"):
        assert key in first
    assert first["file"].endswith("a-support.eml")
    assert first["tag"] == "ORD-1001"
    assert first["order_numbers"] == ["ORD-1001", "55555"]
    assert first["actions"] == ["publish", "store_attachments", "auto_reply"]
    assert first["detail_type"] == "SupportMessageReceived"


def test_route_directory_with_errors_goes_on(
    mails: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = run(capsys, "route", str(mails))
    assert code == 1  # one file could not be parsed
    by_file: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_file.setdefault(Path(row["file"]).name, []).append(row)
    assert [r["route"] for r in by_file["b-reply.eml"]] == ["customer-reply"]
    assert by_file["b-reply.eml"][0]["order_id"] == "ORD-100234"
    none = by_file["c-none.eml"]
    assert len(none) == 1 and none[0]["recipient"] is None and none[0]["route"] == "catch-all"
    junk = by_file["d-junk.eml"]
    assert len(junk) == 1 and set(junk[0]) == {"file", "error"}


def test_route_with_recipients_and_verdicts(
    mails: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = str(mails / "a-support.eml")
    code, rows = run(
        capsys, "route", f, "--recipient", "returns@shop.example", "--recipient", "x@shop.example"
    )
    assert code == 0
    assert [(r["recipient"], r["route"]) for r in rows] == [
        ("returns@shop.example", "returns"),
        ("x@shop.example", "catch-all"),
    ]
    _, rows = run(
        capsys, "route", f, "--recipient", "support@shop.example", "--verdict", "spam=FAIL"
    )
    assert rows[0]["route"] == "policy:spam" and rows[0]["actions"] == ["quarantine"]
    _, rows = run(
        capsys,
        "route",
        f,
        "--recipient",
        "support@shop.example",
        "--verdict",
        "dmarc=fail",
        "--verdict",
        "dmarc_policy=none",
    )
    assert rows[0]["route"] == "support" and "auto_reply" not in rows[0]["actions"]


def test_route_mail_domain_option(mails: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = str(mails / "a-support.eml")
    _, rows = run(capsys, "route", f, "--mail-domain", "laden.example")
    assert {r["route"] for r in rows} == {"catch-all"}
    _, rows = run(
        capsys, "route", f, "--mail-domain", "kunde.example", "--recipient", "support@kunde.example"
    )
    # the sender is on our (overridden) domain: routed, but never auto-replied to
    assert rows[0]["route"] == "support"
    assert rows[0]["auto_reply"]["allowed"] is False
    assert "own domain" in rows[0]["auto_reply"]["reason"]


def test_route_custom_routes_file(
    mails: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = tmp_path / "r.toml"
    routes.write_text(
        '[[rules]]\nname = "all"\nactions = [{ type = "drop", reason = "test" }]\n', "utf-8"
    )
    _, rows = run(capsys, "route", str(mails / "c-none.eml"), "--routes", str(routes))
    assert rows[0]["route"] == "all" and rows[0]["actions"] == ["drop"]


def test_route_bad_options(mails: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", str(mails), "--verdict", "spam"]) == 2
    assert main(["route", str(mails), "--verdict", "spam=MAYBE"]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]]\nname = 1\n", "utf-8")
    assert main(["route", str(mails), "--routes", str(bad)]) == 2
    assert "field 'name'" in capsys.readouterr().err


def test_routes_check_default_and_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROUTES_FILE", raising=False)
    assert main(["routes", "check"]) == 0
    out = capsys.readouterr().out
    assert "OK, 8 rule(s)" in out and "support" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[rules]]\nname = "x"\nmatch = { subjct = "(" }\nactions = [{ type = "publsh" }]\n',
        "utf-8",
    )
    assert main(["routes", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "INVALID (2 problem(s))" in out
    assert "rule #1 'x': field 'match.subjct'" in out
    assert "did you mean 'publish'" in out
    monkeypatch.setenv("ROUTES_FILE", str(bad))
    assert main(["routes", "check", "-q"]) == 1
    assert main(["routes", "check", str(tmp_path / "missing.toml")]) == 1
