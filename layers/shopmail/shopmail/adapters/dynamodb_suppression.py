"""The suppression list in DynamoDB (``SUPPRESSION_TABLE``; partition key ``address``).

Item: ``address`` (lower-cased, 7-bit), ``class``, ``reason``, ``since`` (ISO 8601), ``source``
and optionally ``expires_at`` (epoch seconds, the table's TTL attribute). DynamoDB deletes
expired items only eventually, so :meth:`DynamoDbSuppressionList.get` ignores them itself.

IAM: ``dynamodb:GetItem`` (outbound), ``PutItem``/``DeleteItem``/``Scan`` (feedback, CLI).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from shopmail.adapters.aws_errors import transient_error
from shopmail.domain.suppression.entries import SuppressionEntry, suppression_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def entry_from_item(item: Mapping[str, Any]) -> SuppressionEntry:
    """Build a :class:`SuppressionEntry` from a low-level DynamoDB item."""

    def s(name: str) -> str:
        value = item.get(name, {})
        return str(value.get("S", "")) if isinstance(value, Mapping) else ""

    expires = item.get("expires_at", {}).get("N")
    return SuppressionEntry(
        address=s("address"),
        suppression_class=s("class"),
        reason=s("reason"),
        since=s("since"),
        source=s("source"),
        expires_at=int(expires) if expires is not None else None,
    )


def item_from_entry(entry: SuppressionEntry) -> dict[str, Any]:
    """The low-level DynamoDB item of ``entry`` (the address key normalized)."""
    item: dict[str, Any] = {
        "address": {"S": suppression_key(entry.address)},
        "class": {"S": entry.suppression_class},
    }
    for name in ("reason", "since", "source"):
        value = getattr(entry, name)
        if value:
            item[name] = {"S": str(value)[:1000]}
    if entry.expires_at is not None:
        item["expires_at"] = {"N": str(int(entry.expires_at))}
    return item


class DynamoDbSuppressionList:
    """Read and maintain the suppression list.

    Parameters
    ----------
    client
        A boto3 DynamoDB (low-level) client.
    table_name
        ``SUPPRESSION_TABLE``.
    clock
        Epoch seconds (tests).

    Example
    -------
    >>> sl = DynamoDbSuppressionList(boto3.client("dynamodb"), "sup")  # doctest: +SKIP
    >>> sl.put(SuppressionEntry("a@example.com", "hard_bounce", "5.1.1"))  # doctest: +SKIP
    >>> sl.get("A@example.com").suppression_class  # doctest: +SKIP
    'hard_bounce'
    """

    def __init__(
        self, client: DynamoDBClient, table_name: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._ddb = client
        self.table_name = table_name
        self._clock = clock

    def get(self, address: str) -> SuppressionEntry | None:
        """The entry of ``address`` (any case), or ``None`` when absent or expired.

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled or failed.
        """
        try:
            response = self._ddb.get_item(
                TableName=self.table_name, Key={"address": {"S": suppression_key(address)}}
            )
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "GetItem") from exc
        item = response.get("Item")
        if not item:
            return None
        entry = entry_from_item(item)
        return None if entry.expired(self._clock()) else entry

    def put(self, entry: SuppressionEntry) -> None:
        """Create or replace the entry of ``entry.address``."""
        try:
            self._ddb.put_item(TableName=self.table_name, Item=item_from_entry(entry))
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "PutItem") from exc

    def delete(self, address: str) -> bool:
        """Remove ``address``; ``True`` when an entry existed."""
        try:
            response = self._ddb.delete_item(
                TableName=self.table_name,
                Key={"address": {"S": suppression_key(address)}},
                ReturnValues="ALL_OLD",
            )
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "DeleteItem") from exc
        return bool(response.get("Attributes"))

    def list(self, *, include_expired: bool = False) -> Iterator[SuppressionEntry]:
        """Every entry (a paginated scan), expired ones only when asked."""
        now = self._clock()
        kwargs: dict[str, Any] = {"TableName": self.table_name}
        while True:
            try:
                response = self._ddb.scan(**kwargs)
            except Exception as exc:
                raise transient_error(exc, "dynamodb", "Scan") from exc
            for item in response.get("Items", []):
                entry = entry_from_item(item)
                if include_expired or not entry.expired(now):
                    yield entry
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last
