"""Did-you-mean hints for configuration errors (routes files, shop configurations)."""

from __future__ import annotations

from collections.abc import Iterable


def close_matches(word: str, known: Iterable[str]) -> list[str]:
    """The known word closest to ``word`` (``difflib.get_close_matches``, at most one).

    ``difflib`` is imported on the first call: only a configuration with a typo needs it, so
    no function loads it at cold start.
    """
    import difflib

    return difflib.get_close_matches(word, list(known), n=1)
