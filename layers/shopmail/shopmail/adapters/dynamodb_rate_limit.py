"""One event per key and period, as a conditional put in DynamoDB.

Item: ``id`` (partition key, string; callers pass a hash, never a full address),
``expiration`` (epoch seconds, the table's TTL attribute) and ``owner`` (what took the slot,
e.g. a message id and a recipient hash). TTL deletion lags, so the condition also accepts an
expired record; it accepts the slot's own owner too, so a retry of the event that took it
takes it again even when the release after a failed send did not reach the table.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shopmail.adapters.aws_errors import error_code, transient_error
from shopmail.adapters.dynamodb_table import DynamoDbTable


class DynamoDbRateLimiter(DynamoDbTable):
    """Implements ``ports.RateLimiter``.

    IAM: ``dynamodb:PutItem`` and ``dynamodb:DeleteItem`` on the table (``RATE_LIMIT_TABLE``).
    """

    def acquire(self, key: str, period_seconds: int, owner: str = "") -> bool:
        """Record ``key`` for ``period_seconds``; ``False`` if another owner recorded it.

        An empty ``owner`` never matches: the slot is free only when absent or expired.
        """
        now = int(self._clock())
        item = {"id": {"S": key}, "expiration": {"N": str(now + int(period_seconds))}}
        condition = "attribute_not_exists(#id) OR #exp < :now"
        names = {"#id": "id", "#exp": "expiration"}
        values: dict[str, Any] = {":now": {"N": str(now)}}
        if owner:
            item["owner"] = {"S": owner}
            condition += " OR #owner = :owner"
            names["#owner"] = "owner"
            values[":owner"] = {"S": owner}
        try:
            self._ddb.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
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
