"""The offline stack's in-process functions log the layer's records as the invoked function.

Real handler modules (``handler_tools`` from the layer, real Powertools loggers writing JSON to
stdout) are loaded with :func:`load_handler`; what the layer's loggers (``shopmail.*``) print
during an invocation must name the invoked function's service, as in Lambda, where each
function has its own process.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shopmail_local.stack import lambda_runtime
from shopmail_local.stack.lambda_runtime import LambdaContext, load_handler

LAYER_LOGGER = "shopmail.local_runtime_test"

APP = """
import logging

layer_log = logging.getLogger("{layer}")  # registered before handler_tools, as layer modules are

from shopmail.bootstrap.powertools import handler_tools

logger, metrics = handler_tools("{service}")


def lambda_handler(event, context):
    for _ in range(event.get("times", 1)):
        layer_log.log(event.get("level", logging.INFO), "layer record",
                      extra={{"marker": event["marker"]}})
    return "{service}"
"""


@pytest.fixture
def isolated_router(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh router, and the layer loggers as they were before the test."""
    monkeypatch.setattr(lambda_runtime, "LOG_ROUTER", lambda_runtime.FunctionLogRouter())
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    saved = {
        name: (lg.handlers[:], lg.propagate, lg.level)
        for name, lg in logging.root.manager.loggerDict.items()
        if isinstance(lg, logging.Logger) and name.startswith("shopmail")
    }
    yield
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and name.startswith("shopmail"):
            handlers, propagate, level = saved.get(name, ([], True, logging.NOTSET))
            lg.handlers, lg.propagate = handlers, propagate
            lg.setLevel(level)


def _function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str = "INFO"
) -> tuple[str, Callable[[Any, Any], Any]]:
    service = f"svc-{uuid.uuid4().hex[:8]}"  # Powertools keeps a logger per service name
    code_dir = tmp_path / service
    code_dir.mkdir()
    (code_dir / "app.py").write_text(APP.format(layer=LAYER_LOGGER, service=service))
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", level)
    return service, load_handler(code_dir)


def _context(service: str) -> LambdaContext:
    return LambdaContext(
        function_name=service, invoked_function_arn=f"arn:aws:lambda:::function:{service}"
    )


def _layer_records(out: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("name") == LAYER_LOGGER]


def test_each_invocation_logs_the_layer_records_as_its_own_function(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    isolated_router: None,
) -> None:
    first, first_handler = _function(tmp_path, monkeypatch)
    second, second_handler = _function(tmp_path, monkeypatch)  # loaded last

    assert first_handler({"marker": "one"}, _context(first)) == first
    assert second_handler({"marker": "two"}, _context(second)) == second
    logging.getLogger(LAYER_LOGGER).info("outside", extra={"marker": "none"})

    records = _layer_records(capsys.readouterr().out)
    assert [(r["marker"], r["service"]) for r in records] == [
        ("one", first),
        ("two", second),
        ("none", second),  # outside an invocation: the last loaded function's, as before
    ]


def test_each_function_keeps_its_own_log_level(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    isolated_router: None,
) -> None:
    verbose, verbose_handler = _function(tmp_path, monkeypatch, level="DEBUG")
    quiet, quiet_handler = _function(tmp_path, monkeypatch, level="WARNING")

    verbose_handler({"marker": "debug", "level": logging.DEBUG}, _context(verbose))
    quiet_handler({"marker": "info", "level": logging.INFO}, _context(quiet))
    quiet_handler({"marker": "warning", "level": logging.WARNING}, _context(quiet))

    records = _layer_records(capsys.readouterr().out)
    assert [(r["marker"], r["service"]) for r in records] == [
        ("debug", verbose),
        ("warning", quiet),
    ]


def test_concurrent_invocations_of_two_functions_keep_their_records_apart(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    isolated_router: None,
) -> None:
    a, a_handler = _function(tmp_path, monkeypatch)
    b, b_handler = _function(tmp_path, monkeypatch)
    start = threading.Barrier(2)

    def run(handler: Callable[[Any, Any], Any], service: str) -> None:
        start.wait()
        handler({"marker": service, "times": 200}, _context(service))

    threads = [
        threading.Thread(target=run, args=(h, s)) for h, s in ((a_handler, a), (b_handler, b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    records = _layer_records(capsys.readouterr().out)
    assert len(records) == 400
    assert all(r["service"] == r["marker"] for r in records)
