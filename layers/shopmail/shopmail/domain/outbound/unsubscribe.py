"""One-click unsubscribe links (RFC 8058): signed, expiring tokens naming address and stream.

Token format (version ``1``; every part URL-safe, so the token needs no escaping)::

    1.<address>.<stream>.<expires>.<mac>

* ``address``: the recipient as the mail was sent to it (7-bit, IDN domain as Punycode),
  base64url without padding;
* ``stream``: the mail stream the unsubscription leaves (:class:`Stream`; ``marketing``);
* ``expires``: epoch seconds after which the link no longer works (``UNSUBSCRIBE_TOKEN_DAYS``
  after the mail was built);
* ``mac``: HMAC-SHA-256 over ``1.<address>.<stream>.<expires>`` with the current key,
  base64url without padding.

Nobody can unsubscribe someone else: changing the address, the stream or the expiry breaks the
MAC, and the key never leaves Secrets Manager. The address is readable by whoever holds the
link (it is only sent to that address).

Keys and rotation (:class:`SigningKeys`): the secret holds ``{"current": ..., "previous": ...}``.
``current`` signs; ``current`` and ``previous`` both verify. To rotate, write the new key as
``current`` and the old one as ``previous``; links in mail already sent keep working; after
``UNSUBSCRIBE_TOKEN_DAYS`` drop ``previous``.

The link is ``<UNSUBSCRIBE_BASE_URL>?t=<token>&l=<locale>`` (``l`` only picks the page's
language and is not signed). A mail client POSTs ``List-Unsubscribe=One-Click`` to it; a person
opening it gets a confirmation page whose button POSTs the same.

Example
-------
>>> keys = SigningKeys(b"k" * 32)
>>> token = sign_token("kim@example.com", Stream.MARKETING, 2_000_000_000, keys)
>>> verify_token(token, keys, now=1_900_000_000).address
'kim@example.com'
>>> verify_token(token.replace("marketing", "transactional"), keys, now=1_900_000_000)
Traceback (most recent call last):
...
shopmail.errors.InvalidTokenError: unsubscribe token: unknown stream
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from shopmail.domain.outbound.contracts import ShopEvent
from shopmail.errors import ConfigurationError, InvalidTokenError

VERSION: Final = "1"
#: Keys shorter than this (in bytes) are refused: a guessable key would let anyone sign links.
MIN_KEY_BYTES: Final = 16
#: The query parameters of a link: the token and the (unsigned) locale of the page.
TOKEN_PARAMETER: Final = "t"  # noqa: S105 - a parameter name, no secret
LOCALE_PARAMETER: Final = "l"
_MAX_TOKEN: Final = 1200


class Stream(StrEnum):
    """Mail streams a customer can leave with one click."""

    MARKETING = "marketing"


class TokenProblem(StrEnum):
    """Why a token is refused (:attr:`shopmail.errors.InvalidTokenError.problem`)."""

    MALFORMED = "malformed"
    FORGED = "forged"
    EXPIRED = "expired"


@dataclass(frozen=True)
class SigningKeys:
    """The HMAC keys of unsubscribe tokens: ``current`` signs, every accepted key verifies.

    Example
    -------
    >>> keys = SigningKeys.from_secret('{"current": "%s", "previous": "%s"}' % ("n" * 32, "o" * 32))
    >>> len(keys.accepted)
    2
    """

    current: bytes
    previous: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for key in (self.current, *self.previous):
            if len(key) < MIN_KEY_BYTES:
                raise ConfigurationError(
                    f"unsubscribe signing key shorter than {MIN_KEY_BYTES} bytes"
                )

    @property
    def accepted(self) -> tuple[bytes, ...]:
        """Every key a token may be signed with (current first)."""
        return (self.current, *self.previous)

    @classmethod
    def from_secret(cls, text: str) -> SigningKeys:
        """Read the secret string: ``{"current": KEY, "previous": KEY | [KEY, ...]}`` or a bare
        key.

        Raises
        ------
        ConfigurationError
            No usable ``current`` key.
        """
        try:
            data = json.loads(text)
        except ValueError:
            data = text
        if isinstance(data, str):
            return cls(data.strip().encode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("current"), str):
            raise ConfigurationError('unsubscribe secret has no "current" key')
        previous = data.get("previous") or []
        if isinstance(previous, str):
            previous = [previous]
        if not isinstance(previous, list) or not all(isinstance(p, str) for p in previous):
            raise ConfigurationError('unsubscribe secret: "previous" is not a key or a list')
        return cls(
            data["current"].encode("utf-8"),
            tuple(p.encode("utf-8") for p in previous if p),
        )


@dataclass(frozen=True, slots=True)
class UnsubscribeToken:
    """What a verified token says."""

    address: str
    stream: Stream
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest()


def sign_token(address: str, stream: Stream, expires_at: int, keys: SigningKeys) -> str:
    """The token for ``address`` leaving ``stream``, valid until ``expires_at`` (epoch s)."""
    signed = f"{VERSION}.{_b64(address.encode('utf-8'))}.{Stream(stream).value}.{int(expires_at)}"
    return f"{signed}.{_b64(_mac(keys.current, signed))}"


def _refuse(reason: str, problem: TokenProblem) -> InvalidTokenError:
    return InvalidTokenError(f"unsubscribe token: {reason}", problem=str(problem))


def verify_token(token: str, keys: SigningKeys, *, now: float) -> UnsubscribeToken:
    """Check ``token`` and return what it says.

    Raises
    ------
    InvalidTokenError
        ``problem`` ``malformed`` (not a token of a known version or stream), ``forged`` (no
        accepted key made its MAC) or ``expired``.
    """
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
        raise _refuse("missing or too long", TokenProblem.MALFORMED)
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != VERSION:
        raise _refuse("not a version 1 token", TokenProblem.MALFORMED)
    _, encoded, stream_name, expires, mac_text = parts
    try:
        stream = Stream(stream_name)
    except ValueError:
        raise _refuse("unknown stream", TokenProblem.MALFORMED) from None
    try:
        address = _unb64(encoded).decode("utf-8")
        mac = _unb64(mac_text)
        expires_at = int(expires)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _refuse("unreadable part", TokenProblem.MALFORMED) from None
    signed = ".".join(parts[:4])
    if not any(hmac.compare_digest(mac, _mac(key, signed)) for key in keys.accepted):
        raise _refuse("signature does not match", TokenProblem.FORGED)
    if "@" not in address:
        raise _refuse("no address", TokenProblem.MALFORMED)
    if expires_at <= now:
        raise _refuse("expired", TokenProblem.EXPIRED)
    return UnsubscribeToken(address, stream, expires_at)


def unsubscribe_link(base_url: str, token: str, locale: str = "") -> str:
    """``base_url`` with the token (and the page's locale) as query parameters."""
    query = {TOKEN_PARAMETER: token}
    if locale:
        query[LOCALE_PARAMETER] = locale
    glue = "&" if "?" in base_url else "?"
    return base_url + glue + urllib.parse.urlencode(query, safe=".-_")


def with_unsubscribe_url(event: ShopEvent, url: str) -> ShopEvent:
    """``event`` with ``url`` as its ``unsubscribeUrl`` (what templates and the MIME builder
    use for the footer link and the ``List-Unsubscribe`` header)."""
    return replace(event, data=MappingProxyType({**event.data, "unsubscribeUrl": url}))
