"""Template overrides laid over the shipped templates, file by file and per language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shopmail.config import Settings
from shopmail.domain.outbound.contracts import ShopEvent, validate, with_locale
from shopmail.domain.outbound.rendering import TEMPLATE_DIR, available_languages, render
from shopmail.domain.outbound.template_catalog import load_catalog
from shopmail.domain.outbound.template_overlay import (
    MAX_FILES,
    build_overlay,
    read_folder,
    template_file_problem,
)

from tests.fixtures.paths import EVENTS
from tests.fixtures.shop import override_page

SETTINGS = Settings(mail_domain="shop.example")
SEVEN = ("de", "en", "es", "fr", "it", "nl", "pl")


def event(name: str, locale: str) -> ShopEvent:
    raw = json.loads((EVENTS / "outbound" / f"{name}.json").read_text(encoding="utf-8"))
    return with_locale(validate(raw), locale)


def shipped(name: str) -> str:
    return (TEMPLATE_DIR / name).read_text(encoding="utf-8")


def strings(**changes: object) -> bytes:
    return json.dumps(changes, ensure_ascii=False).encode("utf-8")


def test_without_overrides_the_folder_renders_as_the_shipped_one(tmp_path: Path) -> None:
    overlay = build_overlay({}, tmp_path / "t")
    assert overlay.applied == () and overlay.problems == {}
    assert load_catalog(overlay.root).languages == SEVEN
    for lang in SEVEN:
        ev = event("OrderPlaced", lang)
        assert render(ev, SETTINGS, template_dir=overlay.root) == render(ev, SETTINGS)
    assert not (overlay.root / "README.md").exists()  # only templates are copied


def test_a_language_file_overrides_that_language_only(tmp_path: Path) -> None:
    changed = override_page("OrderPlaced.html", "<p>Frisch geröstet für Sie!</p>")
    overlay = build_overlay({"de/OrderPlaced.html": changed.encode()}, tmp_path / "t")
    assert overlay.applied == ("de/OrderPlaced.html",)
    de = render(event("OrderPlaced", "de-DE"), SETTINGS, template_dir=overlay.root)
    assert "<p>Frisch geröstet für Sie!</p>" in de.html
    assert de.text == render(event("OrderPlaced", "de-DE"), SETTINGS).text  # .txt unchanged
    en = render(event("OrderPlaced", "en"), SETTINGS, template_dir=overlay.root)
    assert en == render(event("OrderPlaced", "en"), SETTINGS)


def test_a_shared_file_overrides_every_language(tmp_path: Path) -> None:
    changed = shipped("layout.txt").replace("-- \n", "-- \nRösterei seit 1921\n")
    overlay = build_overlay({"layout.txt": changed.encode()}, tmp_path / "t")
    for lang in SEVEN:
        mail = render(event("OrderShipped", lang), SETTINGS, template_dir=overlay.root)
        assert "Rösterei seit 1921" in mail.text
        assert mail.html == render(event("OrderShipped", lang), SETTINGS).html


def test_strings_are_merged_key_by_key_and_other_languages_stay_valid(tmp_path: Path) -> None:
    files = {
        "de/strings.json": strings(
            closing="Herzliche Grüße aus Kassel",
            OrderPlaced={"intro": "danke für Ihre Bestellung!"},
            custom={"note": "Frisch geröstet."},
        ),
        "fr/strings.json": strings(closing="Bien à vous,"),
    }
    overlay = build_overlay(files, tmp_path / "t")
    assert overlay.problems == {}
    catalog = load_catalog(overlay.root)
    assert catalog.languages == SEVEN and catalog.problems == {}  # "custom" is the shop's own
    merged = json.loads((overlay.root / "de" / "strings.json").read_text(encoding="utf-8"))
    assert merged["closing"] == "Herzliche Grüße aus Kassel"
    assert merged["OrderPlaced"]["intro"] == "danke für Ihre Bestellung!"
    assert merged["OrderPlaced"]["legal"]  # the section's other keys stay
    assert merged["custom"] == {"note": "Frisch geröstet."}
    de = render(event("OrderPlaced", "de-DE"), SETTINGS, template_dir=overlay.root)
    assert "Herzliche Grüße aus Kassel" in de.text and "danke für Ihre Bestellung!" in de.text
    fr = render(event("OrderPlaced", "fr-FR"), SETTINGS, template_dir=overlay.root)
    assert "Bien à vous," in fr.text


def test_unknown_keys_are_left_out_so_no_language_becomes_incomplete(tmp_path: Path) -> None:
    files = {"de/strings.json": strings(signatur="Ihr Team", closing="Bis bald")}
    overlay = build_overlay(files, tmp_path / "t")
    assert "signatur" in overlay.problems["de/strings.json"]
    assert "custom" in overlay.problems["de/strings.json"]
    assert overlay.applied == ("de/strings.json",)  # the valid part is used
    assert load_catalog(overlay.root).languages == SEVEN


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not JSON"),
        (b'["a list"]', "not a JSON object"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_broken_strings_override_keeps_the_shipped_texts(
    tmp_path: Path, content: bytes, why: str
) -> None:
    overlay = build_overlay({"de/strings.json": content}, tmp_path / "t")
    assert why in overlay.problems["de/strings.json"] and overlay.applied == ()
    ev = event("OrderShipped", "de-DE")
    assert render(ev, SETTINGS, template_dir=overlay.root) == render(ev, SETTINGS)


def test_a_kind_conflict_keeps_the_shipped_value(tmp_path: Path) -> None:
    files = {"de/strings.json": strings(OrderPlaced="text, not a section")}
    overlay = build_overlay(files, tmp_path / "t")
    assert "OrderPlaced" in overlay.problems["de/strings.json"]
    assert load_catalog(overlay.root).languages == SEVEN


def test_a_new_language_folder_adds_a_language(tmp_path: Path) -> None:
    swedish = json.loads((TEMPLATE_DIR / "en" / "strings.json").read_text(encoding="utf-8"))
    swedish["closing"] = "Vänliga hälsningar"
    overlay = build_overlay({"sv/strings.json": json.dumps(swedish).encode()}, tmp_path / "t")
    assert "sv" in available_languages(overlay.root)
    mail = render(event("OrderShipped", "sv-SE"), SETTINGS, template_dir=overlay.root)
    assert mail.language == "sv" and "Vänliga hälsningar" in mail.text


@pytest.mark.parametrize(
    "name",
    [
        "../layout.html",
        "/etc/passwd.html",
        "de/../../x.html",
        "de/partials/x.html",
        ".hidden.html",
        "de/script.py",
        "strings.json",
        "layout.htm",
        "de\\x.html",
        "",
    ],
)
def test_names_outside_the_template_shape_are_refused(tmp_path: Path, name: str) -> None:
    assert template_file_problem(name)
    overlay = build_overlay({name: b"x"}, tmp_path / "t")
    assert name in overlay.problems and overlay.applied == ()
    written = sorted(p.relative_to(overlay.root).as_posix() for p in overlay.root.rglob("*"))
    assert written == sorted(
        p.relative_to(TEMPLATE_DIR).as_posix()
        for p in TEMPLATE_DIR.rglob("*")
        if p.suffix in (".html", ".txt") or p.name == "strings.json" or p.is_dir()
    )


def test_images_are_kept_as_assets_not_templates(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(16)
    overlay = build_overlay({"logo.png": png, "brand/logo.PNG": png}, tmp_path / "t")
    assert overlay.assets == {"brand/logo.PNG": png, "logo.png": png}
    assert not (overlay.root / "logo.png").exists()


def test_oversized_files_are_refused(tmp_path: Path) -> None:
    overlay = build_overlay({"layout.txt": b"x" * (600 * 1024)}, tmp_path / "t")
    assert "larger than" in overlay.problems["layout.txt"]
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "layout.txt").write_bytes(b"x" * (600 * 1024))
    with pytest.raises(ValueError, match="larger than"):
        read_folder(folder)


def test_read_folder_reads_files_by_relative_name(tmp_path: Path) -> None:
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "OrderPlaced.html").write_text("x", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref", encoding="utf-8")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    assert read_folder(tmp_path) == {"de/OrderPlaced.html": b"x"}
    for i in range(MAX_FILES + 1):
        (tmp_path / f"f{i}.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match="more than"):
        read_folder(tmp_path)


def test_sandbox_and_autoescape_hold_for_overrides(tmp_path: Path) -> None:
    from shopmail.errors import TemplateError

    evil = override_page("OrderShipped.html", "{{ ''.__class__.__mro__ }}")
    overlay = build_overlay({"OrderShipped.html": evil.encode()}, tmp_path / "a")
    with pytest.raises(TemplateError, match=r"SecurityError|UndefinedError"):
        render(event("OrderShipped", "de-DE"), SETTINGS, template_dir=overlay.root)
    raw = json.loads((EVENTS / "outbound" / "OrderShipped.json").read_text(encoding="utf-8"))
    raw["detail"]["recipient"]["name"] = "<b>Jürgen</b>"
    raw["detail"].pop("customer", None)
    echo = override_page("OrderShipped.html", "<p>{{ greeting }}</p>")
    overlay = build_overlay({"OrderShipped.html": echo.encode()}, tmp_path / "b")
    html = render(validate(raw), SETTINGS, template_dir=overlay.root).html
    assert "<b>Jürgen</b>" not in html and "&lt;b&gt;Jürgen&lt;/b&gt;" in html
