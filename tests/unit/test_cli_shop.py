"""A shop sees its mail before deploying: render/preview with --shop-config and --templates
(or SHOP_CONFIG/TEMPLATES_LOCATION), and ``templates check`` for its CI."""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from shopmail_local.cli.main import main
from tests.fixtures.paths import EVENTS
from tests.fixtures.shop import PNG, SHOP_TOML, write_override

ORDER_PLACED = str(EVENTS / "outbound" / "OrderPlaced.json")


@pytest.fixture
def shop_toml(tmp_path: Path) -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(SHOP_TOML, encoding="utf-8")
    return path


@pytest.fixture
def overrides(tmp_path: Path) -> Path:
    """An override folder with a changed ``de/OrderPlaced.html``."""
    folder = tmp_path / "overrides"
    insert = '<p class="roast">Frisch geröstet!</p>'
    write_override(folder, "de/OrderPlaced.html", "OrderPlaced.html", insert)
    return folder


def rendered(out: bytes) -> tuple[EmailMessage, str, str]:
    msg = email.message_from_bytes(out, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return msg, text.get_content(), html.get_content()


def test_render_with_a_shop_config_shows_the_shops_name_and_legal_block(
    shop_toml: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    args = ["render", ORDER_PLACED, "--locale", "de", "--shop-config", str(shop_toml)]
    assert main(args) == 0
    msg, text, html = rendered(capsysbinary.readouterr().out)
    assert msg["From"].addresses[0].display_name == "Kaffeerösterei Müller"
    assert msg["From"].addresses[0].addr_spec == "shop@shop.example"
    for part in (text, html):
        assert "Kaffeerösterei Müller GmbH" in part and "Röstweg 1, 34117 Kassel" in part
        assert "Handelsregister: Amtsgericht Kassel HRB 4711" in part
        assert "USt-IdNr.: DE123456789" in part
    assert "Ihr Kaffeerösterei Müller-Team" in text
    # without it: the shipped look
    assert main(["render", ORDER_PLACED, "--locale", "de"]) == 0
    msg, text, html = rendered(capsysbinary.readouterr().out)
    assert str(msg["From"]) == "shop@shop.example" and "DE123456789" not in text + html


def test_the_environment_names_the_shop_as_well(
    shop_toml: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_CONFIG", str(shop_toml))
    assert main(["render", ORDER_PLACED]) == 0
    msg, text, _ = rendered(capsysbinary.readouterr().out)
    assert msg["From"].addresses[0].display_name == "Kaffeerösterei Müller"
    assert "DE123456789" in text


def test_render_with_templates_changes_the_html_of_that_language(
    overrides: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["render", ORDER_PLACED, "--locale", "de", "--templates", str(overrides)]) == 0
    _, text, html = rendered(capsysbinary.readouterr().out)
    assert '<p class="roast">Frisch geröstet!</p>' in html
    assert "Frisch geröstet" not in text  # only the HTML file was overridden
    assert main(["render", ORDER_PLACED, "--locale", "en", "--templates", str(overrides)]) == 0
    _, _, html = rendered(capsysbinary.readouterr().out)
    assert "Frisch geröstet" not in html  # other languages keep the shared template
    monkeypatch.setenv("TEMPLATES_LOCATION", str(overrides))
    assert main(["render", ORDER_PLACED, "--locale", "de"]) == 0
    _, _, html = rendered(capsysbinary.readouterr().out)
    assert "Frisch geröstet!" in html


def test_an_invalid_shop_config_is_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "shop.toml"
    bad.write_text('name = "K"\n[colors]\naccent = "braun"\n', encoding="utf-8")
    assert main(["render", ORDER_PLACED, "--shop-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("shopmail render: error: shop config ")
    assert "colors.accent: 'braun' is not a colour" in err and len(err.splitlines()) == 1
    missing = tmp_path / "nope.toml"
    assert main(["preview", ORDER_PLACED, "--out", str(tmp_path), "--shop-config", str(missing)])
    assert "cannot read" in capsys.readouterr().err


def test_preview_shows_the_inline_logo_and_only_the_supported_languages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "overrides"
    folder.mkdir()
    (folder / "logo.png").write_bytes(PNG)
    shop = tmp_path / "shop.toml"
    shop.write_text(
        'name = "K"\n[logo]\nsource = "logo.png"\n[locales]\nsupported = ["de", "en", "fr"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "preview"
    args = ["preview", ORDER_PLACED, "--out", str(out), "--all-locales"]
    assert main([*args, "--shop-config", str(shop), "--templates", str(folder)]) == 0
    assert sorted(p.name for p in out.glob("*.html")) == [
        "OrderPlaced.de.html",
        "OrderPlaced.en.html",
        "OrderPlaced.fr.html",
    ]
    html = (out / "OrderPlaced.de.html").read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in html and "cid:" not in html


def test_a_logo_next_to_the_config_file_is_found(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    (tmp_path / "brand").mkdir()
    (tmp_path / "brand" / "logo.png").write_bytes(PNG)
    shop = tmp_path / "shop.toml"
    shop.write_text('name = "K"\n[logo]\nsource = "brand/logo.png"\n', encoding="utf-8")
    assert main(["render", ORDER_PLACED, "--shop-config", str(shop)]) == 0
    msg, _, html = rendered(capsysbinary.readouterr().out)
    (logo,) = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert logo.get_content() == PNG and f"cid:{logo['Content-ID'][1:-1]}" in html


# --- templates check -------------------------------------------------------------------------


def check(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[Any]]:
    code = main(["templates", "check", str(folder), *extra])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, lines


def test_templates_check_passes_a_good_folder(
    overrides: Path, shop_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (overrides / "de" / "strings.json").write_text(
        json.dumps({"closing": "Herzliche Grüße", "custom": {"roast": "Frisch geröstet!"}}),
        encoding="utf-8",
    )
    code, lines = check(overrides, capsys, "--shop-config", str(shop_toml))
    assert code == 0, [line for line in lines if line.get("ok") is False]
    summary = lines[-1]
    assert summary["check"] == "summary" and summary["ok"] is True and summary["failed"] == 0
    samples = len(list((EVENTS / "outbound").glob("*.json")))
    assert summary["renders"] == samples * 7 and summary["languages"] == 7
    assert summary["files"] == 2
    files = {line["file"]: line for line in lines if line["check"] == "file"}
    assert set(files) == {"de/OrderPlaced.html", "de/strings.json"}
    renders = [line for line in lines if line["check"] == "render"]
    assert {line["locale"] for line in renders} == {"de", "en", "es", "fr", "it", "nl", "pl"}
    assert all(line["subject"] for line in renders)
    assert any(line["check"] == "shop_config" and line["ok"] for line in lines)


def test_templates_check_reports_a_broken_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "broken"
    insert = "{{ tracking_url }}{{ t.nope }}"
    write_override(folder, "de/OrderShipped.html", "OrderShipped.html", insert)
    (folder / "OrderPlaced.txt").write_text("{% if %}", encoding="utf-8")
    (folder / "de" / "strings.json").write_text('{"signatur": "x"}', encoding="utf-8")
    (folder / "fr").mkdir()
    (folder / "fr" / "notes.md").write_text("x", encoding="utf-8")
    code, lines = check(folder, capsys)
    assert code == 1
    files = {line["file"]: line for line in lines if line["check"] == "file"}
    shipped = files["de/OrderShipped.html"]
    assert not shipped["ok"]
    assert any("unknown variable 'tracking_url'" in p for p in shipped["problems"])
    assert any("unknown t.nope" in p for p in shipped["problems"])
    assert (
        not files["OrderPlaced.txt"]["ok"] and "line 1" in files["OrderPlaced.txt"]["problems"][0]
    )
    assert "signatur" in files["de/strings.json"]["problems"][0]
    assert not files["fr/notes.md"]["ok"]
    failed = [line for line in lines if line["check"] == "render" and not line["ok"]]
    assert {(line["event"], line["locale"]) for line in failed} >= {("OrderShipped.json", "de")}
    assert all(line["template"] in ("OrderPlaced", "OrderShipped") for line in failed)
    assert lines[-1]["ok"] is False and lines[-1]["failed"] == sum(
        1 for line in lines[:-1] if line.get("ok") is False
    )


def test_templates_check_reports_an_incomplete_new_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "sv"
    (folder / "sv").mkdir(parents=True)
    (folder / "sv" / "strings.json").write_text('{"subjects": {}}', encoding="utf-8")
    code, lines = check(folder, capsys)
    assert code == 1
    (sv,) = [line for line in lines if line["check"] == "language" and line["language"] == "sv"]
    assert not sv["ok"] and any("lacks" in p for p in sv["problems"])


def test_templates_check_needs_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "check", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
