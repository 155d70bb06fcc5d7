"""Map botocore errors to shopmail's error hierarchy (used by every AWS adapter).

Throttling, 5xx and connection problems become :class:`ServiceUnavailableError` (transient, so
Lambda retries). For DynamoDB, a ``ValidationException`` (the request can never succeed, e.g. a
key over 2 KB) becomes :class:`StoreRejectedError` (permanent: dead-lettered with the reason
instead of five blind retries) and a ``ResourceNotFoundException`` (the table does not exist)
a :class:`ConfigurationError`. Anything else stays a ``ClientError`` for the adapter to handle or
re-raise.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from shopmail.errors import (
    ConfigurationError,
    ServiceUnavailableError,
    ShopmailError,
    StoreRejectedError,
)

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


#: DynamoDB errors that retrying cannot fix: the error to raise and what it means.
_DYNAMODB_REFUSALS: dict[str, tuple[type[ShopmailError], str]] = {
    "ValidationException": (StoreRejectedError, "refused the request"),
    "ResourceNotFoundException": (ConfigurationError, "found no such table"),
}


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


def error_message(exc: ClientError, limit: int = 200) -> str:
    """The ``Error.Message`` of a ``ClientError``, clipped and with addresses redacted."""
    from shopmail.domain.smtp.replies import redact_addresses  # only when a call failed

    return redact_addresses(str(exc.response.get("Error", {}).get("Message", "")))[:limit]


def transient_error(exc: Exception, service: str, operation: str, **context: Any) -> Exception:
    """The shopmail error to raise for a failed AWS call (see the module docs).

    :class:`ServiceUnavailableError` when retrying may help; for DynamoDB
    :class:`StoreRejectedError` (``ValidationException``) or :class:`ConfigurationError`
    (``ResourceNotFoundException``); otherwise ``exc`` itself.
    """
    if is_transient(exc):
        code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        return ServiceUnavailableError(
            f"{service} {operation} failed transiently ({code})",
            service=service,
            operation=operation,
            code=code,
            **context,
        )
    if service == "dynamodb" and isinstance(exc, ClientError):
        code = error_code(exc)
        refused = _DYNAMODB_REFUSALS.get(code)
        if refused is not None:
            error_type, what = refused
            return error_type(
                f"dynamodb {operation} {what}: {error_message(exc)}",
                service=service,
                operation=operation,
                code=code,
                **context,
            )
    return exc
