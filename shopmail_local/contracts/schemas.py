"""Load the emitted-event schemas and check events against them.

A check (:func:`check_event`, :func:`check_detail`) reports every problem of one event as a
readable line: the schema's verdict (fastjsonschema, draft-07), every key the schema does not
declare (the published schemas stay open for new optional fields, so only this check catches a
field added to the code without its schema) and every key that is not camelCase.

Example
-------
>>> schemas = load_schemas()
>>> check_detail(schemas, "EmailSent", {"version": 1}, "shopmail.outbound")[0]  # doctest: +ELLIPSIS
'EmailSent: data must contain [...'
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import fastjsonschema

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "events" / "schemas" / "emitted"
#: The custom keyword naming the ``source`` of a detail-type's events.
SOURCE_KEYWORD = "x-shopmail-source"
#: The order of the sources in generated documents.
SOURCES = (
    "shopmail.inbound",
    "shopmail.outbound",
    "shopmail.feedback",
    "shopmail.unsubscribe",
    "shopmail.erasure",
)
#: The schema of an inbound detail-type that has none of its own.
INBOUND_FALLBACK = "MessageReceived"
CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")


@dataclass(frozen=True)
class EmittedSchema:
    """The schema of one emitted detail-type.

    Attributes
    ----------
    detail_type
        The EventBridge detail-type (the file's name and the schema's ``title``).
    source
        The events' ``source`` (``shopmail.inbound`` ...).
    schema
        The JSON Schema (draft-07) of the event's ``detail``.
    """

    detail_type: str
    source: str
    schema: Mapping[str, Any] = field(repr=False)

    @property
    def description(self) -> str:
        """When the event is published."""
        return str(self.schema.get("description", ""))

    @cached_property
    def validator(self) -> Callable[[Any], Any]:
        """The compiled validator of the detail (compiled on a copy: fastjsonschema rewrites the
        ``$ref`` values of the schema it is given)."""
        return fastjsonschema.compile(copy.deepcopy(dict(self.schema)))

    def problems(self, detail: Any) -> list[str]:
        """Every problem of ``detail`` (empty: it matches the contract)."""
        out: list[str] = []
        try:
            self.validator(detail)
        except fastjsonschema.JsonSchemaValueException as exc:
            out.append(f"{self.detail_type}: {exc.message}")
        for path in undeclared_keys(self.schema, detail):
            out.append(f"{self.detail_type}: {path} is not declared in the schema")
        for path in non_camel_keys(self.schema, detail):
            out.append(f"{self.detail_type}: {path} is not camelCase")
        return out


def load_schemas(directory: Path = SCHEMA_DIR) -> dict[str, EmittedSchema]:
    """Every ``<DetailType>.json`` of ``directory`` by detail-type.

    Raises
    ------
    ValueError
        A file whose ``title`` is not its name, or that names no known source.
    """
    out: dict[str, EmittedSchema] = {}
    for path in sorted(directory.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        if schema.get("title") != path.stem:
            raise ValueError(f"{path.name}: title {schema.get('title')!r} is not {path.stem!r}")
        source = schema.get(SOURCE_KEYWORD)
        if source not in SOURCES:
            raise ValueError(f"{path.name}: {SOURCE_KEYWORD} {source!r} is none of {SOURCES}")
        out[path.stem] = EmittedSchema(path.stem, source, schema)
    return out


def check_detail(
    schemas: Mapping[str, EmittedSchema], detail_type: str, detail: Any, source: str
) -> list[str]:
    """The problems of one published ``(detail_type, detail, source)``.

    An inbound detail-type without a schema of its own (a routes file's own name) is checked
    against :data:`INBOUND_FALLBACK`: every route publishes the same inbound detail.
    """
    spec = schemas.get(detail_type)
    if spec is None and source == "shopmail.inbound":
        spec = schemas.get(INBOUND_FALLBACK)
    if spec is None:
        return [f"{detail_type}: no schema in {SCHEMA_DIR.relative_to(REPO)}"]
    problems = spec.problems(detail)
    if source != spec.source:
        problems.append(f"{detail_type}: source {source!r}, the schema says {spec.source!r}")
    return problems


def check_event(schemas: Mapping[str, EmittedSchema], event: Mapping[str, Any]) -> list[str]:
    """The problems of one EventBridge event as a rule target receives it."""
    detail_type = str(event.get("detail-type", event.get("DetailType", "")))
    detail = event.get("detail", event.get("Detail"))
    if isinstance(detail, str):
        detail = json.loads(detail)
    return check_detail(schemas, detail_type, detail, str(event.get("source", "")))


# ---------------------------------------------------------------------- walking a schema
def _resolve(root: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return _resolve(root, node)


def _branches(root: Mapping[str, Any], schema: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    schema = _resolve(root, schema)
    yield schema
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key) or ():
            yield from _branches(root, sub)


def _walk(
    root: Mapping[str, Any], schema: Mapping[str, Any], value: Any, path: str
) -> Iterator[tuple[str, str, bool]]:
    """``(path, key, declared)`` of every key of every object in ``value``; keys of maps
    (objects whose schema has no ``properties``) are data, not reported."""
    branches = list(_branches(root, schema))
    if isinstance(value, Mapping):
        declared: dict[str, Mapping[str, Any]] = {}
        maps: list[Mapping[str, Any]] = []
        for b in branches:
            declared.update(b.get("properties") or {})
            extra = b.get("additionalProperties")
            if "properties" not in b and isinstance(extra, Mapping):
                maps.append(extra)
        for key, item in value.items():
            where = f"{path}.{key}"
            if key in declared:
                yield where, key, True
                yield from _walk(root, declared[key], item, where)
            elif maps:
                for sub in maps:
                    yield from _walk(root, sub, item, where)
            elif any("properties" in b for b in branches):
                yield where, key, False
    elif isinstance(value, list):
        for b in branches:
            items = b.get("items")
            if isinstance(items, Mapping):
                for i, item in enumerate(value):
                    yield from _walk(root, items, item, f"{path}[{i}]")
                break


def undeclared_keys(schema: Mapping[str, Any], value: Any) -> list[str]:
    """Paths (``detail.flags.x``) of keys the schema does not declare."""
    return [p for p, _, ok in _walk(schema, schema, value, "detail") if not ok]


def non_camel_keys(schema: Mapping[str, Any], value: Any) -> list[str]:
    """Paths of declared keys that are not camelCase (data keys of maps are not checked)."""
    return [p for p, key, ok in _walk(schema, schema, value, "detail") if ok and not _camel(key)]


def _camel(key: str) -> bool:
    return bool(CAMEL_CASE.match(key))


def declared_properties(schema: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(path, name)`` of every property any object of the schema declares."""

    def walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, Mapping):
            for name, sub in (node.get("properties") or {}).items():
                yield f"{path}.{name}", name
                yield from walk(sub, f"{path}.{name}")
            for key in ("items", "additionalProperties"):
                yield from walk(node.get(key), path + ("[]" if key == "items" else ".*"))
            for key in ("anyOf", "oneOf", "allOf"):
                for sub in node.get(key) or ():
                    yield from walk(sub, path)
            for name, sub in (node.get("definitions") or {}).items():
                yield from walk(sub, f"#{name}")

    yield from walk(schema, "detail")
