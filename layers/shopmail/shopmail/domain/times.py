"""Timestamps as shopmail writes them: ISO 8601, UTC, whole seconds.

Example
-------
>>> iso_utc(1_800_000_000)
'2027-01-15T08:00:00+00:00'
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(epoch: float) -> str:
    """``epoch`` (seconds) as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
