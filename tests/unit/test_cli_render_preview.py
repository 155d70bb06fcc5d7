"""The ``shopmail render`` and ``shopmail preview`` commands."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest
from shopmail.domain.outbound.message_ids import parse_message_id

from shopmail_local.cli.main import main
from tests.fixtures.paths import EVENTS

OUTBOUND = EVENTS / "outbound"


def test_render_prints_the_exact_message(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    args = ["render", str(OUTBOUND / "OrderPlaced.json"), "--date", "2026-11-28T10:00:00Z"]
    assert main(args) == 0
    first = capsysbinary.readouterr().out
    assert main(args) == 0
    assert capsysbinary.readouterr().out == first  # reproducible with a fixed date
    msg = email.message_from_bytes(first, policy=policy.default)
    assert msg["Subject"] == "Ihre Bestellung 100234 ist eingegangen"
    assert msg["Date"] == "Sat, 28 Nov 2026 10:00:00 +0000"
    ref = parse_message_id(str(msg["Message-ID"]))
    assert ref is not None and ref.aggregate_id == "ORD-100234"
    assert first.endswith(b"\r\n") and b"\r\n\r\n" in first


def test_render_locale_override(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["render", str(OUTBOUND / "OrderPlaced.json"), "--locale", "en"]) == 0
    msg = email.message_from_bytes(capsysbinary.readouterr().out, policy=policy.default)
    assert msg["Subject"] == "We have received your order 100234"


def test_render_invoice_uses_attachment_folder(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    (tmp_path / "RE-2026-000451.pdf").write_bytes(b"%PDF-1.7 real invoice")
    invoice = str(OUTBOUND / "InvoiceIssued.json")
    assert main(["render", invoice, "--attachments", str(tmp_path)]) == 0
    captured = capsysbinary.readouterr()
    msg = email.message_from_bytes(captured.out, policy=policy.default)
    (att,) = list(msg.iter_attachments())
    assert att.get_content() == b"%PDF-1.7 real invoice"
    assert captured.err == b""
    assert main(["render", invoice]) == 0  # no folder: placeholder and a note
    captured = capsysbinary.readouterr()
    assert b"placeholder PDF" in captured.err
    msg = email.message_from_bytes(captured.out, policy=policy.default)
    (att,) = list(msg.iter_attachments())
    assert att.get_content().startswith(b"%PDF-1.4")


def test_render_invalid_event_exits_1(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    bad = json.loads((OUTBOUND / "OrderPlaced.json").read_text(encoding="utf-8"))
    del bad["detail"]["order"]["total"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    assert main(["render", str(path)]) == 1
    captured = capsysbinary.readouterr()
    assert captured.out == b""
    assert b"detail.order.total is required" in captured.err


def test_preview_writes_html_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "preview"
    events = [str(OUTBOUND / "OrderShipped.json"), str(OUTBOUND / "RefundIssued.json")]
    assert main(["preview", *events, "--out", str(out), "--all-locales"]) == 0
    names = sorted(p.name for p in out.iterdir())
    languages = ("de", "en", "es", "fr", "it", "nl", "pl")  # every language folder
    assert names == sorted(
        f"{event}.{lang}.{ext}"
        for event in ("OrderShipped", "RefundIssued")
        for lang in languages
        for ext in ("html", "txt")
    )
    html = (out / "OrderShipped.de.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Sendung verfolgen" in html
    text = (out / "RefundIssued.en.txt").read_text(encoding="utf-8")
    assert text.startswith("Subject: Refund for your order 100234\n")
    assert "Refund for your order 100234" in capsys.readouterr().out
    text = (out / "OrderShipped.fr.txt").read_text(encoding="utf-8")
    assert text.startswith("Subject: Votre commande n°\xa0100234 est en route\n")
