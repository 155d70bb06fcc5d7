"""Corpus walk: every file of ../shared/corpus parses (or is refused with a clear reason), and
the decoded values agree with imap-tools' expected values and with ``policy.default``.

One process, no per-file start-up: the whole walk takes a few seconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from datetime import datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from shopmail.domain.inbound.parsing import attachment_bytes, parse_message
from shopmail.domain.message import InboundMessage
from shopmail.errors import InvalidMessageError

# Files that are data next to the messages (expected results, licences, decoded parts).
_SKIP_SUFFIXES = {
    ".json",
    ".xml",
    ".out",
    ".list",
    ".gitattributes",
    ".png",
    ".jpg",
    ".doc",
    ".rtf",
    ".html",
    ".htm",
    ".tnef",
    ".dat",
    ".bin",
    ".mp3",
    ".pdf",
}
_SKIP_NAMES = {
    "SOURCE.txt",
    "LICENSE",
    "NOTICE",
    "README",
    "README.md",
    "README.txt",
    "MIT-LICENSE",
    "ARTISTIC-LICENSE.txt",
}
_HEADER_LINE = re.compile(rb"^(?:\xef\xbb\xbf)?(From |[\x21-\x39\x3b-\x7e]+[ \t]*:)")
_SURROGATES = re.compile("[\udc80-\udcff]")


def corpus_files(root: Path) -> list[Path]:
    """Every file of the corpus that may be a message (data files and licences excluded)."""
    files = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name in _SKIP_NAMES:
            continue
        if path.suffix.lower() in _SKIP_SUFFIXES or "expected" in path.parts:
            continue
        if "_decoded" in path.name or "/tnef/" in path.as_posix():  # extracted parts
            continue
        files.append(path)
    return files


def _starts_with_header(raw: bytes) -> bool:
    return bool(raw.strip()) and _HEADER_LINE.match(raw) is not None


def test_every_corpus_file_parses_or_is_refused(corpus_dir: Path) -> None:
    files = corpus_files(corpus_dir)
    assert len(files) > 800
    outcome: Counter[str] = Counter()
    for path in files:
        raw = path.read_bytes()
        try:
            message = parse_message(raw)
        except InvalidMessageError as exc:
            outcome["refused"] += 1
            assert exc.reason and "header" in exc.reason, path
            # Only inputs that do not start with a header field may be refused.
            assert not _starts_with_header(raw) or not raw.partition(b"\n")[2].strip(), path
            continue
        outcome["parsed"] += 1
        assert message.size == len(raw)
        assert message.headers, path
        for attachment in message.attachments:
            assert attachment.filename and "/" not in attachment.filename, path
            assert not attachment.filename.startswith("."), path
        for text in (message.subject, message.text, *(v for _, v in message.headers)):
            assert _SURROGATES.search(text) is None, path
    print(f"\ncorpus walk: {len(files)} files, {dict(outcome)}")
    assert outcome["parsed"] > 800


def test_streaming_input_gives_the_same_result(corpus_dir: Path) -> None:
    for path in corpus_files(corpus_dir)[::25]:
        raw = path.read_bytes()
        try:
            whole = parse_message(raw)
        except InvalidMessageError:
            continue
        chunked = parse_message(raw[i : i + 1000] for i in range(0, len(raw), 1000))
        assert chunked == whole, path


# --- imap-tools expected values ----------------------------------------------------------------


def _expected_date(value: str) -> datetime | None:
    if value.startswith("1900-01-01"):
        return None  # imap-tools' marker for an unreadable date
    return datetime.fromisoformat(value)


_META_CHARSET = re.compile(r"charset=[\"']?[\w-]+", re.IGNORECASE)


def _norm(text: str) -> str:
    """The expected values were made from CRLF checkouts; the corpus copies may use LF."""
    return text.replace("\r\n", "\n")


def _norm_html(html: str) -> str:
    """imap-tools rewrites the HTML's meta charset to utf-8 after decoding."""
    return _META_CHARSET.sub("charset=utf-8", _norm(html))


def _unfolded(data: bytes) -> bytes:
    return hashlib.sha256(b" ".join(data.split())).digest()


def _imap_attachments(message: InboundMessage) -> list[InboundMessage]:
    """The messages whose attachments imap-tools lists (it walks into nested messages)."""
    out = [message]
    for nested in message.attached_messages:
        out.extend(_imap_attachments(nested))
    return out


def compare_with_imap_tools(corpus_dir: Path) -> dict[str, tuple[int, int]]:
    """Compare each imap-tools message with its expected values; field -> (matches, total)."""
    base = corpus_dir / "imap-tools"
    results: dict[str, list[int]] = {}

    def check(field: str, ok: bool) -> None:
        entry = results.setdefault(field, [0, 0])
        entry[0] += int(ok)
        entry[1] += 1

    for expected_file in sorted((base / "expected").rglob("*.json")):
        rel = expected_file.relative_to(base / "expected").with_suffix(".eml")
        source = base / rel
        if not source.is_file():
            continue
        expected = json.loads(expected_file.read_text(encoding="utf-8"))["expected"]
        message = parse_message(source.read_bytes())
        check("subject", message.subject == expected["subject"])
        sender = message.from_[0].address if message.from_ else ""
        check("from", sender == expected["from_"])
        check("to", [a.address for a in message.to] == expected["to"])
        check("cc", [a.address for a in message.cc] == expected["cc"])
        check("date", message.date == _expected_date(expected["date"]))
        # imap-tools lists only parts with a file name, a Content-ID or an attachment
        # disposition; shopmail lists every non-body part: each of theirs must be among ours.
        ours = [(m, a) for m in _imap_attachments(message) for a in m.attachments]
        got = Counter(a.sha256 for _, a in ours)
        want = Counter(a["payload"]["sha256"] for a in expected["attachments"])
        check("attachments_sha256", not want - got)
        # Nested messages are serialised with their header lines as received; imap-tools
        # re-folds them at 78 columns. Same content modulo folding white space:
        got_unfolded = Counter(_unfolded(attachment_bytes(m, a)) for m, a in ours)
        want_unfolded = Counter(
            _unfolded(base64.b64decode(a["payload"]["$bytes_base64"]))
            for a in expected["attachments"]
        )
        check("attachments_modulo_folding", not want_unfolded - got_unfolded)
        if not message.attached_messages:  # imap-tools' bodies also join nested messages'
            check("html", _norm_html(message.html or "") == _norm_html(expected["html"]))
            if expected["text"]:  # imap-tools does not turn HTML-only mail into text
                check("text", _norm(message.text) == _norm(expected["text"]))
    return {k: (v[0], v[1]) for k, v in results.items()}


def test_agreement_with_imap_tools_expected(corpus_dir: Path) -> None:
    results = compare_with_imap_tools(corpus_dir)
    print("\nimap-tools agreement:", {k: f"{a}/{b}" for k, (a, b) in results.items()})
    for field, (matches, total) in results.items():
        assert total > 50, field
        assert matches / total >= 0.9, (field, matches, total)
    matches, total = results["attachments_modulo_folding"]
    assert matches / total >= 0.98


# --- policy.default agreement ------------------------------------------------------------------


def _clean(text: str) -> str:
    return _SURROGATES.sub("\ufffd", text)


def compare_with_policy_default(corpus_dir: Path) -> dict[str, tuple[int, int]]:
    """Decoded subject, From/To addresses, dates and attachment names vs ``policy.default``."""
    results: dict[str, list[int]] = {}

    def check(field: str, ok: bool) -> None:
        entry = results.setdefault(field, [0, 0])
        entry[0] += int(ok)
        entry[1] += 1

    for path in corpus_files(corpus_dir):
        raw = path.read_bytes()
        try:
            mine = parse_message(raw)
        except InvalidMessageError:
            continue
        try:
            ref = BytesParser(policy=policy.default).parsebytes(raw)
            subject = ref["subject"]
            check("subject", mine.subject == (_clean(str(subject)) if subject is not None else ""))
            for name, got in (("from", mine.from_), ("to", mine.to)):
                header = ref[name]
                want = [] if header is None else [_clean(a.addr_spec) for a in header.addresses]
                check(f"{name}_address", [a.address for a in got] == [w for w in want if w != "<>"])
            date = ref["date"]
            check("date", mine.date == (date.datetime if date is not None else None))
            names = sorted(
                _clean(p.get_filename())
                for p in ref.walk()
                if p.get_content_maintype() != "multipart" and p.get_filename()
            )
            mine_names = sorted(
                a.original_filename or ""
                for m in _imap_attachments(mine)
                for a in m.attachments
                if a.original_filename
            )
            check("attachment_names", mine_names == names)
        except Exception:
            check("policy_default_failed", False)
    return {k: (v[0], v[1]) for k, v in results.items()}


def test_agreement_with_policy_default(corpus_dir: Path) -> None:
    results = compare_with_policy_default(corpus_dir)
    print("\npolicy.default agreement:", {k: f"{a}/{b}" for k, (a, b) in results.items()})
    for field in ("subject", "from_address", "to_address", "date", "attachment_names"):
        matches, total = results[field]
        assert matches / total >= 0.95, (field, matches, total)


@pytest.mark.parametrize("name", ["attachment_emails/attachment_pdf.eml", "attachment_7bit.eml"])
def test_attachment_bytes_match_expected(corpus_dir: Path, name: str) -> None:
    base = corpus_dir / "imap-tools"
    message = parse_message((base / "tests/messages" / name).read_bytes())
    expected_file = base / "expected/tests/messages" / Path(name).with_suffix(".json")
    expected = json.loads(expected_file.read_text(encoding="utf-8"))["expected"]
    by_content = {
        _unfolded(base64.b64decode(a["payload"]["$bytes_base64"])): a
        for a in expected["attachments"]
    }
    assert message.attachments
    for attachment in message.attachments:
        data = attachment_bytes(message, attachment)
        assert len(data) == attachment.size
        assert hashlib.sha256(data).hexdigest() == attachment.sha256
        assert by_content[_unfolded(data)]["filename"] == attachment.filename
