"""Fault profiles: which faults to inject, where, and how often (data in ``profiles/*.toml``).

A profile is a TOML file with an optional ``description``, ``[[aws]]`` faults (an error
answered instead of an AWS call, or a ``PutEvents`` partial failure), ``[[relay]]`` faults (a
reply or a lost connection at one SMTP stage of the SES-like relay) and ``[delivery]`` faults of
the platform (an SQS message delivered again after it was handled, an asynchronous Lambda
invocation run twice; only the fault harness plays the platform). Each fault has a
``probability`` (drawn once per opportunity from the plan's seeded generator) and an optional
``limit`` (at most that many injections).

Example
-------
>>> profile = load_profile("ses-throttling")
>>> [f.kind for f in profile.relay]
['relay:data:454', 'relay:connect:421']
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopmail_local.stack.ses_relay import STAGES

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"


class ProfileError(ValueError):
    """A profile that does not exist or does not validate (the message names the field)."""


@dataclass(frozen=True, kw_only=True)
class Chance:
    """How often a fault is injected: ``probability`` per opportunity, at most ``limit``
    times (``None``: no limit); ``name`` overrides the kind it is counted under."""

    probability: float = 0.0
    limit: int | None = None
    name: str = ""


@dataclass(frozen=True, kw_only=True)
class AwsFault(Chance):
    """An AWS call answered with an error instead of reaching the service.

    Attributes
    ----------
    service
        botocore's service name (``s3``, ``dynamodb``, ``events``, ``sqs``,
        ``secretsmanager``) or ``*``.
    operation
        The API operation (``GetObject``, ``PutEvents``) or ``*``.
    code, status
        The error code and HTTP status of the answer (``SlowDown``/503).
    partial
        ``PutEvents`` only: the call succeeds for some entries and fails for others
        (``FailedEntryCount`` > 0, each failed entry with ``ErrorCode`` = ``code``); the failed
        entries never reach the bus.
    """

    service: str
    code: str
    status: int = 500
    operation: str = "*"
    partial: bool = False

    @property
    def kind(self) -> str:
        """The name this fault is counted under (``aws:s3:SlowDown``)."""
        if self.name:
            return self.name
        if self.partial:
            return f"aws:{self.service}:{self.operation}:partial"
        return f"aws:{self.service}:{self.code}"

    def matches(self, service: str, operation: str) -> bool:
        """Whether this fault applies to ``service``'s ``operation``."""
        if self.partial and operation != "PutEvents":
            return False
        return self.service in ("*", service) and self.operation in ("*", operation)


@dataclass(frozen=True, kw_only=True)
class RelayFault(Chance):
    """A reply or a lost connection at one stage of the SES-like relay.

    Attributes
    ----------
    stage
        One of :data:`shopmail_local.stack.ses_relay.STAGES` (``data`` is after the final dot).
    reply
        The reply line instead of the normal one (``421 ...`` also closes the connection).
    drop
        Lose the connection instead of replying; at ``data`` with ``deliver`` the relay keeps
        the message first (it was accepted, the client cannot know).
    """

    stage: str
    reply: str | None = None
    drop: bool = False
    deliver: bool = False

    @property
    def kind(self) -> str:
        """The name this fault is counted under (``relay:rcpt:451``, ``relay:auth:drop``)."""
        if self.name:
            return f"relay:{self.stage}:{self.name}"
        if self.drop:
            return f"relay:{self.stage}:drop" + ("-delivered" if self.deliver else "")
        return f"relay:{self.stage}:{(self.reply or '')[:3]}"


@dataclass(frozen=True)
class DeliveryFaults:
    """Faults of the platform's delivery (at-least-once), played by the fault harness."""

    redeliver: float = 0.0
    duplicate_invoke: float = 0.0


@dataclass(frozen=True)
class FaultProfile:
    """A named set of faults (see the module docs)."""

    name: str
    description: str = ""
    aws: tuple[AwsFault, ...] = ()
    relay: tuple[RelayFault, ...] = ()
    delivery: DeliveryFaults = field(default_factory=DeliveryFaults)

    @property
    def empty(self) -> bool:
        """True when nothing is ever injected."""
        d = self.delivery
        return not (self.aws or self.relay or d.redeliver or d.duplicate_invoke)


def profile_names() -> list[str]:
    """The shipped profiles (``none``, ``ses-throttling``, ...)."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> FaultProfile:
    """A shipped profile by name, or a profile file by path.

    Raises
    ------
    ProfileError
        Unknown name, unreadable file, or a field that does not validate.
    """
    text_path = Path(name_or_path)
    if text_path.suffix == ".toml" or text_path.exists():
        path = text_path
    else:
        path = PROFILES_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise ProfileError(
                f"unknown fault profile {str(name_or_path)!r}; "
                f"expected one of {', '.join(profile_names())} or a .toml file"
            )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    return parse_profile(data, path.stem)


def parse_profile(data: dict[str, Any], name: str) -> FaultProfile:
    """Validate a profile's TOML data (see :func:`load_profile`)."""
    unknown = set(data) - {"description", "aws", "relay", "delivery"}
    if unknown:
        raise ProfileError(f"{name}: unknown keys {sorted(unknown)}")
    aws = tuple(_aws(item, f"{name}: aws[{i}]") for i, item in enumerate(data.get("aws", [])))
    relay = tuple(
        _relay(item, f"{name}: relay[{i}]") for i, item in enumerate(data.get("relay", []))
    )
    raw = data.get("delivery", {})
    if not isinstance(raw, dict) or set(raw) - {"redeliver", "duplicate_invoke"}:
        raise ProfileError(f"{name}: delivery takes redeliver and duplicate_invoke")
    delivery = DeliveryFaults(
        redeliver=_probability(raw.get("redeliver", 0.0), f"{name}: delivery.redeliver"),
        duplicate_invoke=_probability(
            raw.get("duplicate_invoke", 0.0), f"{name}: delivery.duplicate_invoke"
        ),
    )
    return FaultProfile(name, str(data.get("description", "")), aws, relay, delivery)


def _probability(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ProfileError(f"{where}: probability must be a number from 0 to 1, not {value!r}")
    return float(value)


def _limit(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProfileError(f"{where}: limit must be a whole number >= 0, not {value!r}")
    return value


def _aws(item: Any, where: str) -> AwsFault:
    allowed = {"service", "operation", "code", "status", "partial", "probability", "limit", "name"}
    if not isinstance(item, dict) or set(item) - allowed:
        raise ProfileError(f"{where}: expected a table with keys from {sorted(allowed)}")
    if not isinstance(item.get("service"), str) or not isinstance(item.get("code"), str):
        raise ProfileError(f"{where}: service and code are required strings")
    status = item.get("status", 500)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ProfileError(f"{where}: status must be an HTTP error status, not {status!r}")
    partial = bool(item.get("partial", False))
    operation = str(item.get("operation", "*"))
    if partial and operation != "PutEvents":
        raise ProfileError(f"{where}: partial applies to operation = 'PutEvents' only")
    fault = {"service": item["service"], "code": item["code"], "status": status}
    fault.update(operation=operation, partial=partial)
    return AwsFault(**fault, **_chance(item, where))


def _relay(item: Any, where: str) -> RelayFault:
    allowed = {"stage", "reply", "drop", "deliver", "probability", "limit", "name"}
    if not isinstance(item, dict) or set(item) - allowed:
        raise ProfileError(f"{where}: expected a table with keys from {sorted(allowed)}")
    stage = item.get("stage")
    if stage not in STAGES:
        raise ProfileError(f"{where}: stage must be one of {STAGES}, not {stage!r}")
    reply = item.get("reply")
    drop = bool(item.get("drop", False))
    if reply is not None and (not isinstance(reply, str) or not reply[:3].isdigit()):
        raise ProfileError(f"{where}: reply must start with a 3-digit code, not {reply!r}")
    if (reply is None) != drop:
        raise ProfileError(f"{where}: give either a reply or drop = true")
    deliver = bool(item.get("deliver", False))
    if deliver and not (drop and stage == "data"):
        raise ProfileError(f"{where}: deliver applies to drop = true at stage 'data' only")
    return RelayFault(stage=stage, reply=reply, drop=drop, deliver=deliver, **_chance(item, where))


def _chance(item: dict[str, Any], where: str) -> dict[str, Any]:
    """The :class:`Chance` fields of a fault's table."""
    return {
        "probability": _probability(item.get("probability", 0.0), where),
        "limit": _limit(item.get("limit"), where),
        "name": str(item.get("name", "")),
    }
