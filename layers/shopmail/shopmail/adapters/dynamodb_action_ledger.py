"""The inbound action ledger in DynamoDB (the idempotency table): one item per (SES message id,
envelope recipient) holding which route actions of that recipient are done.

Item: ``id`` (partition key: ``inbound#<SES message id>#<address hash>``), ``expiration`` (epoch
seconds, the table's TTL attribute), ``status`` (``INPROGRESS`` while an attempt holds the
claim, ``RELEASED`` after one ended with actions left, ``COMPLETED`` when every action is done),
``in_progress_expiration`` (epoch milliseconds: when the claim lapses, the attempt that made it
having crashed or timed out) and ``done`` (a string set of action ids, ``<index>:<name>``).

A claim is one ``UpdateItem`` whose condition accepts a missing, expired or released record or
a lapsed claim; its refusal returns the record it found
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so a re-delivered message that is finished
costs that one call and no read of the raw mail. :meth:`DynamoDbActionLedger.finish_all`
writes the finished records of a message together with its erasure index items in one
``BatchWriteItem`` (two tables, 25 items per call): the index is written exactly when the
records are finished, so a retry of a message that is not finished writes it again and a
finished one needs it no more.

IAM: ``dynamodb:UpdateItem`` and ``dynamodb:BatchWriteItem`` on the table
(``BatchWriteItem`` on the erasure index table too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from shopmail.adapters.aws_errors import error_code, transient_error
from shopmail.adapters.dynamodb_erasure_index import DynamoDbErasureIndex
from shopmail.adapters.dynamodb_idempotency import COMPLETED, IN_PROGRESS, key_digest
from shopmail.adapters.dynamodb_table import DynamoDbTtlTable, batch_write
from shopmail.errors import InProgressError
from shopmail.ports import LedgerClaim

if TYPE_CHECKING:
    pass

RELEASED: Final = "RELEASED"
_NAMES: Final = {
    "#id": "id",
    "#exp": "expiration",
    "#status": "status",
    "#ipexp": "in_progress_expiration",
}


def _done(item: Mapping[str, Any]) -> frozenset[str]:
    values = item.get("done", {}).get("SS", [])
    return frozenset(str(v) for v in values)


class DynamoDbActionLedger(DynamoDbTtlTable):
    """Implements ``ports.ActionLedger`` on ``IDEMPOTENCY_TABLE`` (see
    :class:`DynamoDbTtlTable`: client, table, ``IDEMPOTENCY_TTL_SECONDS``, clock).

    ``erasure_index``: where :meth:`finish_all` records a message's mentions (``None``: none).
    """

    def __init__(
        self, *args: Any, erasure_index: DynamoDbErasureIndex | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.erasure_index = erasure_index
        self.records_mentions = erasure_index is not None

    def claim(self, key: str, lease_seconds: float) -> LedgerClaim:
        """Claim the record ``key`` until ``lease_seconds`` from now (see the module docs);
        raises ``InProgressError`` while the claim of another attempt holds, and the errors of
        :func:`~shopmail.adapters.aws_errors.transient_error` when DynamoDB fails or refuses
        the key."""
        now = self._clock()
        try:
            response = self._ddb.update_item(
                TableName=self.table_name,
                Key={"id": {"S": key}},
                UpdateExpression="SET #status = :inprogress, #ipexp = :until, #exp = :exp",
                ConditionExpression=(
                    "attribute_not_exists(#id) OR #exp < :now OR #status = :released OR "
                    "(#status = :inprogress AND #ipexp < :now_ms)"
                ),
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={
                    ":inprogress": {"S": IN_PROGRESS},
                    ":released": {"S": RELEASED},
                    ":until": {"N": str(int((now + lease_seconds) * 1000))},
                    ":exp": {"N": str(int(now + self.ttl_seconds))},
                    ":now": {"N": str(int(now))},
                    ":now_ms": {"N": str(int(now * 1000))},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise transient_error(exc, "dynamodb", "UpdateItem") from exc
            found: Any = exc.response.get("Item") or {}
            if found.get("status", {}).get("S") == COMPLETED:
                return LedgerClaim(True, _done(found))
            raise InProgressError(
                "another attempt is processing this message", key=key_digest(key)
            ) from None
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "UpdateItem") from exc
        old: Any = response.get("Attributes") or {}
        expired = int(old.get("expiration", {}).get("N", "0") or 0) < int(now)
        return LedgerClaim(False, frozenset() if expired else _done(old))

    def finish_all(
        self,
        finishes: Sequence[tuple[str, Iterable[str], bool]],
        mentions: tuple[Iterable[str], str, int] | None = None,
    ) -> None:
        """Write each finished record whole (its done actions, no claim) and the erasure index
        items of ``mentions``, in one ``BatchWriteItem`` per 25 items; unprocessed items are
        written again a few times.

        ``done`` must hold every action done (the record is replaced, as an unconditional
        completion always was).

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled, failed, or left items unprocessed.
        """
        expires = {"N": str(int(self._clock() + self.ttl_seconds))}
        requests: list[tuple[str, Any]] = []
        for key, done, complete in finishes:
            item: dict[str, Any] = {
                "id": {"S": key},
                "expiration": expires,
                "status": {"S": COMPLETED if complete else RELEASED},
            }
            actions = sorted(set(done))
            if actions:
                item["done"] = {"SS": actions}
            requests.append((self.table_name, {"PutRequest": {"Item": item}}))
        index = self.erasure_index
        if index is not None and mentions is not None:
            hashes, object_key, days = mentions
            requests += [
                (index.table_name, r) for r in index.put_requests(hashes, object_key, days)
            ]
        batch_write(self._ddb, requests, "ledger records or index items")
