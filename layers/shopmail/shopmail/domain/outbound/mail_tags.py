"""The SES message tags of an outbound mail (``X-SES-MESSAGE-TAGS``) and what they tell feedback.

SES strips the header and returns the tags with every event of the mail (``mail.tags``), so a
``Delivery``, ``Bounce`` or ``Complaint`` event says which shop event the mail was for without a
lookup of the sent-mail record. Tags: ``type`` (detail-type), ``class`` (transactional |
marketing), ``order`` (the order id, order mail) or ``ref`` (the aggregate id), and, when every
one of those values is written unchanged in SES's tag alphabet ``[0-9A-Za-z_-]``, ``event`` (the
EventBridge id of the shop event) plus ``v`` (its aggregate version, when it has one).
``event`` is the mark that the tags are complete and exact: :func:`tagged_mail` reads only such
tags, so a value changed to fit the alphabet never becomes a wrong id.

Example
-------
>>> from types import MappingProxyType
>>> from shopmail.domain.outbound.contracts import ShopEvent
>>> ev = ShopEvent("OrderPlaced", "e-1", "shop", "de-DE", "k@example.com", "", "ORD-1", None,
...     "transactional", False, "OrderPlaced", MappingProxyType({"order": {"id": "ORD-1"}}))
>>> mail_tags(ev)
[('type', 'OrderPlaced'), ('class', 'transactional'), ('order', 'ORD-1'), ('event', 'e-1')]
>>> tagged_mail({k: (v,) for k, v in mail_tags(ev)}).key_for("K@example.com")
'OrderPlaced:ORD-1:k@example.com'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from shopmail.domain.outbound.contracts import ShopEvent

_TAG_BAD: Final = re.compile(r"[^0-9A-Za-z_-]")
MAX_TAG_LENGTH: Final = 255


def tag_value(value: object, max_length: int = MAX_TAG_LENGTH) -> str:
    """Reduce ``value`` to SES's tag alphabet ``[0-9A-Za-z_-]`` (others become ``_``)."""
    cleaned = _TAG_BAD.sub("_", str(value))[:max_length]
    return cleaned or "_"


def _exact(value: str) -> bool:
    return bool(value) and tag_value(value) == value


def mail_tags(event: ShopEvent) -> list[tuple[str, str]]:
    """The tags of the mail for ``event`` (values reduced to the tag alphabet)."""
    tags = [("type", event.detail_type), ("class", event.email_class)]
    order = event.data.get("order")
    if isinstance(order, Mapping) and "id" in order:
        aggregate = ("order", str(order["id"]))
    else:
        aggregate = ("ref", event.aggregate_id)
    tags.append(aggregate)
    version = "" if event.version is None else str(event.version)
    exact = [event.detail_type, event.email_class, event.aggregate_id, event.event_id]
    if (
        aggregate[1] == event.aggregate_id
        and all(_exact(v) for v in exact)
        and (not version or _exact(version))
    ):
        tags.append(("event", event.event_id))
        if version:
            tags.append(("v", version))
    return [(k, tag_value(v)) for k, v in tags]


@dataclass(frozen=True, slots=True)
class TaggedMail:
    """What the complete tags of a mail say about it."""

    detail_type: str
    email_class: str
    aggregate_id: str
    event_id: str
    version: str | None = None

    def key_for(self, recipient: str) -> str:
        """The mail's business key for ``recipient``
        (:func:`~shopmail.domain.outbound.contracts.idempotency_key`)."""
        parts = [self.detail_type, self.aggregate_id]
        if self.version:
            parts.append(self.version)
        parts.append(recipient.lower())
        return ":".join(parts)


def tagged_mail(tags: Mapping[str, Sequence[str]]) -> TaggedMail | None:
    """The mail the tags of an SES event describe; ``None`` unless they are complete (an
    ``event`` tag, a ``type``, a ``class`` and an ``order`` or ``ref``)."""

    def first(name: str) -> str:
        values = tags.get(name) or ()
        return str(values[0]) if values else ""

    detail_type, email_class, event_id = first("type"), first("class"), first("event")
    aggregate = first("order") or first("ref")
    if not (detail_type and email_class and event_id and aggregate):
        return None
    return TaggedMail(detail_type, email_class, aggregate, event_id, first("v") or None)
