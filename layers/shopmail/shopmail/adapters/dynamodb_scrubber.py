"""Remove every item that names one address from a DynamoDB table (erasure).

The table is scanned (consistent reads, paginated) and each item's values are decoded (strings,
numbers, sets, lists, maps) and searched with an
:class:`~shopmail.domain.erasure.matcher.AddressMatcher` (the address in every spelling and its
hashes). A matching item is deleted; in ``redact`` mode (the suppression table, whose other
entries must keep suppressing their own addresses) an item whose key does not name the address
keeps its key and gets the address replaced in its string attributes instead.

IAM: ``dynamodb:Scan``, ``dynamodb:DeleteItem`` (and ``dynamodb:UpdateItem`` for redact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shopmail.adapters.aws_errors import transient_error
from shopmail.adapters.dynamodb_table import DynamoDbTable
from shopmail.domain.erasure.matcher import AddressMatcher

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def plain_value(value: Mapping[str, Any]) -> Any:
    """A low-level DynamoDB attribute value as plain Python (binary as text, lossy)."""
    if len(value) != 1:
        return None
    kind, inner = next(iter(value.items()))
    if kind in ("S", "N"):
        return str(inner)
    if kind == "B":
        return bytes(inner).decode("utf-8", "replace") if inner is not None else ""
    if kind in ("SS", "NS"):
        return [str(v) for v in inner]
    if kind == "BS":
        return [bytes(v).decode("utf-8", "replace") for v in inner]
    if kind == "L":
        return [plain_value(v) for v in inner]
    if kind == "M":
        return {k: plain_value(v) for k, v in inner.items()}
    return inner


class DynamoDbScrubber(DynamoDbTable):
    """Implements ``ports.Scrubber`` for one table (client and table: :class:`DynamoDbTable`).

    Parameters
    ----------
    key_names
        The table's key attributes (partition key, sort key).
    name
        The store's name in the erasure report (``sentMail``, ...).
    redact
        Rewrite matching string attributes instead of deleting items whose key does not name
        the address.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        key_names: Sequence[str],
        *,
        name: str,
        redact: bool = False,
    ) -> None:
        super().__init__(client, table_name)
        self.key_names = tuple(key_names)
        self.name = name
        self.redact = redact

    def scrub(self, matcher: AddressMatcher) -> int:
        """Delete (or redact) every item naming the address; return how many.

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled or failed.
        """
        count = 0
        for item in self.scan(consistent=True):
            plain = {k: plain_value(v) for k, v in item.items()}
            if matcher.in_value(plain):
                self._remove(item, plain, matcher)
                count += 1
        return count

    def _remove(
        self, item: Mapping[str, Any], plain: Mapping[str, Any], matcher: AddressMatcher
    ) -> None:
        key = {k: item[k] for k in self.key_names if k in item}
        key_named = any(matcher.in_value(plain.get(k)) for k in self.key_names)
        redactable = all(
            "S" in item[k] for k, v in plain.items() if k not in key and matcher.in_value(v)
        )
        if self.redact and not key_named and redactable:
            names = [k for k, v in plain.items() if k not in key and matcher.in_value(v)]
            setters = ", ".join(f"#a{i} = :v{i}" for i in range(len(names)))
            try:
                self._ddb.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression=f"SET {setters}",
                    ExpressionAttributeNames={f"#a{i}": n for i, n in enumerate(names)},
                    ExpressionAttributeValues={
                        f":v{i}": {"S": matcher.redact(str(plain[n]))} for i, n in enumerate(names)
                    },
                )
            except Exception as exc:
                raise transient_error(exc, "dynamodb", "UpdateItem") from exc
            return
        try:
            self._ddb.delete_item(TableName=self.table_name, Key=key)
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "DeleteItem") from exc
