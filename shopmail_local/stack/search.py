"""The web inbox's search: ``?q=`` terms matched against the text of each list row.

A query is split into terms at white space (``"two words"`` in double quotes is one term);
a row matches when every term occurs in it, ignoring case (``str.casefold``). The text of a
row is everything a reader would search for: subject, addresses, message ids, order ids,
routes, event types.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import Any

MAX_TERMS = 12
MAX_QUERY = 300


def parse_query(query: str | None) -> tuple[str, ...]:
    """The terms of ``query``, case-folded (an unbalanced quote is taken literally).

    Examples
    --------
    >>> parse_query('ORD-1 "Ihre Bestellung"')
    ('ord-1', 'ihre bestellung')
    """
    text = (query or "")[:MAX_QUERY].strip()
    if not text:
        return ()
    try:
        parts = shlex.split(text)
    except ValueError:
        parts = text.split()
    return tuple(p.casefold() for p in parts if p.strip())[:MAX_TERMS]


def row_text(*values: Any) -> str:
    """One case-folded string of ``values`` (lists, dicts and numbers included)."""
    chunks: list[str] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, str):
            chunks.append(value)
        elif isinstance(value, (dict, list, tuple)):
            chunks.append(json.dumps(value, ensure_ascii=False, default=str))
        else:
            chunks.append(str(value))
    return "\n".join(chunks).casefold()


def matches(terms: Iterable[str], text: str) -> bool:
    """Whether every term occurs in ``text`` (``row_text`` output); no terms match all."""
    return all(t in text for t in terms)
