# ruff: noqa: E501 - the provider samples keep their real (long) lines
"""Focused cases of the DSN/ARF/auto-reply classifier (shopmail.domain.feedback)."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

import pytest
from shopmail.domain.feedback import (
    REASONS,
    Classification,
    classify_message,
    classify_reason,
    classify_tree,
    hard_for,
)
from shopmail.domain.message import InboundMessage

from shopmail_local.cli.main import main as cli_main


def classify(raw: str | bytes) -> Classification:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    return classify_tree(BytesParser(policy=compat32).parsebytes(data))


def dsn(action: str, status: str, diagnostic: str, extra_headers: str = "") -> str:
    return f"""\
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: bounces@shop.example
Subject: Undelivered Mail Returned to Sender
{extra_headers}MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

This is the mail system at host mx.example.net.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Mon, 2 Mar 2026 10:00:00 +0100

Original-Recipient: rfc822; Customer@Example.org
Final-Recipient: rfc822; customer@example.org
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.org
Diagnostic-Code: smtp; {diagnostic}

--B1
Content-Type: message/rfc822

From: shop@shop.example
To: customer@example.org
Subject: Your order 1001
Message-ID: <sm.order.1001.abc@shop.example>

Thanks for your order.
--B1--
"""


class TestDsn:
    def test_permanent_user_unknown_is_hard(self) -> None:
        result = classify(dsn("failed", "5.1.1", "550 5.1.1 <customer@example.org>: User unknown"))
        assert result.kind == "bounce"
        assert result.detector == "dsn"
        assert result.reporting_mta == "mx.example.net"
        assert result.original_message_id == "<sm.order.1001.abc@shop.example>"
        (rcpt,) = result.recipients
        assert rcpt.address == "Customer@Example.org"  # Original-Recipient preferred
        assert (rcpt.action, rcpt.status, rcpt.smtp_code) == ("failed", "5.1.1", "550")
        assert rcpt.reason == "user_unknown"
        assert rcpt.hard is True
        assert rcpt.diagnostic is not None and "User unknown" in rcpt.diagnostic
        assert (result.reason, result.hard) == ("user_unknown", True)

    def test_delayed_is_delay_and_soft(self) -> None:
        result = classify(dsn("delayed", "4.4.7", "421 4.4.7 connection timed out"))
        assert result.kind == "delay"
        (rcpt,) = result.recipients
        assert rcpt.hard is False
        assert rcpt.action == "delayed"

    def test_delivered_is_delivery_report(self) -> None:
        result = classify(dsn("delivered", "2.0.0", "250 2.0.0 OK"))
        assert result.kind == "delivery_report"
        assert result.recipients[0].action == "delivered"

    @pytest.mark.parametrize(
        ("status", "diagnostic", "reason"),
        [
            ("5.7.1", "554 5.7.1 Message rejected as spam by content filter", "spam_detected"),
            ("5.7.1", "550 5.7.1 Client host blocked using zen.spamhaus.org", "blocked"),
            ("5.7.26", "550 5.7.26 Unauthenticated email is not accepted (DMARC)", "auth_failure"),
            ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", "message_too_large"),
            ("5.7.1", "554 5.7.1 Virus found: Eicar-Test-Signature", "virus_detected"),
        ],
    )
    def test_permanent_refusals_are_not_hard(
        self, status: str, diagnostic: str, reason: str
    ) -> None:
        result = classify(dsn("failed", status, diagnostic))
        assert result.kind == "bounce"
        assert result.recipients[0].reason == reason
        assert result.recipients[0].hard is False

    def test_mailbox_full_is_soft(self) -> None:
        result = classify(dsn("failed", "5.2.2", "552 5.2.2 Mailbox full"))
        assert result.recipients[0].reason == "mailbox_full"
        assert result.recipients[0].hard is False

    def test_auto_submitted_bounce_is_still_a_bounce(self) -> None:
        raw = dsn("failed", "5.1.1", "550 no such user", "Auto-Submitted: auto-replied\n")
        assert classify(raw).kind == "bounce"

    def test_status_groups_without_blank_separation_survive(self) -> None:
        raw = dsn("failure", "553 Exceeded maximum inbound message size", "")
        result = classify(raw)
        assert result.kind == "bounce"
        assert result.recipients[0].action == "failed"


ARF = """\
From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>
To: abuse@shop.example
Subject: FW: Your order
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="A1"

--A1
Content-Type: text/plain

This is an email abuse report.

--A1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/1.0
Version: 1
Original-Mail-From: <bounce@shop.example>
Original-Rcpt-To: <customer@example.org>
Arrival-Date: Thu, 8 Mar 2026 14:00:00 +0000
Source-IP: 192.0.2.1
Reported-Domain: shop.example

--A1
Content-Type: message/rfc822

From: shop@shop.example
To: customer@example.org
Subject: Newsletter
Message-ID: <sm.news.42.x@shop.example>

Hello
--A1--
"""


def test_arf_complaint() -> None:
    result = classify(ARF)
    assert result.kind == "complaint"
    assert result.feedback_type == "abuse"
    assert result.user_agent == "Yahoo!-Mail-Feedback/1.0"
    assert result.source_ip == "192.0.2.1"
    assert result.reported_domain == "shop.example"
    assert result.original_mail_from == "bounce@shop.example"
    assert result.original_rcpt_to == ("customer@example.org",)
    assert result.addresses == ("customer@example.org",)
    assert result.original_message_id == "<sm.news.42.x@shop.example>"


def test_arf_redacted_recipient_falls_back_to_original_to() -> None:
    result = classify(ARF.replace("Original-Rcpt-To: <customer@example.org>\n", ""))
    assert result.kind == "complaint"
    assert result.addresses == ("customer@example.org",)


QMAIL = """\
From: MAILER-DAEMON@mail.example.org
To: bounces@shop.example
Subject: failure notice

Hi. This is the qmail-send program at mail.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody.here@example.org>:
192.0.2.5 does not like recipient.
Remote host said: 550 5.1.1 <nobody.here@example.org>... User unknown
Giving up on 192.0.2.5.

--- Below this line is a copy of the message.

Return-Path: <bounces@shop.example>
Message-ID: <sm.order.7.q@shop.example>
From: shop@shop.example
To: nobody.here@example.org
"""

EXIM = """\
From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: bounces@shop.example
Subject: Mail delivery failed: returning message to sender
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  full.box@example.com
    SMTP error from remote mail server after RCPT TO:<full.box@example.com>:
    host mx.example.com [192.0.2.9]: 552 5.2.2 Mailbox quota exceeded

------ This is a copy of the message, including all the headers. ------
From: shop@shop.example
"""

GERMAN_EXCHANGE = """\
From: Microsoft Outlook <postmaster@firma.example.de>
To: bounces@shop.example
Subject: Unzustellbar: Ihre Bestellung 1001
Content-Type: text/plain; charset=utf-8

Die Nachricht konnte nicht zugestellt werden.

Die Nachricht konnte nicht an folgende Empf\u00e4nger zugestellt werden:

max.mustermann@firma.example.de
Benutzer unbekannt. Die E-Mail-Adresse existiert nicht.
"""

GERMAN_FULL = """\
From: Mail Delivery System <MAILER-DAEMON@t-online.example>
To: bounces@shop.example
Subject: Nachricht konnte nicht zugestellt werden
Content-Type: text/plain; charset=utf-8

Ihre Nachricht konnte nicht zugestellt werden.

erika@t-online.example
Postfach voll - Empf\u00e4nger kann keine Nachrichten mehr empfangen.
"""

WARNING = """\
From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.net>
To: bounces@shop.example
Subject: Warning: could not send message for past 4 hours

    **********************************************
    **      THIS IS A WARNING MESSAGE ONLY      **
    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **
    **********************************************

The original message was received at Mon, 2 Mar 2026 10:00:00 +0100

   ----- Transcript of session follows -----
<slow.host@example.net>... Deferred: Connection timed out with mx.example.net.
Warning: message still undelivered after 4 hours
Will keep trying until message is 5 days old
"""


class TestTextBounces:
    def test_qmail(self) -> None:
        result = classify(QMAIL)
        assert result.kind == "bounce"
        assert result.detector == "qmail"
        assert result.addresses == ("nobody.here@example.org",)
        rcpt = result.recipients[0]
        assert (rcpt.status, rcpt.smtp_code, rcpt.reason, rcpt.hard) == (
            "5.1.1",
            "550",
            "user_unknown",
            True,
        )
        assert result.original_message_id == "<sm.order.7.q@shop.example>"

    def test_exim_mailbox_full(self) -> None:
        result = classify(EXIM)
        assert result.kind == "bounce"
        assert result.detector == "exim"
        assert result.addresses == ("full.box@example.com",)
        assert result.recipients[0].reason == "mailbox_full"
        assert result.recipients[0].hard is False

    def test_german_user_unknown(self) -> None:
        result = classify(GERMAN_EXCHANGE)
        assert result.kind == "bounce"
        assert result.addresses == ("max.mustermann@firma.example.de",)
        assert result.recipients[0].reason == "user_unknown"
        assert result.recipients[0].hard is True

    def test_german_mailbox_full(self) -> None:
        result = classify(GERMAN_FULL)
        assert result.kind == "bounce"
        assert result.addresses == ("erika@t-online.example",)
        assert result.recipients[0].reason == "mailbox_full"
        assert result.recipients[0].hard is False

    def test_warning_is_delay(self) -> None:
        result = classify(WARNING)
        assert result.kind == "delay"
        assert result.addresses == ("slow.host@example.net",)
        assert result.recipients[0].action == "delayed"
        assert result.recipients[0].hard is False


class TestAutoReplies:
    @pytest.mark.parametrize(
        ("subject", "headers"),
        [
            ("Abwesenheitsnotiz: Ihre Bestellung", ""),
            ("Out of Office: Your order", ""),
            ("Automatische Antwort: Ihre Bestellung", ""),
            ("AUTO: Jane is out of the office (returning 05/01)", ""),
            ("Re: Your order", "Auto-Submitted: auto-replied\n"),
            ("Re: Your order", "X-Autoreply: yes\n"),
        ],
    )
    def test_vacation(self, subject: str, headers: str) -> None:
        raw = (
            f"From: Jane <jane@example.org>\nTo: shop@shop.example\nSubject: {subject}\n"
            f"{headers}\nI am out of the office until Monday.\n"
        )
        result = classify(raw)
        assert result.kind == "auto_reply"
        assert result.auto_reply_type == "vacation"

    def test_challenge_response(self) -> None:
        raw = (
            "From: noreply@boxbe.com\nTo: shop@shop.example\nSubject: Re: Your order\n\n"
            "Your message has been waitlisted. Please add yourself to my Guest List so your\n"
            "messages will go to my Inbox. Click the link below.\n"
        )
        result = classify(raw)
        assert result.kind == "auto_reply"
        assert result.auto_reply_type == "challenge"

    def test_customer_message_is_none(self) -> None:
        raw = (
            "From: Jane <jane@example.org>\nTo: shop@shop.example\nSubject: Where is my parcel?\n\n"
            "Hello, my order 1001 has not arrived yet. Can you check? Jane\n"
        )
        assert classify(raw).kind == "none"

    def test_newsletter_with_holiday_is_none(self) -> None:
        raw = "From: news@shop.example\nSubject: 40% off holiday patterns\n\nBuy now.\n"
        assert classify(raw).kind == "none"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n"
        b"Content-Type: message/delivery-status\n\n\n\n--x--\n",
        b"Content-Type: message/delivery-status\n\nFinal-Recipient: ;;;\nAction:\nStatus: 9.9\n",
        b"Content-Type: multipart/report; report-type=feedback-report; boundary=y\n\n--y\n"
        b"Content-Type: message/feedback-report\n\nFeedback-Type\n--y--\n",
        b"From: MAILER-DAEMON\nSubject: Undeliverable\n\n" + b"<a@b.c>: " * 20000,
    ],
)
def test_never_raises(raw: bytes) -> None:
    result = classify(raw)
    assert result.kind in {"bounce", "delay", "complaint", "auto_reply", "delivery_report", "none"}


@pytest.mark.parametrize(
    ("status", "code", "text", "permanent", "reason", "hard"),
    [
        ("5.1.1", "550", "", True, "user_unknown", True),
        ("5.1.2", None, "", True, "host_unknown", True),
        ("5.1.10", "556", "null MX", True, "host_unknown", True),
        ("5.2.1", "550", "mailbox disabled", True, "mailbox_disabled", True),
        ("5.1.6", "551", "user has moved", True, "user_unknown", True),
        ("4.2.2", "452", "mailbox full", False, "mailbox_full", False),
        ("5.7.1", "550", "rejected: listed at zen.spamhaus.org", True, "blocked", False),
        ("5.7.1", "550", "relaying denied", True, "relay_denied", False),
        ("4.7.0", "421", "too many connections, try again later", False, "rate_limited", False),
        ("4.4.7", None, "delivery time expired", False, "expired", False),
        (None, "550", "Benutzer unbekannt", True, "user_unknown", True),
        (
            "5.4.1",
            "550",
            "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)",
            True,
            "user_unknown",
            True,
        ),
        (None, None, "something odd happened", True, "other", None),
    ],
)
def test_reason_and_hard(
    status: str | None,
    code: str | None,
    text: str,
    permanent: bool,
    reason: str,
    hard: bool | None,
) -> None:
    got = classify_reason(status, code, text)
    assert got == reason
    assert got in REASONS
    assert hard_for(got, permanent, status) is hard


def test_classify_message_wrapper_uses_tree() -> None:
    tree = BytesParser(policy=compat32).parsebytes(QMAIL.encode())
    message = InboundMessage(subject="failure notice", tree=tree)
    assert classify_message(message).addresses == ("nobody.here@example.org",)


def test_classify_message_without_tree_uses_text() -> None:
    message = InboundMessage(
        subject="Out of Office",
        headers=(("Subject", "Out of Office"), ("From", "jane@example.org")),
        text="I am out of the office.",
    )
    assert classify_message(message).kind == "auto_reply"


def test_cli_prints_one_json_line_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.eml").write_text(QMAIL, encoding="utf-8")
    (tmp_path / "b.eml").write_bytes(("\ufeff" + ARF).encode("utf-8"))
    missing = tmp_path / "missing.eml"
    rc = cli_main(["classify", "--stdlib-parser", str(tmp_path), str(missing)])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 1  # one file could not be read
    assert [Path(r["file"]).name for r in rows] == ["a.eml", "b.eml", "missing.eml"]
    assert rows[0]["kind"] == "bounce"
    assert set(rows[0]) >= {
        "file",
        "kind",
        "recipients",
        "feedback_type",
        "reporting_mta",
        "original_message_id",
    }
    assert rows[0]["recipients"][0] == {
        "address": "nobody.here@example.org",
        "action": "failed",
        "status": "5.1.1",
        "smtp_code": "550",
        "hard": True,
        "reason": "user_unknown",
        "diagnostic": rows[0]["recipients"][0]["diagnostic"],
        "stage": "rcpt",  # qmail: "192.0.2.5 does not like recipient."
        "fault": "recipient",
    }
    assert rows[0]["defects"] == []
    assert rows[1]["kind"] == "complaint"
    assert rows[1]["feedback_type"] == "abuse"
    assert "error" in rows[2]


PROVIDER_SAMPLES: dict[str, str] = {
    "gmail": """\
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: shop@shop.example
Subject: Delivery Status Notification (Failure)
Content-Type: text/plain; charset=UTF-8

** Address not found **

Your message wasn't delivered to nobody.x@gmail.com because the address couldn't be found, or is unable to receive mail.

Learn more here: https://support.google.com/mail/?p=NoSuchUser

The response was:

550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser a1si123.456 - gsmtp
""",
    "o365": """\
From: Microsoft Outlook <postmaster@contoso.onmicrosoft.com>
To: shop@shop.example
Subject: Undeliverable: Your order 1001
Content-Type: text/plain; charset=utf-8

Your message to john.doe@contoso.com couldn't be delivered.
john.doe wasn't found at contoso.com.

Original Message Details
Created Date: 3/2/2026 10:00:00 AM
Sender Address: shop@shop.example
Recipient Address: john.doe@contoso.com
Subject: Your order 1001

Error Details
Error: 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient john.doe@contoso.com not found by SMTP address lookup
Message rejected by: AM0PR01MB1234.eurprd01.prod.exchangelabs.com
""",
    "yahoo": """\
From: MAILER-DAEMON@yahoo.com
To: shop@shop.example
Subject: Failure Notice

Sorry, we were unable to deliver your message to the following address.

<gone.user@yahoo.com>:
554: delivery error: dd This user doesn't have a yahoo.com account (gone.user@yahoo.com) [0] - mta1234.mail.ne1.yahoo.com

--- Below this line is a copy of the message.
""",
    "tonline": """\
From: Mail Delivery System <MAILER-DAEMON@mailout01.t-online.de>
To: shop@shop.example
Subject: Unzustellbar: Ihre Bestellung
Content-Type: text/plain; charset=utf-8

|------------------------- Failed addresses follow: ---------------------|
 <kunde@t-online.de> ... unknown user / Empfaenger unbekannt
|------------------------- Message text follows: ------------------------|
Received: from x
""",
    "gmx": """\
From: Mail Delivery System <mailer-daemon@gmx.net>
To: shop@shop.example
Subject: Mail delivery failed: returning message to sender
Content-Type: text/plain; charset=utf-8

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of
its recipients. This is a permanent error. The following address(es)
failed:

kunde@gmx.de:
SMTP error from remote server for RCPT TO command, host: mx01.emig.gmx.net (212.227.17.5) reason: 550 Requested action not taken: mailbox unavailable

--- The header of the original message is following. ---
""",
    "german_de": """\
From: Mail Delivery System <MAILER-DAEMON@mail.example.de>
To: shop@shop.example
Subject: Unzustellbar: Bestellbestätigung
Content-Type: text/plain; charset=utf-8

Dies ist eine automatisch erstellte Nachricht.

Die Nachricht konnte nicht zugestellt werden an folgende Empfänger:

  anna.schmidt@example.de
    Das Postfach des Empfängers ist voll. Bitte versuchen Sie es später erneut.
""",
    "german_delay": """\
From: Mail Delivery System <MAILER-DAEMON@mail.example.de>
To: shop@shop.example
Subject: Warnung: Zustellung verzögert
Content-Type: text/plain; charset=utf-8

Dies ist nur eine Warnung. Ihre Nachricht an

  max@example.de

konnte noch nicht zugestellt werden. Die Zustellung wird weiterhin versucht.
""",
    "ses": """\
From: MAILER-DAEMON@amazonses.com
To: shop@shop.example
Subject: Delivery Status Notification (Failure)

An error occurred while trying to deliver the mail to the following recipients:
ghost@example.com
""",
    "sendmail": """\
From: Mail Delivery Subsystem <MAILER-DAEMON@host.example.com>
To: shop@shop.example
Subject: Returned mail: see transcript for details

The original message was received at Mon, 2 Mar 2026 10:00:00 +0100
from localhost [127.0.0.1]

   ----- The following addresses had permanent fatal errors -----
<jdoe@example.com>
    (reason: 550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org)

   ----- Transcript of session follows -----
... while talking to mx.example.com.:
>>> MAIL From:<shop@shop.example> SIZE=1234
<<< 250 2.1.0 <shop@shop.example>... Sender ok
>>> RCPT To:<jdoe@example.com>
<<< 550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org
550 5.1.1 <jdoe@example.com>... User unknown
""",
    "lotus": """\
From: Postmaster@corp.example.com
To: shop@shop.example
Subject: DELIVERY FAILURE: User john.smith (john.smith@corp.example.com) not listed in Domino Directory

Your message

  Subject: Your order

was not delivered to:

  john.smith@corp.example.com

because:

  User john.smith (john.smith@corp.example.com) not listed in Domino Directory
""",
}


@pytest.mark.parametrize(
    ("name", "kind", "address", "status", "smtp_code", "hard", "reason"),
    [
        ("gmail", "bounce", "nobody.x@gmail.com", "5.1.1", "550", True, "user_unknown"),
        ("o365", "bounce", "john.doe@contoso.com", "5.1.10", "550", True, "user_unknown"),
        ("yahoo", "bounce", "gone.user@yahoo.com", None, None, True, "user_unknown"),
        ("tonline", "bounce", "kunde@t-online.de", None, None, True, "user_unknown"),
        ("gmx", "bounce", "kunde@gmx.de", None, "550", True, "user_unknown"),
        ("german_de", "bounce", "anna.schmidt@example.de", None, None, False, "mailbox_full"),
        ("german_delay", "delay", "max@example.de", None, None, False, "other"),
        ("ses", "bounce", "ghost@example.com", None, None, None, "other"),
        ("sendmail", "bounce", "jdoe@example.com", "5.7.1", "550", False, "blocked"),
        ("lotus", "bounce", "john.smith@corp.example.com", None, None, True, "user_unknown"),
    ],
)
def test_provider_formats(
    name: str,
    kind: str,
    address: str,
    status: str | None,
    smtp_code: str | None,
    hard: bool | None,
    reason: str,
) -> None:
    result = classify(PROVIDER_SAMPLES[name])
    assert result.kind == kind
    assert result.addresses == (address,)
    rcpt = result.recipients[0]
    assert (rcpt.status, rcpt.smtp_code, rcpt.hard, rcpt.reason) == (
        status,
        smtp_code,
        hard,
        reason,
    )


def test_german_out_of_office() -> None:
    raw = (
        "From: Petra Meier <petra@example.de>\nTo: shop@shop.example\n"
        "Subject: Re: Ihre Bestellung\nContent-Type: text/plain; charset=utf-8\n\n"
        "Ich bin bis zum 10.03. nicht im B\u00fcro und habe keinen Zugriff auf meine E-Mails.\n"
    )
    result = classify(raw)
    assert result.kind == "auto_reply"


def test_relay_denied_is_never_hard() -> None:
    """A relay refusal may be our relay's configuration or a misconfigured MX: not the address."""
    assert (
        hard_for("relay_denied", True, "5.7.1", "550 relaying denied (in reply to RCPT TO)")
        is False
    )
    assert hard_for("relay_denied", True, "5.7.1", "550 relaying denied", remote=True) is False
    result = classify(
        dsn("failed", "5.7.1", "554 5.7.1 <customer@example.org>: Relay access denied")
    )
    assert (result.recipients[0].reason, result.recipients[0].hard) == ("relay_denied", False)


def test_customer_complaining_about_undelivered_parcel_is_none() -> None:
    raw = (
        "From: Jane Roe <jane.roe@example.org>\nTo: support@shop.example\n"
        "Subject: Order 1001 not delivered\n\n"
        "Hello, my parcel could not be delivered and was returned to sender.\n"
        "Please send it again to jane.roe@example.org's address on file.\n"
        "Thanks, Jane (jane.roe@example.org)\n"
    )
    assert classify(raw).kind == "none"


def test_report_sent_to_a_bounce_address_is_read_without_daemon_sender() -> None:
    raw = (
        "From: admin@example.com\nTo: <bounces+order-1001@shop.example>\n"
        "Subject: Non-Delivery: your message\n\n"
        "The email below could not be delivered to the following user:\n\n"
        '"someone@example.com" <someone@example.com>\n'
    )
    result = classify(raw)
    assert result.kind == "bounce"
    assert result.addresses == ("someone@example.com",)


def test_read_receipt_is_a_delivery_report() -> None:
    raw = """\
From: Joe <joe@example.org>
To: shop@shop.example
Subject: Read: Your order
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="M1"

--M1
Content-Type: text/plain

Your message was displayed.
--M1
Content-Type: message/disposition-notification

Reporting-UA: joes-pc.example.org; Foomail 97.1
Final-Recipient: rfc822;joe@example.org
Original-Message-ID: <sm.order.1001.abc@shop.example>
Disposition: manual-action/MDN-sent-manually; displayed
--M1--
"""
    result = classify(raw)
    assert result.kind == "delivery_report"
    assert result.detector == "mdn"
    assert result.addresses == ("joe@example.org",)
    assert result.recipients[0].action == "displayed"
    assert result.reporting_mta == "joes-pc.example.org"
    assert result.original_message_id == "<sm.order.1001.abc@shop.example>"


def test_global_delivery_status_rfc6533() -> None:
    raw = dsn("failed", "5.1.1", "550 5.1.1 user unknown").replace(
        "message/delivery-status", "message/global-delivery-status"
    )
    result = classify(raw)
    assert result.kind == "bounce"
    assert result.reporting_mta == "mx.example.net"
    assert result.addresses == ("Customer@Example.org",)
    assert result.recipients[0].hard is True


def test_malformed_line_inside_a_status_group_keeps_the_group() -> None:
    raw = dsn("failed", "5.2.2", "552 mailbox full").replace(
        "Action: failed\n", "Action: failed\nthis line is not a field\n"
    )
    result = classify(raw)
    assert result.addresses == ("Customer@Example.org",)
    assert result.recipients[0].status == "5.2.2"
    assert result.recipients[0].reason == "mailbox_full"
