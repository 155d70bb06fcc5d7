"""The building blocks of the evidence: fast phrase search, phrase families, SMTP stages and
RFC 3463 status meanings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shopmail.domain.feedback import auto_reply, phrases, stages, statuses, text_bounces
from shopmail.domain.feedback.literals import AnyOf, alternatives, required_literal
from shopmail.domain.feedback.model import REASONS, Fault, Stage


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        (r"(?:mail )?box (?:is )?full", "box "),
        (r"\bptr\b", "ptr"),
        (r"(?<!your )account (?:has been )?closed", "account "),
        (r"\b(?:rbl|dnsbl)\b", ""),
        (r"a+b", "b"),
        (r"x{0,3}", ""),
        (r"[", ""),  # not a pattern: always run (and compile fails loudly elsewhere)
    ],
)
def test_required_literal(pattern: str, literal: str) -> None:
    assert required_literal(pattern) == literal


def test_alternatives_split_only_at_the_top_level() -> None:
    assert alternatives(r"a(?:b|c)|[|]d|e\|f|[^]|]g") == ["a(?:b|c)", "[|]d", r"e\|f", "[^]|]g"]


def test_any_of_is_leftmost_first_listed_like_one_alternation() -> None:
    found = AnyOf(r"user unknown", r"unknown", r"blocked").search("550 blocked: user unknown")
    assert found is not None and found.group(0) == "blocked"
    tie = AnyOf(r"user", r"user unknown").search("user unknown")
    assert tie is not None and tie.group(0) == "user"
    assert AnyOf(r"spam").search("no such user") is None


def _every_phrase_set() -> list[AnyOf]:
    sets: list[AnyOf] = [f.pattern for tier in (*phrases.EXPLICIT, *phrases.VAGUE) for f in tier]
    sets += [p for _stage, p in stages._PHRASES]
    sets += [
        auto_reply._CHALLENGE_RE,
        auto_reply._SUBJECT_RE,
        auto_reply._BODY_VACATION_RE,
        text_bounces.SUBJECT_RE,
        text_bounces.BODY_RE,
        text_bounces.WARNING_RE,
        text_bounces.PERMANENT_RE,
    ]
    return sets


def _sample_texts(corpus: Path) -> list[str]:
    files = sorted((corpus / "sisimai-dev").rglob("*.eml"))[::12]
    files += sorted((corpus / "flufl-bounce").rglob("*.txt"))[::12]
    files += sorted((corpus / "perl-bounceparser").rglob("*.msg"))[::12]
    return [p.read_bytes()[:1500].decode("latin-1").lower() for p in files]


def test_fast_search_finds_what_the_joined_expression_finds(corpus_dir: Path) -> None:
    texts = _sample_texts(corpus_dir)
    assert len(texts) > 30
    for phrase_set in _every_phrase_set():
        joined = re.compile("|".join(phrase_set.patterns))
        for text in texts:
            fast, slow = phrase_set.search(text), joined.search(text)
            assert (fast and fast.start()) == (slow and slow.start()), phrase_set.patterns[:2]


def test_families_name_known_reasons_and_faults() -> None:
    for tier in (*phrases.EXPLICIT, *phrases.VAGUE):
        for family in tier:
            assert family.reason in REASONS
            assert family.fault in Fault


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("host mx[192.0.2.7] said: 550 5.1.1 unknown (in reply to RCPT TO command)", Stage.RCPT),
        ("said: 554 5.7.1 rejected (in reply to end of DATA command)", Stage.DATA),
        ("said: 553 5.1.8 sender domain (in reply to MAIL FROM command)", Stage.MAIL),
        ("SMTP error from remote mail server after RCPT TO:<a@example.org>: 550", Stage.RCPT),
        ("SMTP error from remote mail server after MAIL FROM:<b@shop.example>: 550", Stage.MAIL),
        ("SMTP error from remote mail server after initial connection: 554", Stage.CONNECT),
        ("SMTP error from remote mail server after end of data: 550", Stage.DATA),
        ("SMTP error from remote server for RCPT TO command, host: mx reason: 550", Stage.RCPT),
        ("SMTP error from remote server for TEXT command, host: mx reason: 550", Stage.DATA),
        ("192.0.2.5 does not like recipient. Remote host said: 550", Stage.RCPT),
        ("Connected to 192.0.2.5 but sender was rejected.", Stage.MAIL),
        ("mx.example.org refused to talk to me: 554 go away", Stage.CONNECT),
        (">>> DATA\n<<< 554 5.7.1 rejected", Stage.DATA),
        (">>> EHLO relay.shop.example\n<<< 554 5.7.1 go away", Stage.CONNECT),
        ("<<< 550 5.1.1 <a@example.org>... User unknown", Stage.UNKNOWN),  # command not quoted
        ("550 5.1.1 user unknown", Stage.UNKNOWN),
    ],
)
def test_find_stage(text: str, stage: Stage) -> None:
    assert stages.find_stage(text) == stage


@pytest.mark.parametrize(
    ("status", "reason", "fault", "weight"),
    [
        ("5.1.1", "user_unknown", Fault.RECIPIENT, statuses.SPECIFIC),
        ("5.1.2", "host_unknown", Fault.RECIPIENT, statuses.SPECIFIC),
        ("5.1.7", "syntax", Fault.SENDER, statuses.SPECIFIC),
        ("5.1.8", "policy", Fault.SENDER, statuses.SPECIFIC),
        ("5.1.10", "host_unknown", Fault.RECIPIENT, statuses.SPECIFIC),
        ("5.1.0", "other", Fault.UNKNOWN, statuses.GENERIC),
        ("4.2.2", "mailbox_full", Fault.RECIPIENT, statuses.SPECIFIC),
        ("5.4.4", "host_unknown", Fault.RECIPIENT, statuses.SPECIFIC),
        ("4.4.7", "expired", Fault.TRANSPORT, statuses.SPECIFIC),
        ("5.6.3", "content_rejected", Fault.MESSAGE, statuses.SPECIFIC),
        ("5.7.1", "policy", Fault.UNKNOWN, statuses.GENERIC),
        ("5.7.13", "auth_failure", Fault.SENDER, statuses.SPECIFIC),  # RFC 5248: a submitter
        ("5.7.25", "blocked", Fault.SENDER, statuses.SPECIFIC),
        ("5.7.606", "policy", Fault.UNKNOWN, statuses.GENERIC),  # a provider's own detail
        ("5.4.300", "network", Fault.TRANSPORT, statuses.GENERIC),
        ("2.0.0", "other", Fault.UNKNOWN, statuses.GENERIC),
        ("9.9.9", "other", Fault.UNKNOWN, statuses.GENERIC),
        (None, "other", Fault.UNKNOWN, statuses.GENERIC),
    ],
)
def test_status_meaning(status: str | None, reason: str, fault: Fault, weight: str) -> None:
    meaning = statuses.status_meaning(status)
    assert (meaning.reason, meaning.fault, meaning.weight) == (reason, fault, weight)


def test_reply_codes() -> None:
    assert statuses.code_meaning("556").reason == "host_unknown"
    assert statuses.code_meaning("550").weight == statuses.GENERIC
    assert statuses.find_smtp_code("host said: 550-5.1.1 nope") == "550"
    assert statuses.find_smtp_code("port 2500 and 12345") is None
    assert statuses.find_status("error (#5.1.1)") == "5.1.1"
    assert statuses.find_status("version 1.5.1.2") is None
