"""Parsing helpers the report readers use: walking into nested messages, decoded headers of a
part, header blocks, and the readable text of a bare tree."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.inbound.parsing.bodies import readable_text
from shopmail.domain.inbound.parsing.headers import header_text, parse_header_block, raw_header
from shopmail.domain.inbound.parsing.structure import walk

WRAPPED = b"""\
From: gateway@example.org
Subject: Fwd: report
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="O"

--O
Content-Type: text/plain

See attached.
--O
Content-Type: message/rfc822

From: MAILER-DAEMON@mx.example.org
Subject: Undelivered
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="I"

--I
Content-Type: text/plain

Inner text.
--I
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; a@example.org
Action: failed
Status: 5.1.1
--I--
--O--
"""


def tree(raw: bytes):  # type: ignore[no-untyped-def]
    return BytesParser(policy=compat32).parsebytes(raw)


def test_walk_enters_nested_messages_only_when_asked() -> None:
    top = [ctype for _i, _p, ctype in walk(tree(WRAPPED))]
    deep = [ctype for _i, _p, ctype in walk(tree(WRAPPED), into_messages=True)]
    assert "message/delivery-status" not in top
    assert top[-1] == "message/rfc822"
    assert "message/delivery-status" in deep
    assert deep.index("message/rfc822") < deep.index("multipart/report")


def test_readable_text_skips_nested_messages_and_matches_parse_message() -> None:
    assert readable_text(tree(WRAPPED), []).strip() == "See attached."
    assert readable_text(tree(WRAPPED), []) == parse_message(WRAPPED).text


def test_readable_text_agrees_with_the_parser_on_the_corpus(corpus_dir: Path) -> None:
    files = sorted((corpus_dir / "sisimai-dev").rglob("*.eml"))[::5]
    assert len(files) > 40
    for path in files:
        raw = path.read_bytes()
        parsed = parse_message(raw)
        assert parsed.tree is not None
        assert readable_text(parsed.tree, []) == parsed.text[: len(readable_text(parsed.tree, []))]


def test_readable_text_falls_back_to_html() -> None:
    raw = b"Content-Type: text/html; charset=utf-8\n\n<p>User <b>unknown</b></p>"
    assert readable_text(tree(raw), []) == "User unknown"


def test_header_text_decodes_and_collapses() -> None:
    message = tree(
        b"Subject: =?utf-8?q?Unzustellbar=3A_Gr=C3=BC=C3=9Fe?=\n"
        b"X-Eight: Gr\xc3\xbc\xc3\x9fe\n  folded\n\nbody"
    )
    assert header_text(message, "subject") == "Unzustellbar: Grüße"
    assert header_text(message, "X-Eight") == "Grüße folded"
    assert header_text(message, "Missing") == ""
    assert raw_header(message, "missing") is None


def test_parse_header_block_records_defects() -> None:
    defects: list[str] = []
    fields = parse_header_block(
        "Message-ID: <a@example.org>\nTo: =?utf-8?q?K=C3=BCnde?= <k@example.org>\n"
        "not a header line\nFrom: x@example.org\n",
        defects,
    )
    assert fields[0] == ("Message-ID", "<a@example.org>")
    assert fields[1] == ("To", "Künde <k@example.org>")
    assert defects  # the malformed line is reported, not raised
