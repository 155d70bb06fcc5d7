"""Search text for any of many alternative patterns, fast.

A regular expression made of hundreds of alternatives is slow in Python's engine: no
alternative starts with a literal it can scan for, so every position of the text is tried
against every alternative. :class:`AnyOf` keeps the alternatives apart and, for each, the
longest run of literal characters that every match must contain (read from the parsed
pattern); an alternative whose literal does not occur in the text is never run. The result is
the same as searching the joined alternation: the leftmost match, and at the same position
the alternative listed first.

Patterns are written for lower-cased text (callers lower the text once).
"""

from __future__ import annotations

import re
from typing import Final

try:  # the standard library's own pattern parser (``sre_parse`` before Python 3.11)
    from re import _parser as _sre  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other Python implementations
    _sre = None

_ZERO_WIDTH: Final = frozenset(
    {"AT", "ASSERT", "ASSERT_NOT"}  # \b ^ $ and look-arounds consume nothing
)


def _runs(items: object, found: list[str], run: list[str]) -> None:
    for op, av in items:  # type: ignore[attr-defined]
        name = str(op)
        if name == "LITERAL":
            run.append(chr(av))
        elif name in _ZERO_WIDTH:
            continue
        elif name == "SUBPATTERN":
            _runs(av[-1], found, run)  # a group matched once: its literals join the run
        else:
            found.append("".join(run))
            run.clear()


def required_literal(pattern: str) -> str:
    """The longest run of literal characters that every match of ``pattern`` contains.

    ``""`` when there is none (the pattern is then always run).

    >>> required_literal(r"(?:mail )?box (?:is )?full")
    'box '
    """
    if _sre is None:  # pragma: no cover
        return ""
    try:
        parsed = _sre.parse(pattern)
    except re.error:
        return ""
    found: list[str] = []
    run: list[str] = []
    _runs(parsed, found, run)
    found.append("".join(run))
    return max(found, key=len)


def alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of ``pattern`` (split at ``|`` outside groups and sets).

    >>> alternatives(r"a(?:b|c)|[|]d|e")
    ['a(?:b|c)', '[|]d', 'e']
    """
    parts: list[str] = []
    depth = 0
    in_set = False
    start = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_set:
            in_set = char != "]"
        elif char == "[":
            in_set = True
            if pattern[index + 1 : index + 2] == "^":
                index += 1
            if pattern[index + 1 : index + 2] == "]":
                index += 1  # "[]...]" / "[^]...]": a literal "]" first
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:index])
            start = index + 1
        index += 1
    parts.append(pattern[start:])
    return parts


class AnyOf:
    """Alternative patterns searched as one (leftmost match, first-listed on a tie).

    Parameters
    ----------
    patterns:
        Regular expressions for lower-cased text.
    flags:
        ``re`` flags for every pattern (e.g. ``re.MULTILINE``).
    """

    __slots__ = ("_items", "patterns")

    def __init__(self, *patterns: str, flags: int = 0) -> None:
        self.patterns = patterns
        self._items = tuple((required_literal(p), re.compile(p, flags)) for p in patterns)

    @classmethod
    def of(cls, pattern: str, flags: int = 0) -> AnyOf:
        """The alternatives of one regular expression, searched as :class:`AnyOf`."""
        return cls(*alternatives(pattern), flags=flags)

    def search(self, low: str, pos: int = 0) -> re.Match[str] | None:
        """The leftmost match in ``low`` (lower-cased text) at or after ``pos``."""
        best: re.Match[str] | None = None
        for pattern in [p for literal, p in self._items if literal in low]:
            match = pattern.search(low, pos)
            if match is not None and (best is None or match.start() < best.start()):
                best = match
        return best

    def __bool__(self) -> bool:
        return bool(self._items)
