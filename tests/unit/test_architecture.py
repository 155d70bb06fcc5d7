"""The layer's floors (``docs/architecture.md``), checked on the code's own imports.

Every ``import``/``from ... import`` of every module under ``layers/shopmail/shopmail`` and
``functions/`` is read with :mod:`ast` (lazy imports inside functions included; imports under
``if TYPE_CHECKING:`` are type annotations only and are not counted for cycles, but still must
respect the floors). The rules:

* ``domain`` imports only ``domain``, ``errors`` and ``config`` (and never boto3, botocore,
  smtplib, socket or ``os.environ``);
* ``services`` never imports ``adapters`` or ``bootstrap``; ``adapters`` never imports
  ``services`` or ``bootstrap``; only ``bootstrap`` plugs the two together;
* handlers import ``bootstrap``, ``config``, ``errors``, ``services`` (types) and nothing else
  of the layer, and have at most 60 lines of code;
* no import cycle between modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "shopmail"
PACKAGE = LAYER / "shopmail"
FUNCTIONS = REPO / "functions"

WING_RULES: dict[str, set[str]] = {
    "domain": {"domain", "errors", "config"},
    "services": {"domain", "errors", "config", "ports", "services"},
    "adapters": {"domain", "errors", "config", "ports", "adapters"},
    "bootstrap": {"domain", "errors", "config", "ports", "services", "adapters", "bootstrap"},
    "ports": {"domain"},
    "config": {"errors"},
    "errors": set(),
}
FORBIDDEN_IN_DOMAIN = ("boto3", "botocore", "smtplib", "socket", "urllib.request", "requests")


def _module_name(path: Path) -> str:
    rel = path.relative_to(LAYER).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str) -> Iterator[tuple[str, bool]]:
    """``(imported module, only for type checking)`` for every import in ``tree``."""

    def visit(node: ast.AST, typing_only: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    yield from visit_stmt(stmt, True)
                for stmt in child.orelse:
                    yield from visit_stmt(stmt, typing_only)
                continue
            yield from visit_stmt(child, typing_only)

    def visit_stmt(node: ast.AST, typing_only: bool) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, typing_only
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.rsplit(".", node.level)[0]
                base = f"{package}.{base}" if base else package
            yield base, typing_only
            for alias in node.names:  # "from shopmail.domain import inbound" names a module
                yield f"{base}.{alias.name}", typing_only
        else:
            yield from visit(node, typing_only)

    yield from visit(tree, False)


def _layer_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _graph() -> dict[str, set[tuple[str, bool]]]:
    modules = _layer_modules()
    graph: dict[str, set[tuple[str, bool]]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges: set[tuple[str, bool]] = set()
        for target, typing_only in _imports(tree, name):
            # resolve "a.b.C" (a name imported from module a.b) to the module a.b
            while target and target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if (target in modules and target != name) or not target.startswith("shopmail"):
                edges.add((target, typing_only))
        graph[name] = edges
    return graph


def _wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_wing_imports_only_the_floors_below() -> None:
    offences = []
    for module, edges in _graph().items():
        wing = _wing(module)
        allowed = WING_RULES.get(wing)
        if allowed is None:
            continue
        for target, _typing in edges:
            if not target.startswith("shopmail."):
                continue
            if _wing(target) not in allowed:
                offences.append(f"{module} -> {target}")
    assert offences == []


def test_no_adapter_imports_a_service() -> None:
    graph = _graph()
    offences = [
        f"{m} -> {t}"
        for m, edges in graph.items()
        if _wing(m) == "adapters"
        for t, _ in edges
        if t.startswith("shopmail.services")
    ]
    assert offences == []


def test_domain_is_pure() -> None:
    offences = []
    for module, edges in _graph().items():
        if _wing(module) != "domain":
            continue
        for target, typing_only in edges:
            if not typing_only and target.startswith(FORBIDDEN_IN_DOMAIN):
                offences.append(f"{module} -> {target}")
        source = _layer_modules()[module].read_text(encoding="utf-8")
        if "os.environ" in source or "getenv(" in source:
            offences.append(f"{module} reads the environment")
    assert offences == []


def test_no_import_cycles() -> None:
    graph = {
        m: {t for t, typing_only in edges if t.startswith("shopmail") and not typing_only}
        for m, edges in _graph().items()
    }
    # a package imports its submodules through its surface; a submodule importing a sibling
    # through the package name is resolved to the package itself, so drop package->own-child
    # edges that only exist because the package re-exports them
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + "."):
                continue  # a package re-exporting its own submodule
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def _code_lines(path: Path) -> int:
    """Lines that are neither blank, comments nor docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                first = body[0]
                doc_lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    count = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and number not in doc_lines:
            count += 1
    return count


@pytest.mark.parametrize("handler", sorted(FUNCTIONS.glob("*/app.py")), ids=lambda p: p.parent.name)
def test_handlers_are_thin(handler: Path) -> None:
    assert _code_lines(handler) <= 60
    tree = ast.parse(handler.read_text(encoding="utf-8"))
    layer_imports = {
        t.split(".")[1]
        for t, _ in _imports(tree, "app")
        if t.startswith("shopmail.") and len(t.split(".")) > 1
    }
    assert layer_imports <= {"bootstrap", "config", "errors", "services", "adapters"}
    # adapters only for the custom resource's response helper, never to build a service
    if "adapters" in layer_imports:
        assert handler.parent.name == "ruleset_activator"


def test_every_layer_package_has_a_public_surface() -> None:
    """Each domain sub-package declares ``__all__`` (what other floors may use)."""
    missing = []
    for init in (PACKAGE / "domain").glob("*/__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        names = {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)
        }
        if "__all__" not in names:
            missing.append(str(init.relative_to(REPO)))
    assert missing == []
