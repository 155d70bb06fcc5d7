"""Find one customer's address in stored data, in every form shopmail stores it.

An address is stored as written (any case), with its domain as Punycode or as Unicode, and as
:func:`~shopmail.domain.addresses.address_hash` (keys of rate limits and idempotency records).
:class:`AddressMatcher` knows all these forms and finds them as whole tokens: ``im@example.com``
does not match inside ``kim@example.com``, and a hash does not match inside a longer hex run (so
the ``hash:<sha256>`` suppression key kept after an erasure is not a match).

Example
-------
>>> m = AddressMatcher.of("Kim@Example.com")
>>> m.matches("From: <kim@example.com>"), m.matches("joakim@example.com")
(True, False)
>>> m.redact("to kim@EXAMPLE.com, cc ann@example.com")
'to [erased], cc ann@example.com'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from shopmail.domain.addresses import address_hash, split_address
from shopmail.errors import InvalidEventError

#: What replaces an address (or its hash) in text that is kept.
REDACTED: Final = "[erased]"
#: RFC 5321 limit of a path; longer input is no address.
MAX_ADDRESS_LENGTH: Final = 320
#: Characters that may stand next to an address inside a longer address (then it is not this
#: address but a longer one).
_LOCAL_CHARS: Final = r"\w.!#$%&'*+/=?^`{|}~-"
_MAX_DEPTH: Final = 32


def normalize_address(address: str) -> str:
    """``address`` stripped of brackets and white space and lower-cased (``""`` when it is no
    address: no ``@``, an empty part, white space inside, or too long)."""
    value = address.strip().strip("<>").strip().lower()
    local, domain = split_address(value)
    if (
        not local
        or not domain
        or len(value) > MAX_ADDRESS_LENGTH
        or any(ch.isspace() for ch in value)
    ):
        return ""
    return f"{local}@{domain}"


def address_forms(address: str) -> tuple[str, ...]:
    """The normalized address and its domain's other spelling (Punycode <-> Unicode)."""
    normalized = normalize_address(address)
    if not normalized:
        return ()
    local, domain = split_address(normalized)
    try:
        if not domain.isascii():
            other = domain.encode("idna").decode("ascii")
        elif "xn--" in domain:
            other = domain.encode("ascii").decode("idna")
        else:
            other = ""
    except UnicodeError:
        other = ""
    other = other.lower()
    return (normalized, f"{local}@{other}") if other and other != domain else (normalized,)


@dataclass(frozen=True)
class AddressMatcher:
    """Finds one address (all its forms and hashes) in text and JSON values.

    Build it with :meth:`of`.

    Attributes
    ----------
    address
        The normalized address.
    forms
        The address in every spelling looked for.
    hashes
        :func:`~shopmail.domain.addresses.address_hash` of each form.
    """

    address: str
    forms: tuple[str, ...]
    hashes: tuple[str, ...]
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, address: str) -> AddressMatcher:
        """The matcher of ``address``.

        Raises
        ------
        InvalidEventError
            ``address`` is not an address.
        """
        forms = address_forms(address)
        if not forms:
            raise InvalidEventError("not an address", field="email")
        hashes = tuple(dict.fromkeys(address_hash(f) for f in forms))
        plain = [
            rf"(?<![{_LOCAL_CHARS}]){re.escape(f)}(?![\w-]|\.[\w-])"
            for f in sorted(forms, key=len, reverse=True)
        ]
        hexes = [rf"(?<![0-9a-f]){h}(?![0-9a-f])" for h in hashes]
        pattern = re.compile("|".join(plain + hexes), re.IGNORECASE)
        return cls(forms[0], forms, hashes, pattern)

    def matches(self, text: str) -> bool:
        """Whether ``text`` names the address (or one of its hashes)."""
        return self.pattern.search(text) is not None

    def redact(self, text: str) -> str:
        """``text`` with every occurrence replaced by :data:`REDACTED`."""
        return self.pattern.sub(REDACTED, text)

    def in_value(self, value: Any, _depth: int = 0) -> bool:
        """Whether a JSON-like value (strings, mappings, lists; keys included) names it."""
        if _depth > _MAX_DEPTH:
            return False
        if isinstance(value, str):
            return self.matches(value)
        if isinstance(value, bytes):
            return self.matches(value.decode("utf-8", "replace"))
        if isinstance(value, Mapping):
            return any(
                self.in_value(k, _depth + 1) or self.in_value(v, _depth + 1)
                for k, v in value.items()
            )
        if isinstance(value, list | tuple | set | frozenset):
            return any(self.in_value(v, _depth + 1) for v in value)
        return False

    def in_text_or_json(self, text: str) -> bool:
        """Whether ``text`` names it, as written or once JSON-decoded (``\\u`` escapes)."""
        if self.matches(text):
            return True
        try:
            decoded = json.loads(text)
        except ValueError:
            return False
        return self.in_value(decoded)
