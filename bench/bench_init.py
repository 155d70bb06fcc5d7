"""Cold-start init of each handler against a bare ``import boto3`` plus the same clients.

Each sample is a fresh interpreter (``subprocess``) that times, with ``perf_counter``:

- subject: import ``functions/<name>/app.py`` and call its cached service factory (the
  ``functools.cache`` functions of the module, e.g. ``_service()``), with every setting pointing
  at dummy values (no network: clients are created, never called);
- baseline: ``import boto3`` and create the same boto3 clients the subject created (found by a
  discovery run that records ``botocore`` ``create_client`` calls).

Samples alternate subject/baseline (``RUNS`` each, after one warm-up pair that fills the
bytecode caches); the result is the median of each and their ratio (target <= 1.2x).
``pair_ratio_median`` is the median of the ratios of adjacent subject/baseline pairs: on a
shared machine whose speed drifts during the run it moves less than the ratio of the medians.
``source_tree_first_use`` also creates the clients the service builds lazily (``LazyClient``)
and compares with ``import boto3`` plus those clients: the cost the first invocation pays.
When ``make build`` has produced ``.aws-sam/build/SharedLayer/python`` and Python 3.13 is
available, the same pair is also measured against the built layer (what Lambda imports; its
wheels are the arm64 ones: on another machine the only binary module, MarkupSafe's speedups,
falls back to its pure-Python twin, and no handler imports it at init).

``python -m bench init`` measures the handlers of :data:`HANDLERS`; ``BENCH_INIT_HANDLERS``
(comma separated) picks some of them.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = REPO / "functions"
APP = FUNCTIONS / "inbound" / "app.py"
#: The handlers measured (the custom resource handler runs once per deployment: not measured).
HANDLERS = ("inbound", "outbound", "feedback", "unsubscribe", "erasure")
LAYER_SRC = REPO / "layers" / "shopmail"
LAYER_BUILT = REPO / ".aws-sam" / "build" / "SharedLayer" / "python"
RUNS = 10
TARGET_RATIO = 1.2
TIMEOUT_S = 120

DUMMY_ENV = {
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_NAME": "shopmail-inbound-bench",
    "POWERTOOLS_SERVICE_NAME": "shopmail-inbound",
    "POWERTOOLS_METRICS_NAMESPACE": "shopmail",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "MAIL_DOMAIN": "shop.example",
    "RAW_MAIL_BUCKET": "bench-raw-mail",
    "RAW_MAIL_PREFIX": "inbound/",
    "SHOP_EVENT_BUS_NAME": "shop",
    "IDEMPOTENCY_TABLE": "bench-idempotency",
    "RATE_LIMIT_TABLE": "bench-rate-limit",
    "SUPPRESSION_TABLE": "bench-suppression",
    "SENT_MAIL_TABLE": "bench-sent-mail",
    "INBOUND_DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/bench-dlq",
    "SES_CONFIGURATION_SET": "bench",
    "SMTP_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bench",
    "UNSUBSCRIBE_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:unsub",
    "ERASURE_INDEX_TABLE": "bench-erasure-index",
    "FEEDBACK_DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/bench-feedback-dlq",
}

# Runs in the child. argv: mode (subject|baseline|discover, "+first_use" also creates the
# service's lazily created clients), app path, services (JSON list).
_CHILD = r"""
import functools, importlib.util, json, sys, time
mode, app_path, services = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
first_use = mode.endswith("+first_use")
mode = mode.split("+")[0]
created = []

def _force(obj, seen, depth):
    # Create every LazyClient reachable from the service (what the first invocation pays).
    if depth > 5 or id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type)):
        return
    seen.add(id(obj))
    if type(obj).__name__ == "LazyClient":
        obj.client
        return
    if type(obj).__module__.split(".")[0] in ("boto3", "botocore", "builtins") and not isinstance(
        obj, (list, tuple, dict)
    ):
        return
    values = list(obj.values()) if isinstance(obj, dict) else []
    values += list(obj) if isinstance(obj, (list, tuple)) else []
    values += list(getattr(obj, "__dict__", {}).values())
    for slot in getattr(type(obj), "__slots__", ()):
        if isinstance(slot, str):
            values.append(getattr(obj, slot, None))
    for value in values:
        if value is not None:
            _force(value, seen, depth + 1)

if mode == "discover":
    import botocore.session
    _orig = botocore.session.Session.create_client
    def _record(self, service_name, *a, **k):
        created.append(service_name)
        return _orig(self, service_name, *a, **k)
    botocore.session.Session.create_client = _record
t0 = time.perf_counter()
if mode == "baseline":
    import boto3
    clients = [boto3.client(s) for s in services]
else:
    spec = importlib.util.spec_from_file_location("inbound_app", app_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    factories = [
        f for _, f in sorted(vars(module).items())
        if callable(f) and hasattr(f, "cache_info")
        # the module's own cached factories, and those per_container() made for it
        and getattr(f, "__module__", "") in (module.__name__, "shopmail.bootstrap.container")
    ]
    if not factories:
        raise SystemExit("no cached service factory found in " + app_path)
    for f in factories:
        built = f()
        if first_use:
            _force(built, set(), 0)
t1 = time.perf_counter()
print(json.dumps({"init_ms": (t1 - t0) * 1000.0, "clients": created,
                  "factories": [] if mode == "baseline" else [f.__name__ for f in factories]}))
"""


def _run(
    python: str, path: list[Path], mode: str, services: list[str], app: Path = APP
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(DUMMY_ENV)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [app.parent, *path])
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up run must leave bytecode caches
    proc = subprocess.run(
        [python, "-c", _CHILD, mode, str(app), json.dumps(services)],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_S,
        cwd=str(app.parent) if app.parent.is_dir() else str(REPO),
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{mode} run failed: {' | '.join(tail)}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _measure(
    python: str,
    path: list[Path],
    runs: int = RUNS,
    *,
    first_use: bool = False,
    app: Path = APP,
) -> dict[str, Any]:
    suffix = "+first_use" if first_use else ""
    discovery = _run(python, path, "discover" + suffix, [], app)
    services = sorted(set(discovery["clients"]))
    _run(python, path, "subject" + suffix, services, app)  # warm-up: bytecode caches
    _run(python, path, "baseline", services, app)
    subject: list[float] = []
    baseline: list[float] = []
    for _ in range(runs):
        subject.append(_run(python, path, "subject" + suffix, services, app)["init_ms"])
        baseline.append(_run(python, path, "baseline", services, app)["init_ms"])
    s, b = statistics.median(subject), statistics.median(baseline)
    pairs = [x / y for x, y in zip(subject, baseline, strict=True) if y]
    return {
        "python": python,
        "clients": services,
        "factories": discovery["factories"],
        "runs": runs,
        "subject_median_ms": round(s, 1),
        "baseline_median_ms": round(b, 1),
        "ratio": round(s / b, 3) if b else None,
        "pair_ratio_median": round(statistics.median(pairs), 3) if pairs else None,
        "target_ratio": TARGET_RATIO,
        "meets_target": bool(b) and s / b <= TARGET_RATIO,
        "subject_ms": [round(x, 1) for x in subject],
        "baseline_ms": [round(x, 1) for x in baseline],
    }


def _python313() -> str | None:
    """A working Python 3.13 (pyenv's 3.13.0 first: a pyenv shim may not resolve)."""
    candidates: list[str] = []
    try:
        prefix = subprocess.run(
            ["pyenv", "prefix", "3.13.0"], capture_output=True, text=True, check=False, timeout=10
        ).stdout.strip()
        if prefix:
            candidates.append(str(Path(prefix) / "bin" / "python3.13"))
    except (OSError, subprocess.SubprocessError):
        pass
    found = shutil.which("python3.13")
    if found:
        candidates.append(found)
    for python in candidates:
        try:
            ok = subprocess.run([python, "-c", "pass"], timeout=30, check=False).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return python
    return None


def _handlers() -> list[str]:
    chosen = os.environ.get("BENCH_INIT_HANDLERS", "")
    names = [n.strip() for n in chosen.split(",") if n.strip()] or list(HANDLERS)
    return [n for n in names if (FUNCTIONS / n / "app.py").is_file()]


def _handler(name: str, py313: str | None) -> dict[str, Any]:
    """The figures of one handler: source tree (and first use), built layer when present."""
    app = FUNCTIONS / name / "app.py"
    errors = (RuntimeError, subprocess.SubprocessError, ValueError, KeyError)
    result: dict[str, Any] = {"subject": f"functions/{name}/app.py"}
    try:
        result["source_tree"] = _measure(sys.executable, [LAYER_SRC], app=app)
    except errors as exc:
        result["source_tree"] = {"status": "error", "reason": str(exc)}
    # Lazily created clients move their cost to the first invocation: measure that too.
    try:
        result["source_tree_first_use"] = _measure(
            sys.executable, [LAYER_SRC], first_use=True, app=app
        )
    except errors as exc:
        result["source_tree_first_use"] = {"status": "error", "reason": str(exc)}
    if LAYER_BUILT.is_dir() and py313:
        try:
            result["built_layer_py313"] = _measure(py313, [LAYER_BUILT], app=app)
        except errors as exc:
            result["built_layer_py313"] = {"status": "error", "reason": str(exc)}
    else:
        result["built_layer_py313"] = {
            "status": "skipped",
            "reason": "run `make build` first (and have Python 3.13) to measure the built layer",
        }
    return result


def main() -> dict[str, Any]:
    """Measure each handler's init against the boto3 baseline (fresh processes)."""
    names = _handlers()
    if not names:
        return {"status": "skipped", "reason": "no handler found under functions/"}
    py313 = _python313() if LAYER_BUILT.is_dir() else None
    result: dict[str, Any] = {"status": "ok", "target_ratio": TARGET_RATIO}
    for name in names:
        result[name] = _handler(name, py313)
    ratios = {
        f"{name}.{key}": figures.get("ratio")
        for name in names
        for key, figures in result[name].items()
        if isinstance(figures, dict) and "ratio" in figures
    }
    result["ratios"] = ratios
    result["meets_target"] = bool(ratios) and all(
        r is not None and r <= TARGET_RATIO
        for key, r in ratios.items()
        if not key.endswith("_first_use")
    )
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
