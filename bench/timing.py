"""The one timer of the benchmarks: the best of a few runs (least disturbed by the machine)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(func: Callable[[], Any], rounds: int = 5) -> float:
    """The shortest of ``rounds`` runs of ``func``, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best
