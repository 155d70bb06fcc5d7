"""The suppression list in DynamoDB (``SUPPRESSION_TABLE``; partition key ``address``).

Item: ``address`` (lower-cased, 7-bit; or ``hash:<sha256>`` for an address kept as a hash
after an erasure), ``class``, ``reason``, ``since`` (ISO 8601), ``source`` and optionally
``expires_at`` (epoch seconds, the table's TTL attribute). DynamoDB deletes expired items only
eventually, so :meth:`DynamoDbSuppressionList.get` ignores them itself.

A lookup reads both keys of an address in one ``BatchGetItem`` and returns the entry that
blocks more (:func:`~shopmail.domain.suppression.entries.effective_entry`);
:meth:`DynamoDbSuppressionList.get_many` reads the keys of a whole batch of addresses the same
way (100 keys per call, unprocessed keys read again). :meth:`DynamoDbSuppressionList.put_if`
is one conditional write that never replaces a stronger entry.

IAM: ``dynamodb:BatchGetItem`` (lookups), ``PutItem`` (feedback, unsubscribe, erasure),
``DeleteItem``/``Scan`` (erasure, CLI).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from shopmail.adapters.aws_errors import error_code, transient_error
from shopmail.adapters.dynamodb_table import DynamoDbTable
from shopmail.domain.suppression.entries import (
    SuppressionEntry,
    effective_entry,
    suppression_key,
    suppression_keys,
)
from shopmail.errors import ServiceUnavailableError

if TYPE_CHECKING:
    pass

#: ``BatchGetItem`` reads at most 100 keys per call.
_BATCH_KEYS: Final = 100
_ATTEMPTS: Final = 5


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


class DynamoDbSuppressionList(DynamoDbTable):
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

    def get(self, address: str) -> SuppressionEntry | None:
        """The entry of ``address`` (any case; plain or hash form), ``None`` when absent or
        expired.

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled or failed.
        """
        return self.get_many([address])[address]

    def get_many(self, addresses: Iterable[str]) -> dict[str, SuppressionEntry | None]:
        """:meth:`get` of every address, in one ``BatchGetItem`` per 100 keys (each address
        has two: plain and hash form); keyed by the address as given.

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled or failed, or left keys unprocessed after a few attempts.
        """
        wanted = list(dict.fromkeys(addresses))
        keys_of = {a: list(dict.fromkeys(suppression_keys(a))) for a in wanted}
        keys = list(dict.fromkeys(k for a in wanted for k in keys_of[a]))
        items: list[Mapping[str, Any]] = []
        for start in range(0, len(keys), _BATCH_KEYS):
            items += self._read([{"address": {"S": k}} for k in keys[start : start + _BATCH_KEYS]])
        now = self._clock()
        by_key: dict[str, SuppressionEntry] = {}
        for item in items:
            entry = entry_from_item(item)
            if not entry.expired(now):
                by_key[entry.address] = entry
        return {a: effective_entry(*(by_key.get(k) for k in keys_of[a])) for a in wanted}

    def _read(self, wanted: list[Any]) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        for attempt in range(_ATTEMPTS):
            if attempt:
                time.sleep(0.02 * 2**attempt)
            try:
                response = self._ddb.batch_get_item(
                    RequestItems={self.table_name: {"Keys": wanted, "ConsistentRead": True}}
                )
            except Exception as exc:
                raise transient_error(exc, "dynamodb", "BatchGetItem") from exc
            items += response.get("Responses", {}).get(self.table_name, [])
            unprocessed: Any = response.get("UnprocessedKeys", {}).get(self.table_name, {})
            wanted = list(unprocessed.get("Keys", []))
            if not wanted:
                return items
        raise ServiceUnavailableError(
            "dynamodb BatchGetItem left keys unprocessed",
            service="dynamodb",
            operation="BatchGetItem",
        )

    def put(self, entry: SuppressionEntry) -> None:
        """Create or replace the entry of ``entry.address``."""
        try:
            self._ddb.put_item(TableName=self.table_name, Item=item_from_entry(entry))
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "PutItem") from exc

    def put_if(
        self, entry: SuppressionEntry, replaceable: Iterable[str]
    ) -> SuppressionEntry | None:
        """Store ``entry`` unless its key holds an unexpired entry whose class is not in
        ``replaceable``: one conditional ``PutItem``; the entry kept comes back with the
        refusal (``ReturnValuesOnConditionCheckFailure=ALL_OLD``).

        Returns
        -------
        SuppressionEntry or None
            ``None`` when ``entry`` was stored, else the entry that stays.
        """
        classes = sorted(set(replaceable))
        names = {"#a": "address", "#c": "class", "#e": "expires_at"}
        values: dict[str, Any] = {":now": {"N": str(int(self._clock()))}}
        condition = "attribute_not_exists(#a) OR (attribute_exists(#e) AND #e <= :now)"
        if classes:
            values.update({f":c{i}": {"S": c} for i, c in enumerate(classes)})
            condition += " OR #c IN (" + ", ".join(f":c{i}" for i in range(len(classes))) + ")"
        try:
            self._ddb.put_item(
                TableName=self.table_name,
                Item=item_from_entry(entry),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise transient_error(exc, "dynamodb", "PutItem") from exc
            old = exc.response.get("Item")
            if isinstance(old, Mapping):
                return entry_from_item(old)
            return self.get(entry.address) or entry
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "PutItem") from exc
        return None

    def delete(self, address: str) -> bool:
        """Remove the entry stored under ``address`` (an address or a ``hash:`` key); ``True``
        when one existed."""
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
        for item in self.scan():
            entry = entry_from_item(item)
            if include_expired or not entry.expired(now):
                yield entry
