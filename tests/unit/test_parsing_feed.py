"""The streaming feed builds the same compat32 tree as the standard library's parser."""

from __future__ import annotations

import base64
import re
from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

import pytest
from shopmail.domain.inbound.parsing.feed import ParsedMessage, feed_parse
from shopmail.errors import InvalidMessageError

from tests.unit.test_corpus_parse import corpus_files


def _shape(tree: Message) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for part in tree.walk():
        payload = part._payload  # type: ignore[attr-defined]
        out.append(
            (
                list(part.raw_items()),
                part.get_content_type(),
                payload if isinstance(payload, str) else len(payload or []),
                part.preamble,
                part.epilogue,
                [type(d).__name__ for d in part.defects],
            )
        )
    return out


def test_tree_matches_the_standard_parser_on_the_corpus(corpus_dir: Path) -> None:
    compared = 0
    for path in corpus_files(corpus_dir):
        raw = path.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf") or re.search(rb"(?m)^\S+[ \t]+:", raw[:300000]):
            continue  # repaired header blocks differ on purpose
        try:
            mine, size = feed_parse(raw)
        except InvalidMessageError:
            continue
        # Same message class (it reads folded boundaries unfolded): compares the feeding.
        reference = BytesParser(ParsedMessage, policy=policy.compat32).parsebytes(raw)
        assert size == len(raw)
        assert _shape(mine) == _shape(reference), path
        compared += 1
    assert compared > 800


@pytest.mark.parametrize("ending", [b"\r\n", b"\n"])
@pytest.mark.parametrize("blank_before_boundary", [True, False])
def test_leaf_body_line_break_before_boundary(ending: bytes, blank_before_boundary: bool) -> None:
    body = base64.encodebytes(bytes(range(256)) * 50).replace(b"\n", ending)
    extra = ending if blank_before_boundary else b""
    raw = ending.join(
        [
            b"From: a@example.com",
            b'Content-Type: multipart/mixed; boundary="b"',
            b"",
            b"--b",
            b"Content-Type: application/octet-stream",
            b"Content-Transfer-Encoding: base64",
            b"",
            body + extra + b"--b",
            b"Content-Type: text/plain",
            b"",
            b"last" + ending + b"--b--",
            b"",
        ]
    )
    reference = BytesParser(policy=policy.compat32).parsebytes(raw)
    for chunk_size in (7, 100, 65536, len(raw)):
        chunks = [raw[i : i + chunk_size] for i in range(0, len(raw), chunk_size)]
        mine, _ = feed_parse(chunks)
        assert _shape(mine) == _shape(reference), chunk_size


def test_empty_input_is_invalid() -> None:
    with pytest.raises(InvalidMessageError):
        feed_parse(b"")
    with pytest.raises(InvalidMessageError):
        feed_parse([])


def test_str_input_is_refused() -> None:
    with pytest.raises(InvalidMessageError):
        feed_parse("From: a@example.com\n\nhi")  # type: ignore[arg-type]


def test_byte_order_mark_and_obsolete_field_names_are_repaired() -> None:
    tree, size = feed_parse(b"\xef\xbb\xbfFrom  : a@example.com\nSubject : Hi\n\nbody\n")
    assert tree["from"] == "a@example.com"
    assert tree["subject"] == "Hi"
    assert size == 44  # the input size, before repair


@pytest.mark.parametrize("seed", range(10))
def test_boundary_matcher_matches_what_the_boundary_pattern_matches(seed: int) -> None:
    """The matcher that replaces feedparser's per-boundary pattern reads every line alike."""
    import random
    import re

    from shopmail.domain.inbound.parsing.feed import BoundaryMatcher

    rng = random.Random(seed)
    pieces = ("--", "-", " ", "\t", "\r\n", "\n", "\r", "=_b", "x", "(", ".", "b")
    for _ in range(200):
        separator = "--" + "".join(rng.choice(pieces[5:]) for _ in range(rng.randint(1, 4)))
        pattern = re.compile(
            "(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)"
            r"(?P<linesep>\r\n|\r|\n)?$"
        )
        matcher = BoundaryMatcher(separator)
        for _ in range(20):
            line = rng.choice(("", separator)) + "".join(
                rng.choice(pieces) for _ in range(rng.randint(0, 4))
            )
            want, got = pattern.match(line), matcher.match(line)
            assert (want is None) == (got is None), (separator, line)
            if want is not None and got is not None:
                assert [want.group(g) for g in ("end", "ws", "linesep")] == [
                    got.group(g) for g in ("end", "ws", "linesep")
                ]


def test_the_cached_content_type_follows_every_header_change() -> None:
    from shopmail.domain.inbound.parsing.feed import feed_parse

    tree, _ = feed_parse(b"Content-Type: text/plain\r\n\r\nx\r\n")
    assert tree.get_content_type() == "text/plain"
    tree.replace_header("Content-Type", "text/html")
    assert tree.get_content_type() == "text/html"
    del tree["Content-Type"]
    assert tree.get_content_type() == "text/plain"  # the default type
    tree.set_default_type("message/rfc822")
    assert tree.get_content_type() == "message/rfc822"
    tree["Content-Type"] = "image/png"
    assert tree.get_content_type() == "image/png"
    tree.set_type("application/pdf")
    assert tree.get_content_type() == "application/pdf"


def test_the_parsed_parameters_follow_every_change_of_their_field() -> None:
    tree, _ = feed_parse(
        b'Content-Type: multipart/mixed; boundary="b1"; charset=utf-8\r\n'
        b"Content-Disposition: attachment; filename=a.pdf\r\n\r\n--b1--\r\n"
    )
    reference = Message()
    for name, value in tree.raw_items():
        reference[name] = value
    assert tree.get_params() == reference.get_params()
    assert tree.get_param("charset") == "utf-8"
    assert tree.get_param("filename", header="content-disposition") == "a.pdf"
    tree.get_params().clear()  # the caller's list is a copy
    assert tree.get_param("charset") == "utf-8"
    tree.set_param("charset", "iso-8859-2")
    assert tree.get_param("charset") == "iso-8859-2"
    tree.set_boundary("b2")  # rewrites the header list in place, same length
    assert tree.get_boundary() == "b2"
    tree.replace_header("Content-Disposition", "inline; filename=b.pdf")
    assert tree.get_param("filename", header="content-disposition") == "b.pdf"
    del tree["Content-Type"]
    assert tree.get_param("charset") is None
    assert tree.get_params(failobj=[]) == []


def test_raw_fields_set_by_the_parser_are_indexed() -> None:
    tree, _ = feed_parse(b"Subject: a\r\nX-One: 1\r\n\r\nbody\r\n")
    assert tree["x-one"] == "1"
    tree.set_raw("X-Two", "2")
    assert tree.get("X-TWO") == "2" and "x-two" in tree
    assert isinstance(tree, ParsedMessage)


@pytest.mark.parametrize(
    "raw",
    [
        b"From sender@example.org Mon Jan  1 00:00:00 2024\r\nSubject: a\r\n\r\nbody\r\n",
        b" continued first\r\nSubject: a\r\n\r\nbody\r\n",
        b"Subject: a\r\nFrom misplaced envelope\r\nTo: b@example.org\r\n\r\nbody\r\n",
        b"Subject: a\r\nFrom the body's first line\r\n",
        b"Subject: a\r\n: no name\r\n  continued\r\nTo: b@example.org\r\n\r\nbody\r\n",
        b"Subject:  folded\r\n\tover\r\n  three lines\r\nX-Empty:\r\nX-Tab:\tvalue \r\n\r\nb\r\n",
    ],
)
def test_fields_are_read_as_the_standard_parser_reads_them(raw: bytes) -> None:
    from email._policybase import compat32
    from email.feedparser import BytesFeedParser

    standard = BytesFeedParser(policy=compat32)
    standard.feed(raw)
    want = standard.close()
    got, _ = feed_parse(raw)
    assert got.raw_items() and list(got.raw_items()) == list(want.raw_items())
    assert got.get_unixfrom() == want.get_unixfrom()
    assert [type(d) for d in got.defects] == [type(d) for d in want.defects]
    assert got.get_payload() == want.get_payload()


_FIELD_LINES = (
    "Subject: a",
    "Subject:b ",
    "X-Tab:\tvalue",
    "X-Empty:",
    "To: a@example.org, b@example.org",
    " continued",
    "\tcontinued",
    "  ",
    ": no name",
    "From envelope@example.org Mon Jan  1 00:00:00 2024",
    "From: x@example.org",
    "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000",
)


@pytest.mark.parametrize("seed", range(20))
def test_random_header_blocks_are_read_as_the_standard_parser_reads_them(seed: int) -> None:
    """Folds, envelope lines, nameless fields and mixed line ends, in any order."""
    import random
    from email._policybase import compat32
    from email.feedparser import BytesFeedParser

    rng = random.Random(seed)
    for _ in range(100):
        lines = [rng.choice(_FIELD_LINES) for _ in range(rng.randint(1, 8))]
        ending = rng.choice(["\r\n", "\n", "\r"])
        raw = (ending.join(lines) + ending + ending + "body" + ending).encode()
        standard = BytesFeedParser(policy=compat32)
        standard.feed(raw)
        want = standard.close()
        got, _ = feed_parse(raw)
        assert list(got.raw_items()) == list(want.raw_items()), raw
        assert got.get_unixfrom() == want.get_unixfrom(), raw
        assert [type(d) for d in got.defects] == [type(d) for d in want.defects], raw
        assert got.get_payload() == want.get_payload(), raw


@pytest.mark.parametrize("seed", range(3))
def test_header_end_is_where_the_empty_line_pattern_starts(seed: int) -> None:
    import random

    from shopmail.domain.inbound.parsing.feed import header_end

    pattern = re.compile(rb"\r?\n\r?\n")
    rng = random.Random(seed)
    cases = [b"", b"\n\n", b"\r\n\r\n", b"a\r\n\nb", b"a\n\r\nb", b"\r\r\n\n", b"a: b\r\n"]
    for _ in range(3000):
        cases.append(bytes(rng.choice(b"\r\na:") for _ in range(rng.randrange(12))))
    for data in cases:
        match = pattern.search(data)
        assert header_end(data) == (match.start() if match else -1), data


def _standard_params(value: str) -> object:
    reference = Message()
    reference["Content-Type"] = value
    return reference._get_params_preserve(None, "content-type")  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", range(3))
def test_split_params_reads_fields_as_the_standard_method_does(seed: int) -> None:
    import random

    from shopmail.domain.inbound.parsing.feed import split_params

    rng = random.Random(seed)
    alphabet = 'aB=;" \t<>*\\%/x'
    values = [
        "text/plain",
        'multipart/mixed; boundary="b1"; charset=UTF-8',
        'attachment; filename="a; b.pdf"',
        "text/plain; name=<x>; ; =v; k=",
        "text/plain; title*=us-ascii'en'This%20is",
        'text/plain; a="x\\"y"',
    ]
    values += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(30))) for _ in range(4000)]
    fast = 0
    for value in values:
        got = split_params(value)
        if got is not None:
            fast += 1
            assert got == _standard_params(value), value
    assert fast > 500  # most of the generated values take the fast path


def test_split_params_agrees_on_the_corpus_fields(corpus_dir: Path) -> None:
    from shopmail.domain.inbound.parsing.feed import split_params

    checked = 0
    for path in corpus_files(corpus_dir)[:400]:
        try:
            tree, _ = feed_parse(path.read_bytes())
        except InvalidMessageError:
            continue
        for part in tree.walk():
            for name in ("content-type", "content-disposition"):
                value = part.get(name)  # a Header (8-bit bytes) never takes the fast path
                if isinstance(value, str):
                    got = split_params(value)
                    if got is not None:
                        checked += 1
                        assert got == _standard_params(value), (path.name, value)
    assert checked > 300
