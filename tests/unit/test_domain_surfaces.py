"""The lazy public surfaces of the domain's sub-packages (``shopmail.domain._surface``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from shopmail.domain._surface import LazySurface

DOMAIN = Path(__file__).resolve().parents[2] / "layers" / "shopmail" / "shopmail" / "domain"
#: Every domain package whose ``__init__`` builds a lazy surface.
SURFACES = tuple(
    "shopmail." + ".".join(init.parent.relative_to(DOMAIN.parent).parts)
    for init in sorted(DOMAIN.rglob("__init__.py"))
    if "lazy_surface(" in init.read_text(encoding="utf-8")
)


def _type_checking_imports(package: str) -> dict[str, str]:
    """``name -> submodule`` of the ``if TYPE_CHECKING:`` imports of ``package``."""
    init = DOMAIN.parent.joinpath(*package.split(".")[1:], "__init__.py")
    found: dict[str, str] = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module, ast.unparse(stmt)
                assert stmt.module.startswith(package + "."), stmt.module
                for alias in stmt.names:
                    found[alias.asname or alias.name] = stmt.module.removeprefix(package + ".")
    return found


def test_the_surfaces_are_found() -> None:
    assert len(SURFACES) >= 8
    assert "shopmail.domain.inbound.routing" in SURFACES


@pytest.mark.parametrize("package", SURFACES)
def test_the_type_checking_imports_name_exactly_the_surface(package: str) -> None:
    """What type checkers see is what the package serves at run time, from the same module."""
    surface = importlib.import_module(package)
    getattr_ = vars(surface)["__getattr__"]
    assert isinstance(getattr_, LazySurface)
    assert surface.__all__ is getattr_.names
    imported = _type_checking_imports(package)
    assert sorted(imported) == list(surface.__all__)
    for name, module in imported.items():
        value = getattr(surface, name)
        assert value is getattr(importlib.import_module(f"{package}.{module}"), name)


@pytest.mark.parametrize("package", SURFACES)
def test_every_name_of_the_surface_resolves_from_its_submodule(package: str) -> None:
    surface = importlib.import_module(package)
    for name in surface.__all__:
        value = getattr(surface, name)
        assert value is not None, (package, name)
        assert vars(surface)[name] is value  # cached on the package after the first use


@pytest.mark.parametrize("package", SURFACES)
def test_a_name_outside_the_surface_is_an_attribute_error(package: str) -> None:
    surface = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no attribute 'not_there'"):
        surface.not_there  # noqa: B018
