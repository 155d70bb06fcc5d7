"""Reply stripping on German/English replies and the reply-parser corpora."""

from __future__ import annotations

from pathlib import Path

import pytest
from shopmail.domain.inbound.reply_text import strip_reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Danke, passt.\n\nAm 02.03.2026 um 09:00 schrieb Shop <orders@shop.example>:\n"
            "> Ihre Bestellung\n> ist unterwegs.\n",
            "Danke, passt.",
        ),
        (
            "Danke!\r\n\r\nAm Mo., 2. März 2026 um 09:00 Uhr schrieb Shop\r\n"
            "<orders@shop.example>:\r\n> alt\r\n",
            "Danke!",
        ),
        (
            "Thanks.\n\nOn Mon, Mar 2, 2026 at 9:00 AM Shop <orders@shop.example>\nwrote:\n\n"
            "> old\n",
            "Thanks.",
        ),
        (
            "Bitte stornieren.\n\n-----Ursprüngliche Nachricht-----\nVon: Shop\n"
            "Gesendet: Montag, 2. März 2026 09:00\nAn: Kunde\nBetreff: Bestellung\n\nalt\n",
            "Bitte stornieren.",
        ),
        (
            "Please cancel.\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\n"
            "To: me\nSubject: Order\n\nold text\n",
            "Please cancel.",
        ),
        (
            "Neue Adresse.\n\n________________________________\nVon: Shop <s@shop.example>\n"
            "Gesendet: Montag\nAn: Kunde\nBetreff: Bestellung\n\nalter Text\n",
            "Neue Adresse.",
        ),
        (
            "Reply.\n\n*From:* Shop\n*Sent:* Monday\n*To:* me\n*Subject:* x\n\nold\n",
            "Reply.",
        ),
        ("Text\n\n-- \nMax Mustermann\nMusterstr. 1\n", "Text"),
        ("Text\n\nVon meinem iPhone gesendet\n", "Text"),
        ("Text\n\nSent from my iPhone\n", "Text"),
        ("Sent from my desk, it is easier.\n", "Sent from my desk, it is easier."),
        ("a -- b is not a signature\n", "a -- b is not a signature"),
        (
            "On Tue, X wrote:\n> question one\n\nanswer one\n\n> question two\n\nanswer two\n",
            "answer one\n\nanswer two",
        ),
        ("On the phone we said: fine.\nBye\n", "On the phone we said: fine.\nBye"),
        ("", ""),
    ],
)
def test_strip_reply(text: str, expected: str) -> None:
    assert strip_reply(text) == expected


# What the github/email_reply_parser tests assert as the visible reply, per file.
_CORPUS_EXPECTED: dict[str, tuple[str, str | None]] = {
    "email_1_2.txt": ("Hi,", 'delete them all individually."'),
    "email_1_3.txt": ("Oh thanks.\n\nHaving the function would be great.", "-Abhishek Kona"),
    "email_1_4.txt": ("Awesome! I haven't had another problem with it.", None),
    "email_1_6.txt": (
        "I get proper rendering as well.\n\nSent from a magnificent torch of pixels",
        None,
    ),
    "email_1_7.txt": (":+1:", None),
    "email_1_8.txt": ("I will reply under this one\n\nand under this.", None),
    "email_2_1.txt": ("Outlook with a reply", None),
    "email_2_2.txt": ("Outlook with a reply directly above line", None),
    "email_2_3.txt": ("", None),  # differs between the two corpora: its first line
    "email_BlackBerry.txt": ("Here is another email", None),
    "email_iPhone.txt": ("Here is another email", None),
    "email_multi_word_sent_from_my_mobile_device.txt": ("Here is another email", None),
    "email_sent_from_my_not_signature.txt": (
        "Here is another email\n\nSent from my desk, is much easier then my mobile phone.",
        None,
    ),
    "correct_sig.txt": ("this is an email with a correct -- signature.", None),
    "email_sig_delimiter_in_middle_of_line.txt": ("Hi there!", "kthxbai"),
    "email_one_is_not_on.txt": ("Thank, this is really helpful.", "when I run..."),
    "greedy_on.txt": ("On your remote host you can run:", "the tunnel is not working."),
    "email_partial_quote_header.txt": ("On your remote host", "the tunnel is not working."),
    "email_gmail.txt": ("This is a test for inbox replying to a github message.", None),
    "email_headers_no_delimiter.txt": ("And another reply!", None),
    "pathological.txt": ("I think you're onto something.", "get back to a computer."),
}


@pytest.mark.parametrize("folder", ["github-email-reply-parser", "zapier-email-reply-parser"])
def test_reply_parser_corpora(corpus_dir: Path, folder: str) -> None:
    emails = corpus_dir / folder / "test" / "emails"
    checked = 0
    for name, (start, end) in _CORPUS_EXPECTED.items():
        path = emails / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        reply = strip_reply(text)
        start = start or text.splitlines()[0]
        assert reply.startswith(start), name
        if end is None:
            assert reply == start, name
        else:
            assert reply.endswith(end), name
        assert ">" not in reply.splitlines()[0] if reply else True
        checked += 1
    assert checked >= 18


def test_every_corpus_reply_strips_quotes(corpus_dir: Path) -> None:
    for folder in ("github-email-reply-parser", "zapier-email-reply-parser"):
        for path in sorted((corpus_dir / folder / "test" / "emails").glob("*.txt")):
            reply = strip_reply(path.read_text(encoding="utf-8", errors="replace"))
            assert not any(line.startswith(">") for line in reply.splitlines()), path
            assert "wrote:" not in reply, path
