"""The contracts of the events shopmail emits (``events/schemas/emitted/``): one schema per
detail-type the code publishes and no other, one key style, versioned details, inbound names
apart from the shop's triggers, and the template registry and README catalogue generated from
the files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from shopmail.domain.erasure import report as erasure_report
from shopmail.domain.feedback.report import DETAIL_TYPES as FEEDBACK_TYPES
from shopmail.domain.feedback.report import UNVERIFIED_DETAIL_TYPE
from shopmail.domain.inbound import events as inbound_events
from shopmail.domain.inbound.routing import load_routes
from shopmail.domain.inbound.routing.model import FALLBACK_DETAIL_TYPE
from shopmail.services import erasure as erasure_service
from shopmail.services import feedback as feedback_service
from shopmail.services import outbound as outbound_service
from shopmail.services import unsubscribe as unsubscribe_service

from shopmail_local.cli.main import main as cli
from shopmail_local.contracts.catalogue import catalogue_markdown, sync_readme
from shopmail_local.contracts.registry import (
    DRAFT4,
    SchemaConversionError,
    logical_id,
    registry_schema,
    schema_name,
    sync_template,
    to_draft4,
)
from shopmail_local.contracts.schemas import (
    CAMEL_CASE,
    EmittedSchema,
    check_detail,
    declared_properties,
    load_schemas,
    non_camel_keys,
    undeclared_keys,
)
from tests.fixtures.paths import EVENTS, REPO

SCHEMAS = load_schemas()


def _code_types() -> dict[str, str]:
    """Every detail-type constant of the code -> its source."""
    inbound = {inbound_events.QUARANTINE_DETAIL_TYPE, FALLBACK_DETAIL_TYPE}
    for rule in load_routes(None).rules:
        inbound |= {str(a.get("detail_type")) for a in rule.actions if a.name == "publish"}
    out = dict.fromkeys(inbound, inbound_events.SOURCE)
    out |= dict.fromkeys(outbound_service.DETAIL_TYPES, outbound_service.SOURCE)
    feedback = {*FEEDBACK_TYPES.values(), UNVERIFIED_DETAIL_TYPE}
    out |= dict.fromkeys(feedback, feedback_service.EVENT_SOURCE)
    out[unsubscribe_service.DETAIL_TYPE] = unsubscribe_service.SOURCE
    out[erasure_report.DETAIL_TYPE] = erasure_service.SOURCE
    return out


def test_every_detail_type_of_the_code_has_a_schema_and_vice_versa() -> None:
    code = _code_types()
    assert sorted(code) == sorted(SCHEMAS)
    assert {name: spec.source for name, spec in SCHEMAS.items()} == code


def test_every_schema_requires_the_version_the_code_writes() -> None:
    versions = {
        "shopmail.inbound": inbound_events.SCHEMA_VERSION,
        "shopmail.outbound": outbound_service.DETAIL_VERSION,
        "shopmail.feedback": feedback_service.DETAIL_VERSION,
        "shopmail.unsubscribe": unsubscribe_service.DETAIL_VERSION,
        "shopmail.erasure": erasure_report.DETAIL_VERSION,
    }
    for spec in SCHEMAS.values():
        assert "version" in spec.schema["required"], spec.detail_type
        assert spec.schema["properties"]["version"]["const"] == versions[spec.source]


def test_one_key_style_and_every_field_described() -> None:
    for spec in SCHEMAS.values():
        for path, name in declared_properties(spec.schema):
            assert CAMEL_CASE.match(name), f"{spec.detail_type}: {path}"
        for name, sub in spec.schema["properties"].items():
            assert sub.get("description"), f"{spec.detail_type}.{name} has no description"


def test_inbound_names_are_not_the_shops_triggers() -> None:
    triggers = {p.stem.lower() for p in (EVENTS / "schemas").glob("*.json")}
    assert "returnrequested" in triggers  # the trigger the returns@ route used to shadow
    others = {n.lower() for n, s in SCHEMAS.items() if s.source != "shopmail.inbound"}
    for name, spec in SCHEMAS.items():
        if spec.source == "shopmail.inbound":
            assert name.lower() not in triggers | others, name


def test_inbound_detail_types_share_one_detail() -> None:
    inbound = [s for s in SCHEMAS.values() if s.source == "shopmail.inbound"]
    base = SCHEMAS["MessageReceived"].schema
    for spec in inbound:
        props = dict(spec.schema["properties"])
        if spec.detail_type == "MessageQuarantined":
            assert {props.pop("quarantineKey")["type"], props.pop("reason")["type"]} == {"string"}
        assert props == base["properties"], spec.detail_type
        assert spec.schema["definitions"] == base["definitions"]


def test_every_schema_compiles_in_both_drafts() -> None:
    for spec in SCHEMAS.values():
        assert spec.schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            spec.validator({})
        doc = registry_schema(spec)
        assert doc["$schema"] == DRAFT4 and "const" not in json.dumps(doc)
        assert doc["x-amazon-events-source"] == spec.source
        assert doc["x-amazon-events-detail-type"] == spec.detail_type
        validate = fastjsonschema.compile(copy.deepcopy(doc))
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            validate({"detail-type": spec.detail_type, "source": "someone.else"})


# ---------------------------------------------------------------------- checks of a detail
_TINY = EmittedSchema(
    "Tiny",
    "shopmail.outbound",
    {
        "type": "object",
        "required": ["version"],
        "definitions": {"pair": {"type": "object", "properties": {"left": {"type": "string"}}}},
        "properties": {
            "version": {"const": 1},
            "snake_key": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "pair": {"anyOf": [{"$ref": "#/definitions/pair"}, {"type": "null"}]},
            "items": {"type": "array", "items": {"$ref": "#/definitions/pair"}},
        },
    },
)


def test_a_detail_is_checked_for_schema_undeclared_keys_and_key_style() -> None:
    good = {"version": 1, "labels": {"any_name": "x"}, "pair": {"left": "a"}, "items": []}
    assert _TINY.problems(good) == []
    bad = {"version": 2, "snake_key": "x", "pair": {"right": 1}, "items": [{"up": 1}], "extra": 1}
    problems = _TINY.problems(bad)
    assert any("version" in p and "must be" in p for p in problems)
    assert undeclared_keys(_TINY.schema, bad) == [
        "detail.pair.right",
        "detail.items[0].up",
        "detail.extra",
    ]
    assert non_camel_keys(_TINY.schema, bad) == ["detail.snake_key"]


def test_check_detail_names_a_missing_schema_a_wrong_source_and_falls_back_for_inbound() -> None:
    schemas = {"Tiny": _TINY, "MessageReceived": SCHEMAS["MessageReceived"]}
    assert check_detail(schemas, "Tiny", {"version": 1}, "shopmail.outbound") == []
    assert "source" in check_detail(schemas, "Tiny", {"version": 1}, "shopmail.inbound")[0]
    assert "no schema" in check_detail(schemas, "Nope", {}, "shopmail.outbound")[0]
    # a routes file's own detail-type is the inbound detail
    assert check_detail(schemas, "OwnRoute", {}, "shopmail.inbound")[0].startswith(
        "MessageReceived: data must contain"
    )


# ---------------------------------------------------------------------- draft 4
def test_to_draft4_converts_what_differs_and_refuses_what_it_cannot() -> None:
    out = to_draft4(
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": "https://x/y.json",
            "x-shopmail-source": "shopmail.inbound",
            "properties": {"v": {"const": 1}, "const": {"type": "string"}},
            "examples": [{}],
        }
    )
    assert out == {
        "$schema": DRAFT4,
        "id": "https://x/y.json",
        "properties": {"v": {"enum": [1]}, "const": {"type": "string"}},
    }
    for bad in ({"if": {}}, {"properties": {"a": {"contains": {}}}}, {"exclusiveMinimum": 0}):
        with pytest.raises(SchemaConversionError):
            to_draft4(bad)


# ---------------------------------------------------------------------- template and README
def test_the_template_registry_is_generated_from_the_files(cfn_template: dict[str, Any]) -> None:
    resources = cfn_template["Resources"]
    registry = resources["EventSchemaRegistry"]
    assert registry["Type"] == "AWS::EventSchemas::Registry"
    schemas = {k: v for k, v in resources.items() if v["Type"] == "AWS::EventSchemas::Schema"}
    assert sorted(schemas) == sorted(logical_id(s) for s in SCHEMAS.values())
    for spec in SCHEMAS.values():
        props = schemas[logical_id(spec)]["Properties"]
        assert props["Type"] == "JSONSchemaDraft4"
        assert props["SchemaName"] == schema_name(spec)
        assert props["RegistryName"] == {"Fn::GetAtt": ["EventSchemaRegistry", "RegistryName"]}
        assert json.loads(props["Content"]) == registry_schema(spec)
        assert len(props["Content"]) < 100_000 and len(props["Description"]) <= 256
    assert sync_template(SCHEMAS, write=False) is False  # `shopmail schemas sync` is a no-op


def test_the_readme_catalogue_is_generated_from_the_files() -> None:
    assert sync_readme(SCHEMAS, write=False) is False
    text = catalogue_markdown(SCHEMAS)
    for spec in SCHEMAS.values():
        assert f"| `{spec.detail_type}` | {spec.description} |" in text


def test_sync_rewrites_a_stale_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    text = (REPO / "README.md").read_text(encoding="utf-8")
    readme.write_text(text.replace("| `EmailSent` |", "| `EmailSentX` |"), encoding="utf-8")
    assert sync_readme(SCHEMAS, readme, write=False) is True
    assert sync_readme(SCHEMAS, readme) is True
    assert readme.read_text(encoding="utf-8") == text


# ---------------------------------------------------------------------- the command
def _event(detail_type: str, detail: dict[str, Any], source: str) -> dict[str, Any]:
    return {"id": "e-1", "source": source, "detail-type": detail_type, "detail": detail}


def test_schemas_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    detail = {
        "version": 1,
        "emailType": "Nope",
        "sourceEventId": None,
        "reason": "detail-type 'Nope' is not supported",
        "code": "invalid_event",
    }
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_event("EmailFailed", detail, "shopmail.outbound")))
    lines = tmp_path / "events.jsonl"
    lines.write_text(
        "\n".join(
            json.dumps(x)
            for x in (
                {"ts": 1, "event": _event("EmailFailed", detail, "shopmail.outbound")},
                _event("OrderPlaced", {}, "shop"),  # not ours: skipped
                _event("EmailFailed", {**detail, "error_code": "x"}, "shopmail.outbound"),
            )
        )
    )
    assert cli(["schemas", "check", str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert cli(["schemas", "check", str(lines)]) == 1
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["ok"] for r in rows] == [True, False]
    assert rows[1]["problems"] == ["EmailFailed: detail.error_code is not declared in the schema"]
    assert cli(["schemas", "sync", "--check"]) == 0
