"""Forward loops a routes file would build on our own domain (checked when the file loads).

A ``forward`` sends a new message to its ``to`` addresses through the relay. When a target is
on the shop's mail domain (or a subdomain), SES receives that forward again and our own rules
route it. If those rules may forward it once more, the routes file builds a loop (or a chain
that the runtime loop guard, :func:`shopmail.domain.inbound.loop_guard.forward_allowed`, would
refuse at the second hop anyway). :func:`forward_loop_problems` finds each such target.

For each target the rules are walked in order as the router walks them, with the target as the
envelope recipient: matchers on the recipient (address, domain, local part, regex, plus tag,
catch-all) are evaluated; any other matcher (sender, subject, headers, flags, ...) depends on
the message and counts as "may match". A rule that may match and forwards is a problem; a rule
that surely matches (only recipient matchers, all matching) and stops ends the walk.
"""

from __future__ import annotations

from typing import Final

from shopmail.domain.inbound.order_numbers import split_plus_address
from shopmail.domain.inbound.routing import matchers as m
from shopmail.domain.inbound.routing.model import ActionName, MatchContext, RouteTable
from shopmail.domain.message import InboundMessage

#: Matchers whose result depends only on the envelope recipient.
_RECIPIENT_MATCHERS: Final = (
    m.RecipientExact,
    m.RecipientDomain,
    m.RecipientLocalPart,
    m.RecipientRegex,
    m.PlusTag,
    m.NoPlusTag,
    m.CatchAll,
)


def _ours(domain: str, mail_domain: str) -> bool:
    return bool(mail_domain) and (domain == mail_domain or domain.endswith("." + mail_domain))


def _context(target: str, mail_domain: str) -> MatchContext:
    local, _, domain = target.strip().rpartition("@")
    domain = domain.lower().rstrip(".")
    base, tag = split_plus_address(local)
    ours = _ours(domain, mail_domain)
    return MatchContext(
        message=InboundMessage(),
        recipient=target.strip(),
        local_part=local.lower(),
        base_local=base.lower(),
        tag=tag if ours else None,
        domain=domain,
        ours=ours,
        mail_domain=mail_domain,
    )


def forwarding_rule_for(table: RouteTable, target: str, mail_domain: str) -> str | None:
    """The first rule that may forward mail arriving for ``target`` again, or ``None``.

    ``None`` as well when ``target`` is not on ``mail_domain`` (its mail never comes back
    to our rules) or when ``mail_domain`` is empty.
    """
    mail_domain = (mail_domain or "").strip().lower().rstrip(".")
    ctx = _context(target, mail_domain)
    if not ctx.ours:
        return None
    for rule in table.rules:
        sure = True
        possible = True
        for matcher in rule.matchers:
            if not isinstance(matcher, _RECIPIENT_MATCHERS):
                sure = False
                continue
            if matcher.match(ctx) is None:
                possible = False
                break
        if not possible:
            continue
        if any(a.name is ActionName.FORWARD for a in rule.actions):
            return rule.name
        if sure and rule.stop:
            return None
    return None


def forward_loop_problems(table: RouteTable, mail_domain: str) -> list[str]:
    """One readable problem per forward target that our own rules may forward again.

    Each names the forwarding rule, the action's field, the target and the rule that would
    forward it again (``rule #N 'name': field 'actions[i].to': ...``, the loader's format).
    """
    problems: list[str] = []
    domain = (mail_domain or "").strip().lower().rstrip(".")
    if not domain:
        return problems
    for number, rule in enumerate(table.rules, 1):
        for index, action in enumerate(rule.actions):
            if action.name is not ActionName.FORWARD:
                continue
            for target in action.get("to") or ():
                again = forwarding_rule_for(table, str(target), domain)
                if again is None:
                    continue
                problems.append(
                    f"rule #{number} '{rule.name}': field 'actions[{index}].to': {target} is on "
                    f"our mail domain {domain} and rule '{again}' would forward it again "
                    "(a forward loop); forward to an address outside "
                    f"{domain}, or give {target} a route without forward"
                )
    return problems
