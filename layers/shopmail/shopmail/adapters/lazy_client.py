"""Create a boto3 client on first use (cold start: an invocation that never dead-letters never
pays for loading the SQS service model)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LazyClient:
    """A proxy that builds its client with ``factory()`` on the first attribute access.

    Example
    -------
    >>> sqs = LazyClient(lambda: boto3.client("sqs"))  # doctest: +SKIP
    >>> sqs.send_message(QueueUrl=url, MessageBody="{}")  # doctest: +SKIP
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The real client (created now if needed)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.client, name)
