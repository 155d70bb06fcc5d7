"""Which template language serves a customer locale: the locale fallback chain.

A requested locale is served by the first entry of its chain that the shop supports::

    requested (de-AT) -> its shorter forms (de) -> shop default (de) -> fallback (en)

The shorter forms are those of BCP 47 lookup (RFC 4647 §3.4): subtags are removed from the end
one at a time (``zh-Hant-TW`` -> ``zh-Hant`` -> ``zh``). The shop default and the fallback go
through the same truncation (a default ``de-CH`` tries ``de-CH`` then ``de``). Entries the shop
does not support are skipped and duplicates are dropped, so the chain is short and ordered.

Tags are compared case-insensitively with ``_`` read as ``-`` (``de_at`` is ``de-AT``); the
chain returns the spelling of the *supported* set, so its entries can name folders directly.

Example
-------
>>> locale_chain("de-AT", {"de", "en", "fr"})
('de', 'en')
>>> locale_chain("fr-CA", {"de", "en", "fr"})
('fr', 'de', 'en')
>>> locale_chain("xx", {"de", "en", "fr"})
('de', 'en')
>>> locale_chain("pt-BR", {"pt", "pt-BR", "en"}, default="en")
('pt-BR', 'pt', 'en')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

#: The shop's default language until a shop configuration names another.
DEFAULT_LOCALE: Final = "de"
#: The last resort of every chain.
FALLBACK_LOCALE: Final = "en"

_SUBTAG = re.compile(r"[A-Za-z0-9]{1,8}")


@lru_cache(maxsize=512)
def normalize_tag(tag: str | None) -> str:
    """Canonical spelling of a BCP 47 tag (``de_at`` -> ``de-AT``); ``""`` when it is not one.

    Language lower-case, script title-case (4 letters), region upper-case (2 letters or 3
    digits), other subtags lower-case (RFC 5646 §2.1.1 conventions).

    >>> normalize_tag("ZH_hant_tw"), normalize_tag("en"), normalize_tag("no tag")
    ('zh-Hant-TW', 'en', '')

    A mail asks for the same few tags many times (each template, catalog and format lookup):
    the answers are remembered (512 tags).
    """
    parts = (tag or "").strip().replace("_", "-").split("-")
    if not parts or not all(_SUBTAG.fullmatch(p) for p in parts):
        return ""
    first = parts[0]
    if not (first.isalpha() and 2 <= len(first) <= 8):
        return ""
    out = [first.lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def primary_language(tag: str | None) -> str:
    """The language subtag of ``tag`` (``de-AT`` -> ``de``; ``""`` when it is no tag)."""
    return normalize_tag(tag).split("-", 1)[0]


def lookup_forms(tag: str | None) -> tuple[str, ...]:
    """``tag`` and its truncations, longest first (``de-AT`` -> ``('de-AT', 'de')``).

    A single-character subtag (``x``, an extension) is removed together with the subtag
    before it is reached, as RFC 4647 lookup requires.
    """
    canonical = normalize_tag(tag)
    if not canonical:
        return ()
    parts = canonical.split("-")
    forms: list[str] = []
    while parts:
        if len(parts[-1]) > 1:
            forms.append("-".join(parts))
        parts.pop()
    return tuple(forms)


def locale_chain(
    requested: str | None,
    supported: Iterable[str],
    default: str = DEFAULT_LOCALE,
    fallback: str = FALLBACK_LOCALE,
) -> tuple[str, ...]:
    """The supported locales that may serve ``requested``, best first.

    Parameters
    ----------
    requested
        The customer's locale (``de-AT``, ``fr_CA``, ``xx``); an empty or malformed value
        skips straight to ``default``.
    supported
        The locales the shop has templates for (folder names such as ``de``, ``pt-BR``).
    default
        The shop's default locale (tried after every form of ``requested``).
    fallback
        The last resort (tried after every form of ``default``).

    Returns
    -------
    tuple of str
        Entries of ``supported`` (in their own spelling), without duplicates; empty when none
        of the candidates is supported.
    """
    by_key: dict[str, str] = {}
    for name in supported:
        key = normalize_tag(name)
        if key:
            by_key.setdefault(key.lower(), name)
    chain: list[str] = []
    for source in (requested, default, fallback):
        for form in lookup_forms(source):
            found = by_key.get(form.lower())
            if found is not None and found not in chain:
                chain.append(found)
    return tuple(chain)
