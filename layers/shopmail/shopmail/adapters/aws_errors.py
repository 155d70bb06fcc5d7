"""Map botocore errors to shopmail's error hierarchy (used by every AWS adapter).

Throttling, 5xx and connection problems become :class:`ServiceUnavailableError` (transient, so
Lambda retries); anything else stays a ``ClientError`` for the adapter to handle or re-raise.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from shopmail.errors import ServiceUnavailableError

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionInProgressException",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


def error_code(exc: ClientError) -> str:
    """The ``Error.Code`` of a ``ClientError`` (``""`` when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_transient(exc: BaseException) -> bool:
    """Whether retrying ``exc`` later may help."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return (
            code in TRANSIENT_CODES
            or code.startswith("Throttl")
            or (isinstance(status, int) and status >= 500)
        )
    return isinstance(exc, ConnectionError | ReadTimeoutError | BotoCoreError)


def transient_error(exc: Exception, service: str, operation: str, **context: Any) -> Exception:
    """Return a :class:`ServiceUnavailableError` for ``exc`` if transient, else ``exc`` itself."""
    if is_transient(exc):
        code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        return ServiceUnavailableError(
            f"{service} {operation} failed transiently ({code})",
            service=service,
            operation=operation,
            code=code,
            **context,
        )
    return exc
