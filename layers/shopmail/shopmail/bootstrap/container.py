"""What a handler builds once per Lambda container: its service, from the environment.

Example
-------
>>> _service = per_container(inbound_service)  # doctest: +SKIP
>>> _service() is _service()  # doctest: +SKIP
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from shopmail.config import Settings

T = TypeVar("T")


def per_container(build: Callable[[Settings], T]) -> Callable[[], T]:
    """``build(Settings.from_env())`` on the first call, the same object on every later one.

    The result is a :func:`functools.cache` function: ``cache_clear()`` builds it again (tests
    that change the environment).
    """
    return functools.cache(lambda: build(Settings.from_env()))
