"""Route actions of the inbound use case: one small object per action, one ``execute(ctx)``.

Every action gets the same :class:`ActionContext` and returns an :class:`ActionOutcome`
(log-safe: ids, domains, keys, never addresses or bodies). Actions raise shopmail errors:
transient ones make the whole invocation retry, permanent ones are dead-lettered by the
service while the other actions still run.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shopmail.config import Settings
from shopmail.domain.inbound import events as inbound_events
from shopmail.domain.message import Attachment, Envelope, InboundMessage
from shopmail.errors import InvalidEventError, RouteConfigError
from shopmail.ports import (
    EventPublisher,
    FeedbackSink,
    InboundMailStore,
    MailSender,
    RateLimiter,
)

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_ATTACHMENTS = 100


def safe_key_part(name: str, limit: int = 100) -> str:
    """Reduce ``name`` to ``[A-Za-z0-9._-]`` (no path, no leading dot), never empty."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._") or "attachment"
    if len(cleaned) > limit:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (stem[: limit - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else cleaned
        cleaned = cleaned[:limit]
    return cleaned


def attachment_key(prefix: str, message_id: str, attachment: Attachment) -> str:
    """``{prefix}{messageId}/{index}-{safe filename}`` for one attachment."""
    return f"{prefix}{message_id}/{attachment.index}-{safe_key_part(attachment.filename)}"


def domain_of(address: str) -> str:
    """Lower-cased domain of ``address`` (what logs may show)."""
    return address.rpartition("@")[2].lower() if "@" in address else ""


def hash_key(value: str) -> str:
    """A short stable digest (keys that must not contain an address)."""
    return hashlib.sha256(value.strip().lower().encode("utf-8")).hexdigest()[:32]


class AttachmentReader(Protocol):
    """``iter_attachment_chunks`` of the parser."""

    def __call__(self, message: InboundMessage, attachment: Attachment) -> Iterator[bytes]: ...


class LoopGuard(Protocol):
    """``auto_reply_allowed`` of the router's loop guard."""

    def __call__(
        self, message: InboundMessage, envelope_sender: str, mail_domain: str
    ) -> tuple[bool, str]: ...


@dataclass
class ActionPorts:
    """The ports and domain functions the actions use."""

    store: InboundMailStore
    publisher: EventPublisher
    sender: MailSender | None = None
    rate_limiter: RateLimiter | None = None
    attachment_reader: AttachmentReader | None = None
    loop_guard: LoopGuard | None = None
    strip_reply: Callable[[str], str] | None = None
    feedback: FeedbackSink | None = None
    classify: Callable[[InboundMessage], Any] | None = None  # full Classification (cached)


@dataclass
class ActionContext:
    """Everything an action may read (one per recipient and action)."""

    settings: Settings
    ports: ActionPorts
    message: InboundMessage
    envelope: Envelope
    recipient: str
    route: str
    decision: Any
    params: Mapping[str, Any]
    raw_key: str
    attachment_keys: dict[int, str] = field(default_factory=dict)

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

    action: str
    status: str  # done | skipped
    info: Mapping[str, Any] = field(default_factory=dict)


def _decision_value(decision: Any, name: str, default: Any = None) -> Any:
    value = getattr(decision, name, None)
    if value is None and isinstance(decision, Mapping):
        value = decision.get(name)
    return default if value is None else value


def why_text(decision: Any) -> str:
    """The decision's ``why`` as one string (it may be a tuple of reasons)."""
    why = _decision_value(decision, "why", "")
    if isinstance(why, list | tuple):
        return "; ".join(str(w) for w in why)
    return str(why)


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

    name = "publish"

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Build the detail, fit it into 256 KB and publish it."""
        detail_type = str(
            ctx.params.get("detail_type")
            or _decision_value(ctx.decision, "detail_type")
            or "InboundMessageReceived"
        )
        captures = _decision_value(ctx.decision, "captures", {}) or {}
        detail = inbound_events.build_detail(
            ctx.message,
            ctx.envelope,
            recipient=ctx.recipient,
            route=ctx.route,
            text=_text_for_event(ctx),
            order_numbers=list(_decision_value(ctx.decision, "order_numbers", ()) or ()),
            tag=_decision_value(ctx.decision, "tag"),
            order_id=_decision_value(ctx.decision, "order_id"),
            captures=dict(captures),
            attachment_keys=ctx.attachment_keys or None,
            raw_bucket=ctx.settings.raw_mail_bucket,
            raw_key=ctx.raw_key,
        )
        detail = inbound_events.fit_detail(detail, detail_type)
        ctx.ports.publisher.publish(detail_type, detail, inbound_events.SOURCE)
        return ActionOutcome(
            self.name, "done", {"detail_type": detail_type, "truncated": detail["truncated"]}
        )


class StoreAttachmentsAction:
    """``store_attachments``: each attachment streamed to S3 under a safe key."""

    name = "store_attachments"

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
        return ActionOutcome(self.name, "done", {"stored": stored})


def planned_attachment_keys(
    settings: Settings, message: InboundMessage, message_id: str
) -> dict[int, str]:
    """The S3 key of each attachment ``store_attachments`` stores (deterministic)."""
    return {
        att.index: attachment_key(settings.attachments_prefix, message_id, att)
        for att in message.attachments[:MAX_ATTACHMENTS]
    }


def _targets(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Iterable):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


class ForwardAction:
    """``forward``: a new message to the team inbox with the original attached."""

    name = "forward"

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Build the forward and send it through the relay."""
        sender = ctx.ports.sender
        if sender is None:
            raise RouteConfigError("forward: no mail sender configured")
        to = _targets(ctx.params.get("to"))
        if not to:
            raise InvalidEventError("forward: the route names no 'to' address", route=ctx.route)
        from shopmail.domain.inbound.forwarding import build_forward  # lazy: email.headerregistry

        raw = b"".join(ctx.ports.store.iter_chunks(ctx.raw_key))
        mail = build_forward(
            ctx.message,
            ctx.envelope,
            raw,
            from_address=str(ctx.params.get("from") or ctx.settings.transactional_from),
            to=to,
            route=ctx.route,
            mail_domain=ctx.settings.mail_domain,
            recipient=ctx.recipient,
        )
        del raw
        ses_id = sender.send(mail.envelope_from, mail.recipients, mail.message)
        return ActionOutcome(
            self.name,
            "done",
            {"ses_message_id": ses_id, "to_domains": sorted({domain_of(t) for t in to})},
        )


class AutoReplyAction:
    """``auto_reply``: a loop-safe, rate-limited acknowledgement to the envelope sender."""

    name = "auto_reply"

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Check the loop guard and the rate limit, then build and send the reply."""
        ports = ctx.ports
        if ports.sender is None:
            raise RouteConfigError("auto_reply: no mail sender configured")
        if ports.loop_guard is not None:
            allowed, reason = ports.loop_guard(
                ctx.message, ctx.envelope.sender, ctx.settings.mail_domain
            )
        else:
            allowed, reason = bool(ctx.envelope.sender), "no loop guard configured"
        if not allowed:
            logger.info("auto_reply skipped", extra=ctx.log_extra(reason=reason))
            return ActionOutcome(self.name, "skipped", {"reason": reason})
        from shopmail.domain.inbound.acknowledgement import (
            build_auto_reply,
        )  # lazy: email.headerregistry

        mail = build_auto_reply(
            ctx.message,
            ctx.envelope,
            recipient=ctx.recipient,
            mail_domain=ctx.settings.mail_domain,
            support_address=ctx.settings.support_address,
            template=ctx.params.get("template"),
            language=str(ctx.params.get("language") or "auto"),
        )
        limit_key = f"auto_reply#{hash_key(ctx.envelope.sender)}"
        limiter = ports.rate_limiter
        period = int(ctx.settings.auto_reply_period_days) * 86400
        if limiter is not None and not limiter.acquire(limit_key, period):
            logger.info(
                "auto_reply skipped", extra=ctx.log_extra(reason="rate limited (one per period)")
            )
            return ActionOutcome(self.name, "skipped", {"reason": "rate_limited"})
        try:
            ses_id = ports.sender.send(mail.envelope_from, mail.recipients, mail.message)
        except Exception:
            if limiter is not None:
                limiter.release(limit_key)
            raise
        return ActionOutcome(self.name, "done", {"ses_message_id": ses_id})


class QuarantineAction:
    """``quarantine``: copy the raw mail to the quarantine prefix and publish an event."""

    name = "quarantine"

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Copy, then publish ``MessageQuarantined`` (or the route's detail type)."""
        target = f"{ctx.settings.quarantine_prefix}{ctx.envelope.message_id}"
        ctx.ports.store.copy(ctx.raw_key, target)
        reason = str(ctx.params.get("reason") or why_text(ctx.decision))
        detail_type = str(ctx.params.get("detail_type") or inbound_events.QUARANTINE_DETAIL_TYPE)
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
        return ActionOutcome(self.name, "done", {"key": target, "reason": reason[:200]})


class DropAction:
    """``drop``: nothing happens except a log line with the reason."""

    name = "drop"

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Log the drop."""
        reason = str(ctx.params.get("reason") or why_text(ctx.decision))
        logger.info("message dropped", extra=ctx.log_extra(reason=reason[:200]))
        return ActionOutcome(self.name, "done", {"reason": reason[:200]})


#: Classifier kinds the ``feedback`` action hands to the feedback service.
FEEDBACK_KINDS = frozenset({"bounce", "complaint", "delay"})


class FeedbackAction:
    """``feedback``: a classified bounce/complaint/delay goes to the feedback service
    (suppression list, ``EmailBounced``/``EmailComplained``/``EmailDelayed`` with the order id
    matched through the returned Message-ID). Other kinds are skipped."""

    name = "feedback"

    def execute(self, ctx: ActionContext) -> ActionOutcome:
        """Classify (reusing the router's cached result) and apply bounces/complaints/delays."""
        classify = ctx.ports.classify
        if classify is None:
            from shopmail.domain.feedback import classify_message  # lazy: classifier modules

            classify = classify_message
        classification = classify(ctx.message)
        kind = str(getattr(classification, "kind", "none") or "none")
        if kind not in FEEDBACK_KINDS:
            logger.info("feedback skipped", extra=ctx.log_extra(kind=kind))
            return ActionOutcome(self.name, "skipped", {"kind": kind})
        sink = ctx.ports.feedback
        if sink is None:
            raise RouteConfigError("feedback: no feedback sink configured", route=ctx.route)
        meta = {
            "message_id": ctx.envelope.message_id,
            "received_at": ctx.envelope.timestamp or None,
        }
        status = sink.apply(classification, meta)
        return ActionOutcome(
            self.name,
            "done",
            {
                "kind": kind,
                "status": status,
                "detector": getattr(classification, "detector", None),
                "recipients": len(getattr(classification, "recipients", ()) or ()),
            },
        )


ACTIONS: dict[str, Callable[[], Any]] = {
    "publish": PublishAction,
    "store_attachments": StoreAttachmentsAction,
    "forward": ForwardAction,
    "auto_reply": AutoReplyAction,
    "quarantine": QuarantineAction,
    "drop": DropAction,
    "feedback": FeedbackAction,
}
# Run order inside one decision: stored attachments and quarantine copies exist before the
# events that point to them are published; mail goes out last.
ORDER = {
    "store_attachments": 0,
    "quarantine": 1,
    "publish": 2,
    "feedback": 2,
    "forward": 3,
    "auto_reply": 4,
}
