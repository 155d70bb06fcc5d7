"""Lazy public surfaces for the domain's sub-packages (PEP 562 module ``__getattr__``).

A sub-package lists what it offers (``submodule -> names``); a name is imported on first use.
Importing one submodule (the routing model, say) thus never drags in its siblings (the TOML
loader, Jinja2 and Babel for rendering, ...), which keeps the handlers' cold start small.

Example
-------
>>> __getattr__ = lazy_surface("shopmail.domain.smtp", pacing=("TokenBucket",))
>>> __getattr__("TokenBucket").__name__
'TokenBucket'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_surface(package: str, **modules: tuple[str, ...]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<module>`` when one of its names is used.

    Parameters
    ----------
    package
        The sub-package (its ``__name__``).
    **modules
        For each submodule, the names of the surface it defines.
    """
    exports = {name: module for module, names in modules.items() for name in names}

    def module_getattr(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        vars(importlib.import_module(package))[name] = value
        return value

    return module_getattr
