"""The erasure index in DynamoDB (``ERASURE_INDEX_TABLE``): address hash -> raw-mail keys.

Item: ``address_hash`` (partition key: :func:`~shopmail.domain.addresses.address_hash` of an
address a mail names), ``object_key`` (sort key: the raw mail's S3 key) and ``expires_at``
(epoch seconds, the table's TTL attribute: the index outlives the objects). The attachments and
the quarantine copy of a mail share its SES message id, so the raw key finds them too.

IAM: ``dynamodb:BatchWriteItem`` (inbound), ``dynamodb:Query`` and ``dynamodb:BatchWriteItem``
(erasure).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from shopmail.adapters.aws_errors import transient_error
from shopmail.adapters.dynamodb_table import DynamoDbTable, batch_write

HASH_KEY: Final = "address_hash"
SORT_KEY: Final = "object_key"


class DynamoDbErasureIndex(DynamoDbTable):
    """Implements ``ports.ErasureIndex`` on ``ERASURE_INDEX_TABLE`` (see :class:`DynamoDbTable`)."""

    def _write(self, requests: list[dict[str, Any]]) -> None:
        batch_write(self._ddb, [(self.table_name, r) for r in requests], "index items")

    def record(self, address_hashes: Iterable[str], key: str, ttl_days: int) -> None:
        """Write one item per hash for the object ``key``.

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled or failed (the inbound event is retried).
        """
        self._write(self.put_requests(address_hashes, key, ttl_days))

    def put_requests(
        self, address_hashes: Iterable[str], key: str, ttl_days: int
    ) -> list[dict[str, Any]]:
        """The ``BatchWriteItem`` requests of :meth:`record` (for a caller that writes them
        together with its own items)."""
        expires = str(int(self._clock() + ttl_days * 86400))
        return [
            {
                "PutRequest": {
                    "Item": {
                        HASH_KEY: {"S": h},
                        SORT_KEY: {"S": key},
                        "expires_at": {"N": expires},
                    }
                }
            }
            for h in sorted(set(address_hashes))
        ]

    def keys(self, address_hash: str) -> list[str]:
        """Every object key recorded for ``address_hash`` (a paginated query)."""
        found: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#h = :h",
            "ExpressionAttributeNames": {"#h": HASH_KEY},
            "ExpressionAttributeValues": {":h": {"S": address_hash}},
            "ConsistentRead": True,
        }
        while True:
            try:
                response = self._ddb.query(**kwargs)
            except Exception as exc:
                raise transient_error(exc, "dynamodb", "Query") from exc
            found += [str(i[SORT_KEY]["S"]) for i in response.get("Items", []) if SORT_KEY in i]
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            kwargs["ExclusiveStartKey"] = last

    def forget(self, address_hash: str) -> int:
        """Delete every item of ``address_hash``; return how many."""
        keys = self.keys(address_hash)
        self._write(
            [
                {"DeleteRequest": {"Key": {HASH_KEY: {"S": address_hash}, SORT_KEY: {"S": k}}}}
                for k in keys
            ]
        )
        return len(keys)
