"""What every adapter of one DynamoDB table holds: the low-level client, the name, a clock,
and the paginated scan; and :func:`batch_write`, the ``BatchWriteItem`` loop they share."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from shopmail.adapters.aws_errors import transient_error
from shopmail.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: ``BatchWriteItem`` takes at most 25 requests per call.
BATCH_WRITE_LIMIT: Final = 25
#: Calls per chunk: the first one and the writes of what it left unprocessed.
BATCH_WRITE_ATTEMPTS: Final = 5


def batch_write(
    client: DynamoDBClient,
    requests: Sequence[tuple[str, Any]],
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Write ``(table, PutRequest | DeleteRequest)`` pairs (any tables) in calls of 25; the
    items a call leaves unprocessed are written again, with a short back-off.

    Raises
    ------
    ServiceUnavailableError
        DynamoDB throttled, failed, or still left items unprocessed (``what`` names them).
    StoreRejectedError, ConfigurationError
        DynamoDB refused an item, or a table does not exist.
    """
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending: dict[str, list[Any]] = {}
        for table, request in requests[start : start + BATCH_WRITE_LIMIT]:
            pending.setdefault(table, []).append(request)
        for attempt in range(BATCH_WRITE_ATTEMPTS):
            if attempt:
                sleep(0.05 * 2**attempt)
            try:
                response = client.batch_write_item(RequestItems=pending)
            except Exception as exc:
                raise transient_error(exc, "dynamodb", "BatchWriteItem") from exc
            left = response.get("UnprocessedItems", {})
            pending = {t: list(r) for t, r in left.items() if r}
            if not pending:
                break
        if pending:
            raise ServiceUnavailableError(
                f"dynamodb BatchWriteItem left {what} unprocessed",
                service="dynamodb",
                operation="BatchWriteItem",
            )


class DynamoDbTable:
    """Base of a table's adapter.

    Parameters
    ----------
    client
        A boto3 DynamoDB (low-level) client.
    table_name
        The table.
    clock
        Epoch seconds (tests).
    """

    def __init__(
        self, client: DynamoDBClient, table_name: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._ddb = client
        self.table_name = table_name
        self._clock = clock

    def scan(self, *, consistent: bool = False) -> Iterator[dict[str, Any]]:
        """Every item of the table (a paginated ``Scan``).

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled or failed.
        """
        kwargs: dict[str, Any] = {"TableName": self.table_name}
        if consistent:
            kwargs["ConsistentRead"] = True
        while True:
            try:
                response = self._ddb.scan(**kwargs)
            except Exception as exc:
                raise transient_error(exc, "dynamodb", "Scan") from exc
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last


class DynamoDbTtlTable(DynamoDbTable):
    """A table whose items expire (``ttl_seconds`` after they are written, by its TTL
    attribute)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        ttl_seconds: int = 7 * 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client, table_name, clock)
        self.ttl_seconds = ttl_seconds
