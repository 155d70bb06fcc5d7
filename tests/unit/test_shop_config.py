"""The shop configuration file: what it accepts, how it is checked, and its JSON Schema."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from shopmail.domain.outbound.shop_config import (
    DEFAULT_SHOP,
    LINK_NAMES,
    SCHEMA_PATH,
    Colors,
    Legal,
    Locales,
    Logo,
    Senders,
    ShopConfig,
    parse_shop_config,
    shop_config_from,
    sniff_image,
)
from shopmail.errors import ConfigurationError

from tests.fixtures.paths import REPO
from tests.fixtures.shop import PNG
from tests.fixtures.shop import SHOP_TOML as MINIMAL

EXAMPLE = SCHEMA_PATH.parent / "example.toml"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def problems(data: dict[str, Any] | str) -> list[str]:
    """The problems the validator reports (``[]`` when the data is accepted)."""
    try:
        if isinstance(data, str):
            parse_shop_config(data)
        else:
            shop_config_from(data)
    except ConfigurationError as exc:
        return list(exc.context["errors"])
    return []


def schema_accepts(data: dict[str, Any]) -> bool:
    return jsonschema.Draft7Validator(SCHEMA).is_valid(data)


# --- what is accepted ----------------------------------------------------------------------


def test_the_minimal_file_of_the_issue_is_accepted_as_written() -> None:
    shop = parse_shop_config(MINIMAL, "shop.toml")
    assert shop.name == "Kaffeerösterei Müller"
    assert shop.senders == Senders(transactional_name="Kaffeerösterei Müller")
    assert shop.legal == Legal(
        company="Kaffeerösterei Müller GmbH",
        address="Röstweg 1, 34117 Kassel",
        register="Amtsgericht Kassel HRB 4711",
        vat_id="DE123456789",
    )
    # everything not written keeps the shipped look and the shipped languages
    assert shop.colors == Colors() and shop.logo is None and shop.links == {}
    assert shop.locales == Locales() and shop.time_zone == "Europe/Berlin"
    assert shop.source == "shop.toml"


def test_the_shipped_example_uses_every_section_and_is_accepted() -> None:
    shop = parse_shop_config(EXAMPLE.read_bytes(), "example.toml")
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(data) == set(SCHEMA["properties"])  # the example shows every section
    assert shop.logo == Logo(source="logo.png", alt="Kaffeerösterei Müller", width=180)
    assert shop.legal.managing_directors == ("Anna Müller", "Ben Müller")
    assert shop.locales.supported == ("de", "en", "fr", "it", "nl", "pl")
    assert shop.colors.header_background == "#3b2a20" and shop.colors.text == Colors().text
    assert set(shop.links) == set(LINK_NAMES)


def test_json_is_read_as_well_as_toml() -> None:
    data = tomllib.loads(MINIMAL)
    from_json = parse_shop_config(json.dumps(data), "shop.json")
    assert from_json == dataclasses.replace(parse_shop_config(MINIMAL), source="shop.json")
    # sniffed by the first character when the name says nothing (an SSM parameter)
    assert parse_shop_config(json.dumps(data), "ssm:/shop").legal.vat_id == "DE123456789"


def test_without_a_file_the_shop_is_the_shipped_one() -> None:
    assert DEFAULT_SHOP.name == "Shop"
    assert DEFAULT_SHOP.legal.empty and DEFAULT_SHOP.links == {}
    view = DEFAULT_SHOP.view("de", "support@shop.example")
    assert view["legal"] is None and view["logo"] is None
    assert view["footer_links"] == [] and view["order_links"] == []


def test_sender_names_per_stream() -> None:
    shop = parse_shop_config('name = "Kaffee"\n[senders]\nmarketing_name = "Kaffee News"\n')
    assert shop.sender_name("transactional") == "Kaffee"
    assert shop.sender_name("marketing") == "Kaffee News"
    named = parse_shop_config('name = "Kaffee"\n[senders]\ntransactional_name = "Kaffee GmbH"\n')
    assert named.sender_name("marketing") == "Kaffee GmbH"  # the stream name, then the shop's


def test_links_by_locale_follow_the_locale_chain() -> None:
    shop = parse_shop_config(
        'name = "K"\n[links]\nimprint = "https://k.example/impressum"\n'
        '[links.terms]\nde = "https://k.example/agb"\nfr = "https://k.example/fr/cgv"\n'
        '"de-AT" = "https://k.example/at/agb"\n'
    )
    assert shop.link("terms", "fr-CA") == "https://k.example/fr/cgv"
    assert shop.link("terms", "de-AT") == "https://k.example/at/agb"
    assert shop.link("terms", "de-CH") == "https://k.example/agb"
    assert shop.link("terms", "pl") == "https://k.example/agb"  # the default locale's
    assert shop.link("imprint", "pl") == "https://k.example/impressum"
    assert shop.link("privacy", "de") == ""
    view = shop.view("fr", "s@k.example")
    assert view["footer_links"] == ["imprint"] and view["order_links"] == ["terms"]


def test_text_is_one_line_with_collapsed_spaces() -> None:
    shop = parse_shop_config('name = "  Kaffee   Müller "\n')
    assert shop.name == "Kaffee Müller"


# --- what is refused, naming the field -------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("", "name: required"),
        ("name = 3", "name: must be text"),
        ('name = "  "', "name: must not be empty"),
        ('name = "a\\nBcc: x@evil.example"', "name: must be one line"),
        ('name = "K"\nnmae = "x"', "nmae: unknown field (did you mean 'name'?)"),
        ('name = "K"\n[senders]\ntransactional = "K"', "senders.transactional: unknown field"),
        ('name = "K"\nsenders = "K"', "senders: must be a table"),
        ('name = "K"\nsupport_address = "kundenservice"', "support_address: 'kundenservice' is"),
        ('name = "K"\ntime_zone = "Europe/Kassel"', "time_zone: 'Europe/Kassel' is not an IANA"),
        ('name = "K"\n[colors]\naccent = "blue"', "colors.accent: 'blue' is not a colour"),
        ('name = "K"\n[colors]\naccent = "#12345"', "colors.accent: '#12345' is not a colour"),
        ('name = "K"\n[legal]\nvat_id = 123', "legal.vat_id: must be text"),
        ('name = "K"\n[legal]\nmanaging_directors = []', "legal.managing_directors: must be"),
        ('name = "K"\n[links]\nterms = "http://k.example/agb"', "links.terms: 'http://k"),
        ('name = "K"\n[links]\nterms = "https://k.example/a b"', "links.terms: 'https://k"),
        ('name = "K"\n[links]\nagb = "https://k.example/agb"', "links.agb: unknown field"),
        ('name = "K"\n[links.terms]\nfr = "https://k.example/cgv"', "links.terms: needs an entry"),
        ('name = "K"\n[links.terms]\nxx_yy_zz = "https://k.example/"', "links.terms.xx_yy_zz:"),
        ('name = "K"\n[locales]\ndefault = "xx"', "locales.default: 'xx' is not a locale Babel"),
        ('name = "K"\n[locales]\nfallback = ["de", "en"]', "locales.fallback: must be one locale"),
        ('name = "K"\n[locales]\nsupported = ["de"]', "locales.fallback: 'en' is not in"),
        ('name = "K"\n[locales]\ndefault = "fr"\nsupported = ["de", "en"]', "locales.default"),
        ('name = "K"\n[logo]\nalt = "K"', "logo: needs exactly one of source"),
        ('name = "K"\n[logo]\nsource = "logo.png"\nurl = "https://c.example/l.png"', "logo: needs"),
        ('name = "K"\n[logo]\nurl = "https://cdn.example/l.png"', "logo.url: host 'cdn.example'"),
        ('name = "K"\n[logo]\nsource = "logo.svg"', "logo.source: 'logo.svg' is not a .png"),
        ('name = "K"\n[logo]\nsource = "ssm:/logo.png"', "logo.source: an image cannot be"),
        ('name = "K"\n[logo]\nsource = "logo.png"\nwidth = 2000', "logo.width: must be a whole"),
        ('name = "K"\n[logo]\nsource = "logo.png"\nwidth = true', "logo.width: must be a whole"),
        ('name = "K"\nimage_hosts = "cdn.example"', "image_hosts: must be a list"),
        ('name = "K"\nimage_hosts = ["https://cdn.example"]', "image_hosts: 'https://cdn"),
        ('name = "K"\n[broken', "file: not valid TOML"),
    ],
)
def test_each_invalid_field_is_named(toml: str, expected: str) -> None:
    found = problems(toml)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once_in_one_configuration_error() -> None:
    text = 'nmae = "K"\n[colors]\naccent = "blue"\n[legal]\nvat_id = 1\n'
    with pytest.raises(ConfigurationError) as caught:
        parse_shop_config(text, "s3://kaffee-config/shop.toml")
    errors = caught.value.context["errors"]
    assert len(errors) == 4, errors  # nmae unknown, name required, accent, vat_id
    assert "shop config s3://kaffee-config/shop.toml: 4 problem(s)" in caught.value.reason
    assert caught.value.context["source"] == "s3://kaffee-config/shop.toml"


def test_bytes_must_be_utf8_and_small() -> None:
    assert problems("x") != []
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        parse_shop_config('name = "K\xfc"'.encode("latin-1"))
    with pytest.raises(ConfigurationError, match="larger than"):
        parse_shop_config(b'name = "K"\n' + b"#" * 70_000)
    with pytest.raises(ConfigurationError, match="must be a table"):
        shop_config_from(["name"])
    # a UTF-8 BOM (Windows editors) is fine
    assert parse_shop_config('\ufeffname = "K"'.encode()).name == "K"


def test_logo_images_are_sniffed_and_capped() -> None:
    assert sniff_image(PNG, "logo.png").content_type == "image/png"
    assert sniff_image(b"\xff\xd8\xff\xe0" + bytes(8), "l.jpg").filename == "logo.jpg"
    assert sniff_image(b"GIF89a" + bytes(8), "l.gif").content_type == "image/gif"
    with pytest.raises(ConfigurationError, match="not a PNG, JPEG or GIF"):
        sniff_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.png")
    with pytest.raises(ConfigurationError, match="bytes, more than"):
        sniff_image(PNG + bytes(300_000), "logo.png")
    image = sniff_image(PNG, "logo.png")
    assert image.content_id("shop.example") == image.content_id("shop.example")
    assert image.content_id("shop.example").endswith("@shop.example")
    assert image.content_id("x.example") != sniff_image(PNG + b"1", "l").content_id("x.example")


# --- the JSON Schema (editors, a shop's CI) agrees with the validator --------------------------


def test_the_schema_is_a_valid_draft7_schema_and_docs_hold_the_same_copy() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    copy = REPO / "docs" / "shop-config.schema.json"
    assert copy.read_text(encoding="utf-8") == SCHEMA_PATH.read_text(encoding="utf-8")


def _model_fields() -> dict[str, set[str]]:
    sections = {"senders": Senders, "colors": Colors, "logo": Logo, "legal": Legal}
    fields = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in sections.items()}
    fields["locales"] = {f.name for f in dataclasses.fields(Locales)}
    fields["links"] = set(LINK_NAMES)
    top = {f.name for f in dataclasses.fields(ShopConfig)} - {"source", "logo_image"}
    fields[""] = top
    return fields


def test_the_schema_has_exactly_the_fields_of_the_model() -> None:
    for section, names in _model_fields().items():
        props = SCHEMA["properties"] if not section else SCHEMA["properties"][section]["properties"]
        assert set(props) == names, section
        if section:
            assert SCHEMA["properties"][section]["additionalProperties"] is False


def test_schema_defaults_are_the_model_defaults() -> None:
    colors = SCHEMA["properties"]["colors"]["properties"]
    assert {k: v["default"] for k, v in colors.items()} == dataclasses.asdict(Colors())
    locales = SCHEMA["properties"]["locales"]["properties"]
    assert locales["default"]["default"] == Locales().default
    assert locales["fallback"]["default"] == Locales().fallback
    assert SCHEMA["properties"]["time_zone"]["default"] == DEFAULT_SHOP.time_zone
    assert SCHEMA["properties"]["logo"]["properties"]["width"]["default"] == Logo().width


VALID = [
    tomllib.loads(MINIMAL),
    tomllib.loads(EXAMPLE.read_text(encoding="utf-8")),
    {"name": "K", "legal": {"managing_directors": "Anna Müller"}},
    {"name": "K", "image_hosts": ["cdn.k.example"], "logo": {"url": "https://cdn.k.example/l.png"}},
    {"name": "K", "logo": {"source": "s3://kaffee-config/brand/logo.PNG", "height": 40}},
    {"name": "K", "colors": {"accent": "#ABC"}, "locales": {"default": "de-AT"}},
]
#: Invalid for the schema too (structure, types, formats).
INVALID_BOTH = [
    {},
    {"name": ""},
    {"name": "K", "nmae": "x"},
    {"name": "K", "colors": {"accent": "blue"}},
    {"name": "K", "senders": {"transactional": "x"}},
    {"name": "K", "legal": {"vat_id": 1}},
    {"name": "K", "legal": {"managing_directors": []}},
    {"name": "K", "links": {"terms": "http://k.example"}},
    {"name": "K", "links": {"terms": {}}},
    {"name": "K", "logo": {"alt": "x"}},
    {"name": "K", "logo": {"source": "logo.svg"}},
    {"name": "K", "logo": {"source": "l.png", "url": "https://a.example/l.png"}},
    {"name": "K", "logo": {"source": "l.png", "width": 5000}},
    {"name": "K", "support_address": "nobody"},
    {"name": "K", "locales": {"fallback": ["de", "en"]}},
    {"name": "K", "image_hosts": "cdn.example"},
]
#: Valid in structure, refused by the checks the schema cannot express.
INVALID_SEMANTICS = [
    {"name": "K", "time_zone": "Europe/Kassel"},
    {"name": "K", "locales": {"default": "xx"}},
    {"name": "K", "locales": {"supported": ["de"]}},
    {"name": "K", "logo": {"url": "https://not-allowed.example/l.png"}},
    {"name": "K", "links": {"terms": {"fr": "https://k.example/cgv"}}},
]


@pytest.mark.parametrize("data", VALID, ids=range(len(VALID)))
def test_valid_files_pass_both(data: dict[str, Any]) -> None:
    assert problems(data) == []
    assert schema_accepts(data)


@pytest.mark.parametrize("data", INVALID_BOTH, ids=range(len(INVALID_BOTH)))
def test_structurally_invalid_files_fail_both(data: dict[str, Any]) -> None:
    assert problems(data) != []
    assert not schema_accepts(data)


@pytest.mark.parametrize("data", INVALID_SEMANTICS, ids=range(len(INVALID_SEMANTICS)))
def test_what_the_schema_cannot_say_the_validator_still_refuses(data: dict[str, Any]) -> None:
    assert schema_accepts(data)
    assert problems(data) != []


def test_the_shipped_schema_is_package_data() -> None:
    assert SCHEMA_PATH.is_file() and SCHEMA_PATH.parent.name == "shop"
    assert Path(SCHEMA_PATH.parent / "example.toml").is_file()
