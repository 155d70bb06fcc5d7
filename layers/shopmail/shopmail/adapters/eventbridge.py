"""Publish events to the shop's EventBridge bus."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shopmail.adapters.aws_errors import error_code, transient_error
from shopmail.errors import ConfigurationError, ServiceUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef


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

    def __init__(self, client: EventBridgeClient, event_bus_name: str) -> None:
        self._events = client
        self.event_bus_name = event_bus_name

    def publish(self, detail_type: str, detail: Mapping[str, Any], source: str) -> None:
        """Publish one event.

        Raises
        ------
        ServiceUnavailableError
            The call failed transiently or the entry failed (``FailedEntryCount > 0``).
        ConfigurationError
            EventBridge refused the call for good (e.g. the bus does not exist).
        """
        entry: PutEventsRequestEntryTypeDef = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
            "EventBusName": self.event_bus_name,
        }
        try:
            response = self._events.put_events(Entries=[entry])
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
