"""Attachments: safe file names and on-demand, sliced decoding of part payloads.

A part's payload in a compat32 tree is the encoded text (``str``). It is decoded a slice at a
time (base64 slices aligned to 4 characters after dropping whitespace; quoted-printable slices
aligned to line ends), so a 40 MB attachment never exists twice in memory.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator
from email._policybase import Compat32  # see parsing/headers.py (no email.policy at init)
from email.message import Message

SLICE_CHARS = 1 << 20  # encoded characters decoded per step
MAX_FILENAME = 150

_NON_B64 = re.compile(r"[^A-Za-z0-9+/=]+")
_NON_B64_BYTES = re.compile(rb"[^A-Za-z0-9+/=]+")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_UNSAFE = re.compile(r'[<>:"|?*\\/]')
_SPACES = re.compile(r"\s+")
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/json": ".json",
    "application/xml": ".xml",
    "application/ms-tnef": ".dat",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/octet-stream": ".bin",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
    "text/calendar": ".ics",
    "text/rfc822-headers": ".txt",
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/feedback-report": ".txt",
}


def safe_filename(name: str | None, index: int, content_type: str) -> str:
    """Return a file name safe to use as a path segment or S3 key part.

    No path components (only the last segment of ``/`` or ``\\`` paths is kept), no control or
    format characters, no reserved characters, no leading dots or spaces, at most
    ``MAX_FILENAME`` characters (the extension is kept), never empty (``part-<index><ext>``).
    """
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _UNSAFE.sub("_", text)
    text = _SPACES.sub(" ", text).strip().lstrip(".").strip()
    text = text.rstrip(". ")
    if len(text) > MAX_FILENAME:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            text = stem[: MAX_FILENAME - len(ext) - 1].rstrip(". ") + "." + ext
        else:
            text = text[:MAX_FILENAME].rstrip(". ")
    if not text or text in {".", ".."}:
        text = f"part-{index}{_EXTENSIONS.get(content_type, '.bin')}"
    return text


def _encoded_text(part: Message) -> str | None:
    # The payload as parsed. ``get_payload()`` would re-decode 8-bit payloads with the declared
    # charset (compat32 behaviour), which loses the original bytes.
    payload = getattr(part, "_payload", None)
    return payload if isinstance(payload, str) else None


def _b64_clean(piece: str) -> bytes:
    """The base64 alphabet characters of ``piece`` as bytes (fast path: only white space)."""
    clean = "".join(piece.split())
    try:
        raw = clean.encode("ascii")
    except UnicodeEncodeError:
        return _NON_B64.sub("", clean).encode("ascii")
    if raw.translate(None, _B64_ALPHABET):
        return _NON_B64_BYTES.sub(b"", raw)
    return raw


def _b64_chunks(text: str, defects: list[str] | None) -> Iterator[bytes]:
    carry = b""
    for start in range(0, len(text), SLICE_CHARS):
        clean = carry + _b64_clean(text[start : start + SLICE_CHARS])
        pad = clean.find(b"=")
        if pad >= 0:
            # Decoding stops at padding (as binascii does); report data that follows it.
            tail = clean[pad:].lstrip(b"=") or _b64_clean(text[start + SLICE_CHARS :])
            if tail.strip(b"=") and defects is not None:
                defects.append("Base64DataAfterPadding")
            yield _b64_final(clean[:pad], defects)
            return
        cut = len(clean) - len(clean) % 4
        if cut:
            yield binascii.a2b_base64(clean[:cut])
        carry = clean[cut:]
    if carry:
        yield _b64_final(carry, defects)


def _b64_final(clean: bytes, defects: list[str] | None) -> bytes:
    rest = len(clean) % 4
    if rest == 1:
        if defects is not None:
            defects.append("InvalidBase64Length")
        clean = clean[:-1]
    elif rest:
        clean += b"=" * (4 - rest)
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error:  # pragma: no cover - cleaned input always decodes
        if defects is not None:
            defects.append("InvalidBase64")
        return b""


def _qp_chunks(text: str) -> Iterator[bytes]:
    start = 0
    while start < len(text):
        end = text.find("\n", start + SLICE_CHARS)
        end = len(text) if end < 0 else end + 1
        yield binascii.a2b_qp(_to_bytes(text[start:end]))
        start = end


def _to_bytes(piece: str) -> bytes:
    try:
        return piece.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # text put in the tree as str (not from bytes)
        return piece.encode("utf-8", "surrogateescape")


def _raw_chunks(text: str) -> Iterator[bytes]:
    for start in range(0, len(text), SLICE_CHARS):
        yield _to_bytes(text[start : start + SLICE_CHARS])


def iter_part_bytes(part: Message, defects: list[str] | None = None) -> Iterator[bytes]:
    """Yield the decoded content of a leaf part in slices (never raises).

    Parameters
    ----------
    part
        A non-multipart part of a compat32 tree.
    defects
        Receives a short description of decoding problems (broken base64, ...).
    """
    text = _encoded_text(part)
    if text is None:
        return
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        yield from _b64_chunks(text, defects)
    elif cte == "quoted-printable":
        yield from _qp_chunks(text)
    elif cte in {"x-uuencode", "uuencode", "uue", "x-uue"}:
        data = part.get_payload(decode=True)
        yield data if isinstance(data, bytes) else b""
    else:
        yield from _raw_chunks(text)


def part_bytes(part: Message, defects: list[str] | None = None) -> bytes:
    """The whole decoded content of a leaf part (for small text parts)."""
    return b"".join(iter_part_bytes(part, defects))


def digest_part(part: Message, defects: list[str] | None = None) -> tuple[int, str]:
    """Return (decoded size, sha256 hex) of a leaf part, decoding it slice by slice."""
    sha = hashlib.sha256()
    size = 0
    for chunk in iter_part_bytes(part, defects):
        sha.update(chunk)
        size += len(chunk)
    return size, sha.hexdigest()


class _HashSink:
    """A write-only file object that hashes and counts what is written to it."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | str) -> int:
        raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
        self.sha.update(raw)
        self.size += len(raw)
        return len(raw)


class _VerbatimHeaders(Compat32):
    """compat32 output without re-folding: header values are written as they were received.

    Re-folding (``email.header.Header.encode``) is most of the cost of serialising a nested
    message; the verbatim text is also closer to the bytes that were forwarded.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        """``Name: value`` plus the line separator, bytes as received."""
        text = f"{name}: {value}{self.linesep}"
        try:
            return text.encode("ascii", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogateescape")


_VERBATIM = _VerbatimHeaders()


def _flatten_message_part(part: Message, sink: _HashSink | io.BytesIO) -> None:
    """Serialise the payload of a ``message/*`` part (what ``Message.as_bytes`` gives)."""
    payload = part.get_payload()
    text = _encoded_text(part)
    if text is not None:
        for chunk in _raw_chunks(text):
            sink.write(chunk)
        return
    if not isinstance(payload, list):
        return
    from email.generator import BytesGenerator  # only message/* parts need it

    for number, sub in enumerate(payload):
        if not isinstance(sub, Message):
            continue
        if number:
            sink.write(b"\n")  # delivery-status blocks are separated by blank lines
        BytesGenerator(sink, mangle_from_=False, policy=_VERBATIM).flatten(sub)


def encoded_message_part(part: Message) -> bool:
    """True for a ``message/*`` part sent with a base64 / quoted-printable transfer encoding.

    RFC 2046 forbids it, but some clients do it; the parser then read the encoded text as a
    header-less message, which has to be serialised back and decoded.
    """
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    return cte in {"base64", "quoted-printable"}


def message_part_bytes(part: Message, defects: list[str] | None = None) -> bytes:
    """The payload of a ``message/*`` part serialised as bytes (transfer encoding undone)."""
    out = io.BytesIO()
    try:
        _flatten_message_part(part, out)
    except Exception:
        if defects is not None:
            defects.append("NestedMessageNotSerialisable")
    data = out.getvalue()
    if encoded_message_part(part):
        holder = Message()
        holder["Content-Transfer-Encoding"] = str(part.get("content-transfer-encoding"))
        holder.set_payload(data.decode("ascii", "surrogateescape"))
        data = b"".join(iter_part_bytes(holder, defects))
    return data


def digest_message_part(part: Message, defects: list[str] | None = None) -> tuple[int, str]:
    """Return (size, sha256 hex) of a ``message/*`` part serialised as bytes."""
    if encoded_message_part(part):
        data = message_part_bytes(part, defects)
        return len(data), hashlib.sha256(data).hexdigest()
    sink = _HashSink()
    try:
        _flatten_message_part(part, sink)
    except Exception:
        if defects is not None:
            defects.append("NestedMessageNotSerialisable")
    return sink.size, sink.sha.hexdigest()
