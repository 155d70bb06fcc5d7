"""Lazy public surfaces for the domain's sub-packages (PEP 562 module ``__getattr__``).

A sub-package lists what it offers (``submodule -> names``); a name is imported on first use.
Importing one submodule (the routing model, say) thus never drags in its siblings (the TOML
loader, Jinja2 and Babel for rendering, ...), which keeps the handlers' cold start small.

The table is the one list of the surface: ``__all__ = __getattr__.names``. The
``TYPE_CHECKING`` imports beside it (for type checkers) are checked against it by
``tests/unit/test_domain_surfaces.py``.

Example
-------
>>> __getattr__ = lazy_surface("shopmail.domain.smtp", pacing=("TokenBucket",))
>>> __getattr__("TokenBucket").__name__
'TokenBucket'
>>> __getattr__.names
('TokenBucket',)
"""

from __future__ import annotations

import importlib
from typing import Any


class LazySurface:
    """A module ``__getattr__`` that imports ``package.<module>`` when one of its names is used.

    Parameters
    ----------
    package
        The sub-package (its ``__name__``).
    modules
        For each submodule, the names of the surface it defines.

    Attributes
    ----------
    names
        Every name of the surface, sorted (the package's ``__all__``).
    """

    def __init__(self, package: str, modules: dict[str, tuple[str, ...]]) -> None:
        self._package = package
        self._exports = {name: module for module, names in modules.items() for name in names}
        self.names: tuple[str, ...] = tuple(sorted(self._exports))

    def __call__(self, name: str) -> Any:
        module = self._exports.get(name)
        if module is None:
            raise AttributeError(f"module {self._package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{self._package}.{module}"), name)
        vars(importlib.import_module(self._package))[name] = value
        return value


def lazy_surface(package: str, **modules: tuple[str, ...]) -> LazySurface:
    """The :class:`LazySurface` of ``package``: ``submodule=(names, ...)`` for each submodule."""
    return LazySurface(package, modules)
