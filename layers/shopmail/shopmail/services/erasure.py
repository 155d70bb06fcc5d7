"""Erasure of one customer's data (GDPR Art. 17): ``shopmail erase`` and the shop's
``CustomerDataErasureRequested`` event.

Steps, in this order (each store is cleaned even when another one failed; the failures are in
the report and make it incomplete):

1. **Suppression first, as a hash**: the address's entry (if any) is replaced by
   ``hash:<sha256>`` of class ``manual`` (source ``erasure``; the old class in its reason), and
   an address without an entry gets one too. From then on nothing is mailed to it (but the
   bypass types) while nothing stored names it; every lookup reads both forms.
2. **Mail objects**: the erasure index gives the raw-mail keys that name the address (any of
   its spellings); each raw object, its attachments (``ATTACHMENTS_PREFIX + id + /``) and its
   quarantine copy are deleted with every version; the index items go too.
3. **Tables**: sent-mail rows, idempotency and rate-limit items that name the address or its
   hash are deleted; other suppression entries that mention it are redacted (they keep
   suppressing their own address).
4. **Dead letters**: every message of the four dead-letter queues that names it is deleted;
   the others stay where they were (made visible again, untouched).
5. **Report**: :class:`~shopmail.domain.erasure.report.ErasureReport` is returned (printed by
   the CLI) and published as ``CustomerDataErased`` (source ``shopmail.erasure``; counts and
   the hash only).

Running it twice is harmless (the second run finds nothing and keeps the hash entry). Limits:
mail stored before the index existed is not found through it; data the shop keeps itself
(events it consumed) is the shop's to erase.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from shopmail.config import Settings
from shopmail.domain.addresses import domain_of
from shopmail.domain.erasure.matcher import AddressMatcher
from shopmail.domain.erasure.report import DETAIL_TYPE, ERASED_CLASS, ErasureReport
from shopmail.domain.erasure.request import ErasureRequest, parse_erasure_request
from shopmail.domain.suppression.entries import (
    SuppressionEntry,
    hashed_suppression_key,
    is_hashed_key,
    suppression_key,
)
from shopmail.domain.times import iso_utc
from shopmail.errors import InvalidEventError, PermanentError, ShopmailError
from shopmail.ports import (
    DeadLetterSink,
    ErasureIndex,
    EventPublisher,
    MailObjectEraser,
    Scrubber,
    SuppressionList,
)

log = logging.getLogger(__name__)

SOURCE: Final = "shopmail.erasure"
_ERASED: Final = "erased"
_WAS: Final = "erased; was "


@dataclass(frozen=True)
class ErasurePorts:
    """Every store an erasure cleans (``None``/empty: that store is not configured)."""

    suppression: SuppressionList
    publisher: EventPublisher
    index: ErasureIndex | None = None
    objects: MailObjectEraser | None = None
    tables: Sequence[Scrubber] = ()
    dead_letters: Sequence[Scrubber] = ()
    sink: DeadLetterSink | None = None


@dataclass
class ErasureBatchResult:
    """The outcome of one SQS batch of erasure requests."""

    failures: list[str] = field(default_factory=list)
    reports: list[ErasureReport] = field(default_factory=list)
    invalid: int = 0

    def response(self) -> dict[str, Any]:
        """The Lambda response for ``ReportBatchItemFailures``."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}

    def to_dict(self) -> dict[str, Any]:
        """A log-safe summary."""
        return {
            "failures": len(self.failures),
            "invalid": self.invalid,
            "complete": sum(r.complete for r in self.reports),
            "incomplete": sum(not r.complete for r in self.reports),
        }


class ErasureService:
    """Erases one address at a time (see the module docs).

    Parameters
    ----------
    settings
        The bucket's prefixes.
    ports
        The stores.
    clock
        Epoch seconds (tests).
    """

    def __init__(
        self, settings: Settings, ports: ErasurePorts, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.ports = ports
        self._clock = clock

    def erase(self, request: ErasureRequest) -> ErasureReport:
        """Erase ``request.address`` everywhere; return (and publish) the report.

        Raises
        ------
        InvalidEventError
            The address is not one.
        ShopmailError
            The suppression list failed (nothing else is touched then: without the hash entry
            the address could be mailed again).
        """
        matcher = AddressMatcher.of(request.address)
        errors: list[str] = []
        previous = self._suppress(matcher)
        keys, versions = self._objects(matcher, errors)
        items = self._scrub("items", self.ports.tables, matcher, errors)
        items["erasureIndex"] = items.get("erasureIndex", 0) + self._forget(matcher, errors)
        dead = self._scrub("dead letters", self.ports.dead_letters, matcher, errors)
        key = hashed_suppression_key(matcher.address)
        report = ErasureReport(
            address_hash=key.partition(":")[2],
            request_id=request.request_id,
            requested_by=request.requested_by,
            erased_at=iso_utc(self._clock()),
            object_keys=tuple(keys),
            object_versions=versions,
            items=items,
            dead_letters=dead,
            previous_class=previous,
            errors=tuple(errors),
            customer_id=request.customer_id,
        )
        try:
            self.ports.publisher.publish(DETAIL_TYPE, report.to_detail(), SOURCE)
        except ShopmailError as exc:
            report = replace(report, errors=(*report.errors, f"report: {exc.reason}"))
        log.info(
            "erasure done",
            extra={
                "recipient_domain": domain_of(matcher.address),
                "request_id": request.request_id,
                "objects": len(keys),
                "items": dict(items),
                "dead_letters": dict(dead),
                "errors": list(report.errors),
            },
        )
        return report

    # --- steps ---------------------------------------------------------------------------

    def _suppress(self, matcher: AddressMatcher) -> str | None:
        suppression = self.ports.suppression
        existing = suppression.get(matcher.address)
        previous = existing.suppression_class if existing is not None else None
        if (
            existing is not None
            and existing.source == "erasure"
            and is_hashed_key(existing.address)
        ):
            # erased before: keep what it was then
            previous = existing.reason.removeprefix(_WAS).removeprefix(_ERASED) or None
        now = iso_utc(self._clock())
        suppression.put(
            SuppressionEntry(
                address=hashed_suppression_key(matcher.address),
                suppression_class=ERASED_CLASS,
                reason=f"{_WAS}{previous}" if previous else _ERASED,
                since=existing.since if existing is not None and existing.since else now,
                source="erasure",
            )
        )
        for form in matcher.forms:
            suppression.delete(suppression_key(form))
        return previous

    def _objects(self, matcher: AddressMatcher, errors: list[str]) -> tuple[list[str], int]:
        index, objects = self.ports.index, self.ports.objects
        if index is None or objects is None:
            return [], 0
        s = self.settings
        try:
            raw_keys = sorted({k for h in matcher.hashes for k in index.keys(h)})
            ids = [k.removeprefix(s.raw_mail_prefix) for k in raw_keys]
            return objects.erase(
                [*raw_keys, *(f"{s.quarantine_prefix}{i}" for i in ids)],
                [f"{s.attachments_prefix}{i}/" for i in ids],
            )
        except ShopmailError as exc:
            errors.append(f"objects: {exc.reason}")
            return [], 0

    def _forget(self, matcher: AddressMatcher, errors: list[str]) -> int:
        index = self.ports.index
        if index is None or any(e.startswith("objects:") for e in errors):
            return 0  # keep the index while objects it names may still exist
        try:
            return sum(index.forget(h) for h in matcher.hashes)
        except ShopmailError as exc:
            errors.append(f"erasure index: {exc.reason}")
            return 0

    @staticmethod
    def _scrub(
        what: str, stores: Sequence[Scrubber], matcher: AddressMatcher, errors: list[str]
    ) -> dict[str, int]:
        counts: dict[str, int] = {}
        for store in stores:
            try:
                counts[store.name] = counts.get(store.name, 0) + store.scrub(matcher)
            except ShopmailError as exc:
                errors.append(f"{what} ({store.name}): {exc.reason}")
        return counts

    # --- the shop's event ----------------------------------------------------------------

    def handle_batch(self, records: Sequence[Mapping[str, Any]]) -> ErasureBatchResult:
        """Handle SQS records whose bodies are ``CustomerDataErasureRequested`` events.

        An invalid request is dead-lettered with its reason and not retried; an erasure that
        left a store uncleaned (or could not suppress) fails its item, so SQS retries it (the
        erasure is idempotent) and finally keeps it in the erasure dead-letter queue.
        """
        result = ErasureBatchResult()
        for index, record in enumerate(records):
            item = (
                str(record.get("messageId") or index) if isinstance(record, Mapping) else str(index)
            )
            try:
                request = self._request(record)
            except PermanentError as exc:
                result.invalid += 1
                log.error("invalid erasure request: %s", exc.reason, extra={"error": exc.code})
                if self.ports.sink is not None:
                    payload = (
                        dict(record) if isinstance(record, Mapping) else {"record": str(record)}
                    )
                    self.ports.sink.send(payload, exc.to_dict())
                continue
            try:
                report = self.erase(request)
            except ShopmailError as exc:
                log.error("erasure failed, will be retried: %s", exc.reason)
                result.failures.append(item)
                continue
            result.reports.append(report)
            if not report.complete:
                result.failures.append(item)
        return result

    @staticmethod
    def _request(record: Any) -> ErasureRequest:
        body = record.get("body") if isinstance(record, Mapping) else None
        if not isinstance(body, str):
            raise InvalidEventError("SQS record has no string body")
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise InvalidEventError(f"body is not JSON ({exc})") from None
        return parse_erasure_request(event)
