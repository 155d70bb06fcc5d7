"""Accepted mail in DynamoDB (``SENT_MAIL_TABLE``; partition key ``ses_message_id``, TTL
``expires_at``), for correlating SES feedback (bounces, complaints) with the business event.

Each mail is stored twice: under its SES message id (what SES events carry as
``mail.messageId``) and under ``mid:`` + our Message-ID (what DSNs and replies quote in
``References``/``In-Reply-To``), so both lookups are a single ``GetItem`` without an index.

:meth:`DynamoDbSentMailStore.put_many` writes a batch's records with ``BatchWriteItem``
(25 items per call).

IAM: ``dynamodb:PutItem``, ``dynamodb:BatchWriteItem`` (outbound), ``dynamodb:GetItem``
(feedback).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from shopmail.adapters.aws_errors import transient_error
from shopmail.adapters.dynamodb_table import batch_write
from shopmail.domain.outbound.sent_mail import SentMail

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MESSAGE_ID_PREFIX = "mid:"
DEFAULT_TTL_SECONDS = 90 * 24 * 3600
_STRINGS = tuple(f.name for f in fields(SentMail) if f.name not in ("ses_message_id", "expires_at"))


def _normalize_message_id(message_id: str) -> str:
    return "<" + message_id.strip().strip("<>").lower() + ">"


class DynamoDbSentMailStore:
    """Record accepted mail and look it up.

    Parameters
    ----------
    client
        A boto3 DynamoDB (low-level) client.
    table_name
        ``SENT_MAIL_TABLE``.
    ttl_seconds
        How long a record is kept (used when the record has no ``expires_at``).
    clock
        Epoch seconds (tests).
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ddb = client
        self.table_name = table_name
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def put(self, record: SentMail) -> None:
        """Store ``record`` under its SES message id and under its Message-ID.

        A mail without an SES message id (the relay's ``250`` carried none, or the send was
        ambiguous) is stored under its Message-ID only.

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled or failed.
        StoreRejectedError
            DynamoDB refused the item as invalid.
        """
        for body in self._bodies(record):
            try:
                self._ddb.put_item(TableName=self.table_name, Item=body)
            except Exception as exc:
                raise transient_error(exc, "dynamodb", "PutItem") from exc

    def put_many(self, records: Sequence[SentMail]) -> None:
        """Store every record (both items of each, as :meth:`put`): 25 items per
        ``BatchWriteItem``, unprocessed items written again a few times.

        Raises
        ------
        ServiceUnavailableError
            DynamoDB throttled, failed, or left items unprocessed.
        StoreRejectedError
            DynamoDB refused an item as invalid.
        """
        puts = [
            (self.table_name, {"PutRequest": {"Item": body}})
            for r in records
            for body in self._bodies(r)
        ]
        batch_write(self._ddb, puts, "sent-mail records")

    def _bodies(self, record: SentMail) -> list[dict[str, Any]]:
        """The items of ``record``: under its SES message id (when it has one) and under
        ``mid:`` + its Message-ID."""
        if not record.expires_at:
            record = replace(record, expires_at=int(self._clock() + self.ttl_seconds))
        item = self._item(record)
        pointer = dict(item)
        pointer["ses_message_id"] = {
            "S": MESSAGE_ID_PREFIX + _normalize_message_id(record.message_id)
        }
        bodies = [pointer]
        if record.ses_message_id:
            pointer["ses_id"] = {"S": record.ses_message_id}
            bodies.insert(0, item)
        return bodies

    def get(self, ses_message_id: str) -> SentMail | None:
        """The record of the SES message id (``None`` when unknown or expired)."""
        return self._get(ses_message_id)

    def get_by_message_id(self, message_id: str) -> SentMail | None:
        """The record of our Message-ID (with or without angle brackets, any case)."""
        if not message_id.strip():
            return None
        return self._get(MESSAGE_ID_PREFIX + _normalize_message_id(message_id))

    def _get(self, key: str) -> SentMail | None:
        try:
            response = self._ddb.get_item(
                TableName=self.table_name, Key={"ses_message_id": {"S": key}}
            )
        except Exception as exc:
            raise transient_error(exc, "dynamodb", "GetItem") from exc
        item = response.get("Item")
        if not item:
            return None
        record = self._record(item)
        if record.expires_at and record.expires_at <= self._clock():
            return None
        return record

    @staticmethod
    def _item(record: SentMail) -> dict[str, Any]:
        item: dict[str, Any] = {
            "ses_message_id": {"S": record.ses_message_id},
            "expires_at": {"N": str(int(record.expires_at))},
        }
        for name in _STRINGS:
            value = getattr(record, name)
            if value:
                item[name] = {"S": str(value)}
        return item

    @staticmethod
    def _record(item: Mapping[str, Any]) -> SentMail:
        def s(name: str) -> str:
            value = item.get(name)
            return str(value.get("S", "")) if isinstance(value, Mapping) else ""

        key = s("ses_message_id")
        ses_id = s("ses_id") if key.startswith(MESSAGE_ID_PREFIX) else key
        expires = item.get("expires_at", {}).get("N", "0")
        values: dict[str, Any] = {name: s(name) for name in _STRINGS}
        return SentMail(ses_message_id=ses_id, expires_at=int(expires), **values)
