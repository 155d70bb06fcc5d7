"""Load and validate a routes file (TOML).

Format::

    version = 1                      # optional; only 1 is known

    [policy]                         # optional; overrides the built-in policy explicitly
    virus_fail = "quarantine"        # "quarantine" (default) | "route"
    spam_fail = "quarantine"
    dmarc_fail = "quarantine"        # DMARC FAIL with policy reject|quarantine

    [[rules]]
    name = "support"                 # unique; [A-Za-z0-9][A-Za-z0-9_.-]{0,63}
    description = "..."              # optional
    stop = true                      # optional, default true
    catch_all = false                # optional; a rule without matchers is a catch-all too
    match = { recipient_local = ["support"] }
    actions = [
      { type = "publish", detail_type = "SupportMessageReceived" },
      { type = "auto_reply", template = "support_ack" },
    ]

Match fields (all given must hold; a list means "any of"):

``recipient`` (addresses), ``recipient_domain`` (``.example`` = subdomains),
``recipient_local`` (local parts on our domain, plus tag ignored), ``recipient_regex`` (named
groups become captures), ``tag`` (``true``/``false`` or a regex), ``sender``,
``sender_domain``, ``header`` (``{name, pattern}`` or a list of them, all must match),
``subject`` (regex), ``verdicts`` (``{spam = "FAIL"}``; values a status or a list;
``dmarc_policy`` too), ``flags`` (any of ``auto_submitted``, ``bounce``, ``complaint``,
``auto_reply``, ``list``, ``bulk``, ``dsn``, ``arf``, ``mdn``), ``without_flags`` (none of
them), ``has_attachment`` (bool), ``replies_to_ours`` (bool), ``reply_kind`` (regex on the
kind of our replied-to Message-ID; implies ``replies_to_ours``).

Actions: ``publish`` (``detail_type``), ``store_attachments``, ``forward`` (``to``: address or
list), ``auto_reply`` (``template``), ``quarantine`` (``reason``), ``drop`` (``reason``),
``feedback`` (no parameters: a classified bounce/complaint/delay updates the suppression list
and publishes the shop event).

Regexes are compiled case-insensitively at load; invalid ones, overly long ones (over 500
characters) and ones with a nested quantifier such as ``(a+)+`` (catastrophic backtracking)
are rejected. Every problem is reported (all at once) in one :class:`RouteConfigError` whose
``context["errors"]`` lists ``rule #N 'name': field 'x': why`` strings.

Given the shop's mail domain (the inbound function and ``shopmail routes check`` give it), a
``forward`` to an address on that domain which the same rules may forward again is refused:
that is a forward loop (see :mod:`~shopmail.domain.inbound.routing.forward_loops`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Final

from shopmail.domain.inbound.routing import matchers as m
from shopmail.domain.inbound.routing.forward_loops import forward_loop_problems
from shopmail.domain.inbound.routing.model import (
    ACTION_NAMES,
    FLAG_NAMES,
    ActionSpec,
    Matcher,
    Policy,
    RouteTable,
    Rule,
)
from shopmail.domain.spelling import close_matches
from shopmail.errors import RouteConfigError

MAX_PATTERN: Final = 500
MAX_RULES: Final = 500
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DETAIL_TYPE: Final = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,127}")
_TEMPLATE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: Actions whose one parameter is a required name: its key, its pattern, the error otherwise.
_NAMED_PARAMS: Final[dict[str, tuple[str, re.Pattern[str], str]]] = {
    "publish": ("detail_type", _DETAIL_TYPE, "required: a detail-type such as 'X'"),
    "auto_reply": ("template", _TEMPLATE, "required: a template name ([A-Za-z0-9_-])"),
}
_ADDRESS: Final = re.compile(r"[^\s@<>\"(),;:\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,253}")
_DOMAIN: Final = re.compile(r"\.?[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?(?:\.[a-z0-9-]{1,63})*")
_LOCAL: Final = re.compile(r"[^\s@<>\"(),;:\x00-\x1f\x7f]{1,64}")
_HEADER_NAME: Final = re.compile(r"[!-9;-~]{1,76}")
# A group holding a + or * quantifier that is itself repeated: (a+)+, (\w+\s?)*, (x*){2,}
_NESTED_QUANT: Final = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]")
_VERDICT_STATUSES: Final = frozenset({"PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"})
_DMARC_POLICIES: Final = frozenset({"none", "quarantine", "reject"})
_POLICY_VALUES: Final = ("quarantine", "route")

_TOP_KEYS: Final = ("version", "policy", "rules")
_RULE_KEYS: Final = ("name", "description", "stop", "catch_all", "match", "actions")
_MATCH_KEYS: Final = (
    "recipient",
    "recipient_domain",
    "recipient_local",
    "recipient_regex",
    "tag",
    "sender",
    "sender_domain",
    "header",
    "subject",
    "verdicts",
    "flags",
    "without_flags",
    "has_attachment",
    "replies_to_ours",
    "reply_kind",
)
_ACTION_KEYS: Final = {
    "publish": ("detail_type",),
    "store_attachments": (),
    "forward": ("to",),
    "auto_reply": ("template",),
    "quarantine": ("reason",),
    "drop": ("reason",),
    "feedback": (),
}
DEFAULT_ROUTES_RESOURCE: Final = "routes/default.toml"


class _Errors:
    """Collects problems with a prefix naming the rule."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, field: str, why: str) -> None:
        self.items.append(f"{where}: field '{field}': {why}")


def _unknown(keys: object, known: tuple[str, ...], where: str, prefix: str, err: _Errors) -> None:
    if not isinstance(keys, dict):
        return
    for key in keys:
        if key not in known:
            hint = close_matches(str(key), known)
            why = "unknown field" + (f" (did you mean '{prefix}{hint[0]}'?)" if hint else "")
            err.add(where, f"{prefix}{key}", why)


def compile_pattern(pattern: object) -> re.Pattern[str]:
    """Compile a user regex (case-insensitive) with the loader's safety checks.

    Raises
    ------
    ValueError
        With a readable reason (not a string, too long, nested quantifier, invalid).
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("must be a non-empty string (a regular expression)")
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"regex longer than {MAX_PATTERN} characters")
    if _NESTED_QUANT.search(pattern):
        raise ValueError(
            "regex has a nested quantifier like (a+)+ that can backtrack catastrophically; "
            "rewrite it without repeating a repeated group"
        )
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid regex: {exc}") from exc


def _str_list(value: object, check: Callable[[str], bool], what: str) -> frozenset[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(f"must be a {what} or a non-empty list of them")
    out: set[str] = set()
    for item in items:
        if not isinstance(item, str) or not check(item.strip().lower()):
            raise ValueError(f"{item!r} is not a valid {what}")
        out.add(item.strip().lower())
    return frozenset(out)


def _matchers(spec: dict[str, Any], where: str, err: _Errors) -> list[Matcher]:
    out: list[Matcher] = []

    def attempt(field: str, build: Callable[[Any], Matcher | list[Matcher]]) -> None:
        if field not in spec:
            return
        try:
            built = build(spec[field])
        except ValueError as exc:
            err.add(where, f"match.{field}", str(exc))
            return
        out.extend(built if isinstance(built, list) else [built])

    def _is_address(s: str) -> bool:
        return bool(_ADDRESS.fullmatch(s))

    def _is_domain(s: str) -> bool:
        return bool(_DOMAIN.fullmatch(s))

    def _is_local(s: str) -> bool:
        return bool(_LOCAL.fullmatch(s))

    attempt("recipient", lambda v: m.RecipientExact(_str_list(v, _is_address, "address")))
    attempt("recipient_domain", lambda v: m.RecipientDomain(_str_list(v, _is_domain, "domain")))
    attempt(
        "recipient_local", lambda v: m.RecipientLocalPart(_str_list(v, _is_local, "local part"))
    )
    attempt("recipient_regex", lambda v: m.RecipientRegex(compile_pattern(v)))
    attempt("tag", _tag)
    attempt("sender", lambda v: m.SenderAddress(_str_list(v, _is_address, "address")))
    attempt("sender_domain", lambda v: m.SenderDomain(_str_list(v, _is_domain, "domain")))
    attempt("header", _headers)
    attempt("subject", lambda v: m.SubjectRegex(compile_pattern(v)))
    attempt("verdicts", _verdicts)
    attempt("flags", lambda v: m.FlagsAny(_flags(v)))
    attempt("without_flags", lambda v: m.FlagsNone(_flags(v)))
    attempt("has_attachment", lambda v: m.HasAttachment(_bool(v)))
    if "reply_kind" in spec:
        if spec.get("replies_to_ours", True) is not True:
            err.add(where, "match.reply_kind", "contradicts replies_to_ours = false")
        attempt("reply_kind", lambda v: m.RepliesToOurs(True, compile_pattern(v)))
    else:
        attempt("replies_to_ours", lambda v: m.RepliesToOurs(_bool(v)))
    return out


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _tag(value: object) -> Matcher:
    if value is True:
        return m.PlusTag()
    if value is False:
        return m.NoPlusTag()
    return m.PlusTag(compile_pattern(value))


def _headers(value: object) -> list[Matcher]:
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not items:
        raise ValueError("must be {name = ..., pattern = ...} or a list of them")
    out: list[Matcher] = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"name", "pattern"}:
            raise ValueError("each entry needs exactly 'name' and 'pattern'")
        name = item["name"]
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid header name")
        out.append(m.HeaderRegex(name, compile_pattern(item["pattern"])))
    return out


def _verdicts(value: object) -> Matcher:
    if not isinstance(value, dict) or not value:
        raise ValueError('must be a table such as {spam = "FAIL"}')
    expected: list[tuple[str, frozenset[str]]] = []
    for name, raw in value.items():
        if name == "dmarc_policy":
            allowed = _str_list(raw, lambda s: s in _DMARC_POLICIES, "DMARC policy")
        elif name in m._VERDICT_FIELDS:
            allowed = frozenset(
                s.upper()
                for s in _str_list(raw, lambda s: s.upper() in _VERDICT_STATUSES, "status")
            )
        else:
            known = (*m._VERDICT_FIELDS, "dmarc_policy")
            hint = close_matches(name, known)
            raise ValueError(
                f"unknown verdict {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
        expected.append((name, allowed))
    return m.VerdictMatch(tuple(expected))


def _flags(value: object) -> frozenset[str]:
    return _str_list(value, lambda s: s in FLAG_NAMES, "flag")


def _action(raw: object, rule: str, where: str, idx: int, err: _Errors) -> ActionSpec | None:
    field = f"actions[{idx}]"
    if not isinstance(raw, dict):
        err.add(where, field, 'must be a table such as {type = "publish", ...}')
        return None
    kind = raw.get("type")
    if kind not in ACTION_NAMES:
        hint = close_matches(str(kind), ACTION_NAMES)
        err.add(
            where,
            f"{field}.type",
            f"{kind!r} is not an action (one of {', '.join(ACTION_NAMES)})"
            + (f"; did you mean {hint[0]!r}?" if hint else ""),
        )
        return None
    known = ("type", *_ACTION_KEYS[kind])
    _unknown(raw, known, where, f"{field}.", err)
    params: dict[str, Any] = {}
    if kind in _NAMED_PARAMS:
        key, pattern, problem = _NAMED_PARAMS[kind]
        value = raw.get(key)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            err.add(where, f"{field}.{key}", problem)
            return None
        params[key] = value
    elif kind == "forward":
        try:
            to = _str_list(raw.get("to"), lambda s: bool(_ADDRESS.fullmatch(s)), "address")
        except ValueError as exc:
            err.add(where, f"{field}.to", f"required: {exc}")
            return None
        params["to"] = tuple(sorted(to))
    elif kind in ("quarantine", "drop"):
        reason = raw.get("reason", f"rule {rule}")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            err.add(where, f"{field}.reason", "must be a non-empty string (max 200 chars)")
            return None
        params["reason"] = reason.strip()
    return ActionSpec(kind, tuple(sorted(params.items())), rule)


def _rule(raw: object, idx: int, names: set[str], err: _Errors) -> Rule | None:
    where = f"rule #{idx + 1}"
    if not isinstance(raw, dict):
        err.add(where, "rules", "each [[rules]] entry must be a table")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        err.add(where, "name", "required: 1-64 characters of [A-Za-z0-9_.-], starting alnum")
        name = f"#{idx + 1}"
    else:
        where = f"rule #{idx + 1} '{name}'"
        if name in names:
            err.add(where, "name", "duplicate rule name")
        names.add(name)
    _unknown(raw, _RULE_KEYS, where, "", err)
    before = len(err.items)
    stop = raw.get("stop", True)
    if not isinstance(stop, bool):
        err.add(where, "stop", "must be true or false")
    catch_all = raw.get("catch_all", False)
    if not isinstance(catch_all, bool):
        err.add(where, "catch_all", "must be true or false")
    desc = raw.get("description", "")
    if not isinstance(desc, str):
        err.add(where, "description", "must be a string")
    spec = raw.get("match", {})
    found: list[Matcher] = []
    if not isinstance(spec, dict):
        err.add(where, "match", "must be a table of matchers")
    else:
        _unknown(spec, _MATCH_KEYS, where, "match.", err)
        found = _matchers(spec, where, err)
        if catch_all is True and spec:
            err.add(where, "catch_all", "a catch-all rule must not have matchers")
    actions_raw = raw.get("actions")
    actions: list[ActionSpec] = []
    if not isinstance(actions_raw, list) or not actions_raw:
        err.add(where, "actions", "required: a non-empty list (use drop to discard mail)")
    else:
        for i, a in enumerate(actions_raw):
            spec_ = _action(a, str(name), where, i, err)
            if spec_ is not None:
                actions.append(spec_)
        names_ = [a.name for a in actions]
        if "drop" in names_ and len(set(names_)) > 1:
            err.add(where, "actions", "drop cannot be combined with other actions")
    if len(err.items) > before:
        return None
    is_catch_all = bool(catch_all) or not found
    matchers_: tuple[Matcher, ...] = (m.CatchAll(),) if is_catch_all else tuple(found)
    return Rule(
        name=str(name),
        matchers=matchers_,
        actions=tuple(actions),
        stop=bool(stop),
        catch_all=is_catch_all,
        description=desc if isinstance(desc, str) else "",
    )


def _policy(raw: object, err: _Errors) -> Policy:
    if raw is None:
        return Policy()
    if not isinstance(raw, dict):
        err.add("policy", "policy", "must be a table")
        return Policy()
    _unknown(raw, ("virus_fail", "spam_fail", "dmarc_fail"), "policy", "policy.", err)
    values: dict[str, str] = {}
    for key in ("virus_fail", "spam_fail", "dmarc_fail"):
        if key in raw:
            if raw[key] not in _POLICY_VALUES:
                err.add("policy", f"policy.{key}", "must be 'quarantine' or 'route'")
            else:
                values[key] = raw[key]
    return Policy(**values)


def parse_routes(text: str, source: str = "<string>", *, mail_domain: str = "") -> RouteTable:
    """Parse and validate routes from TOML ``text``.

    Parameters
    ----------
    text
        The TOML document.
    source
        Its name in error messages (a path).
    mail_domain
        The shop's mail domain: forwards to it that these rules would forward again are
        refused (a forward loop). ``""``: not checked.

    Raises
    ------
    RouteConfigError
        Listing every problem; ``context["errors"]`` holds them one per string.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RouteConfigError(
            f"{source}: not valid TOML: {exc}", source=source, errors=[f"TOML: {exc}"]
        ) from exc
    err = _Errors()
    _unknown(data, _TOP_KEYS, "file", "", err)
    version = data.get("version", 1)
    if version != 1:
        err.add("file", "version", f"unsupported version {version!r} (only 1)")
    policy = _policy(data.get("policy"), err)
    raw_rules = data.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw_rules, list) or not raw_rules:
        err.add("file", "rules", "required: at least one [[rules]] table")
    elif len(raw_rules) > MAX_RULES:
        err.add("file", "rules", f"more than {MAX_RULES} rules")
    else:
        names: set[str] = set()
        for idx, raw in enumerate(raw_rules):
            rule = _rule(raw, idx, names, err)
            if rule is not None:
                rules.append(rule)
        for i, rule in enumerate(rules):
            if rule.catch_all and rule.stop and i + 1 < len(rules):
                later = ", ".join(r.name for r in rules[i + 1 :])
                err.add(
                    f"rule '{rule.name}'",
                    "stop",
                    f"a stopping catch-all makes later rules unreachable ({later})",
                )
                break
        if not err.items:
            table = RouteTable(rules=tuple(rules), policy=policy, source=source)
            err.items.extend(forward_loop_problems(table, mail_domain))
    if err.items:
        summary = f"{source}: {len(err.items)} problem(s): " + "; ".join(err.items)
        raise RouteConfigError(summary, source=source, errors=list(err.items))
    return RouteTable(rules=tuple(rules), policy=policy, source=source)


def default_routes_text() -> str:
    """The shipped default routes file (package data ``shopmail/routes/default.toml``)."""
    return resources.files("shopmail").joinpath(DEFAULT_ROUTES_RESOURCE).read_text(encoding="utf-8")


def load_routes(path: str | Path | None = None, *, mail_domain: str = "") -> RouteTable:
    """Load a routes file; ``None`` or ``""`` loads the shipped default routes.

    ``mail_domain``: see :func:`parse_routes` (forward loops on it are refused).

    Raises
    ------
    RouteConfigError
        When the file cannot be read or does not validate.
    """
    if not path:
        return parse_routes(
            default_routes_text(), "shopmail/routes/default.toml", mail_domain=mail_domain
        )
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RouteConfigError(
            f"{p}: cannot read routes file: {exc}", source=str(p), errors=[str(exc)]
        ) from exc
    return parse_routes(text, str(p), mail_domain=mail_domain)
