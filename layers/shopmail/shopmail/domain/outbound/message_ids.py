"""The Message-ID format of shopmail's outbound mail, and how replies are matched back.

Format::

    <sm.{kind}.{aggregate}.{digest}@{mail_domain}>

* ``sm`` marks a shopmail id.
* ``kind``: the event's detail-type, lower-cased (``orderplaced``, ``ordershipped``, ...).
* ``aggregate``: the order (or other aggregate) id. Ids made of ``[A-Za-z0-9_-]`` (1-64
  characters) stand as they are; any other id is written ``=`` + lower-case base32 of its UTF-8
  bytes (unpadded), so the id is always a valid RFC 5322 dot-atom and can be read back.
* ``digest``: the first 16 hex digits of SHA-256 over the idempotency key, so each business
  event gets its own, deterministic id (a retry produces the same Message-ID).

SES replaces the Message-ID header; outbound mail therefore also carries the id in
``References`` (and SES keeps the original visible in event ``mail.headers``), so a customer's
reply quotes it in ``In-Reply-To``/``References``.

Example
-------
>>> mid = make_message_id("OrderPlaced", "ORD-1001", "OrderPlaced:ORD-1001:x", "shop.example")
>>> ref = parse_message_id(mid)
>>> (ref.kind, ref.aggregate_id)
('orderplaced', 'ORD-1001')
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KIND = re.compile(r"[a-z0-9]{1,40}")
_MSGID = re.compile(
    r"<?sm\.(?P<kind>[a-z0-9]{1,40})\.(?P<agg>=[a-z2-7]+|[A-Za-z0-9_-]{1,64})"
    r"\.(?P<digest>[0-9a-f]{16})@(?P<domain>[A-Za-z0-9.-]+)>?"
)


@dataclass(frozen=True, slots=True)
class MessageRef:
    """What a shopmail Message-ID says about the mail it names."""

    kind: str
    aggregate_id: str
    digest: str
    domain: str = ""


def encode_aggregate(aggregate_id: str) -> str:
    """Encode an aggregate id as a dot-atom-safe token (see module docs)."""
    if _PLAIN_ID.fullmatch(aggregate_id):
        return aggregate_id
    raw = base64.b32encode(aggregate_id.encode("utf-8")).decode("ascii").rstrip("=").lower()
    return "=" + raw


def decode_aggregate(token: str) -> str:
    """Invert :func:`encode_aggregate`."""
    if not token.startswith("="):
        return token
    body = token[1:].upper()
    body += "=" * (-len(body) % 8)
    return base64.b32decode(body).decode("utf-8", errors="replace")


def make_message_id(
    kind: str, aggregate_id: str, idempotency_key: str, mail_domain: str, *, key: str = ""
) -> str:
    """Build the deterministic Message-ID of one outbound mail.

    The digest is keyed (HMAC-SHA-256 with ``key``, the stack's ``MESSAGE_ID_KEY``) so that
    nobody outside the stack can compute the id of a mail to a given customer and quote it in
    a forged bounce report; without a key it is a plain SHA-256 (local tools, tests).

    Parameters
    ----------
    kind
        The event's detail-type (``OrderPlaced``); lower-cased, non-alphanumerics removed.
    aggregate_id
        The order or other aggregate id.
    idempotency_key
        The business key of the mail (``type:aggregate[:version]:recipient``).
    mail_domain
        The shop's mail domain (right-hand side of the id).
    key
        The secret of the digest (``""``: unkeyed).
    """
    k = re.sub(r"[^a-z0-9]", "", kind.lower())[:40] or "mail"
    data = idempotency_key.encode("utf-8")
    if key:
        digest = hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest()[:16]
    else:
        digest = hashlib.sha256(data).hexdigest()[:16]
    return f"<sm.{k}.{encode_aggregate(aggregate_id)}.{digest}@{mail_domain}>"


def parse_message_id(value: str, mail_domain: str | None = None) -> MessageRef | None:
    """Read a shopmail Message-ID; ``None`` when ``value`` is not one (or not our domain)."""
    m = _MSGID.search(value or "")
    if not m:
        return None
    domain = m.group("domain").lower()
    if mail_domain and domain != mail_domain.lower():
        return None
    try:
        agg = decode_aggregate(m.group("agg"))
    except (ValueError, UnicodeDecodeError):
        return None
    return MessageRef(
        kind=m.group("kind"), aggregate_id=agg, digest=m.group("digest"), domain=domain
    )


def find_message_refs(values: Iterable[str], mail_domain: str | None = None) -> list[MessageRef]:
    """All shopmail Message-IDs found in ``values`` (In-Reply-To, References, ...), in order."""
    refs: list[MessageRef] = []
    for value in values:
        for m in _MSGID.finditer(value or ""):
            ref = parse_message_id(m.group(0), mail_domain)
            if ref and ref not in refs:
                refs.append(ref)
    return refs
