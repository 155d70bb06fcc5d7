"""Run every benchmark (``python -m bench [NAME ...]``) and print one JSON result per module.

Each ``bench/bench_*.py`` module defines ``main() -> dict`` that measures its subject and a
baseline in the same process and returns the figures (absolute and as ratios). Results are also
written to ``.bench/results.json``.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path


def run(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )
    if names:
        modules = [m for m in modules if any(n in m for n in names)]
    results: dict[str, object] = {}
    for name in modules:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", flush=True)
        result = module.main()
        results[name] = result
        print(json.dumps(result, indent=2, default=str), flush=True)
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
