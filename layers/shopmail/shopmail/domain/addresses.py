"""Mail addresses as the logs, keys and loop checks see them: one helper for every flow.

Privacy rule of the project: logs and error context carry an address's *domain* or a *hash*,
never the address itself. :func:`domain_of` and :func:`address_hash` are the two ways to do
that, and the only ones.

Example
-------
>>> domain_of("Kim.Doe+ORD-1@Example.COM.")
'example.com'
>>> domain_of("<postmaster@shop.example>")
'shop.example'
>>> domain_of("no address")
''
>>> address_hash(" Kim@Example.com ") == address_hash("kim@example.com")
True
"""

from __future__ import annotations

import hashlib
from typing import Final

#: Hex digits of :func:`address_hash` (128 bits: collisions are not a concern).
HASH_LENGTH: Final = 32


def split_address(address: str) -> tuple[str, str]:
    """``(local part, domain)`` of ``address``; the domain lower-cased, ``("", "")`` for none.

    Angle brackets and surrounding white space are ignored; the last ``@`` separates the two
    (a quoted local part may contain ``@``); a trailing root dot of the domain is dropped.
    """
    value = address.strip().strip("<>").strip()
    local, at, domain = value.rpartition("@")
    if not at:
        return value, ""
    return local, domain.strip().rstrip(".").lower()


def domain_of(address: str | None) -> str:
    """The lower-cased domain of ``address`` (what logs may show); ``""`` when it has none."""
    return split_address(address or "")[1]


def local_part(address: str | None) -> str:
    """The local part of ``address`` as written (``""`` for an empty address)."""
    return split_address(address or "")[0]


def address_hash(address: str) -> str:
    """A stable digest of ``address`` (case and white space ignored) for keys and logs."""
    normalized = address.strip().strip("<>").strip().lower()
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def is_on_domain(address: str | None, mail_domain: str) -> bool:
    """Whether ``address`` belongs to ``mail_domain`` (case-insensitive, root dot ignored)."""
    domain = domain_of(address)
    return bool(domain) and domain == mail_domain.strip().rstrip(".").lower()
