"""Idempotency records in DynamoDB, in Powertools' table layout.

Item: ``id`` (partition key, string), ``expiration`` (epoch seconds, the table's TTL
attribute), ``status`` (``INPROGRESS`` | ``COMPLETED``), ``in_progress_expiration`` (epoch
milliseconds) and ``data`` (JSON, optional). A claim is a conditional put that succeeds when
there is no record, the record expired, or an ``INPROGRESS`` claim outlived
``in_progress_expiration`` (the attempt that made it crashed or timed out).

A failed claim returns the record it found (``ReturnValuesOnConditionCheckFailure=ALL_OLD``):
no second read to tell COMPLETED from in progress, and :meth:`DynamoDbIdempotencyStore.data`
of that key right after answers from it. :meth:`DynamoDbIdempotencyStore.complete_many` writes
up to 25 completions per ``BatchWriteItem``.

Keys may hold an address (the outbound business key ends with the recipient): errors name a
key by :func:`key_digest` only, never by the key itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shopmail.adapters.aws_errors import error_code, transient_error
from shopmail.adapters.dynamodb_table import DynamoDbTtlTable, batch_write
from shopmail.errors import InProgressError

if TYPE_CHECKING:
    pass

IN_PROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"


def key_digest(key: str) -> str:
    """A short, stable digest of an idempotency key (for logs and error context)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


class DynamoDbIdempotencyStore(DynamoDbTtlTable):
    """Implements ``ports.IdempotencyStore``.

    IAM: ``dynamodb:PutItem``, ``dynamodb:GetItem``, ``dynamodb:UpdateItem``,
    ``dynamodb:DeleteItem``, ``dynamodb:BatchWriteItem`` on the table.

    Parameters
    ----------
    client
        A boto3 DynamoDB (low-level) client.
    table_name
        ``IDEMPOTENCY_TABLE``.
    ttl_seconds
        How long a COMPLETED record is kept (``IDEMPOTENCY_TTL_SECONDS``).
    clock
        Returns the current epoch time in seconds (tests).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The record the last failed claim found (key, item): what ``data`` of it returns.
        self._found: tuple[str, Mapping[str, Any]] | None = None

    def begin(self, key: str, in_progress_seconds: float) -> bool:
        """Claim ``key``; ``False`` when it is already COMPLETED.

        Raises
        ------
        InProgressError
            Another attempt holds an unexpired claim.
        ServiceUnavailableError
            DynamoDB throttled or failed.
        StoreRejectedError
            DynamoDB refused the key (``ValidationException``, e.g. over 2 KB).
        """
        now = self._clock()
        item = {
            "id": {"S": key},
            "expiration": {"N": str(int(now + self.ttl_seconds))},
            "status": {"S": IN_PROGRESS},
            "in_progress_expiration": {"N": str(int((now + in_progress_seconds) * 1000))},
        }
        try:
            self._ddb.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression=(
                    "attribute_not_exists(#id) OR #exp < :now OR "
                    "(#status = :inprogress AND #ipexp < :now_ms)"
                ),
                ExpressionAttributeNames={
                    "#id": "id",
                    "#exp": "expiration",
                    "#status": "status",
                    "#ipexp": "in_progress_expiration",
                },
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":now_ms": {"N": str(int(now * 1000))},
                    ":inprogress": {"S": IN_PROGRESS},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            self._found = None
            return True
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise transient_error(exc, "dynamodb", "PutItem") from exc
            existing = exc.response.get("Item")
        if not isinstance(existing, Mapping):  # a store that does not return it: read it
            existing = self._get(key)
        if existing is None:  # deleted between our put and get: try once more
            return self.begin(key, in_progress_seconds)
        if existing.get("status", {}).get("S") == COMPLETED:
            self._found = (key, existing)
            return False
        raise InProgressError("another attempt is processing this item", key=key_digest(key))

    def _get(self, key: str) -> Mapping[str, Any] | None:
        try:
            response = self._ddb.get_item(
                TableName=self.table_name, Key={"id": {"S": key}}, ConsistentRead=True
            )
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "GetItem") from exc
        item = response.get("Item")
        return item if isinstance(item, Mapping) else None

    def complete(self, key: str, data: Mapping[str, Any] | None = None) -> None:
        """Mark ``key`` COMPLETED until its TTL."""
        if self._found is not None and self._found[0] == key:
            self._found = None
        item = self._completed(key, data)
        try:
            self._ddb.put_item(TableName=self.table_name, Item=item)
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "PutItem") from exc

    def complete_many(self, items: Sequence[tuple[str, Mapping[str, Any] | None]]) -> None:
        """Mark every ``(key, data)`` COMPLETED: 25 per ``BatchWriteItem``, unprocessed items
        written again (a few times, with a short back-off).

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled, failed, or left items unprocessed.
        """
        puts = [
            (self.table_name, {"PutRequest": {"Item": self._completed(k, d)}}) for k, d in items
        ]
        batch_write(self._ddb, puts, "completions")

    def _completed(self, key: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": {"S": key},
            "expiration": {"N": str(int(self._clock() + self.ttl_seconds))},
            "status": {"S": COMPLETED},
        }
        if data:
            item["data"] = {"S": json.dumps(data, separators=(",", ":"), default=str)}
        return item

    def release(self, key: str) -> None:
        """Delete an INPROGRESS claim (never a COMPLETED record)."""
        try:
            self._ddb.delete_item(
                TableName=self.table_name,
                Key={"id": {"S": key}},
                ConditionExpression="#status = :inprogress",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":inprogress": {"S": IN_PROGRESS}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise transient_error(exc, "dynamodb", "DeleteItem") from exc
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "DeleteItem") from exc

    def data(self, key: str) -> Mapping[str, Any] | None:
        """The ``data`` stored with a COMPLETED record (``None`` when absent).

        Right after a claim of ``key`` found it COMPLETED, the record that claim returned
        answers (no call).
        """
        found, self._found = self._found, None
        item = found[1] if found is not None and found[0] == key else self._get(key)
        if not item or "data" not in item:
            return None
        loaded = json.loads(item["data"]["S"])
        return loaded if isinstance(loaded, Mapping) else None
