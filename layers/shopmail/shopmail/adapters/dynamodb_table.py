"""What every adapter of one DynamoDB table holds: the low-level client, the name, a clock,
and the paginated scan."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from shopmail.adapters.aws_errors import transient_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


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
