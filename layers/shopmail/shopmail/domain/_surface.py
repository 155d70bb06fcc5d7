"""Lazy public surfaces for the domain's sub-packages (PEP 562 module ``__getattr__``).

A sub-package lists what it offers (``name -> submodule``); a name is imported on first use.
Importing one submodule (the routing model, say) thus never drags in its siblings (the TOML
loader, Jinja2 and Babel for rendering, ...), which keeps the handlers' cold start small.

Example
-------
>>> __getattr__ = lazy_surface("shopmail.domain.smtp", {"TokenBucket": "pacing"})
>>> __getattr__("TokenBucket").__name__
'TokenBucket'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_surface(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<exports[name]>`` on first use."""

    def module_getattr(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        vars(importlib.import_module(package))[name] = value
        return value

    return module_getattr
