"""The lazy public surfaces of the domain's sub-packages (``shopmail.domain._surface``)."""

from __future__ import annotations

import importlib

import pytest

SURFACES = (
    "shopmail.domain.erasure",
    "shopmail.domain.inbound",
    "shopmail.domain.inbound.routing",
    "shopmail.domain.outbound",
)


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
