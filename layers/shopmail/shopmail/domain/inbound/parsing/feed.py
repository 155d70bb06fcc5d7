"""Streaming feed of raw bytes into a ``compat32`` tree, 64 KiB at a time.

``BytesParser.parsebytes`` turns the whole message into one ``str`` inside a ``StringIO``
(about 6x the message size at peak); feeding ``BytesFeedParser`` bounded slices keeps the peak
near the size of the tree itself.
"""

from __future__ import annotations

import re
import threading
import types
from collections.abc import Iterable, Iterator
from email import errors
from email import feedparser as _feedparser
from email._policybase import compat32  # see parsing/headers.py (no email.policy at init)
from email.feedparser import BytesFeedParser
from email.message import Message
from email.utils import quote, unquote
from typing import Any

from shopmail.errors import InvalidMessageError

CHUNK_SIZE = 64 * 1024
HEAD_LIMIT = 256 * 1024  # bytes searched for the end of the header block to repair it

_BOM = b"\xef\xbb\xbf"
# Obsolete syntax (RFC 5322 4.5): white space between a field name and its colon.
_OBS_NAME = re.compile(rb"(?m)^([\x21-\x39\x3b-\x7e]+)[ \t]+:")


_MISSING: Any = object()

MAX_FEED_DEPTH = 64  # nesting levels parsed; deeper containers are kept as one opaque part


class NestingTooDeepDefect(errors.MessageDefect):
    """A multipart or message/* part nested deeper than ``MAX_FEED_DEPTH`` kept unparsed."""


class ParsedMessage(Message):
    """A compat32 message whose boundary is read unfolded (as ``policy.default`` reads it).

    A container nested deeper than ``MAX_FEED_DEPTH`` is marked ``opaque``: it reports
    ``application/octet-stream`` so that the parser keeps its body as one leaf instead of
    recursing (deep recursion would end in ``RecursionError``).
    """

    opaque = False
    #: ``(header count, default type, content type)`` of the last :meth:`get_content_type`.
    _type_cache: tuple[int, str, str] | None = None

    def get_content_type(self) -> str:
        """The content type, ``application/octet-stream`` for an opaque (too deep) part.

        The parser and the builder ask a part for it dozens of times; it is computed once and
        kept until a header or the default type changes (each ``Message`` method that changes
        them is wrapped by :func:`_forgetting_type` below).
        """
        if self.opaque:
            return "application/octet-stream"
        cached = self._type_cache
        count = len(self._headers)  # type: ignore[attr-defined]
        default = self._default_type  # type: ignore[attr-defined]
        if cached is not None and cached[0] == count and cached[1] == default:
            return cached[2]
        value = super().get_content_type()
        self._type_cache = (count, default, value)
        return value

    def get_content_maintype(self) -> str:
        """The main type of :meth:`get_content_type` (asked for several times per part)."""
        return self.get_content_type().partition("/")[0]

    #: ``(header count, {lower-case name: position of its first field})`` for :meth:`get`.
    _index_cache: tuple[int, dict[str, int]] | None = None

    def _index(self) -> dict[str, int]:
        headers = self._headers  # type: ignore[attr-defined]
        cached = self._index_cache
        if cached is not None and cached[0] == len(headers):
            return cached[1]
        index: dict[str, int] = {}
        for position, (name, _value) in enumerate(headers):
            index.setdefault(name.lower(), position)
        self._index_cache = (len(headers), index)
        return index

    def get(self, name: str, failobj: Any = None) -> Any:
        """The first field ``name`` as :meth:`email.message.Message.get` returns it.

        ``Message.get`` lower-cases every field name on every call, and the parser, the
        builder and the flags ask for dozens of fields per part: the first position of each
        name is indexed once and kept until a header changes (as the content type is).
        """
        headers = self._headers  # type: ignore[attr-defined]
        cached = self._index_cache
        index = cached[1] if cached is not None and cached[0] == len(headers) else self._index()
        position = index.get(name.lower())
        if position is None:
            return failobj
        field, value = headers[position]
        if value.__class__ is str and value.isascii() and self.policy is compat32:
            return value  # compat32's header_fetch_parse: only 8-bit bytes make a Header
        return self.policy.header_fetch_parse(field, value)

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index()

    #: ``{lower-case name: (field value, parameters)}`` of :meth:`_get_params_preserve`.
    _params_cache: dict[str, tuple[str, list[Any]]] | None = None

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        """``Message._get_params_preserve``, parsed once per field value.

        ``get_param`` parses the whole field on every call (the charset, the boundary, the
        file name and the report type are each asked for more than once per part); the result
        is kept with the value it was parsed from, so any change of the field parses again.
        """
        value = self.get(header, _MISSING)
        if value is _MISSING:
            return failobj
        if not isinstance(value, str):  # a Header (8-bit bytes in compat32): not kept
            return super()._get_params_preserve(failobj, header)  # type: ignore[misc]
        key = header.lower()
        cache = self._params_cache
        if cache is None:
            cache = self._params_cache = {}
        hit = cache.get(key)
        if hit is None or hit[0] != value:
            params = split_params(value)
            if params is None:
                params = super()._get_params_preserve(failobj, header)  # type: ignore[misc]
            hit = (value, params)
            cache[key] = hit
        return list(hit[1])

    def get_boundary(self, failobj: object = None) -> object:  # type: ignore[override]
        """Return the boundary parameter with folding line breaks removed."""
        boundary = super().get_boundary(failobj)
        if isinstance(boundary, str) and ("\n" in boundary or "\r" in boundary):
            return "".join(boundary.splitlines())
        return boundary


def first_raw_value(part: Message, name: str) -> Any:
    """The first field ``name`` (lower case) of ``part`` as parsed (``raw_items``), or ``None``.

    A parsed part answers from its field index (see :meth:`ParsedMessage.get`); any other
    ``Message`` is read field by field.
    """
    if isinstance(part, ParsedMessage):
        position = part._index().get(name)
        return None if position is None else part._headers[position][1]  # type: ignore[attr-defined]
    for key, value in part.raw_items():
        if key.lower() == name:
            return value
    return None


def split_params(value: str) -> list[tuple[str, str]] | None:
    """``Message._get_params_preserve`` of a field without RFC 2231 or escapes, else ``None``.

    ``email.message._parseparam`` splits at each ``;`` outside quotes, and
    ``email.utils.decode_params`` then unquotes and requotes every value after the first.
    When no value holds a backslash, a ``*`` (RFC 2231 sections and charsets) or a ``;``
    inside quotes (every piece of a plain split holds an even number of quotes), the same
    result comes from ``str.split``; anything else returns ``None`` for the standard method.
    """
    if "\\" in value or "*" in value:
        return None
    params: list[tuple[str, str]] = []
    for piece in value.split(";"):
        if piece.count('"') % 2:
            return None
        if "=" in piece:
            name, _, text = piece.partition("=")
            name, text = name.strip().lower().strip(), text.strip()
        else:
            name, text = piece.strip(), ""
        params.append((name, text) if not params else (name, f'"{quote(unquote(text))}"'))
    return params


def _forgetting_type(name: str) -> Any:
    """``Message.<name>``, forgetting the cached content type and field index first."""
    base = getattr(Message, name)

    def method(self: ParsedMessage, *args: Any, **kwargs: Any) -> Any:
        self._type_cache = None
        self._index_cache = None
        return base(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = (
        f":meth:`email.message.Message.{name}` (forgets the cached content type and field index)."
    )
    return method


# Every Message method that changes the header list or the default type (the parser itself
# appends the fields it reads and forgets both caches once, see _read_fields).
for _name in (
    "__setitem__",
    "__delitem__",
    "set_raw",
    "add_header",
    "replace_header",
    "set_default_type",
):
    setattr(ParsedMessage, _name, _forgetting_type(_name))

# Undocumented but stable (3.6 .. 3.13) internals of email.feedparser.
BufferedSubFile: type = _feedparser.BufferedSubFile  # type: ignore[attr-defined]
NeedMoreData: object = _feedparser.NeedMoreData  # type: ignore[attr-defined]

_EOL = re.compile(r"(\r\n|\r|\n)\Z")
#: How a line starts that an end-of-part matcher of the parser may match: the parser pushes a
#: multipart boundary (``--`` and the boundary) and, between delivery-status blocks, a blank
#: line. Any other line is taken from the buffer as ``readline`` would give it, without asking
#: the matchers; an empty string in the buffer is an end the parser pushed back, not a line.
_MAY_END_PART = ("--", "\r", "\n")


class _NoStrip:
    """Stands in for ``FeedParser._last`` after a leaf body whose final newline is removed."""

    _payload = None

    @staticmethod
    def get_content_maintype() -> str:
        return "application"


class _LeafBodyInput(BufferedSubFile):
    """Line buffer that hands a leaf part's whole body to the parser as one string.

    ``FeedParser`` collects a leaf body as a list of lines and joins it: for a base64
    attachment the list alone costs ~1.7x the body (a ``str`` object per 76-character line),
    the join another 1x, and removing the line break before the next boundary (RFC 2046)
    copies it once more. Here the body grows as one string (in-place appends, one per fed
    slice), the parser's join of a one-element list is free, and the line break before the
    boundary is left out of the body as it is built (the parser is told not to strip it).
    Only active between the end of a leaf part's headers and the end of its body.
    """

    def __init__(self, parser: _StreamingParser) -> None:
        super().__init__()
        self.leaf_body = False
        self.strip_final_newline = False
        self._parser = parser
        self._held = ""
        self._tail = ""

    def start_leaf(self, strip_final_newline: bool) -> None:
        self.leaf_body = True
        self.strip_final_newline = strip_final_newline
        self._held = ""
        self._tail = ""

    def __next__(self) -> object:
        if not self.leaf_body:  # BufferedSubFile.__next__, inlined (called once per line)
            lines = self._lines
            if lines:
                first = lines[0]
                if first and not first.startswith(_MAY_END_PART):  # as readline would give it
                    return lines.popleft()
            line = self.readline()
            if line == "":
                raise StopIteration
            return line
        body, self._held = self._held, ""
        tail, self._tail = self._tail, ""
        batch: list[str] = []
        lines = self._lines
        while True:
            # A line that ends no part is taken from the buffer without asking the parser's
            # end-of-part matchers (a line at a time, in order, as ``readline`` would).
            while lines:
                first = lines[0]
                if not first or first.startswith(_MAY_END_PART):
                    break
                if tail:
                    batch.append(tail)
                tail = lines.popleft()
            if len(batch) >= 1024:
                body += "".join(batch)
                batch = []
            line = self.readline()
            if line is NeedMoreData:
                if batch:
                    body += "".join(batch)
                self._held, self._tail = body, tail  # kept until more data arrives
                return NeedMoreData
            if line == "":
                self.leaf_body = False
                if batch:
                    body += "".join(batch)
                if not body and not tail:
                    raise StopIteration
                if self.strip_final_newline:
                    match = _EOL.search(tail)
                    if match:
                        tail = tail[: match.start()]
                    self._parser._last = _NoStrip()  # type: ignore[attr-defined]
                body += tail
                return body
            if tail:
                batch.append(tail)
            tail = line


#: What follows a boundary delimiter on its line (RFC 2046 5.1.1), as Python 3.13 matches it.
_BOUNDARY_END = re.compile(r"(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")
#: How feedparser before 3.13 writes its boundary pattern around ``re.escape(separator)``.
_BOUNDARY_HEAD, _BOUNDARY_TAIL = "(?P<sep>", r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"


class BoundaryMatcher:
    """Matches a multipart delimiter line without compiling a pattern per boundary.

    ``FeedParser`` before Python 3.13 compiles ``--boundary`` into a new regular expression for
    every multipart part (one compile per message, more than the rest of the header work);
    3.13 tests ``line.startswith(separator)`` and matches the rest with one shared pattern.
    This is that matcher, for the parser's ``re.compile`` of the boundary pattern.
    """

    __slots__ = ("separator",)

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def match(self, line: str) -> re.Match[str] | None:
        """The delimiter match of ``line`` (groups ``end``, ``ws``, ``linesep``) or ``None``."""
        if not line.startswith(self.separator):
            return None
        return _BOUNDARY_END.match(line, len(self.separator))


class _BoundaryCompiler(threading.local):
    """The ``re`` that the copied ``_parsegen`` sees: boundary patterns become matchers."""

    separator = ""

    def escape(self, text: str) -> str:
        self.separator = text
        return re.escape(text)

    def compile(self, pattern: str) -> object:
        separator, self.separator = self.separator, ""
        if pattern == _BOUNDARY_HEAD + re.escape(separator) + _BOUNDARY_TAIL:
            return BoundaryMatcher(separator)
        return re.compile(pattern)


def _parsegen_without_boundary_compiles() -> Any:
    """``FeedParser._parsegen`` reading ``re`` from :class:`_BoundaryCompiler` (before 3.13)."""
    stdlib = _feedparser.FeedParser._parsegen  # type: ignore[attr-defined]
    if hasattr(_feedparser, "boundaryendRE"):  # 3.13+: no compile per boundary already
        return stdlib
    scope = dict(vars(_feedparser))
    scope["re"] = _BoundaryCompiler()
    return types.FunctionType(
        stdlib.__code__, scope, stdlib.__name__, stdlib.__defaults__, stdlib.__closure__
    )


def _read_fields(parser: Any, current: ParsedMessage, lines: list[str]) -> None:
    """``FeedParser._parse_headers`` (3.6 .. 3.13) for compat32, one list append per field.

    The same fields, unix-from handling and defects as the standard method; the fields are
    appended to the part's list directly instead of through ``policy.header_source_parse``
    and ``Message.set_raw`` (two method calls per field, a tenth of the parse), in one pass
    over the lines that also builds the part's field index, and the part's cached content
    type is forgotten once.
    A block holding a line the standard method turns into a defect or an envelope header is
    read again by :func:`_read_fields_with_defects`.
    """
    fields = current._headers  # type: ignore[attr-defined]
    start = len(fields)
    index: dict[str, int] = {}  # ParsedMessage._index of the fields read here
    name: str | None = None
    value = ""
    for line in lines:
        if line[0] in " \t":  # a continuation line
            if name is None:
                break
            value += line
            continue
        if name is not None:  # compat32.header_source_parse of the field that ends here
            index.setdefault(name.lower(), len(fields))
            fields.append((name, value.rstrip("\r\n")))
        if line[0] == ":" or line.startswith("From "):
            name = None
            break
        name, value = line.split(":", 1)
        value = value.lstrip(" \t")
    else:
        if name is not None:
            index.setdefault(name.lower(), len(fields))
            fields.append((name, value.rstrip("\r\n")))
        current._type_cache = None
        current._index_cache = (len(fields), index) if not start else None
        return
    del fields[start:]
    _read_fields_with_defects(parser, current, lines)


def _read_fields_with_defects(parser: Any, current: ParsedMessage, lines: list[str]) -> None:
    """:func:`_read_fields` for a block with a unix-from line, a line starting with a colon
    or a continuation line first: the unix-from handling and defects of the standard method."""
    pending: list[list[str]] = []  # the lines of each field
    field: list[str] | None = None
    try:
        for lineno, line in enumerate(lines):
            if line[0] in " \t":  # a continuation line
                if field is None:
                    defect = errors.FirstHeaderLineIsContinuationDefect(line)
                    parser.policy.handle_defect(current, defect)
                    continue
                field.append(line)
                continue
            field = None
            if line.startswith("From "):  # an envelope header (unix-from)
                if lineno == 0:
                    match = _EOL.search(line)
                    current.set_unixfrom(line[: match.start()] if match else line)
                    continue
                if lineno == len(lines) - 1:  # probably the body's first line: push it back
                    parser._input.unreadline(line)
                    return
                current.defects.append(errors.MisplacedEnvelopeHeaderDefect(line))
                continue
            if line.find(":") == 0:  # the parser only hands over lines with a colon
                current.defects.append(errors.InvalidHeaderDefect("Missing header name."))
                continue
            field = [line]
            pending.append(field)
    finally:
        fields = current._headers  # type: ignore[attr-defined]
        for field_lines in pending:  # compat32.header_source_parse
            name, value = field_lines[0].split(":", 1)
            value = value.lstrip(" \t")
            if len(field_lines) > 1:
                value += "".join(field_lines[1:])
            fields.append((name, value.rstrip("\r\n")))
        current._type_cache = None
        current._index_cache = None


class _StreamingParser(BytesFeedParser):
    """``BytesFeedParser`` whose leaf bodies are collected by :class:`_LeafBodyInput`."""

    _parsegen = _parsegen_without_boundary_compiles()

    def __init__(self) -> None:
        super().__init__(_factory=ParsedMessage, policy=compat32)
        self._leaf_input = _LeafBodyInput(self)
        self._input = self._leaf_input  # the parse generator has not started yet

    def _parse_headers(self, lines: list[str]) -> None:
        current = self._cur  # type: ignore[attr-defined]
        _read_fields(self, current, lines)
        stack = self._msgstack  # type: ignore[attr-defined]
        if current.get_content_maintype() in ("multipart", "message"):
            if len(stack) <= MAX_FEED_DEPTH:
                return
            current.opaque = True
            current.defects.append(NestingTooDeepDefect())
        in_multipart = len(stack) >= 2 and stack[-2].get_content_maintype() == "multipart"
        self._leaf_input.start_leaf(strip_final_newline=in_multipart)


def _slices(source: bytes | bytearray | memoryview | Iterable[bytes]) -> Iterable[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), CHUNK_SIZE):
            yield bytes(view[start : start + CHUNK_SIZE])
        return
    for chunk in source:
        if len(chunk) <= CHUNK_SIZE:
            yield bytes(chunk)
            continue
        view = memoryview(chunk)
        for start in range(0, len(view), CHUNK_SIZE):
            yield bytes(view[start : start + CHUNK_SIZE])


def header_end(data: bytes) -> int:
    """Where the first empty line (``\r?\n\r?\n``) starts in ``data``, or -1.

    The same position as ``re.search(rb"\r?\n\r?\n", data).start()``, found with two
    substring searches: the first line feed that an empty line follows, one back over a
    carriage return before it.
    """
    ends = [found for found in (data.find(b"\n\n"), data.find(b"\n\r\n")) if found >= 0]
    if not ends:
        return -1
    first = min(ends)
    return first - 1 if first and data[first - 1 : first] == b"\r" else first


def _repair_head(head: bytes) -> bytes:
    """Strip a byte-order mark and fix obsolete ``Name  :`` field names in the header block."""
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    end = header_end(head)
    block_end = end if end >= 0 else len(head)
    block = head[:block_end]
    # The pattern needs white space right before a colon: most blocks have none to look for.
    if (b" :" in block or b"\t:" in block) and _OBS_NAME.search(block):
        block = _OBS_NAME.sub(rb"\1:", block)
        head = block + head[block_end:]
    return head


def _repaired(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield ``chunks`` with the first ``HEAD_LIMIT`` bytes (at most) repaired."""
    head: list[bytes] = []
    held = 0
    iterator = iter(chunks)
    for chunk in iterator:
        head.append(chunk)
        held += len(chunk)
        if held >= HEAD_LIMIT or header_end(chunk) >= 0:
            break
    if head:
        yield _repair_head(b"".join(head))
    yield from iterator


def feed_parse(source: bytes | bytearray | memoryview | Iterable[bytes]) -> tuple[Message, int]:
    """Parse ``source`` (bytes or an iterable of byte chunks) into a compat32 tree.

    Returns
    -------
    tuple[Message, int]
        The tree and the number of bytes fed.

    Raises
    ------
    InvalidMessageError
        When the input is empty or the MIME structure is too deeply nested to parse.
    """
    if isinstance(source, str):
        raise InvalidMessageError("raw message must be bytes, not str")
    parser = _StreamingParser()
    counted = [0]

    def counting(chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            counted[0] += len(chunk)
            yield chunk

    try:
        for chunk in _repaired(counting(_slices(source))):
            parser.feed(chunk)
        tree = parser.close()
    except RecursionError as exc:
        raise InvalidMessageError(
            "MIME structure nested too deeply to parse", size=counted[0]
        ) from exc
    size = counted[0]
    if size == 0:
        raise InvalidMessageError("empty message: no header block")
    return tree, size
