"""Charset handling: name normalisation and decoding with fallbacks (never raises).

Every ``str`` this module returns is valid Unicode: some codecs (``utf-7``,
``unicode-escape``, ``raw-unicode-escape``...) decode bytes to lone surrogates, which no UTF-8
encoder (JSON for an event, a MIME header, a log line) accepts. :func:`valid_text` replaces them
with U+FFFD and records a defect, in the style of CPython's ``email`` package (defects are
recorded, not raised).
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from typing import Final

#: A lone surrogate (U+D800..U+DFFF): a code point that cannot be encoded.
SURROGATE: Final = re.compile("[\ud800-\udfff]")
REPLACEMENT: Final = "\ufffd"

# Names seen in the wild that Python does not know, or knows under a worse codec.
_ALIASES = {
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-1": "cp1252",  # what senders mean by latin-1 (WHATWG rule)
    "latin1": "cp1252",
    "us-ascii": "ascii",
}
_ASCII_LIKE = {"ascii", "us-ascii", "", "default", "none"}


def valid_text(value: str, defects: list[str] | None = None, where: str = "text") -> str:
    """``value`` with every lone surrogate replaced by U+FFFD (a defect recorded if any).

    Parameters
    ----------
    value
        Decoded text.
    defects
        Receives ``SurrogatesReplaced: <where> (<n>)`` when something was replaced.
    where
        What the text is (a field name), for the defect.
    """
    if value.isascii() or SURROGATE.search(value) is None:  # isascii: a flag, not a scan
        return value
    fixed, count = SURROGATE.subn(REPLACEMENT, value)
    if defects is not None:
        defects.append(f"SurrogatesReplaced: {where} ({count})")
    return fixed


@lru_cache(maxsize=256)
def normalize_charset(name: str | None) -> str | None:
    """Return a codec name Python can use for ``name``, ``""`` for ASCII/absent, or ``None``.

    ``None`` means the charset is unknown (the caller records a defect and falls back).
    """
    if name is None:
        return ""
    cleaned = name.strip().strip("\"'").lower()
    cleaned = _ALIASES.get(cleaned, cleaned)
    if cleaned in _ASCII_LIKE:
        return ""
    try:
        info = codecs.lookup(cleaned)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):  # e.g. "base64", "rot13", "zip"
        return None
    return info.name


def decode_bytes(
    data: bytes, charset: str | None, defects: list[str] | None = None, *, strict_unknown: bool
) -> str:
    """Decode ``data`` declared as ``charset``.

    Known charsets decode with replacement characters. ASCII or absent: UTF-8 when the bytes
    are UTF-8 (as ``policy.default`` reads 8-bit header bytes), else replacement characters
    (headers) or windows-1252 (bodies, ``strict_unknown=True``). Unknown charsets fall back to
    UTF-8, then windows-1252, and record a defect.

    Parameters
    ----------
    data
        The bytes to decode.
    charset
        The declared charset (any spelling) or ``None``.
    defects
        Receives a short description of each fallback taken.
    strict_unknown
        ``True`` for bodies: bytes that are not valid UTF-8 fall back to windows-1252.
    """
    codec = normalize_charset(charset)
    if codec is None:
        if defects is not None:
            defects.append(f"UnknownCharset: {str(charset)[:40]!r}")
        codec = ""
    if codec:
        try:
            return valid_text(data.decode(codec, "replace"), defects, f"charset {codec}")
        except (LookupError, ValueError, TypeError):  # pragma: no cover - broken codec module
            if defects is not None:
                defects.append(f"CharsetDecodeFailed: {codec}")
    if data.isascii():
        return data.decode("ascii")
    if not strict_unknown:
        return data.decode("utf-8", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if defects is not None:
            defects.append("UndeclaredEightBitText: decoded as windows-1252")
        return data.decode("cp1252", "replace")
