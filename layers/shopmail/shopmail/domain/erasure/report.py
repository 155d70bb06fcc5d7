"""What an erasure removed: printed by ``shopmail erase`` and published as
``CustomerDataErased`` (schema ``events/schemas/emitted/CustomerDataErased.json``).

The published detail (:meth:`ErasureReport.to_detail`) carries counts and the address's hash,
never the address or an object key (attachment keys hold file names); the printed report
(:meth:`ErasureReport.to_dict`) adds the S3 keys for the operator.

Example
-------
>>> report = ErasureReport("ab" * 32, "ER-1", "cli", "2026-12-01T10:00:00+00:00",
...     object_keys=("inbound/m1",), object_versions=1, items={"sentMail": 2},
...     dead_letters={"outbound": 1}, previous_class="unsubscribe")
>>> report.to_detail()["items"]["sentMail"], report.complete
(2, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from shopmail.domain.suppression.entries import HASH_PREFIX, MANUAL

DETAIL_TYPE: Final = "CustomerDataErased"
DETAIL_VERSION: Final = 1
#: The class of the suppression entry an erasure leaves (hash form): nothing is sent any more
#: (but the bypass types); an operator removes it if the person registers again.
ERASED_CLASS: Final = MANUAL


class ItemStore(StrEnum):
    """The tables an erasure cleans (the keys of ``items`` in the report)."""

    IDEMPOTENCY = "idempotency"
    RATE_LIMIT = "rateLimit"
    SENT_MAIL = "sentMail"
    SUPPRESSION = "suppression"
    ERASURE_INDEX = "erasureIndex"


class DeadLetterQueueName(StrEnum):
    """The dead-letter queues an erasure cleans (the keys of ``deadLetters``)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    FEEDBACK = "feedback"
    ERASURE = "erasure"


def _frozen(counts: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType({str(k): int(v) for k, v in counts.items()})


@dataclass(frozen=True)
class ErasureReport:
    """The outcome of one erasure.

    Attributes
    ----------
    address_hash
        SHA-256 (hex) of the normalized address: the part after ``hash:`` of the suppression
        key the erasure leaves (the shop can compute it to match its request).
    request_id, requested_by, customer_id
        The request (see :class:`~shopmail.domain.erasure.request.ErasureRequest`).
    erased_at
        When the erasure ended (ISO 8601).
    object_keys
        S3 keys removed (every version of each).
    object_versions
        Object versions and delete markers removed.
    items
        Items removed (or, in the suppression table, redacted) per :class:`ItemStore`.
    dead_letters
        Dead-letter messages removed per :class:`DeadLetterQueueName`.
    previous_class
        The address's suppression class before (``None``: it was not suppressed).
    errors
        Stores that could not be cleaned, with the reason (empty: complete).
    """

    address_hash: str
    request_id: str
    requested_by: str
    erased_at: str
    object_keys: tuple[str, ...] = ()
    object_versions: int = 0
    items: Mapping[str, int] = field(default_factory=dict)
    dead_letters: Mapping[str, int] = field(default_factory=dict)
    previous_class: str | None = None
    errors: tuple[str, ...] = ()
    customer_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", _frozen(self.items))
        object.__setattr__(self, "dead_letters", _frozen(self.dead_letters))

    @property
    def complete(self) -> bool:
        """Whether every store was cleaned."""
        return not self.errors

    @property
    def suppression_key(self) -> str:
        """The key the address stays suppressed under."""
        return HASH_PREFIX + self.address_hash

    def to_detail(self) -> dict[str, Any]:
        """The ``CustomerDataErased`` detail (counts only; camelCase; ``version`` 1)."""
        detail: dict[str, Any] = {
            "version": DETAIL_VERSION,
            "requestId": self.request_id,
            "requestedBy": self.requested_by,
            "addressHash": self.address_hash,
            "erasedAt": self.erased_at,
            "complete": self.complete,
            "objects": {"deleted": len(self.object_keys), "versions": self.object_versions},
            "items": {s.value: self.items.get(s.value, 0) for s in ItemStore},
            "deadLetters": {
                q.value: self.dead_letters.get(q.value, 0) for q in DeadLetterQueueName
            },
            "suppression": {
                "key": self.suppression_key,
                "suppressionClass": str(ERASED_CLASS),
                "previousClass": self.previous_class,
            },
            "errors": list(self.errors),
        }
        if self.customer_id:
            detail["customerId"] = self.customer_id
        return detail

    def to_dict(self) -> dict[str, Any]:
        """The printed report: the detail plus the removed S3 keys."""
        return {**self.to_detail(), "objectKeys": list(self.object_keys)}
