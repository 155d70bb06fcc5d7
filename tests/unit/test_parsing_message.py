"""parse_message: bodies, attachments (decoded on demand), nested messages, flags, errors."""

from __future__ import annotations

import base64
import hashlib
from email.message import EmailMessage, Message

import pytest
from shopmail.domain.inbound.parsing import (
    attachment_bytes,
    html_to_text,
    iter_attachment_chunks,
    parse_message,
)
from shopmail.domain.inbound.parsing import attachments as att
from shopmail.domain.inbound.parsing.structure import MAX_PARTS
from shopmail.domain.message import Envelope, Verdicts
from shopmail.errors import InvalidMessageError


def _mail(**extra: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Jürgen Müller <kunde@example.de>"
    msg["To"] = "Support <support@shop.example>, orders@shop.example"
    msg["Cc"] = "cc@example.de"
    msg["Subject"] = "Rücksendung ORD-1001"
    msg["Date"] = "Tue, 03 Mar 2026 10:15:00 +0100"
    msg["Message-ID"] = "<m1@example.de>"
    msg["In-Reply-To"] = "<sm.order.ORD-1001.abc@shop.example>"
    msg["References"] = "<a@x> <sm.order.ORD-1001.abc@shop.example>"
    for key, value in extra.items():
        msg[key.replace("_", "-")] = value
    return msg


def test_simple_message_fields() -> None:
    msg = _mail()
    msg.set_content("Hallo,\nbitte zurücknehmen.\n")
    envelope = Envelope("ses-1", "kunde@example.de", ("support@shop.example",), verdicts=Verdicts())
    raw = msg.as_bytes()
    parsed = parse_message(raw, envelope)
    assert parsed.subject == "Rücksendung ORD-1001"
    assert parsed.from_[0].name == "Jürgen Müller"
    assert parsed.from_[0].address == "kunde@example.de"
    assert [a.address for a in parsed.to] == ["support@shop.example", "orders@shop.example"]
    assert parsed.cc[0].address == "cc@example.de"
    assert parsed.date is not None and parsed.date.isoformat() == "2026-03-03T10:15:00+01:00"
    assert parsed.message_id == "<m1@example.de>"
    assert parsed.in_reply_to == ("<sm.order.ORD-1001.abc@shop.example>",)
    assert parsed.references == ("<a@x>", "<sm.order.ORD-1001.abc@shop.example>")
    assert parsed.text == "Hallo,\nbitte zurücknehmen.\n"
    assert parsed.html is None
    assert parsed.attachments == ()
    assert parsed.envelope is envelope
    assert parsed.size == len(raw)
    assert parsed.content_type == "text/plain"
    assert parsed.header("subject") == "Rücksendung ORD-1001"
    assert parsed.tree is not None


def test_html_only_message_gets_text() -> None:
    msg = _mail()
    msg.set_content(
        "<html><head><style>p{}</style><title>t</title></head><body><p>Hallo&nbsp;Welt</p>"
        "<ul><li>eins</li><li>zwei</li></ul><script>x()</script>Gr&uuml;&szlig;e<br>J</body>"
        "</html>",
        subtype="html",
    )
    parsed = parse_message(msg.as_bytes())
    assert parsed.html is not None and "<p>" in parsed.html
    assert parsed.text == "Hallo Welt\n\n- eins\n- zwei\nGrüße\nJ"


def test_alternative_prefers_plain_text() -> None:
    msg = _mail()
    msg.set_content("plain body\n")
    msg.add_alternative("<p>html body</p>\n", subtype="html")
    parsed = parse_message(msg.as_bytes())
    assert parsed.text == "plain body\n"
    assert parsed.html == "<p>html body</p>\n"
    assert parsed.content_type == "multipart/alternative"


def test_attachments_are_described_and_decoded_on_demand() -> None:
    data = bytes(range(256)) * 4000  # ~1 MB, crosses decode slices
    msg = _mail()
    msg.set_content("see attachment\n")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename="../../etc/Rück.pdf")
    msg.add_attachment(
        b"\x89PNG...", maintype="image", subtype="png", disposition="inline", cid="<logo@x>"
    )
    parsed = parse_message(msg.as_bytes())
    pdf, png = parsed.attachments
    assert pdf.filename == "Rück.pdf"
    assert pdf.original_filename == "../../etc/Rück.pdf"
    assert pdf.content_type == "application/pdf"
    assert pdf.size == len(data)
    assert pdf.sha256 == hashlib.sha256(data).hexdigest()
    assert pdf.disposition == "attachment"
    assert attachment_bytes(parsed, pdf) == data
    chunks = list(iter_attachment_chunks(parsed, pdf, chunk_size=100_000))
    assert max(len(c) for c in chunks) <= 100_000
    assert b"".join(chunks) == data
    assert png.disposition == "inline"
    assert png.content_id == "<logo@x>"
    assert png.filename == "part-3.png"  # no name given: derived from index and type
    assert attachment_bytes(parsed, png) == b"\x89PNG..."


def test_attachment_of_another_message_is_refused() -> None:
    msg = _mail()
    msg.set_content("x\n")
    msg.add_attachment(b"abc", maintype="application", subtype="zip", filename="a.zip")
    parsed = parse_message(msg.as_bytes())
    other = _mail()
    other.set_content("only text\n")
    with pytest.raises(InvalidMessageError):
        attachment_bytes(parse_message(other.as_bytes()), parsed.attachments[0])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../evil.sh", "evil.sh"),
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
        (".htaccess", "htaccess"),
        ("...", "part-4.bin"),
        ("", "part-4.bin"),
        (None, "part-4.bin"),
        ("a\x00b\x1fc\u202etxt.exe", "abctxt.exe"),
        ('in<va>lid:"name"?.txt', "in_va_lid__name__.txt"),
        ("x" * 300 + ".pdf", "x" * 146 + ".pdf"),
        ("  spaced  name . ", "spaced name"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert att.safe_filename(name, 4, "application/octet-stream") == expected


def _part(cte: str, payload: str) -> Message:
    part = Message()
    part["Content-Transfer-Encoding"] = cte
    part.set_payload(payload)
    return part


def test_base64_slices_match_one_shot_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytes(range(256)) * 97
    encoded = base64.encodebytes(data).decode()
    monkeypatch.setattr(att, "SLICE_CHARS", 101)  # odd slice size: alignment must hold
    assert att.part_bytes(_part("base64", encoded)) == data
    noisy = encoded.replace("A", "A\x07 ")  # junk characters are skipped
    assert att.part_bytes(_part("base64", noisy)) == data


def test_broken_base64_is_recorded_not_raised() -> None:
    defects: list[str] = []
    assert att.part_bytes(_part("base64", "QUJD\nRA"), defects) == b"ABCD"  # missing padding
    assert att.part_bytes(_part("base64", "QUJDRA==QUJD"), defects) == b"ABCD"
    assert "Base64DataAfterPadding" in defects
    defects.clear()
    assert att.part_bytes(_part("base64", "QUJDR"), defects) == b"ABC"
    assert defects == ["InvalidBase64Length"]


def test_quoted_printable_and_8bit_parts() -> None:
    assert att.part_bytes(_part("quoted-printable", "Gr=C3=BC=\r\n=C3=9Fe")) == "Grüße".encode()
    raw = "Grüße".encode().decode("ascii", "surrogateescape")
    assert att.part_bytes(_part("8bit", raw)) == "Grüße".encode()


def test_nested_message_is_parsed_and_depth_capped() -> None:
    inner = _mail()
    inner.replace_header("Subject", "innen")
    inner.set_content("inner body\n")
    current: EmailMessage = inner
    for level in range(6):
        outer = _mail()
        outer.replace_header("Subject", f"level {level}")
        outer.set_content("outer\n")
        outer.add_attachment(current)
        current = outer
    parsed = parse_message(current.as_bytes())
    assert parsed.attachments[0].content_type == "message/rfc822"
    assert parsed.attachments[0].filename == "level 4.eml"
    depth = 0
    node = parsed
    while node.attached_messages:
        node = node.attached_messages[0]
        depth += 1
    assert depth == 3
    assert any("NestedMessageTooDeep" in d for d in node.defects)
    nested_bytes = attachment_bytes(parsed, parsed.attachments[0])
    assert parse_message(nested_bytes).subject == "level 4"


def test_too_many_parts_and_deep_nesting_do_not_crash() -> None:
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n" for n in range(1500))
    raw = (
        'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + parts
        + "--b--\r\n"
    ).encode()
    parsed = parse_message(raw)
    assert any(d.startswith("TooManyParts") for d in parsed.defects)
    assert parsed.text.count("part ") < MAX_PARTS

    head = "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    body = "".join(
        f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(60)
    )
    parsed = parse_message((head + body + "--b60\r\n\r\ndeep\r\n").encode())
    assert any(d.startswith("NestingTooDeep") for d in parsed.defects)


@pytest.mark.parametrize("levels", [100, 5000])
def test_pathological_nesting_is_kept_opaque(levels: int) -> None:
    head = "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    body = "".join(
        f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(levels)
    )
    parsed = parse_message((head + body + f"--b{levels}\r\n\r\ndeep\r\n").encode())
    assert parsed.from_[0].address == "a@example.com"
    nested = "From: a@example.com\r\nContent-Type: message/rfc822\r\n\r\n" * levels
    parsed = parse_message((nested + "x").encode())
    assert parsed.content_type == "message/rfc822"
    assert len(parsed.attachments) == 1


def test_no_header_block_is_a_permanent_error() -> None:
    for raw in (b"", b"just some text\nwithout headers\n", b"\n\nbody only"):
        with pytest.raises(InvalidMessageError) as info:
            parse_message(raw)
        assert "header" in info.value.reason
        assert info.value.permanent


def test_unknown_charset_body_falls_back_with_defect() -> None:
    raw = (
        b"From: a@example.com\r\nContent-Type: text/plain; charset=x-klingon\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.text == "Grüße\r\n"
    assert any("UnknownCharset" in d for d in parsed.defects)


def test_broken_date_gives_none_and_a_defect() -> None:
    parsed = parse_message(b"From: a@example.com\r\nDate: yesterday-ish\r\n\r\nx")
    assert parsed.date is None
    assert "InvalidDateHeader" in parsed.defects


@pytest.mark.parametrize(
    ("headers", "flag"),
    [
        ("Auto-Submitted: auto-replied\r\n", "auto_submitted"),
        ("X-Autoreply: yes\r\n", "auto_submitted"),
        ("List-Id: <news.example.com>\r\n", "is_list"),
        ("List-Unsubscribe: <mailto:u@example.com>\r\n", "is_list"),
        ("Precedence: bulk\r\n", "is_bulk"),
        ("Precedence: junk\r\n", "is_bulk"),
        ("X-Auto-Response-Suppress: OOF, AutoReply\r\n", "suppress_auto_response"),
    ],
)
def test_flags(headers: str, flag: str) -> None:
    parsed = parse_message(f"From: a@example.com\r\n{headers}\r\nbody".encode())
    assert getattr(parsed.flags, flag) is True
    plain = parse_message(b"From: a@example.com\r\nAuto-Submitted: no\r\n\r\nbody")
    assert getattr(plain.flags, flag) is False


@pytest.mark.parametrize(
    ("report_type", "part_type", "flag"),
    [
        ("delivery-status", "message/delivery-status", "is_dsn"),
        ("feedback-report", "message/feedback-report", "is_arf"),
        ("disposition-notification", "message/disposition-notification", "is_mdn"),
    ],
)
def test_reports(report_type: str, part_type: str, flag: str) -> None:
    raw = (
        "From: MAILER-DAEMON@example.com\r\n"
        f"Content-Type: multipart/report; report-type={report_type}; boundary=r\r\n\r\n"
        "--r\r\nContent-Type: text/plain\r\n\r\nundeliverable\r\n"
        f"--r\r\nContent-Type: {part_type}\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: rfc822; x@example.com\r\nAction: failed\r\n"
        "--r--\r\n"
    ).encode()
    parsed = parse_message(raw)
    assert parsed.report_type == report_type
    assert getattr(parsed.flags, flag) is True
    assert parsed.text == "undeliverable"
    # without the report-type parameter the machine-readable part still tells
    parsed = parse_message(raw.replace(f"report-type={report_type}; ".encode(), b""))
    assert parsed.report_type == report_type


def test_html_to_text_limits_and_entities() -> None:
    assert html_to_text("<p>a &amp; b</p><p>c</p>") == "a & b\n\nc"
    assert html_to_text("<pre>x\n  y</pre>") == "x\n  y"
    defects: list[str] = []
    text = html_to_text("<div>" * 100_000 + "deep" + "</div>" * 100_000, defects)
    assert text == "deep"
