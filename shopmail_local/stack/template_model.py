"""Load a CloudFormation/SAM template and resolve its intrinsic functions locally.

The loader understands the short-form tags (``!Ref``, ``!Sub``, ``!GetAtt``, ...), which become
the long ``Fn::*`` dictionaries. :class:`Resolver` evaluates ``Conditions`` and the intrinsics
against parameter values, pseudo parameters and the physical resources created so far.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_SHORT_TAGS = (
    "Ref", "Sub", "GetAtt", "If", "Equals", "Join", "Select", "Split", "FindInMap", "Not",
    "And", "Or", "Condition", "Base64", "ImportValue", "GetAZs", "Cidr", "Length", "ToJsonString",
)  # fmt: skip

NO_VALUE = object()
"""Marker for ``AWS::NoValue``: the key or list item it produces is removed."""


class TemplateError(ValueError):
    """The template cannot be resolved locally (unknown reference, bad intrinsic)."""


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short-form tags into ``Fn::*`` dictionaries."""


def _construct_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix not in _SHORT_TAGS:
        raise yaml.constructor.ConstructorError(None, None, f"unknown tag !{tag_suffix}")
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template_text(text: str) -> dict[str, Any]:
    """Parse template text (YAML or JSON) into plain dictionaries and lists."""
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError("a template must be a mapping")
    return data


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse the template file at ``path``."""
    return load_template_text(Path(path).read_text(encoding="utf-8"))


@dataclass
class PhysicalResource:
    """A created (or emulated) resource: what ``Ref`` returns and its ``GetAtt`` attributes."""

    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Resolver:
    """Resolve intrinsic functions of one template.

    Parameters
    ----------
    template
        The parsed template.
    parameters
        Parameter overrides; the template's ``Default`` fills the rest.
    region, account_id, stack_name, partition
        Pseudo-parameter values.
    """

    template: Mapping[str, Any]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    region: str = "eu-west-1"
    account_id: str = "123456789012"
    stack_name: str = "shopmail-local"
    partition: str = "aws"
    physical: dict[str, PhysicalResource] = field(default_factory=dict)
    _params: dict[str, Any] = field(init=False, default_factory=dict)
    _conditions: dict[str, bool] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for name, spec in (self.template.get("Parameters") or {}).items():
            if name in self.parameters:
                value = self.parameters[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no default and no value")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [v.strip() for v in value.split(",")] if value else []
            self._params[name] = value if isinstance(value, list) else str(value)

    # ------------------------------------------------------------------ public API
    @property
    def parameter_values(self) -> dict[str, Any]:
        """The effective parameter values (overrides, then defaults)."""
        return dict(self._params)

    def pseudo(self, name: str) -> Any:
        """The value of a pseudo parameter such as ``AWS::Region``."""
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}"
                f":stack/{self.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]

    def condition(self, name: str) -> bool:
        """Evaluate the named condition of the template (memoised)."""
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    def resource_enabled(self, logical_id: str) -> bool:
        """Whether the resource exists under the current conditions."""
        spec = self.template["Resources"][logical_id]
        cond = spec.get("Condition")
        return True if cond is None else self.condition(cond)

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function in ``value`` (recursively)."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._fn(key[4:], arg)
        out = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    # ------------------------------------------------------------------ intrinsics
    def _ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self._params:
            return self._params[name]
        if name in self.physical:
            return self.physical[name].ref
        if name in (self.template.get("Resources") or {}):
            raise TemplateError(f"Ref {name}: resource not created (yet)")
        raise TemplateError(f"Ref {name}: unknown parameter or resource")

    def _getatt(self, logical_id: str, attribute: str) -> Any:
        res = self.physical.get(logical_id)
        if res is None:
            raise TemplateError(f"GetAtt {logical_id}.{attribute}: resource not created (yet)")
        if attribute not in res.attributes:
            raise TemplateError(f"GetAtt {logical_id}.{attribute}: attribute not known locally")
        return res.attributes[attribute]

    def _fn(self, name: str, arg: Any) -> Any:
        if name == "GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else [self.resolve(a) for a in arg]
            return self._getatt(parts[0], parts[1])
        if name == "Sub":
            return self._sub(arg)
        if name == "If":
            cond, then, other = arg
            return self.resolve(then if self.condition(cond) else other)
        if name == "Equals":
            a, b = (self.resolve(x) for x in arg)
            return str(a) == str(b)
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "And":
            return all(self.resolve(x) for x in arg)
        if name == "Or":
            return any(self.resolve(x) for x in arg)
        if name == "Join":
            sep, items = arg
            return str(sep).join(str(i) for i in self.resolve(items))
        if name == "Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Split":
            sep, text = arg
            return str(self.resolve(text)).split(str(sep))
        if name == "FindInMap":
            mapname, top, second = (self.resolve(x) for x in arg)
            try:
                return self.template["Mappings"][mapname][top][second]
            except KeyError as exc:
                raise TemplateError(f"FindInMap {mapname}/{top}/{second}: not found") from exc
        if name == "Base64":
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if name == "GetAZs":
            region = self.resolve(arg) or self.region
            return [f"{region}a", f"{region}b", f"{region}c"]
        if name == "Length":
            return len(self.resolve(arg))
        if name == "ImportValue":
            raise TemplateError(f"ImportValue {self.resolve(arg)}: no other stacks exist locally")
        raise TemplateError(f"Fn::{name} is not supported locally")

    _SUB_VAR = re.compile(r"\$\{([^}]*)\}")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def repl(match: re.Match[str]) -> str:
            var = match.group(1)
            if var.startswith("!"):  # ${!Literal} -> ${Literal}
                return "${" + var[1:] + "}"
            if var in variables:
                return str(variables[var])
            if "." in var and not var.startswith("AWS::"):
                logical, attr = var.split(".", 1)
                return str(self._getatt(logical, attr))
            value = self._ref(var)
            if value is NO_VALUE:
                raise TemplateError(f"Sub: ${{{var}}} is AWS::NoValue")
            return str(value)

        return self._SUB_VAR.sub(repl, str(text))


def references(value: Any) -> set[str]:
    """The logical ids (and parameters) that ``value`` refers to via Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg.split(".", 1)[0] if isinstance(arg, str) else str(arg[0]))
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                local = set(arg[1]) if isinstance(arg, list) else set()
                for var in Resolver._SUB_VAR.findall(str(text)):
                    if var.startswith("!") or var in local:
                        continue
                    found.add(var.split(".", 1)[0])
                if isinstance(arg, list):
                    found |= references(arg[1])
            else:
                found |= references(arg)
    return found


def creation_order(template: Mapping[str, Any]) -> list[str]:
    """Logical ids of the resources in dependency order (Ref/GetAtt/Sub/DependsOn)."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    deps: dict[str, set[str]] = {}
    for logical, spec in resources.items():
        depends = spec.get("DependsOn") or []
        if isinstance(depends, str):
            depends = [depends]
        refs = references(spec.get("Properties") or {}) | set(depends)
        deps[logical] = {r for r in refs if r in resources and r != logical}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise TemplateError("circular dependency: " + " -> ".join((*path, node)))
        state[node] = 1
        for dep in sorted(deps[node]):
            visit(dep, (*path, node))
        state[node] = 2
        order.append(node)

    for logical in resources:
        visit(logical, ())
    return order
