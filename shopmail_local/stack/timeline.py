"""One order across mails and events: the web inbox's ``/orders/<order id>`` timeline.

What belongs to an order (``K`` = the order id plus the order numbers the shop's events give
it, e.g. ``ORD-100234`` and ``100234``):

- **outbound mail**: relay records whose ``X-SES-MESSAGE-TAGS`` say ``order=`` an id in K, or
  whose shopmail Message-ID (``<sm.{kind}.{order id}...>``, order-related kinds) names it, and
  replies to the order's inbound mail (auto-acknowledgements: ``In-Reply-To`` names the inbound
  mail's Message-ID, or the shopmail Message-ID's aggregate is its SES message id);
- **inbound mail**: received mail that replies to one of those Message-IDs (``In-Reply-To`` /
  ``References``), or whose published event carries the order id or number;
- **bus events**: ``orderId`` / ``order_id`` / ``aggregateId`` / ``order.id`` in K, an
  ``orderNumbers`` entry in K, SES events about the order's outbound mail (``mail.messageId``)
  or tagged ``order``, shopmail events naming that mail (``sesMessageId``); bounces and
  complaints are shown as such (``order_id``, ``type`` and ``ses_message_id`` are read too, for
  event logs written before every key was camelCase);
- **suppressions**: entries of the suppression table for an address that bounced or
  complained about the order's mail.

Entries are sorted by time. Pure: the caller passes the logs and the table rows.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shopmail.domain.inbound.order_numbers import reply_order_ids
from shopmail.domain.outbound.message_ids import find_message_refs

from shopmail_local.stack.mailview import decode_header_value

_ORDER_KEYS = ("orderId", "order_id")
_BOUNCE_TYPES = frozenset({"Email Bounced", "EmailBounced"})
_COMPLAINT_TYPES = frozenset({"Email Complained", "EmailComplained"})


class EntryKind(StrEnum):
    """What a timeline entry is."""

    OUTBOUND = "outbound mail"
    INBOUND = "inbound mail"
    EVENT = "bus event"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    SUPPRESSION = "suppression"


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to an order."""

    ts: float
    kind: EntryKind
    title: str
    summary: str
    link: str


def _mail_entry(
    record: Mapping[str, Any], kind: EntryKind, summary: str, link: str
) -> TimelineEntry:
    """The entry of one relayed or received mail: its time and decoded subject from the log."""
    subject = decode_header_value(record.get("subject", "")) or "(no subject)"
    return TimelineEntry(float(record.get("ts") or 0), kind, subject, summary, link)


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _strs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if isinstance(v, (str, int)) and str(v)]
    return []


def relay_order_ids(record: Mapping[str, Any]) -> list[str]:
    """Order ids of a relayed mail (message tag ``order``, else its shopmail Message-ID)."""
    out: list[str] = []
    tags = record.get("tags")
    if isinstance(tags, Mapping):
        out += _strs(tags.get("order"))
    refs = find_message_refs([str(record.get("message_id", ""))])
    for oid in reply_order_ids(refs):
        if oid not in out:
            out.append(oid)
    return out


def event_order_ids(event: Mapping[str, Any]) -> list[str]:
    """Order ids an event names itself (not through the mail it is about)."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return []
    out: list[str] = []
    for key in _ORDER_KEYS:
        out += _strs(detail.get(key))
    order = detail.get("order")
    if isinstance(order, Mapping):
        out += _strs(order.get("id"))
    email_type = str(detail.get("emailType", detail.get("type", "")))  # `type`: older logs
    if email_type.startswith("Order") or detail.get("orderId"):
        out += _strs(detail.get("aggregateId"))
    mail = detail.get("mail")
    if isinstance(mail, Mapping) and isinstance(mail.get("tags"), Mapping):
        out += _strs(mail["tags"].get("order"))
    return list(dict.fromkeys(out))


def _event_numbers(event: Mapping[str, Any]) -> list[str]:
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return []
    return _strs(detail.get("orderNumbers"))


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ts(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return 0.0
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    return 0.0


def _feedback_addresses(event: Mapping[str, Any]) -> list[str]:
    detail = event.get("detail") or {}
    out = _strs(detail.get("recipient"))
    for section, key in (("bounce", "bouncedRecipients"), ("complaint", "complainedRecipients")):
        for r in (detail.get(section) or {}).get(key) or []:
            if isinstance(r, Mapping):
                out += _strs(r.get("emailAddress"))
    return [a.lower() for a in out]


class OrderIndex:
    """The stack's logs indexed by order.

    Parameters
    ----------
    relay, inbound, events
        The state folder's logs (``StateStore.relay_log()`` etc.), oldest first.
    suppression_rows
        The suppression table's items as plain ``{column: value}`` dicts.
    """

    def __init__(
        self,
        relay: Sequence[Mapping[str, Any]],
        inbound: Sequence[Mapping[str, Any]],
        events: Sequence[Mapping[str, Any]],
        suppression_rows: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.relay = list(relay)
        self.received = [r for r in inbound if r.get("kind") == "received"]
        self.events = [(float(r.get("ts") or 0), r.get("event") or {}) for r in events]
        self.suppression = list(suppression_rows)
        self.numbers: dict[str, set[str]] = {}  # order id -> order numbers
        self._order_of_number: dict[str, str] = {}
        self._events_by_message_id: dict[str, list[Mapping[str, Any]]] = {}
        for _, e in self.events:
            detail = e.get("detail") if isinstance(e, Mapping) else None
            if not isinstance(detail, Mapping):
                continue
            order = detail.get("order")
            if isinstance(order, Mapping) and order.get("id") and order.get("number"):
                self.numbers.setdefault(str(order["id"]), set()).add(str(order["number"]))
                self._order_of_number.setdefault(str(order["number"]), str(order["id"]))
            if isinstance(detail.get("messageId"), str):
                self._events_by_message_id.setdefault(detail["messageId"], []).append(e)
        self._inbound_orders = {
            str(r.get("message_id", "")): self._inbound_order_ids(r) for r in self.received
        }
        self._inbound_by_header = {
            str(r.get("header_message_id", "")).strip(): str(r.get("message_id", ""))
            for r in self.received
            if str(r.get("header_message_id", "")).strip()
        }

    # ------------------------------------------------------------------ lookups
    def keys(self, order_id: str) -> set[str]:
        """The order id and its order numbers."""
        return {order_id, *self.numbers.get(order_id, set())}

    def _resolve(self, value: str) -> str:
        """The order id of an order number (the value itself when it is no known number)."""
        return value if value in self.numbers else self._order_of_number.get(value, value)

    def _inbound_order_ids(self, received: Mapping[str, Any]) -> list[str]:
        refs = find_message_refs(
            [str(received.get("in_reply_to", "")), str(received.get("references", ""))]
        )
        out = list(reply_order_ids(refs))
        mid = str(received.get("message_id", ""))
        for e in self._events_by_message_id.get(mid, []) if mid else []:
            out += event_order_ids(e)
            out += [self._resolve(n) for n in _event_numbers(e)]
        return list(dict.fromkeys(o for o in out if o))

    def inbound_order_ids(self, ses_message_id: str) -> list[str]:
        """The orders an inbound mail belongs to."""
        return self._inbound_orders.get(ses_message_id, [])

    def relay_order_ids(self, record: Mapping[str, Any]) -> list[str]:
        """The orders a relayed mail belongs to (its own ids, or the inbound mail it answers)."""
        out = relay_order_ids(record)
        answered: list[str] = []
        for ref in find_message_refs([str(record.get("message_id", ""))]):
            answered.append(ref.aggregate_id)  # auto-replies: the inbound SES message id
        reply_to = str(record.get("in_reply_to", "")).strip()
        if reply_to in self._inbound_by_header:
            answered.append(self._inbound_by_header[reply_to])
        for ses_id in answered:
            out += self._inbound_orders.get(ses_id, [])
        return list(dict.fromkeys(out))

    def order_ids(self) -> list[tuple[str, float, int]]:
        """Every order seen: ``(order id, last activity, entries)``, newest first."""
        seen: dict[str, list[float]] = {}
        for r in self.relay:
            for oid in self.relay_order_ids(r):
                seen.setdefault(oid, []).append(float(r.get("ts") or 0))
        for ts, e in self.events:
            for oid in event_order_ids(e):
                seen.setdefault(self._resolve(oid), []).append(ts)
        for r in self.received:
            for oid in self._inbound_orders.get(str(r.get("message_id", "")), []):
                seen.setdefault(oid, []).append(float(r.get("ts") or 0))
        rows = [(oid, max(tss), len(tss)) for oid, tss in seen.items()]
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    # ------------------------------------------------------------------ timeline
    def timeline(self, order_id: str) -> list[TimelineEntry]:
        """Everything that happened to ``order_id``, oldest first."""
        keys = self.keys(order_id)
        entries: list[TimelineEntry] = []
        ses_ids: set[str] = set()
        for r in self.relay:
            if not keys & set(self.relay_order_ids(r)):
                continue
            ses_ids.add(str(r.get("ses_message_id", "")))
            went = [w for w in ("outbox", "loopback", "simulator") if r.get(w)]
            summary = f"to {', '.join(_strs(r.get('rcpt_tos')))} → {', '.join(went) or 'relay'}"
            entries.append(
                _mail_entry(r, EntryKind.OUTBOUND, summary, f"/mail/{_q(str(r.get('key', '')))}")
            )
        inbound_ids: set[str] = set()
        for r in self.received:
            mid = str(r.get("message_id", ""))
            if not keys & set(self._inbound_orders.get(mid, [])):
                continue
            inbound_ids.add(mid)
            summary = f"from {r.get('mail_from', '')} to {', '.join(_strs(r.get('recipients')))}"
            entries.append(_mail_entry(r, EntryKind.INBOUND, summary, f"/inbound/{_q(mid)}"))
        bounced: set[str] = set()
        for ts, e in self.events:
            raw_detail = e.get("detail")
            detail: Mapping[str, Any] = raw_detail if isinstance(raw_detail, Mapping) else {}
            raw_mail = detail.get("mail")
            mail: Mapping[str, Any] = raw_mail if isinstance(raw_mail, Mapping) else {}
            related = (
                bool(keys & set(event_order_ids(e)))
                or bool(keys & set(_event_numbers(e)))
                or str(mail.get("messageId", "")) in ses_ids - {""}
                or str(detail.get("sesMessageId", "")) in ses_ids - {""}
                or str(detail.get("ses_message_id", "")) in ses_ids - {""}  # older logs
                or str(detail.get("messageId", "")) in inbound_ids - {""}
            )
            if not related:
                continue
            detail_type = str(e.get("detail-type", ""))
            kind = EntryKind.EVENT
            if detail_type in _BOUNCE_TYPES:
                kind = EntryKind.BOUNCE
                bounced.update(_feedback_addresses(e))
            elif detail_type in _COMPLAINT_TYPES:
                kind = EntryKind.COMPLAINT
                bounced.update(_feedback_addresses(e))
            event_id = str(e.get("id", ""))
            entries.append(
                TimelineEntry(
                    ts,
                    kind,
                    detail_type or "(event)",
                    f"{e.get('source', '')} {event_id}".strip(),
                    f"/events?q={_q(event_id)}" if event_id else "/events",
                )
            )
        for row in self.suppression:
            address = str(row.get("address", "")).lower()
            if address and address in bounced:
                entries.append(
                    TimelineEntry(
                        _ts(row.get("since")),
                        EntryKind.SUPPRESSION,
                        f"{address} suppressed",
                        f"{row.get('class', row.get('suppression_class', ''))} "
                        f"{row.get('reason', '')}".strip(),
                        f"/suppression?q={_q(address)}",
                    )
                )
        entries.sort(key=lambda e: e.ts)
        return entries


def when(entry: TimelineEntry) -> str:
    """The entry's time as ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    return _when(entry.ts) if entry.ts else ""
