"""Publish events to the shop's EventBridge bus.

:meth:`EventBridgePublisher.publish_many` sends a use case's events of one invocation with as
few ``PutEvents`` calls as the service allows (10 entries and 256 KB per call) and retries only
the entries that failed (``FailedEntryCount``), a few times with a short back-off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from shopmail.adapters.aws_errors import error_code, transient_error
from shopmail.errors import ConfigurationError, ServiceUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

    from shopmail.ports import EventEntry

#: ``PutEvents`` limits: entries per call and bytes per call (EventBridge quotas).
MAX_ENTRIES: Final = 10
MAX_REQUEST_BYTES: Final = 256 * 1024
#: Calls per chunk: the first one and the retries of its failed entries.
ATTEMPTS: Final = 3


class EventBridgePublisher:
    """Implements ``ports.EventPublisher`` with ``PutEvents`` (IAM: ``events:PutEvents``).

    Parameters
    ----------
    client
        A boto3 EventBridge client.
    event_bus_name
        The bus name or ARN (``SHOP_EVENT_BUS_NAME``).

    Example
    -------
    >>> pub = EventBridgePublisher(boto3.client("events"), "shop")  # doctest: +SKIP
    >>> pub.publish("SupportMessageReceived", {}, "shopmail.inbound")  # doctest: +SKIP
    """

    def __init__(
        self,
        client: EventBridgeClient,
        event_bus_name: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._events = client
        self.event_bus_name = event_bus_name
        self._sleep = sleep

    def _entry(
        self, detail_type: str, detail: Mapping[str, Any], source: str
    ) -> PutEventsRequestEntryTypeDef:
        return {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
            "EventBusName": self.event_bus_name,
        }

    def _put(self, entries: list[PutEventsRequestEntryTypeDef], detail_type: str) -> Any:
        try:
            return self._events.put_events(Entries=entries)
        except Exception as exc:
            err = transient_error(exc, "events", "PutEvents", detail_type=detail_type)
            if err is exc and isinstance(exc, ClientError):  # e.g. the bus does not exist
                raise ConfigurationError(
                    f"EventBridge refused PutEvents ({error_code(exc)}) on bus "
                    f"{self.event_bus_name!r}",
                    service="events",
                    code=error_code(exc),
                ) from exc
            raise err from exc

    def publish_many(self, events: Sequence[EventEntry]) -> list[int]:
        """Publish ``events`` (``(detail_type, detail, source)``) in as few calls as allowed.

        Returns
        -------
        list[int]
            The indexes (into ``events``) of the entries EventBridge still rejected after
            :data:`ATTEMPTS` calls; empty when every event was published.

        Raises
        ------
        ServiceUnavailableError
            A call failed transiently (no entry of that call and later ones counts as
            published: the caller retries them all).
        ConfigurationError
            EventBridge refused the call for good (e.g. the bus does not exist).
        """
        entries = [self._entry(t, d, s) for t, d, s in events]
        failed: list[int] = []
        for chunk in _chunks(entries):
            pending = chunk
            for attempt in range(ATTEMPTS):
                if attempt:
                    self._sleep(0.05 * 2**attempt)
                response = self._put(
                    [entries[i] for i in pending], entries[pending[0]]["DetailType"]
                )
                if not response.get("FailedEntryCount", 0):
                    pending = []
                    break
                results = response.get("Entries", [])
                pending = [
                    i
                    for n, i in enumerate(pending)
                    if n >= len(results)
                    or results[n].get("ErrorCode")
                    or not results[n].get("EventId")
                ]
                if not pending:
                    break
            failed += pending
        return failed

    def publish(self, detail_type: str, detail: Mapping[str, Any], source: str) -> None:
        """Publish one event.

        Raises
        ------
        ServiceUnavailableError
            The call failed transiently or the entry failed (``FailedEntryCount > 0``).
        ConfigurationError
            EventBridge refused the call for good (e.g. the bus does not exist).
        """
        response = self._put([self._entry(detail_type, detail, source)], detail_type)
        if response.get("FailedEntryCount", 0):
            failed = [e for e in response.get("Entries", []) if e.get("ErrorCode")]
            code = failed[0].get("ErrorCode", "unknown") if failed else "unknown"
            raise ServiceUnavailableError(
                f"EventBridge rejected the {detail_type} entry ({code})",
                service="events",
                operation="PutEvents",
                code=code,
                detail_type=detail_type,
            )


def _entry_size(entry: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it (source, detail-type, detail, bus)."""
    return sum(
        len(str(entry.get(k, "")).encode("utf-8"))
        for k in ("Source", "DetailType", "Detail", "EventBusName")
    )


def _chunks(entries: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Indexes of ``entries`` grouped into calls of at most 10 entries and 256 KB."""
    chunks: list[list[int]] = []
    size = 0
    for index, entry in enumerate(entries):
        entry_size = _entry_size(entry)
        if not chunks or len(chunks[-1]) >= MAX_ENTRIES or size + entry_size > MAX_REQUEST_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(index)
        size += entry_size
    return chunks
