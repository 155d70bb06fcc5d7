"""Transient-bounce counting in DynamoDB (an item per address in the idempotency table).

Item: ``id`` = ``transient-bounce#`` + address, ``bounces`` (string set of
``timestamp|bounce id``), ``expiration`` (epoch seconds: the table's TTL attribute, pushed
forward by each bounce to the end of the window).

One ``UpdateItem ... ADD bounces :one`` per bounce: atomic (concurrent invocations never lose a
bounce) and idempotent (a redelivered bounce adds the same set element again, a no-op). The
update returns the whole set; entries older than the window are removed in a second,
best-effort update so the item stays small.

IAM: ``dynamodb:UpdateItem`` on the idempotency table.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from shopmail.adapters.aws_errors import transient_error
from shopmail.adapters.dynamodb_table import DynamoDbTable
from shopmail.domain.suppression.policy import parse_timestamp

if TYPE_CHECKING:
    pass

KEY_PREFIX = "transient-bounce#"
logger = logging.getLogger(__name__)


class DynamoDbBounceCounter(DynamoDbTable):
    """Implements ``services.feedback.BounceCounter``.

    Parameters
    ----------
    client
        A boto3 DynamoDB (low-level) client.
    table_name
        ``IDEMPOTENCY_TABLE`` (partition key ``id``, TTL ``expiration``).
    clock
        Epoch seconds (tests).
    """

    def record(self, address: str, bounce_id: str, timestamp: str, window_days: int) -> list[str]:
        """Add one bounce; return the timestamps of every recorded bounce of ``address``.

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled or failed.
        """
        key = {"id": {"S": KEY_PREFIX + address.strip().lower()}}
        expiration = int(self._clock() + window_days * 86400 + 86400)
        try:
            response = self._ddb.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="ADD #b :one SET #exp = :exp",
                ExpressionAttributeNames={"#b": "bounces", "#exp": "expiration"},
                ExpressionAttributeValues={
                    ":one": {"SS": [f"{timestamp}|{bounce_id}"]},
                    ":exp": {"N": str(expiration)},
                },
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "UpdateItem") from exc
        entries = list(response.get("Attributes", {}).get("bounces", {}).get("SS", []))
        stamps = [e.partition("|")[0] for e in entries]
        cutoff = self._clock() - window_days * 86400
        stale = [e for e, stamp in zip(entries, stamps, strict=True) if _older(stamp, cutoff)]
        if stale:
            try:
                self._ddb.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression="DELETE #b :old",
                    ExpressionAttributeNames={"#b": "bounces"},
                    ExpressionAttributeValues={":old": {"SS": stale}},
                )
            except Exception as exc:  # pruning is an optimisation only
                logger.warning("pruning old bounces failed", extra={"error": type(exc).__name__})
        return stamps


def _older(stamp: str, cutoff: float) -> bool:
    parsed = parse_timestamp(stamp)
    return parsed is not None and parsed.timestamp() < cutoff
