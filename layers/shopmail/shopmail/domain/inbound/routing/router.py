"""The router: (message, envelope recipient) -> :class:`RoutingDecision`.

Evaluation, per recipient:

1. **Built-in policy** (before any rule; change it only with an explicit ``[policy]`` table):
   virus verdict ``FAIL`` -> quarantine; spam verdict ``FAIL`` -> quarantine; DMARC ``FAIL``
   with published policy ``reject`` or ``quarantine`` -> quarantine. Route names
   ``policy:virus``, ``policy:spam``, ``policy:dmarc``. A quarantined message is never
   auto-replied to.
2. **Rules**, in file order. A rule matches when all its matchers match. Every matching rule
   up to and including the first matching rule with ``stop = true`` contributes its actions,
   captures and reasons; ``route`` is that stopping rule (or the last contributing one).
   Recipient local-part and tag matchers only match recipients on the shop's mail domain, so
   mail for other domains falls through to the catch-all.
3. **Fallback**: when nothing matched (a file without catch-all), route ``builtin:fallback``
   publishes ``MessageReceived``. Unknown recipients are never dropped silently.
4. **Loop guard**: an ``auto_reply`` action is removed (with the reason in ``why``) unless
   :func:`shopmail.domain.inbound.loop_guard.auto_reply_allowed` allows it, or when the decision
   also quarantines or drops the message. The per-sender rate limit is the service's job.

JSON shape of :meth:`RoutingDecision.to_dict`::

    {"recipient": "support+ORD-1001@shop.example", "route": "support",
     "rules": ["support"], "actions": ["publish", "store_attachments", "auto_reply"],
     "action_specs": [{"type": "publish", "rule": "support",
                       "detail_type": "SupportMessageReceived"}, ...],
     "detail_type": "SupportMessageReceived", "tag": "ORD-1001", "order_id": "ORD-1001",
     "order_numbers": ["ORD-1001"], "captures": {},
     "why": ["support: recipient local part ..."],
     "auto_reply": {"allowed": true, "reason": "ok"}}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from shopmail.domain.inbound.loop_guard import auto_reply_allowed
from shopmail.domain.inbound.order_numbers import (
    MAX_ORDER_NUMBERS,
    compile_order_pattern,
    find_order_numbers,
    order_numbers_for,
    reply_order_ids,
    reply_refs,
    split_plus_address,
)
from shopmail.domain.inbound.routing.loader import load_routes
from shopmail.domain.inbound.routing.model import (
    FALLBACK_DETAIL_TYPE,
    ActionName,
    ActionSpec,
    Classify,
    MatchContext,
    RouteTable,
    RoutingDecision,
)

if TYPE_CHECKING:
    from shopmail.domain.message import InboundMessage

logger = logging.getLogger(__name__)

FALLBACK_ROUTE: Final = "builtin:fallback"
MAX_RECIPIENT: Final = 320


def _split_recipient(recipient: str | None) -> tuple[str | None, str, str, str | None, str]:
    """``(recipient, local, base_local, tag, domain)``; local/domain lower-cased."""
    if recipient is None:
        return None, "", "", None, ""
    value = recipient.strip()[:MAX_RECIPIENT]
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    if not value:
        return None, "", "", None, ""
    local, _, domain = value.rpartition("@") if "@" in value else (value, "", "")
    base, tag = split_plus_address(local)
    return value, local.lower(), base.lower(), tag, domain.lower().rstrip(".")


def recipients_of(message: InboundMessage) -> list[str]:
    """Recipients to route for: the SES envelope's, else ``To`` + ``Cc`` (deduplicated).

    Deduplication is case-insensitive; the first spelling wins. May be empty.
    """
    if message.envelope is not None and message.envelope.recipients:
        source: Iterable[str] = message.envelope.recipients
    else:
        source = (a.address for a in (*message.to, *message.cc))
    seen: set[str] = set()
    out: list[str] = []
    for raw in source:
        addr = (raw or "").strip()
        if addr and addr.lower() not in seen:
            seen.add(addr.lower())
            out.append(addr)
    return out


class Router:
    """Routes parsed messages by a :class:`RouteTable`.

    Parameters
    ----------
    table
        The validated rules (see :func:`~shopmail.domain.inbound.routing.loader.load_routes`).
    mail_domain
        The shop's mail domain: recipients elsewhere are not ours, mail from it is never
        auto-replied to, replies are matched to our Message-IDs on it. ``""`` = every
        recipient is ours.
    order_pattern
        The order-number regex (``Settings.order_number_pattern``; ``None``/``""`` = default).
    classify
        Optional feedback classifier returning a kind (``bounce``, ``complaint``,
        ``auto_reply``, ``none``...) used by flag matchers and the loop guard; without it the
        parser's flags decide.
    """

    def __init__(
        self,
        table: RouteTable,
        mail_domain: str = "",
        *,
        order_pattern: str | re.Pattern[str] | None = None,
        classify: Classify | None = None,
    ) -> None:
        self.table = table
        self.mail_domain = (mail_domain or "").strip().lower().rstrip(".")
        self.order_pattern = compile_order_pattern(order_pattern)
        self.classify = classify

    @classmethod
    def from_file(
        cls,
        path: str | Path | None,
        mail_domain: str = "",
        *,
        order_pattern: str | re.Pattern[str] | None = None,
        classify: Classify | None = None,
    ) -> Router:
        """Load ``path`` (``None``: the shipped default routes) and build a router.

        Forwards to ``mail_domain`` that the rules would forward again are refused
        (:class:`~shopmail.errors.RouteConfigError`, see :func:`load_routes`).
        """
        return cls(
            load_routes(path, mail_domain=mail_domain),
            mail_domain,
            order_pattern=order_pattern,
            classify=classify,
        )

    def _ours(self, domain: str) -> bool:
        if not self.mail_domain:
            return True
        return domain == self.mail_domain or domain.endswith("." + self.mail_domain)

    def decide_all(
        self, message: InboundMessage, recipients: Iterable[str] | None = None
    ) -> list[RoutingDecision]:
        """One decision per recipient (default :func:`recipients_of`); at least one."""
        targets = list(recipients) if recipients is not None else recipients_of(message)
        if not targets:
            return [self.decide(message, None)]
        return [self.decide(message, r) for r in targets]

    def decide(self, message: InboundMessage, recipient: str | None) -> RoutingDecision:
        """Route ``message`` for the envelope ``recipient`` (``None`` when there is none).

        Never raises for message content; see the module docs for the evaluation order.
        """
        addr, local, base, tag, domain = _split_recipient(recipient)
        ours = addr is not None and self._ours(domain)
        refs = tuple(reply_refs(message, self.mail_domain or None))
        ctx = MatchContext(
            message=message,
            recipient=addr,
            local_part=local,
            base_local=base,
            tag=tag if ours else None,
            domain=domain,
            ours=ours,
            mail_domain=self.mail_domain,
            classify=self.classify,
            replies=refs,
        )
        why: list[str] = []
        if addr is not None and not ours:
            why.append(f"recipient domain {domain or '(none)'} is not {self.mail_domain}")

        route, rules, actions, captures, match_tag = self._policy(message, why)
        if route is None:
            route, rules, actions, captures, match_tag = self._rules(ctx, why)

        order_numbers = order_numbers_for(
            message, tag=ctx.tag, refs=refs, pattern=self.order_pattern
        )
        cap = dict(captures)
        order_id = cap.get("order_id") or next(iter(reply_order_ids(refs)), None)
        if order_id is None and ctx.tag:
            order_id = next(iter(find_order_numbers(ctx.tag, self.order_pattern, 200)), None)
        if order_id and order_id.casefold() not in {n.casefold() for n in order_numbers}:
            order_numbers = [order_id, *order_numbers][:MAX_ORDER_NUMBERS]  # orderId is listed

        actions, allowed, reason = self._guard(message, ctx, actions, why)
        decision = RoutingDecision(
            recipient=addr,
            route=route,
            rules=tuple(rules),
            actions=tuple(actions),
            tag=match_tag or ctx.tag,
            order_id=order_id,
            order_numbers=tuple(order_numbers),
            captures=tuple(sorted(cap.items())),
            why=tuple(why),
            auto_reply_allowed=allowed,
            auto_reply_reason=reason,
        )
        logger.debug(
            "routed",
            extra={"route": route, "recipient_domain": domain, "actions": decision.action_names},
        )
        return decision

    # -- steps ---------------------------------------------------------------------------

    def _policy(
        self, message: InboundMessage, why: list[str]
    ) -> tuple[str | None, list[str], list[ActionSpec], dict[str, str], str | None]:
        env = message.envelope
        if env is None:
            return None, [], [], {}, None
        v = env.verdicts
        policy = self.table.policy
        dmarc_policy = str(v.dmarc_policy or "").strip().lower()
        checks = (
            ("virus", v.virus.upper() == "FAIL", policy.virus_fail, "virus verdict FAIL"),
            ("spam", v.spam.upper() == "FAIL", policy.spam_fail, "spam verdict FAIL"),
            (
                "dmarc",
                v.dmarc.upper() == "FAIL" and dmarc_policy in ("reject", "quarantine"),
                policy.dmarc_fail,
                f"DMARC verdict FAIL with policy {dmarc_policy}",
            ),
        )
        for name, hit, setting, reason in checks:
            if not hit:
                continue
            if setting == "route":
                why.append(f"{reason}: built-in quarantine disabled by [policy] {name}_fail")
                continue
            route = f"policy:{name}"
            why.append(f"{reason} -> quarantine (built-in policy)")
            return (
                route,
                [route],
                [ActionSpec(ActionName.QUARANTINE, (("reason", reason),), route)],
                {},
                None,
            )
        return None, [], [], {}, None

    def _rules(
        self, ctx: MatchContext, why: list[str]
    ) -> tuple[str, list[str], list[ActionSpec], dict[str, str], str | None]:
        rules: list[str] = []
        actions: list[ActionSpec] = []
        captures: dict[str, str] = {}
        tag: str | None = None
        route: str | None = None
        for rule in self.table.rules:
            reasons: list[str] = []
            found: list[tuple[str, str]] = []
            for matcher in rule.matchers:
                result = matcher.match(ctx)
                if result is None:
                    break
                reasons.append(result.why)
                found.extend(result.captures)
                tag = tag or result.tag
            else:
                rules.append(rule.name)
                route = rule.name
                why.append(f"{rule.name}: " + "; ".join(reasons))
                for k, v in found:
                    captures.setdefault(k, v)
                for a in rule.actions:  # the first of equal actions wins
                    if not any((b.name, b.params) == (a.name, a.params) for b in actions):
                        actions.append(a)
                if rule.stop:
                    break
        if route is None:
            why.append(f"no rule matched -> {FALLBACK_ROUTE} (publish {FALLBACK_DETAIL_TYPE})")
            route = FALLBACK_ROUTE
            rules = [route]
            actions = [
                ActionSpec(ActionName.PUBLISH, (("detail_type", FALLBACK_DETAIL_TYPE),), route)
            ]
        return route, rules, actions, captures, tag

    def _guard(
        self,
        message: InboundMessage,
        ctx: MatchContext,
        actions: list[ActionSpec],
        why: list[str],
    ) -> tuple[list[ActionSpec], bool | None, str]:
        if not any(a.name == "auto_reply" for a in actions):
            return actions, None, ""
        names = {a.name for a in actions}
        if "quarantine" in names or "drop" in names:
            allowed, reason = False, "message is quarantined or dropped"
        else:
            kind = ctx.kind if self.classify is not None else None
            allowed, reason = auto_reply_allowed(message, None, self.mail_domain, kind=kind)
        if allowed:
            return actions, True, reason
        why.append(f"auto_reply suppressed: {reason}")
        return [a for a in actions if a.name != "auto_reply"], False, reason
