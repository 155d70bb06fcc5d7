"""Header fields of the mail shopmail builds from inbound mail (forward, auto-reply).

Every value that comes from the original (subject, display names, addresses, Message-IDs) is
hostile input. The rules:

* :func:`clean_header_text`: control characters (CR, LF, NUL, U+2028, ...) become spaces, so a
  value can never start a new header field;
* :func:`header_address`: an address is used only when the standard library can write it in an
  ASCII header (``policy.SMTP``); a display name it cannot write is dropped (the address kept),
  an address it cannot write gives ``None`` (the caller drops the field or refuses the mail);
* :func:`set_text_header`: a text the header parser of the standard library cannot refold (an
  encoded-word-like token in an unusual charset, ...) is written as RFC 2047 encoded words of
  its UTF-8 form instead: the text survives, the build does not fail.
"""

from __future__ import annotations

import re
from email import errors, policy
from email.header import Header
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from typing import Final

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_SMTP: Final = policy.SMTP
#: What the standard library's header parser and folder raise on input it cannot take.
FOLD_ERRORS: Final = (
    errors.HeaderParseError,
    UnicodeError,
    ValueError,
    IndexError,
    TypeError,
    AttributeError,
)


def clean_header_text(value: str | None, limit: int = 200) -> str:
    """Make ``value`` safe for a header: no control characters or lone surrogates, collapsed
    spaces, capped at ``limit`` characters."""
    text = _CONTROL.sub(" ", value or "")
    text = _SURROGATE.sub("\ufffd", text)
    text = " ".join(text.split())
    return text[:limit]


def _writable(address: HeaderAddress) -> bool:
    name = address.display_name
    if name.isascii() and "=?" not in name and address.addr_spec.isascii():
        return True  # plain ASCII that the constructor accepted folds without encoded words
    try:
        _SMTP.header_factory("To", [address]).fold(policy=_SMTP).encode("ascii")
    except FOLD_ERRORS:
        return False
    return True


def header_address(address: str, name: str = "") -> HeaderAddress | None:
    """An ``email.headerregistry.Address`` for ``address`` that ``policy.SMTP`` can write.

    ``None`` when the address is unusable (empty, control characters, not exactly one ``@``,
    or not writable); a display name that cannot be written is left out.
    """
    address = (address or "").strip()
    if not address or _CONTROL.search(address) or _SURROGATE.search(address):
        return None
    if address.count("@") != 1:
        return None
    display = clean_header_text(name, 100)
    for candidate_name in (display, "") if display else ("",):
        try:
            candidate = HeaderAddress(display_name=candidate_name, addr_spec=address)
        except FOLD_ERRORS:
            continue
        if _writable(candidate):
            return candidate
    return None


def set_text_header(message: EmailMessage, name: str, text: str) -> None:
    """Set the unstructured header ``name`` to ``text`` (cleaned by the caller).

    Plain ASCII text (no ``=?``) is written as the standard library folds it; any other text
    as RFC 2047 encoded words of its UTF-8 form, folded at 76 characters (linear in the
    length, unlike the standard library's refolding of long non-ASCII values).
    """
    if text.isascii() and "=?" not in text:
        try:
            message[name] = text
            _SMTP.fold_binary(name, message[name])
            return
        except FOLD_ERRORS:
            del message[name]
    safe = _SURROGATE.sub("\ufffd", _CONTROL.sub(" ", text))
    encoded = Header(safe, "utf-8", header_name=name).encode(linesep="\r\n")
    message.set_raw(name, encoded)
