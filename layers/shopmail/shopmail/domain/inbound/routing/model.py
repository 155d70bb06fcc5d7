"""Routing data model: rules, action specs, match results and the routing decision.

Everything here is plain data (frozen dataclasses). Matchers live in
:mod:`shopmail.domain.inbound.routing.matchers`, loading in
:mod:`~shopmail.domain.inbound.routing.loader`, evaluation in
:mod:`~shopmail.domain.inbound.routing.router`. Executing actions is the services' job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from shopmail.domain.message import InboundMessage


class ActionName(StrEnum):
    """The actions a rule may use: the one registry of action names.

    The loader accepts exactly these, the router emits only these, and the inbound service has
    one executor per member (checked when its module is imported).
    """

    PUBLISH = "publish"
    STORE_ATTACHMENTS = "store_attachments"
    FORWARD = "forward"
    AUTO_REPLY = "auto_reply"
    QUARANTINE = "quarantine"
    DROP = "drop"
    FEEDBACK = "feedback"

    @property
    def run_order(self) -> int:
        """Position in one decision's run: stored attachments and quarantine copies exist before
        the events that point to them are published; mail goes out last."""
        return _RUN_ORDER[self]


_RUN_ORDER: Final = {
    ActionName.STORE_ATTACHMENTS: 0,
    ActionName.QUARANTINE: 1,
    ActionName.PUBLISH: 2,
    ActionName.FEEDBACK: 2,
    ActionName.FORWARD: 3,
    ActionName.AUTO_REPLY: 4,
    ActionName.DROP: 5,
}

#: The action names a rule may use (exactly these), as plain strings in declaration order.
ACTION_NAMES: Final = tuple(str(a) for a in ActionName)

#: The detail-type published when no rule names one (the built-in fallback route).
FALLBACK_DETAIL_TYPE: Final = "MessageReceived"

#: The names accepted by the ``flags`` / ``without_flags`` matchers.
FLAG_NAMES: Final = frozenset(
    {"auto_submitted", "bounce", "complaint", "auto_reply", "list", "bulk", "dsn", "arf", "mdn"}
)

#: Classifier kinds that set the ``bounce`` / ``complaint`` / ``auto_reply`` flags.
KIND_FLAGS: Final = {
    "bounce": "bounce",
    "delay": "bounce",
    "complaint": "complaint",
    "auto_reply": "auto_reply",
}

Classify = Callable[["InboundMessage"], str]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One action of a rule, as data.

    Attributes
    ----------
    name
        One of :data:`ACTION_NAMES`.
    params
        The action's parameters as sorted ``(key, value)`` pairs (values are str, bool or a
        tuple of str): ``publish`` has ``detail_type``; ``forward`` has ``to`` (tuple);
        ``auto_reply`` has ``template``; ``quarantine`` and ``drop`` have ``reason``.
    rule
        Name of the rule that contributed the action (``policy:...`` for the built-in policy).
    """

    name: ActionName
    params: tuple[tuple[str, Any], ...] = ()
    rule: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", ActionName(self.name))

    @property
    def param_map(self) -> dict[str, Any]:
        """The parameters as a dict."""
        return dict(self.params)

    def get(self, key: str, default: Any = None) -> Any:
        """The parameter ``key`` (or ``default``)."""
        for k, v in self.params:
            if k == key:
                return v
        return default

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: ``{"type": name, "rule": ..., **params}`` (tuples as lists)."""
        out: dict[str, Any] = {"type": str(self.name), "rule": self.rule}
        for k, v in self.params:
            out[k] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What a matcher found: a readable reason, named captures and possibly a plus tag."""

    why: str
    captures: tuple[tuple[str, str], ...] = ()
    tag: str | None = None


@dataclass
class MatchContext:
    """Everything matchers look at for one (message, recipient) pair.

    ``kind`` is computed lazily (only a flag matcher asks for it): from the injected
    classifier when there is one, else from the parser's flags.
    """

    message: InboundMessage
    recipient: str | None
    local_part: str  # full local part, lower-cased ("" without recipient)
    base_local: str  # local part without the plus tag, lower-cased
    tag: str | None  # plus-address tag, case preserved
    domain: str  # recipient domain, lower-cased
    ours: bool  # recipient on the shop's mail domain (or no mail domain configured)
    mail_domain: str
    classify: Classify | None = None
    replies: tuple[Any, ...] = ()  # shopmail MessageRefs found in In-Reply-To / References

    @cached_property
    def kind(self) -> str:
        """``bounce`` | ``complaint`` | ``auto_reply`` | ``none`` (or another classifier kind)."""
        if self.classify is not None:
            try:
                return self.classify(self.message) or "none"
            except Exception:  # a classifier defect must not stop routing
                logging.getLogger(__name__).warning("classifier failed", exc_info=True)
        flags = self.message.flags
        if flags.is_arf:
            return "complaint"
        if flags.is_dsn:
            return "bounce"
        if flags.auto_submitted:
            return "auto_reply"
        return "none"

    @cached_property
    def flag_set(self) -> frozenset[str]:
        """The set of :data:`FLAG_NAMES` that hold for this message."""
        f = self.message.flags
        names = {
            name
            for name, on in (
                ("auto_submitted", f.auto_submitted),
                ("list", f.is_list),
                ("bulk", f.is_bulk),
                ("dsn", f.is_dsn),
                ("arf", f.is_arf),
                ("mdn", f.is_mdn),
            )
            if on
        }
        kind_flag = KIND_FLAGS.get(self.kind)
        if kind_flag:
            names.add(kind_flag)
        return frozenset(names)


class Matcher(Protocol):
    """One condition of a rule (aiosmtpd-hook style: one method)."""

    def match(self, ctx: MatchContext) -> MatchResult | None:
        """A :class:`MatchResult` when the condition holds, else ``None``."""
        ...


@dataclass(frozen=True)
class Rule:
    """One routing rule.

    Attributes
    ----------
    name
        Unique name (shows up as ``route`` in decisions).
    matchers
        All must match (AND). Empty only for a catch-all.
    actions
        What to do when the rule matches.
    stop
        ``True`` (default): no later rule is considered after this one matched.
    catch_all
        Matches every message (``catch_all = true`` or no matchers).
    description
        Free text for operators.
    """

    name: str
    matchers: tuple[Matcher, ...]
    actions: tuple[ActionSpec, ...]
    stop: bool = True
    catch_all: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    """The built-in policy applied before the user rules (see :mod:`.router`).

    Each field is ``"quarantine"`` (default) or ``"route"`` (hand the message to the rules).
    Only an explicit ``[policy]`` table in the routes file changes them.
    """

    virus_fail: str = "quarantine"
    spam_fail: str = "quarantine"
    dmarc_fail: str = "quarantine"  # only when DMARC failed with policy reject|quarantine


@dataclass(frozen=True)
class RouteTable:
    """A loaded, validated routes file."""

    rules: tuple[Rule, ...]
    policy: Policy = field(default_factory=Policy)
    source: str = "<routes>"

    @property
    def has_catch_all(self) -> bool:
        """Whether some rule matches every message."""
        return any(r.catch_all for r in self.rules)


@dataclass(frozen=True)
class RoutingDecision:
    """Where one (message, recipient) goes and why.

    Attributes
    ----------
    recipient
        The envelope recipient routed for (``None`` when the message had none).
    route
        Name of the deciding rule (the first stopping rule that matched, or the last
        contributing one; ``policy:...`` for the built-in policy, ``default`` for the
        built-in fallback).
    rules
        Names of all rules that contributed actions, in order.
    actions
        The action specs, in order (duplicates removed).
    tag
        The plus-address tag of the recipient, or ``None``.
    order_id
        The order id the message is about: from a reply to our mail (Message-ID), else from a
        tag or text order number; ``None`` when unknown.
    order_numbers
        Distinct order numbers found (tag, replied-to ids, subject, text), in that order.
    captures
        Named regex captures of the matchers that decided.
    why
        Readable reasons (which matchers/policies decided, suppressed actions).
    auto_reply_allowed, auto_reply_reason
        The loop-guard verdict when a rule asked for ``auto_reply`` (else ``None`` / ``""``);
        a refused auto-reply is removed from ``actions``.
    """

    recipient: str | None
    route: str
    rules: tuple[str, ...] = ()
    actions: tuple[ActionSpec, ...] = ()
    tag: str | None = None
    order_id: str | None = None
    order_numbers: tuple[str, ...] = ()
    captures: tuple[tuple[str, str], ...] = ()
    why: tuple[str, ...] = ()
    auto_reply_allowed: bool | None = None
    auto_reply_reason: str = ""

    @property
    def action_names(self) -> list[str]:
        """The action names in order."""
        return [str(a.name) for a in self.actions]

    @property
    def why_text(self) -> str:
        """The reasons as one line (``; ``-separated)."""
        return "; ".join(self.why)

    def run_order(self) -> list[tuple[int, ActionSpec]]:
        """``(index, spec)`` of every action in the order the service runs them (see
        :attr:`ActionName.run_order`; ties keep the rule order). ``index`` is the action's
        position in :attr:`actions`, part of its idempotency key."""
        return sorted(enumerate(self.actions), key=lambda p: (p[1].name.run_order, p[0]))

    @property
    def detail_type(self) -> str | None:
        """``detail_type`` of the first ``publish`` action, else ``None``."""
        for a in self.actions:
            if a.name == "publish":
                value = a.get("detail_type")
                return str(value) if value is not None else None
        return None

    def action(self, name: str) -> ActionSpec | None:
        """The first action called ``name``, or ``None``."""
        return next((a for a in self.actions if a.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (see the module docs of :mod:`.router` for the shape)."""
        captures: Mapping[str, str] = dict(self.captures)
        return {
            "recipient": self.recipient,
            "route": self.route,
            "rules": list(self.rules),
            "actions": self.action_names,
            "action_specs": [a.to_dict() for a in self.actions],
            "detail_type": self.detail_type,
            "tag": self.tag,
            "order_id": self.order_id,
            "order_numbers": list(self.order_numbers),
            "captures": dict(captures),
            "why": list(self.why),
            "auto_reply": (
                None
                if self.auto_reply_allowed is None
                else {"allowed": self.auto_reply_allowed, "reason": self.auto_reply_reason}
            ),
        }
