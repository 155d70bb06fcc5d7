"""When a failed outbound message is delivered again: one delay per SQS receive.

Every outbound message that is not finished (the relay refused the session, the daily quota is
used up, a 4xx for this message, S3 or DynamoDB throttled, the invoice PDF is not uploaded yet)
stays in its queue and is made invisible for :func:`retry_delay` of its receive count (SQS
``ApproximateReceiveCount``) with ``ChangeMessageVisibility``: 30 s after the first receive,
doubling, at most 15 minutes. So a short hiccup is retried within a minute, and after an outage
of any length the queue is sending again at most 15 minutes after the relay is back.

Each receive counts against the queue's ``maxReceiveCount``, so that count decides how long an
outage may last before anything is dead-lettered. If every attempt fails at once, the ``n``-th
delivery comes :func:`time_covered` ``(n)`` seconds after the first::

    delays after receives 1..5: 30 + 60 + 120 + 240 + 480 = 930 s, then 900 s after each
    time_covered(n) = 930 + 900 * (n - 6)          for n >= 6
    time_covered(100) =  85,530 s   time_covered(101) = 86,430 s  (the first beyond 24 h)
    time_covered(120) = 103,530 s   (28.8 h: DEFAULT_MAX_RECEIVES, the last delivery)

Processing time and polling add to that; a ``ChangeMessageVisibility`` that fails leaves the
queue's own visibility timeout (the floor, 360 s) in place. The queues keep messages 14 days,
far beyond those 28.8 hours.

Example
-------
>>> [retry_delay(n) for n in (1, 2, 3, 6, 50)]
[30, 60, 120, 900, 900]
>>> time_covered(120) > 24 * 3600
True
>>> receives_needed(24 * 3600)
101
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Delay after the first failed receive.
BASE_DELAY_SECONDS: Final = 30
#: The longest delay: how late queued mail may be sent after an outage ended.
MAX_DELAY_SECONDS: Final = 900
#: Receives of one message before shopmail gives up on it (the template's
#: ``OutboundMaxReceiveCount`` default, the queues' ``maxReceiveCount``).
DEFAULT_MAX_RECEIVES: Final = 120
#: SQS accepts at most 12 hours per ``ChangeMessageVisibility``.
MAX_VISIBILITY_SECONDS: Final = 43_200


def retry_delay(
    receive_count: int,
    *,
    base: int = BASE_DELAY_SECONDS,
    cap: int = MAX_DELAY_SECONDS,
) -> int:
    """Seconds a message stays invisible after its ``receive_count``-th delivery failed.

    ``base * 2 ** (receive_count - 1)``, at most ``cap`` (and never above
    :data:`MAX_VISIBILITY_SECONDS`); counts below 1 are read as 1.
    """
    exponent = min(max(1, int(receive_count)) - 1, 40)
    return int(min(cap, MAX_VISIBILITY_SECONDS, base * 2**exponent))


def time_covered(receives: int, **schedule: int) -> int:
    """Seconds from the first delivery of a message to its ``receives``-th delivery when every
    attempt fails at once (the sum of the delays of the receives before it)."""
    return sum(retry_delay(n, **schedule) for n in range(1, max(1, receives)))


def receives_needed(seconds: float, **schedule: int) -> int:
    """The smallest receive count whose delivery comes at least ``seconds`` after the first."""
    receives = 1
    while time_covered(receives, **schedule) < seconds:
        receives += 1
    return receives


@dataclass(frozen=True, slots=True)
class Postponement:
    """One queue message to make invisible before its next delivery.

    Attributes
    ----------
    item_id
        The SQS ``messageId`` (for logs).
    receipt_handle
        The handle of this delivery (``receiptHandle`` of the Lambda record).
    queue_arn
        The queue (``eventSourceARN`` of the Lambda record).
    delay_seconds
        How long the message stays invisible from now.
    """

    item_id: str
    receipt_handle: str
    queue_arn: str
    delay_seconds: int


__all__ = [
    "BASE_DELAY_SECONDS",
    "DEFAULT_MAX_RECEIVES",
    "MAX_DELAY_SECONDS",
    "MAX_VISIBILITY_SECONDS",
    "Postponement",
    "receives_needed",
    "retry_delay",
    "time_covered",
]
