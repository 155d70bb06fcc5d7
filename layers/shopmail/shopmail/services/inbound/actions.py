"""Route actions of the inbound use case: one small object per action, one ``execute(ctx)``.

Every action gets the same :class:`ActionContext` (the message, the router's
:class:`~shopmail.domain.inbound.routing.model.RoutingDecision` and the action's
:class:`~shopmail.domain.inbound.routing.model.ActionSpec`) and returns an :class:`ActionOutcome`
(log-safe: ids, domains, keys, never addresses or bodies). Actions raise shopmail errors:
transient and configuration ones (the relay's 535, sending paused, a TLS failure, an
unreachable relay) make the whole invocation retry, permanent ones are dead-lettered by the
service while the other actions still run. A send whose relay connection was lost after the
final dot counts as sent and is never resent (``ambiguous`` in the outcome), the same rule as
outbound mail.

:data:`EXECUTORS` has exactly one executor per
:class:`~shopmail.domain.inbound.routing.model.ActionName` (the router's registry).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol

from shopmail.config import Settings
from shopmail.domain.addresses import address_hash, domain_of
from shopmail.domain.inbound import events as inbound_events
from shopmail.domain.inbound.loop_guard import forward_allowed
from shopmail.domain.inbound.routing.model import (
    FALLBACK_DETAIL_TYPE,
    ActionName,
    ActionSpec,
    RoutingDecision,
)
from shopmail.domain.message import Envelope, InboundMessage
from shopmail.errors import DeliveryAmbiguousError, InvalidEventError, RouteConfigError
from shopmail.ports import (
    AttachmentReader,
    ErasureIndex,
    EventPublisher,
    FeedbackSink,
    MailSender,
    RateLimiter,
    RawMailStore,
)

if TYPE_CHECKING:
    from shopmail.domain.feedback.model import Classification
    from shopmail.domain.inbound.acknowledgement import ReplyShop
    from shopmail.domain.inbound.forwarding import OutgoingMail

logger = logging.getLogger(__name__)


class ActionStatus(StrEnum):
    """What an action did."""

    DONE = "done"
    SKIPPED = "skipped"


@dataclass
class ActionPorts:
    """The ports and domain functions the actions use."""

    store: RawMailStore
    publisher: EventPublisher
    sender: MailSender | None = None
    rate_limiter: RateLimiter | None = None
    attachment_reader: AttachmentReader | None = None
    strip_reply: Callable[[str], str] | None = None
    feedback: FeedbackSink | None = None
    #: The router's feedback classifier (cached per message), reused by the ``feedback`` action.
    classify: Callable[[InboundMessage], Classification] | None = None
    #: Where the addresses a stored mail names are recorded for erasure (``None``: nowhere).
    erasure_index: ErasureIndex | None = None
    #: The shop answering auto-replies (``SHOP_CONFIG``; ``None``: the shipped texts alone).
    reply_shop: Callable[[], ReplyShop] | None = None


@dataclass
class ActionContext:
    """Everything an action may read (one per recipient and action)."""

    settings: Settings
    ports: ActionPorts
    message: InboundMessage
    envelope: Envelope
    recipient: str
    decision: RoutingDecision
    spec: ActionSpec
    raw_key: str
    attachment_keys: Mapping[int, str] = field(default_factory=dict)

    @property
    def route(self) -> str:
        """The deciding rule's name."""
        return self.decision.route

    def log_extra(self, **more: Any) -> dict[str, Any]:
        """Structured, log-safe keys for this context."""
        return {
            "message_id": self.envelope.message_id,
            "route": self.route,
            "recipient_domain": domain_of(self.recipient),
            "sender_domain": domain_of(self.envelope.sender),
            **more,
        }


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What an action did (log-safe)."""

    action: ActionName
    status: ActionStatus
    info: Mapping[str, Any] = field(default_factory=dict)


class Action(Protocol):
    """One route action (aiosmtpd-hook style: one method)."""

    name: ActionName

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Do the action; raise a shopmail error when it cannot be done."""
        ...


def _text_for_event(ctx: ActionContext) -> str:
    text = ctx.message.text or ""
    strip = ctx.ports.strip_reply
    if strip is None:
        return text
    try:
        return strip(text)
    except Exception:  # a defect in stripping must not lose the mail
        logger.warning("reply stripping failed; publishing the full text", extra=ctx.log_extra())
        return text


class PublishAction:
    """``publish``: one EventBridge event on the shop bus (source ``shopmail.inbound``)."""

    name = ActionName.PUBLISH

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Build the detail, fit it into 256 KB and publish it."""
        decision = ctx.decision
        detail_type = str(
            ctx.spec.get("detail_type") or decision.detail_type or FALLBACK_DETAIL_TYPE
        )
        detail = inbound_events.build_detail(
            ctx.message,
            ctx.envelope,
            recipient=ctx.recipient,
            route=ctx.route,
            text=_text_for_event(ctx),
            order_numbers=list(decision.order_numbers),
            tag=decision.tag,
            order_id=decision.order_id,
            captures=dict(decision.captures),
            attachment_keys=dict(ctx.attachment_keys) or None,
            raw_bucket=ctx.settings.raw_mail_bucket,
            raw_key=ctx.raw_key,
        )
        detail = inbound_events.fit_detail(detail, detail_type)
        ctx.ports.publisher.publish(detail_type, detail, inbound_events.SOURCE)
        return ActionOutcome(
            self.name,
            ActionStatus.DONE,
            {"detail_type": detail_type, "truncated": detail["truncated"]},
        )


class StoreAttachmentsAction:
    """``store_attachments``: each attachment streamed to S3 under a safe key."""

    name = ActionName.STORE_ATTACHMENTS

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Upload every attachment whose key is in ``ctx.attachment_keys``."""
        reader = ctx.ports.attachment_reader
        if reader is None:
            raise RouteConfigError("store_attachments: no attachment reader configured")
        stored = 0
        for att in ctx.message.attachments:
            key = ctx.attachment_keys.get(att.index)
            if key is None:
                continue
            ctx.ports.store.upload_stream(key, reader(ctx.message, att), att.content_type)
            stored += 1
        return ActionOutcome(self.name, ActionStatus.DONE, {"stored": stored})


def refusal_code(reason: str) -> str:
    """A short, bounded metric dimension for a loop-guard reason (``hop_limit``,
    ``auto_forwarded``)."""
    return "hop_limit" if "hop limit" in reason else "auto_forwarded"


def _send(ctx: ActionContext, sender: MailSender, mail: OutgoingMail) -> dict[str, Any]:
    """Send ``mail`` through the relay.

    Returns the outcome info: ``ses_message_id``, and ``ambiguous: True`` when the relay
    connection was lost after the final dot (counted as sent, never resent).
    """
    try:
        return {"ses_message_id": sender.send(mail.envelope_from, mail.recipients, mail.message)}
    except DeliveryAmbiguousError as exc:
        logger.warning(
            "relay reply lost after the final dot: counted as sent, not resent",
            extra=ctx.log_extra(action=str(ctx.spec.name), reason=exc.reason),
        )
        return {"ses_message_id": "", "ambiguous": True}


def _targets(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Iterable):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


class ForwardAction:
    """``forward``: a new message to the team inbox with the original attached.

    A message that came back through a forward (hop limit reached, or ``Auto-Submitted:
    auto-forwarded``; :func:`~shopmail.domain.inbound.loop_guard.forward_allowed`) is not
    forwarded again: the action is skipped with the loop guard's reason (logged, counted in
    :attr:`InboundResult.forwards_refused`), the route's other actions run as usual.
    """

    name = ActionName.FORWARD

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Build the forward and send it through the relay."""
        sender = ctx.ports.sender
        if sender is None:
            raise RouteConfigError("forward: no mail sender configured")
        to = _targets(ctx.spec.get("to"))
        if not to:
            raise InvalidEventError("forward: the route names no 'to' address", route=ctx.route)
        allowed, reason = forward_allowed(ctx.message, ctx.settings.forward_hop_limit)
        if not allowed:
            logger.warning(
                "forward refused by the loop guard",
                extra=ctx.log_extra(action=str(self.name), reason=reason),
            )
            return ActionOutcome(
                self.name,
                ActionStatus.SKIPPED,
                {"reason": reason, "loop_guard": refusal_code(reason)},
            )
        from shopmail.domain.inbound.forwarding import build_forward  # lazy: email.headerregistry

        raw = b"".join(ctx.ports.store.iter_chunks(ctx.raw_key))
        mail = build_forward(
            ctx.message,
            ctx.envelope,
            raw,
            from_address=str(ctx.spec.get("from") or ctx.settings.transactional_from),
            to=to,
            route=ctx.route,
            mail_domain=ctx.settings.mail_domain,
            recipient=ctx.recipient,
        )
        del raw
        if mail.notes:
            logger.info("forward built without some fields", extra=ctx.log_extra(notes=mail.notes))
        sent = _send(ctx, sender, mail)
        return ActionOutcome(
            self.name,
            ActionStatus.DONE,
            {**sent, "to_domains": sorted({domain_of(t) for t in to}), "notes": list(mail.notes)},
        )


class AutoReplyAction:
    """``auto_reply``: a loop-safe, rate-limited acknowledgement to the envelope sender.

    The router already decided that the loop guard allows it (a refused auto-reply is not in
    the decision); this action adds the per-sender rate limit.
    """

    name = ActionName.AUTO_REPLY

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Check the router's verdict and the rate limit, then build and send the reply."""
        ports = ctx.ports
        if ports.sender is None:
            raise RouteConfigError("auto_reply: no mail sender configured")
        if ctx.decision.auto_reply_allowed is False or not ctx.envelope.sender:
            reason = ctx.decision.auto_reply_reason or "no envelope sender"
            logger.info("auto_reply skipped", extra=ctx.log_extra(reason=reason))
            return ActionOutcome(self.name, ActionStatus.SKIPPED, {"reason": reason})
        from shopmail.domain.inbound.acknowledgement import build_auto_reply  # lazy: email.*

        mail = build_auto_reply(
            ctx.message,
            ctx.envelope,
            recipient=ctx.recipient,
            mail_domain=ctx.settings.mail_domain,
            support_address=ctx.settings.support_address,
            template=ctx.spec.get("template"),
            language=str(ctx.spec.get("language") or "auto"),
            shop=ports.reply_shop() if ports.reply_shop is not None else None,
        )
        limit_key = f"auto_reply#{address_hash(ctx.envelope.sender)}"
        limiter = ports.rate_limiter
        period = int(ctx.settings.auto_reply_period_days) * 86400
        # the owner: a retry of this message for this recipient takes its own slot again, even
        # when the release after a failed send below did not reach the table
        owner = f"{ctx.envelope.message_id}#{address_hash(ctx.recipient)}"
        if limiter is not None and not limiter.acquire(limit_key, period, owner):
            logger.info(
                "auto_reply skipped", extra=ctx.log_extra(reason="rate limited (one per period)")
            )
            return ActionOutcome(self.name, ActionStatus.SKIPPED, {"reason": "rate_limited"})
        try:
            sent = _send(ctx, ports.sender, mail)
        except Exception:
            if limiter is not None:
                limiter.release(limit_key)
            raise
        return ActionOutcome(self.name, ActionStatus.DONE, sent)


class QuarantineAction:
    """``quarantine``: copy the raw mail to the quarantine prefix and publish an event."""

    name = ActionName.QUARANTINE

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Copy, then publish ``MessageQuarantined`` (or the route's detail type)."""
        target = f"{ctx.settings.quarantine_prefix}{ctx.envelope.message_id}"
        ctx.ports.store.copy(ctx.raw_key, target)
        reason = str(ctx.spec.get("reason") or ctx.decision.why_text)
        detail_type = str(ctx.spec.get("detail_type") or inbound_events.QUARANTINE_DETAIL_TYPE)
        detail = inbound_events.build_detail(
            ctx.message,
            ctx.envelope,
            recipient=ctx.recipient,
            route=ctx.route,
            text="",
            raw_bucket=ctx.settings.raw_mail_bucket,
            raw_key=ctx.raw_key,
            extra={"quarantineKey": target, "reason": reason[:2000]},
        )
        detail = inbound_events.fit_detail(detail, detail_type)
        ctx.ports.publisher.publish(detail_type, detail, inbound_events.SOURCE)
        return ActionOutcome(self.name, ActionStatus.DONE, {"key": target, "reason": reason[:200]})


class DropAction:
    """``drop``: nothing happens except a log line with the reason."""

    name = ActionName.DROP

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Log the drop."""
        reason = str(ctx.spec.get("reason") or ctx.decision.why_text)
        logger.info("message dropped", extra=ctx.log_extra(reason=reason[:200]))
        return ActionOutcome(self.name, ActionStatus.DONE, {"reason": reason[:200]})


#: Classifier kinds the ``feedback`` action hands to the feedback service.
FEEDBACK_KINDS: Final = frozenset({"bounce", "complaint", "delay"})


class FeedbackAction:
    """``feedback``: a classified bounce/complaint/delay goes to the feedback service
    (suppression list, ``EmailBounced``/``EmailComplained``/``EmailDelayed`` with the order id
    matched through the returned Message-ID). Other kinds are skipped."""

    name = ActionName.FEEDBACK

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Classify (reusing the router's cached result) and apply bounces/complaints/delays."""
        classify = ctx.ports.classify
        if classify is None:
            from shopmail.domain.feedback import classify_message  # lazy: classifier modules

            classify = classify_message
        classification = classify(ctx.message)
        kind = str(classification.kind)
        if kind not in FEEDBACK_KINDS:
            logger.info("feedback skipped", extra=ctx.log_extra(kind=kind))
            return ActionOutcome(self.name, ActionStatus.SKIPPED, {"kind": kind})
        sink = ctx.ports.feedback
        if sink is None:
            raise RouteConfigError("feedback: no feedback sink configured", route=ctx.route)
        from shopmail.domain.feedback.outcome import MailFeedback
        from shopmail.domain.feedback.references import find_references

        references = find_references(
            ctx.message,
            ctx.settings.mail_domain or None,
            extra=(classification.original_message_id or "",),
        )
        outcome = sink.apply(
            MailFeedback(
                classification,
                references,
                inbound_message_id=ctx.envelope.message_id,
                received_at=ctx.envelope.timestamp or None,
            )
        )
        return ActionOutcome(
            self.name,
            ActionStatus.DONE,
            {
                "kind": kind,
                "status": str(outcome.status),
                "detector": classification.detector,
                "recipients": len(classification.recipients),
                "suppressed": outcome.suppressed,
                "unverified": [str(r) for r in outcome.unverified],
                "not_address": [list(p) for p in outcome.not_address],
            },
        )


#: One executor per action name (the router's registry is :class:`ActionName`).
EXECUTORS: Final[Mapping[ActionName, Action]] = {
    a.name: a
    for a in (
        PublishAction(),
        StoreAttachmentsAction(),
        ForwardAction(),
        AutoReplyAction(),
        QuarantineAction(),
        DropAction(),
        FeedbackAction(),
    )
}
if set(EXECUTORS) != set(ActionName):  # pragma: no cover - a programming error
    raise RuntimeError(f"no executor for {sorted(set(ActionName) - set(EXECUTORS))}")
