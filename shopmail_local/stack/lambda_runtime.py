"""Run Lambda handlers in-process: a fake context, handler loading, async-invoke semantics.

In Lambda every function has its own process, and the layer's loggers (``shopmail.*``) log
through the Powertools handler of that function's module (``bootstrap/powertools.py``). Here all
functions share one process: :func:`load_handler` puts a :class:`FunctionLogRouter` on the layer's
top logger (``shopmail``, where its modules' records propagate), so what the layer logs during an
invocation carries the invoked function's service name and Lambda context, not those of
whichever function was loaded last.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """The attributes and method of Lambda's context object that handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    timeout_seconds: float = 30.0
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (emulated) timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


#: The layer's top logger (its modules log with ``logging.getLogger(__name__)``).
LAYER_LOGGERS = "shopmail"
#: The function (its unique module name) whose invocation runs in this thread or task.
_invoked: ContextVar[str] = ContextVar("shopmail_local_invoked_function", default="")


class FunctionLogRouter(logging.Handler):
    """A handler for the layer's loggers that logs each record as the invoked function would.

    Each loaded function registers its Powertools logger's level and handlers; a record is
    handled by those of the function whose invocation is running (:data:`_invoked`), or, outside
    any invocation (a thread the handler started, an import), by the last loaded function's, as
    Powertools' ``copy_config_to_registered_loggers`` alone would do.
    """

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.routes: dict[str, tuple[int, list[logging.Handler]]] = {}
        self.last = ""

    def register(self, function: str, level: int, handlers: list[logging.Handler]) -> None:
        """Log the layer's records of ``function``'s invocations with ``handlers`` at ``level``."""
        self.routes[function] = (level, [h for h in handlers if h is not self])
        self.last = function

    @property
    def level_floor(self) -> int:
        """The lowest level a registered function logs at (the layer loggers' level)."""
        return min((level for level, _ in self.routes.values()), default=logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        level, handlers = self.routes.get(_invoked.get()) or self.routes.get(self.last, (0, []))
        if record.levelno >= level:
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)


#: The one router of this process (every loaded function registers with it).
LOG_ROUTER = FunctionLogRouter()


def _powertools_logger(module: Any) -> Any:
    """The Powertools ``Logger`` the handler module made (``handler_tools``), or ``None``."""
    for value in vars(module).values():
        kind = type(value)
        if kind.__name__ == "Logger" and kind.__module__.startswith("aws_lambda_powertools."):
            return value
    return None


def _route_layer_logs(function: str, module: Any) -> None:
    """Register ``module``'s Powertools logger; put the router on the layer's top logger.

    ``copy_config_to_registered_loggers`` configured that logger (``shopmail``; the modules'
    loggers propagate to it) with this function's handlers; the router takes their place.
    """
    source = _powertools_logger(module)
    if source is None:
        return
    LOG_ROUTER.register(function, int(source.log_level), list(source.handlers))
    layer = logging.getLogger(LAYER_LOGGERS)
    layer.handlers = [LOG_ROUTER]
    layer.propagate = False
    layer.setLevel(LOG_ROUTER.level_floor)


def load_handler(code_dir: str | Path, handler: str = "app.lambda_handler") -> Handler:
    """Import ``handler`` (``module.function``) from ``code_dir`` under a unique module name.

    Each function folder has its own ``app.py``; a unique name keeps them apart in
    ``sys.modules``. The returned callable runs the handler as that function for the layer's
    logs (:class:`FunctionLogRouter`).
    """
    module_name, func_name = handler.rsplit(".", 1)
    path = Path(code_dir) / (module_name.replace(".", "/") + ".py")
    unique = f"_shopmail_fn_{Path(code_dir).name}_{module_name.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    func = getattr(module, func_name)
    if not callable(func):
        raise ImportError(f"{handler} in {code_dir} is not callable")
    _route_layer_logs(unique, module)

    @functools.wraps(func)
    def invoke_as_function(event: Any, context: Any) -> Any:
        token = _invoked.set(unique)
        try:
            return func(event, context)
        finally:
            _invoked.reset(token)

    return invoke_as_function


def error_payload(exc: BaseException) -> dict[str, Any]:
    """Lambda's error response payload for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_exception(exc)[-5:],
    }


def destination_record(
    *,
    function_arn: str,
    request_id: str,
    payload: Any,
    error: BaseException,
    attempts: int,
    condition: str = "RetriesExhausted",
) -> dict[str, Any]:
    """The record Lambda sends to an async invocation's on-failure destination."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "version": "1.0",
        "timestamp": now,
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": payload,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": error_payload(error),
    }


@dataclass(frozen=True)
class AsyncOutcome:
    """How an async invocation ended."""

    request_id: str
    attempts: int
    ok: bool
    result: Any = None
    error: str = ""
    dead_lettered: bool = False


class AsyncInvoker:
    """Lambda's asynchronous invocation: retries on error, then the on-failure destination.

    Parameters
    ----------
    handler
        The function's handler ``(event, context) -> result``.
    function_name, function_arn
        Used for the context and the destination record.
    max_retries
        Retries after the first attempt (Lambda's default: 2).
    retry_delays
        Seconds to wait before each retry (AWS waits ~1 and ~2 minutes; locally short).
    on_failure
        Called with the destination record after the last attempt failed (e.g. an SQS send).
    on_outcome
        Called with every :class:`AsyncOutcome` (the web inbox records it).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        function_name: str,
        function_arn: str,
        timeout_seconds: float = 30.0,
        memory: int = 256,
        max_retries: int = 2,
        retry_delays: tuple[float, ...] = (0.5, 1.0),
        on_failure: Callable[[dict[str, Any]], None] | None = None,
        on_outcome: Callable[[Any, AsyncOutcome], None] | None = None,
        workers: int = 4,
    ) -> None:
        self.handler = handler
        self.function_name = function_name
        self.function_arn = function_arn
        self.timeout_seconds = timeout_seconds
        self.memory = memory
        self.max_retries = max_retries
        self.retry_delays = retry_delays
        self.on_failure = on_failure
        self.on_outcome = on_outcome
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=function_name)
        self._stopped = threading.Event()

    def invoke(self, event: Any) -> Future[AsyncOutcome]:
        """Queue one asynchronous invocation (returns at once, like ``InvocationType=Event``)."""
        request_id = str(uuid.uuid4())
        # Lambda hands the handler a copy of the serialized payload.
        payload = json.loads(json.dumps(event))
        return self._pool.submit(self._run, payload, request_id)

    def _run(self, event: Any, request_id: str) -> AsyncOutcome:
        attempts = 0
        last: BaseException | None = None
        while attempts <= self.max_retries and not self._stopped.is_set():
            if attempts:
                delay = self.retry_delays[min(attempts - 1, len(self.retry_delays) - 1)]
                if self._stopped.wait(delay):
                    break
            attempts += 1
            context = LambdaContext(
                function_name=self.function_name,
                invoked_function_arn=self.function_arn,
                memory_limit_in_mb=self.memory,
                timeout_seconds=self.timeout_seconds,
                aws_request_id=request_id,
            )
            try:
                result = self.handler(json.loads(json.dumps(event)), context)
            except Exception as exc:
                last = exc
                log.warning(
                    "%s attempt %d failed: %s", self.function_name, attempts, type(exc).__name__
                )
                continue
            outcome = AsyncOutcome(request_id, attempts, True, result=result)
            self._report(event, outcome)
            return outcome
        dead = False
        if last is not None and self.on_failure is not None:
            record = destination_record(
                function_arn=self.function_arn,
                request_id=request_id,
                payload=event,
                error=last,
                attempts=attempts,
            )
            try:
                self.on_failure(record)
                dead = True
            except Exception:
                log.exception("%s: on-failure destination failed", self.function_name)
        outcome = AsyncOutcome(
            request_id,
            attempts,
            False,
            error=f"{type(last).__name__}: {last}" if last else "stopped",
            dead_lettered=dead,
        )
        self._report(event, outcome)
        return outcome

    def _report(self, event: Any, outcome: AsyncOutcome) -> None:
        if self.on_outcome is not None:
            try:
                self.on_outcome(event, outcome)
            except Exception:
                log.exception("outcome hook failed")

    def close(self, wait: bool = True) -> None:
        """Stop retrying and shut the worker pool down."""
        self._stopped.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)


def apply_environment(env: Mapping[str, str], target: dict[str, str] | None = None) -> None:
    """Copy ``env`` into ``os.environ`` (or ``target``)."""
    import os

    dest = os.environ if target is None else target
    for k, v in env.items():
        dest[k] = v
