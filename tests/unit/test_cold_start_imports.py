"""What each handler's cold start loads: what an invocation may not need stays unloaded.

Each case is a fresh interpreter that imports ``functions/<name>/app.py`` and builds its
service (what ``bench/bench_init.py`` times), then reports which modules are loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_CHILD = r"""
import importlib.util, json, sys
app = sys.argv[1]
spec = importlib.util.spec_from_file_location("app", app)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
for _, f in sorted(vars(module).items()):
    if callable(f) and hasattr(f, "cache_info") and getattr(f, "__module__", "") in (
        module.__name__, "shopmail.bootstrap.container"):
        f()
print(json.dumps(sorted(sys.modules)))
"""

#: Third-party packages no handler needs before its first mail is rendered.
HEAVY = ("jinja2", "babel", "markupsafe", "email_validator", "dns")

#: handler -> (modules its cold start must not load, modules it must have loaded)
CASES = {
    # a DSN/ARF mail composes the feedback use case when it first comes
    "inbound": (
        ("shopmail.services.feedback", "shopmail.domain.feedback.classifier"),
        ("shopmail.domain.inbound.parsing.build", "shopmail.domain.inbound.routing.router"),
    ),
    # the unsubscribe token code is loaded by the first marketing mail
    "outbound": (
        ("shopmail.domain.outbound.unsubscribe", "shopmail.domain.message"),
        ("shopmail.services.outbound",),
    ),
    # an SES event never loads the inbound mail model or the MIME parser
    "feedback": (
        ("shopmail.domain.message", "shopmail.domain.inbound.parsing.build"),
        ("shopmail.services.feedback",),
    ),
    "unsubscribe": (("shopmail.domain.message",), ("shopmail.domain.outbound.unsubscribe",)),
    "erasure": (("shopmail.domain.inbound.parsing.build",), ("shopmail.services.erasure",)),
}


def _loaded(handler: str) -> set[str]:
    from bench.bench_init import DUMMY_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(DUMMY_ENV)
    app = REPO / "functions" / handler / "app.py"
    env["PYTHONPATH"] = os.pathsep.join([str(app.parent), str(REPO / "layers" / "shopmail")])
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(app)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(app.parent),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("handler", sorted(CASES))
def test_cold_start_loads_only_what_every_invocation_needs(handler: str) -> None:
    absent, present = CASES[handler]
    loaded = _loaded(handler)
    assert set(present) <= loaded  # the probe sees the service's modules at all
    assert sorted(loaded & set(absent)) == []
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY) == []
