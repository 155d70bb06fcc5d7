"""One event per key and period, as a conditional put in DynamoDB.

Item: ``id`` (partition key, string; callers pass a hash, never a full address) and
``expiration`` (epoch seconds, the table's TTL attribute). TTL deletion lags, so the
condition also accepts an expired record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shopmail.adapters.aws_errors import error_code, transient_error
from shopmail.adapters.dynamodb_table import DynamoDbTable

if TYPE_CHECKING:
    pass


class DynamoDbRateLimiter(DynamoDbTable):
    """Implements ``ports.RateLimiter``.

    IAM: ``dynamodb:PutItem`` and ``dynamodb:DeleteItem`` on the table (``RATE_LIMIT_TABLE``).
    """

    def acquire(self, key: str, period_seconds: int) -> bool:
        """Record ``key`` for ``period_seconds``; ``False`` if it is already recorded."""
        now = int(self._clock())
        try:
            self._ddb.put_item(
                TableName=self.table_name,
                Item={"id": {"S": key}, "expiration": {"N": str(now + int(period_seconds))}},
                ConditionExpression="attribute_not_exists(#id) OR #exp < :now",
                ExpressionAttributeNames={"#id": "id", "#exp": "expiration"},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise transient_error(exc, "dynamodb", "PutItem") from exc
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "PutItem") from exc
        return True

    def release(self, key: str) -> None:
        """Delete the record for ``key``."""
        try:
            self._ddb.delete_item(TableName=self.table_name, Key={"id": {"S": key}})
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "DeleteItem") from exc
