"""The inbound use case: an SES receipt event in, route actions executed.

For each record: claim the record of each envelope recipient in the action ledger (one per
SES messageId and recipient: one conditional ``UpdateItem`` that returns what it found), so a
re-delivered message whose recipients are all finished costs one call per recipient and no read
of the raw mail. Then stream the raw mail from S3 (``RAW_MAIL_PREFIX + messageId``), parse it
with the envelope, record the hash of every address it names in the erasure index (so an erasure
finds the raw mail, its attachments and its quarantine copy; a failing index write is
transient: the event is retried), and for each claimed recipient ask the router for a decision
and run the actions not done yet. The recipient's record is finished once, when its actions
end: ``COMPLETED`` when all are done, else ``RELEASED`` with the ones that are (an action that
failed, transiently or for good, runs again on a retry; the others do not). A claim lapses
when the invocation would have ended, so an attempt that crashed is retried; the actions it
had finished since its claim run again then (the window of one recipient's actions).

Errors:

* transient (:class:`~shopmail.errors.TransientError`: S3/DynamoDB throttling, an EventBridge
  partial failure, a claim still in progress) are re-raised so Lambda retries the event (async:
  twice, then the on-failure destination, the inbound DLQ);
* permanent ones (invalid event, missing raw object, no usable header block, a route action
  that cannot work) are logged with their reason, counted, and sent to the dead-letter sink with
  the original event; the invocation then succeeds (no retry). Other recipients and actions of
  the same mail still run.

Example
-------
>>> service = InboundService(settings, ports, router, parse_message, store, sink)  # doctest: +SKIP
>>> service.handle_event(ses_event)  # doctest: +SKIP
{'records': 1, 'actions': {'publish': 1}, 'dead_lettered': 0, ...}
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shopmail.config import Settings
from shopmail.domain.addresses import address_hash, domain_of
from shopmail.domain.inbound.attachment_keys import planned_attachment_keys
from shopmail.domain.inbound.routing.model import ActionName, ActionSpec
from shopmail.domain.inbound.ses_event import SesRecord, message_id_of, parse_ses_event
from shopmail.domain.message import Envelope, InboundMessage
from shopmail.errors import PermanentError, ShopmailError, TransientError
from shopmail.ports import ActionLedger, DeadLetterSink, Decider, MessageParser
from shopmail.services.inbound.actions import (
    EXECUTORS,
    ActionContext,
    ActionOutcome,
    ActionPorts,
    ActionStatus,
)

logger = logging.getLogger(__name__)

DEFAULT_IN_PROGRESS_SECONDS = 300.0


@dataclass
class InboundResult:
    """Counters of one invocation (log-safe; returned by the handler)."""

    records: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    dead_lettered: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Mail-borne feedback: recipients that did not count (by reason), and bounces the policy
    #: did not hold against the address (by recipient domain and reason).
    feedback_unverified: Counter[str] = field(default_factory=Counter)
    feedback_not_address: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Routing decisions (one per message and envelope recipient) by route name.
    routes: Counter[str] = field(default_factory=Counter)
    #: Forwards the loop guard refused, by reason (``hop_limit``, ``auto_forwarded``).
    forwards_refused: Counter[str] = field(default_factory=Counter)

    def count_feedback(self, info: Mapping[str, Any]) -> None:
        """Add what a ``feedback`` action reported (its outcome's ``info``)."""
        self.feedback_unverified.update(str(r) for r in info.get("unverified", ()))
        self.feedback_not_address.update((str(d), str(r)) for d, r in info.get("not_address", ()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "records": self.records,
            "actions": dict(self.actions),
            "skipped": dict(self.skipped),
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "errors": self.errors,
            "routes": dict(self.routes),
            "forwards_refused": dict(self.forwards_refused),
            "feedback_unverified": dict(self.feedback_unverified),
            "feedback_not_address": {
                f"{d}|{r}": n for (d, r), n in self.feedback_not_address.items()
            },
        }


class InboundService:
    """Runs the inbound use case on SES receipt events.

    Parameters
    ----------
    settings
        Runtime settings (bucket, prefixes, mail domain, auto-reply period).
    ports
        Store, publisher, mail sender, rate limiter and the parser's helpers.
    router
        Decides per message and envelope recipient.
    parse
        ``parse_message`` (injected so the service does not import the parser eagerly).
    idempotency
        The action ledger: which actions of each (message, recipient) are done (``None``: no
        deduplication; tests only).
    dead_letters
        Where permanently failed events go with their reason.
    """

    def __init__(
        self,
        settings: Settings,
        ports: ActionPorts,
        router: Decider,
        parse: MessageParser,
        idempotency: ActionLedger | None,
        dead_letters: DeadLetterSink,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.router = router
        self.parse = parse
        self.idempotency = idempotency
        self.dead_letters = dead_letters

    # --- entry point -----------------------------------------------------------------------

    def handle_event(
        self, event: Any, remaining_ms: Callable[[], int] | None = None
    ) -> InboundResult:
        """Handle one SES Lambda event.

        Parameters
        ----------
        event
            The event as Lambda delivers it.
        remaining_ms
            Time left in the invocation (``context.get_remaining_time_in_millis``); an
            in-progress claim expires when the invocation would have ended.

        Raises
        ------
        TransientError, ConfigurationError
            Retrying the event may help, or must wait for an operator's fix (the platform
            retries, then keeps it in the on-failure destination).
        """
        result = InboundResult()
        try:
            records = parse_ses_event(event)
        except PermanentError as exc:
            self._dead_letter(event, exc, message_id_of(event), "event", result)
            return result
        for record in records:
            result.records += 1
            self._handle_record(event, record, result, remaining_ms)
        return result

    # --- one record ------------------------------------------------------------------------

    def _handle_record(
        self,
        event: Any,
        record: SesRecord,
        result: InboundResult,
        remaining_ms: Callable[[], int] | None,
    ) -> None:
        envelope = record.envelope
        raw_key = f"{self.settings.raw_mail_prefix}{envelope.message_id}"
        recipients: list[str] = []
        seen: set[str] = set()
        for recipient in envelope.recipients:
            if recipient.lower() not in seen:
                seen.add(recipient.lower())
                recipients.append(recipient)
        try:
            claims = self._claim(envelope, recipients, result, remaining_ms)
        except PermanentError as exc:  # e.g. a key the store refuses: never claimable
            self._dead_letter(event, exc, envelope.message_id, "claim", result)
            return
        if claims is not None:
            recipients = [r for r in recipients if r in claims]
            if not recipients:
                return  # every recipient finished before: no read of the raw mail
        ledger = self.idempotency
        deferred = claims is not None and ledger is not None and ledger.records_mentions
        try:
            message = self.parse(self.ports.store.iter_chunks(raw_key), envelope)
            mentions = self._mentions(message, raw_key)
            if not deferred:
                self._index(mentions)
        except PermanentError as exc:
            self._release(claims)
            self._dead_letter(event, exc, envelope.message_id, "parse", result)
            return
        except BaseException:
            self._release(claims)
            raise
        logger.info(
            "inbound message",
            extra={
                "message_id": envelope.message_id,
                "sender_domain": domain_of(envelope.sender),
                "recipient_domains": sorted({domain_of(r) for r in envelope.recipients}),
                "size": message.size,
                "attachments": len(message.attachments),
                "verdicts": {
                    "spam": envelope.verdicts.spam,
                    "virus": envelope.verdicts.virus,
                    "dmarc": envelope.verdicts.dmarc,
                },
            },
        )
        failures: list[dict[str, Any]] = []
        finishes: list[tuple[str, frozenset[str], bool]] = []
        for recipient in recipients:
            claim = claims.pop(recipient) if claims is not None else None
            done = set(claim[1]) if claim is not None else None
            try:
                failed = self._handle_recipient(message, envelope, recipient, raw_key, result, done)
            except BaseException:
                if claim is not None:
                    claims = {recipient: (claim[0], frozenset(done or ())), **(claims or {})}
                self._release(claims, finishes)
                raise
            if claim is not None:
                finishes.append((claim[0], frozenset(done or ()), not failed))
            failures.extend(failed)
        if ledger is not None and finishes:  # the records and the index, in one write
            self._finish(ledger, finishes, mentions if deferred else None)
        if failures:
            reason = {
                "error": "ActionFailed",
                "code": "action_failed",
                "permanent": True,
                "reason": "; ".join(f"{f['action']}: {f['reason']}" for f in failures)[:2000],
                "context": {"message_id": envelope.message_id, "failures": failures},
            }
            self._send_dead_letter(event, reason, envelope.message_id, "actions", result)

    def _claim(
        self,
        envelope: Envelope,
        recipients: list[str],
        result: InboundResult,
        remaining_ms: Callable[[], int] | None,
    ) -> dict[str, tuple[str, frozenset[str]]] | None:
        """Claim each recipient's record: ``recipient -> (key, actions done)`` of the ones
        with work left (``None`` without a ledger). Finished recipients count their actions
        as duplicates. A claim held elsewhere releases the ones made here and raises."""
        ledger = self.idempotency
        if ledger is None:
            return None
        lease = DEFAULT_IN_PROGRESS_SECONDS
        if remaining_ms is not None:
            lease = max(remaining_ms() / 1000.0, 1.0) + 1.0
        claims: dict[str, tuple[str, frozenset[str]]] = {}
        for recipient in recipients:
            key = f"inbound#{envelope.message_id}#{address_hash(recipient)}"
            try:
                state = ledger.claim(key, lease)
            except BaseException:
                self._release(claims)
                raise
            if state.finished:
                result.duplicates += len(state.done)
                logger.info(
                    "message already done",
                    extra={
                        "message_id": envelope.message_id,
                        "recipient_domain": domain_of(recipient),
                        "actions": sorted(state.done),
                    },
                )
            else:
                claims[recipient] = (key, state.done)
        return claims

    @staticmethod
    def _finish(
        ledger: ActionLedger,
        finishes: list[tuple[str, frozenset[str], bool]],
        mentions: tuple[set[str], str, int] | None,
    ) -> None:
        """The final write of a message, tried twice. When it still fails the actions have
        run (a forward or an auto-reply is out): raising would make Lambda retry and, once the
        claims lapsed, run them a second time, so the failure is logged and not raised."""
        try:
            ledger.finish_all(finishes, mentions)
        except TransientError as exc:
            logger.warning("ledger write failed once, trying again: %s", exc.reason)
            try:
                ledger.finish_all(finishes, mentions)
            except ShopmailError as again:
                logger.error(
                    "actions done but their ledger record could not be written: not retried",
                    extra={"error": again.code, "records": len(finishes)},
                )

    def _release(
        self,
        claims: Mapping[str, tuple[str, frozenset[str]]] | None,
        finishes: list[tuple[str, frozenset[str], bool]] | None = None,
    ) -> None:
        """End an attempt early: the recipients already handled are finished, the claims of
        the others dropped (their done actions stay done; the index waits for the retry)."""
        ledger = self.idempotency
        if ledger is None:
            return
        ending = list(finishes or ()) + [(k, d, False) for k, d in (claims or {}).values()]
        if not ending:
            return
        try:  # tried twice as the final write is: actions done here must not run again
            self._finish(ledger, ending, None)
        except Exception as exc:  # the claims lapse by themselves
            logger.warning("could not release the claims (%s)", type(exc).__name__)

    def _mentions(self, message: InboundMessage, raw_key: str) -> tuple[set[str], str, int]:
        """The hashes of the addresses ``message`` names, its key and how long they are kept
        (for the erasure of their data)."""
        if self.ports.erasure_index is None and not (
            self.idempotency is not None and self.idempotency.records_mentions
        ):
            return set(), raw_key, self.settings.erasure_index_days
        from shopmail.domain.erasure.mentions import mentioned_addresses  # lazy: regexes

        hashes = {
            address_hash(a)
            for a in mentioned_addresses(message, mail_domain=self.settings.mail_domain)
        }
        return hashes, raw_key, self.settings.erasure_index_days

    def _index(self, mentions: tuple[set[str], str, int]) -> None:
        """Record ``mentions`` in the erasure index now."""
        index = self.ports.erasure_index
        hashes, raw_key, days = mentions
        if index is not None and hashes:
            index.record(hashes, raw_key, days)

    def _handle_recipient(
        self,
        message: InboundMessage,
        envelope: Envelope,
        recipient: str,
        raw_key: str,
        result: InboundResult,
        done: set[str] | None,
    ) -> list[dict[str, Any]]:
        """Run the recipient's actions not in ``done`` (``None``: no ledger), adding each one
        that finishes; return the permanent failures."""
        decision = self.router.decide(message, recipient)
        route = decision.route
        result.routes[route] += 1
        attachment_keys: dict[int, str] = {}
        if decision.action(ActionName.STORE_ATTACHMENTS) is not None:
            attachment_keys = planned_attachment_keys(
                self.settings.attachments_prefix, message, envelope.message_id
            )
        logger.info(
            "routing decision",
            extra={
                "message_id": envelope.message_id,
                "route": route,
                "recipient_domain": domain_of(recipient),
                "actions": decision.action_names,
                "why": decision.why_text[:500],
            },
        )
        failures: list[dict[str, Any]] = []
        for index, spec in decision.run_order():
            name = spec.name
            ctx = ActionContext(
                settings=self.settings,
                ports=self.ports,
                message=message,
                envelope=envelope,
                recipient=recipient,
                decision=decision,
                spec=spec,
                raw_key=raw_key,
                attachment_keys=attachment_keys,
            )
            try:
                outcome = self._run_once(f"{index}:{name}", spec, ctx, done)
            except PermanentError as exc:
                logger.error(
                    "route action failed permanently",
                    extra=ctx.log_extra(action=name, error=exc.code, reason=exc.reason),
                )
                failures.append(
                    {
                        "action": name,
                        "recipient_domain": domain_of(recipient),
                        "route": route,
                        "code": exc.code,
                        "reason": exc.reason,
                    }
                )
                continue
            if outcome is None:
                result.duplicates += 1
                logger.info("action already done", extra=ctx.log_extra(action=name))
            elif outcome.status is ActionStatus.DONE:
                result.actions[name] += 1
                if name is ActionName.FEEDBACK:
                    result.count_feedback(outcome.info)
                logger.info("action done", extra=ctx.log_extra(action=name, **outcome.info))
            else:
                result.skipped[name] += 1
                if "loop_guard" in outcome.info:
                    result.forwards_refused[str(outcome.info["loop_guard"])] += 1
        return failures

    def _run_once(
        self, action_id: str, spec: ActionSpec, ctx: ActionContext, done: set[str] | None
    ) -> ActionOutcome | None:
        """Run the action unless it is in ``done`` (``None``: already done); add it when it
        finishes."""
        if done is not None and action_id in done:
            return None
        outcome: ActionOutcome = EXECUTORS[spec.name].execute(ctx)
        if done is not None:
            done.add(action_id)
        return outcome

    # --- dead letters ----------------------------------------------------------------------

    def _dead_letter(
        self,
        event: Any,
        exc: PermanentError,
        message_id: str | None,
        stage: str,
        result: InboundResult,
    ) -> None:
        reason = exc.to_dict()
        self._send_dead_letter(event, reason, message_id, stage, result)

    def _send_dead_letter(
        self,
        event: Any,
        reason: Mapping[str, Any],
        message_id: str | None,
        stage: str,
        result: InboundResult,
    ) -> None:
        full = {**reason, "stage": stage, "messageId": message_id}
        logger.error(
            "inbound event dead-lettered",
            extra={
                "message_id": message_id,
                "stage": stage,
                "error": reason.get("code"),
                "reason": str(reason.get("reason", ""))[:500],
            },
        )
        self.dead_letters.send(event if isinstance(event, Mapping) else {"event": event}, full)
        result.dead_lettered += 1
        result.errors.append(
            {"stage": stage, "code": reason.get("code"), "reason": reason.get("reason")}
        )
