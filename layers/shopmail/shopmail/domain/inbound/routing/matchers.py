"""Matchers: one small frozen object per condition, each with ``match(ctx)``.

A matcher returns a :class:`~shopmail.domain.inbound.routing.model.MatchResult` (readable ``why``,
named regex ``captures``, maybe a plus ``tag``) or ``None``. Inputs given to user regexes are
cut to :data:`MAX_REGEX_INPUT` characters.

Recipient local-part and tag matchers only match recipients on the shop's mail domain; exact,
domain and regex recipient matchers match what they say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from shopmail.domain.addresses import domain_of
from shopmail.domain.inbound.routing.model import MatchContext, MatchResult

MAX_REGEX_INPUT: Final = 2_000
_VERDICT_FIELDS: Final = ("spam", "virus", "spf", "dkim", "dmarc")


def _captures(m: re.Match[str]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in sorted(m.groupdict().items()) if v is not None)


def _clip(value: str) -> str:
    return value[:MAX_REGEX_INPUT]


def _sender_addresses(ctx: MatchContext) -> list[str]:
    out: list[str] = []
    env = ctx.message.envelope
    if env is not None and env.sender:
        out.append(env.sender.strip("<> ").lower())
    out.extend(a.address.lower() for a in ctx.message.from_ if a.address)
    return out


@dataclass(frozen=True, slots=True)
class RecipientExact:
    """Recipient is one of ``addresses`` (case-insensitive; a plus tag is ignored too)."""

    addresses: frozenset[str]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        if not ctx.recipient:
            return None
        full = ctx.recipient.lower()
        base = f"{ctx.base_local}@{ctx.domain}"
        if full in self.addresses or base in self.addresses:
            return MatchResult(f"recipient is {base}", tag=ctx.tag)
        return None


@dataclass(frozen=True, slots=True)
class RecipientDomain:
    """Recipient domain is one of ``domains`` (``.example`` = any subdomain of example)."""

    domains: frozenset[str]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        if not ctx.domain:
            return None
        for d in self.domains:
            if ctx.domain == d or (d.startswith(".") and ctx.domain.endswith(d)):
                return MatchResult(f"recipient domain {ctx.domain}")
        return None


@dataclass(frozen=True, slots=True)
class RecipientLocalPart:
    """Recipient on our mail domain whose local part (without the plus tag) is listed."""

    local_parts: frozenset[str]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        if ctx.recipient and ctx.ours and ctx.base_local in self.local_parts:
            why = f"recipient local part {ctx.base_local}"
            if ctx.tag:
                why += " (plus-addressed)"
            return MatchResult(why, tag=ctx.tag)
        return None


@dataclass(frozen=True, slots=True)
class RecipientRegex:
    """Recipient address matches ``pattern`` (search, case-insensitive); named groups captured."""

    pattern: re.Pattern[str]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        if not ctx.recipient:
            return None
        m = self.pattern.search(_clip(ctx.recipient))
        if m is None:
            return None
        return MatchResult(f"recipient matches /{self.pattern.pattern}/", _captures(m), tag=ctx.tag)


@dataclass(frozen=True, slots=True)
class PlusTag:
    """Recipient on our domain carries a plus tag (matching ``pattern`` when one is given)."""

    pattern: re.Pattern[str] | None = None

    def match(self, ctx: MatchContext) -> MatchResult | None:
        if not (ctx.recipient and ctx.ours and ctx.tag):
            return None
        if self.pattern is None:
            return MatchResult("recipient has a plus-address tag", tag=ctx.tag)
        m = self.pattern.search(_clip(ctx.tag))
        if m is None:
            return None
        return MatchResult(f"tag matches /{self.pattern.pattern}/", _captures(m), tag=ctx.tag)


@dataclass(frozen=True, slots=True)
class NoPlusTag:
    """Recipient has no plus tag (``tag = false``)."""

    def match(self, ctx: MatchContext) -> MatchResult | None:
        return None if ctx.tag else MatchResult("recipient has no plus-address tag")


@dataclass(frozen=True, slots=True)
class SenderAddress:
    """Envelope sender or a ``From`` address is one of ``addresses`` (case-insensitive)."""

    addresses: frozenset[str]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        for addr in _sender_addresses(ctx):
            if addr in self.addresses:
                return MatchResult(f"sender address on list (domain {addr.rpartition('@')[2]})")
        return None


@dataclass(frozen=True, slots=True)
class SenderDomain:
    """Sender (envelope or ``From``) domain is listed or a subdomain of a listed one."""

    domains: frozenset[str]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        for addr in _sender_addresses(ctx):
            domain = domain_of(addr)
            for d in self.domains:
                if domain == d or domain.endswith("." + d.lstrip(".")):
                    return MatchResult(f"sender domain {domain}")
        return None


@dataclass(frozen=True, slots=True)
class HeaderRegex:
    """Some value of header ``name`` matches ``pattern`` (search); named groups captured."""

    name: str
    pattern: re.Pattern[str]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        for value in ctx.message.header_all(self.name):
            m = self.pattern.search(_clip(value))
            if m is not None:
                return MatchResult(
                    f"header {self.name} matches /{self.pattern.pattern}/", _captures(m)
                )
        return None


@dataclass(frozen=True, slots=True)
class SubjectRegex:
    """The subject matches ``pattern`` (search); named groups captured."""

    pattern: re.Pattern[str]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        m = self.pattern.search(_clip(ctx.message.subject or ""))
        if m is None:
            return None
        return MatchResult(f"subject matches /{self.pattern.pattern}/", _captures(m))


@dataclass(frozen=True, slots=True)
class VerdictMatch:
    """Every listed SES verdict has one of the listed statuses (``dmarc_policy`` too)."""

    expected: tuple[tuple[str, frozenset[str]], ...]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        env = ctx.message.envelope
        parts: list[str] = []
        for name, allowed in self.expected:
            if env is None:
                value = "" if name == "dmarc_policy" else "GRAY"
            else:
                value = getattr(env.verdicts, name) or ""
            value = value.lower() if name == "dmarc_policy" else value.upper()
            if value not in allowed:
                return None
            parts.append(f"{name}={value}")
        return MatchResult("verdicts " + ", ".join(parts))


@dataclass(frozen=True, slots=True)
class FlagsAny:
    """At least one of ``flags`` holds (see :data:`~.model.FLAG_NAMES`)."""

    flags: frozenset[str]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        hit = sorted(self.flags & ctx.flag_set)
        return MatchResult("flags " + ", ".join(hit)) if hit else None


@dataclass(frozen=True, slots=True)
class FlagsNone:
    """None of ``flags`` holds."""

    flags: frozenset[str]

    def match(self, ctx: MatchContext) -> MatchResult | None:
        if self.flags & ctx.flag_set:
            return None
        return MatchResult("none of flags " + ", ".join(sorted(self.flags)))


@dataclass(frozen=True, slots=True)
class HasAttachment:
    """The message has (``True``) or has no (``False``) non-inline attachment."""

    expected: bool = True

    def match(self, ctx: MatchContext) -> MatchResult | None:
        count = sum(1 for a in ctx.message.attachments if a.disposition == "attachment")
        if (count > 0) == self.expected:
            return MatchResult(f"has {count} attachment(s)" if count else "has no attachment")
        return None


@dataclass(frozen=True, slots=True)
class RepliesToOurs:
    """``In-Reply-To``/``References`` name a shopmail Message-ID (of a kind matching ``kind``).

    Captures ``reply_kind`` and ``reply_to_id`` (the aggregate, e.g. the order id).
    """

    expected: bool = True
    kind: re.Pattern[str] | None = None

    def match(self, ctx: MatchContext) -> MatchResult | None:
        refs = [r for r in ctx.replies if self.kind is None or self.kind.search(r.kind)]
        if not self.expected:
            return None if refs else MatchResult("not a reply to our mail")
        if not refs:
            return None
        ref = refs[0]
        return MatchResult(
            f"replies to our {ref.kind} mail",
            (("reply_kind", ref.kind), ("reply_to_id", ref.aggregate_id)),
        )


@dataclass(frozen=True, slots=True)
class CatchAll:
    """Matches everything."""

    def match(self, ctx: MatchContext) -> MatchResult | None:
        if ctx.recipient is None:
            return MatchResult("catch-all (no recipient)")
        if not ctx.ours:
            return MatchResult(f"catch-all (recipient domain {ctx.domain} is not ours)")
        return MatchResult("catch-all")
