"""``shopmail parse``: one JSON line per file, errors reported per file, the run goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shopmail_local.cli.main import main


def _write(folder: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "good.eml").write_bytes(
        b"From: Kunde <kunde@example.de>\r\nTo: support@shop.example\r\n"
        b"Subject: =?utf-8?q?R=C3=BCckfrage?=\r\nMessage-ID: <m@example.de>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + ("Neue Frage.\r\n\r\nAm 1.3.2026 schrieb Shop:\r\n> alt\r\n" * 1).encode()
        + b"x" * 10_000
    )
    (folder / "sub" / "bad.txt").write_bytes(b"no headers here at all\n")
    (folder / "sub" / "empty.eml").write_bytes(b"")
    (folder / ".hidden").write_bytes(b"From: a@b\r\n\r\nx")


def test_parse_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path)
    assert main(["parse", "--max-body", "100", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {Path(item["file"]).name: item for item in lines}
    assert set(by_name) == {"good.eml", "bad.txt", "empty.eml"}
    good = by_name["good.eml"]
    assert good["subject"] == "Rückfrage"
    assert good["from"] == [{"name": "Kunde", "address": "kunde@example.de"}]
    assert good["message_id"] == "<m@example.de>"
    assert len(good["text"]) == 100
    assert good["text_length"] > 10_000
    assert good["reply_text"].startswith("Neue Frage.")
    assert "error" not in good
    assert "header" in by_name["bad.txt"]["error"]
    assert by_name["empty.eml"]["code"] == "invalid_message"


def test_parse_strict_and_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path)
    assert main(["parse", "--strict", str(tmp_path / "sub")]) == 1
    assert main(["parse", str(tmp_path / "nothing-here")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[-1])["code"] == "io"


def test_parse_corpus_folder_in_one_process(
    corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(corpus_dir / "imap-tools" / "tests")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) > 100
    assert sum("error" in item for item in lines) == 0
