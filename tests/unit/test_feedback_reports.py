# ruff: noqa: E501 - report texts keep their real (long) lines
"""Whole reports through the classifier: per-recipient actions, the stage read from the
report text, other report formats, and defects recorded instead of raised."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import compat32

import pytest
from shopmail.domain.feedback import Classification, classify_message, classify_tree
from shopmail.domain.feedback import classifier as classifier_module
from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.message import Envelope

from tests.fixtures.mails import GMAIL_FAILURE_HEAD


def classify(raw: str) -> Classification:
    return classify_message(parse_message(raw.encode("utf-8")))


def group(address: str, action: str, status: str, diagnostic: str) -> str:
    return (
        f"Final-Recipient: rfc822; {address}\nAction: {action}\nStatus: {status}\n"
        f"Remote-MTA: dns; mx.example.org\nDiagnostic-Code: smtp; {diagnostic}\n"
    )


def report(text: str, *groups: str) -> str:
    fields = "\n".join(groups)
    return f"""\
From: Mail Delivery System <MAILER-DAEMON@mx.shop-relay.example>
To: bounces@shop.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain

{text}

--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.shop-relay.example

{fields}
--R
Content-Type: message/rfc822

From: Shop <bounces@shop.example>
To: kunde@example.org
Subject: Ihre Bestellung
Message-ID: <sm.order.1.x@shop.example>

Danke.
--R--
"""


class TestMixedReports:
    def test_dsn_with_a_failed_and_a_delayed_recipient(self) -> None:
        raw = report(
            "This is the mail system.",
            group("kunde@example.org", "failed", "5.1.1", "550 5.1.1 user unknown"),
            group("zweite@example.net", "delayed", "4.4.1", "421 4.4.1 connection timed out"),
        )
        result = classify(raw)
        assert result.kind == "bounce"  # any failed recipient makes it a bounce
        rows = {r.address: r for r in result.recipients}
        assert (rows["kunde@example.org"].action, rows["kunde@example.org"].hard) == (
            "failed",
            True,
        )
        assert (rows["zweite@example.net"].action, rows["zweite@example.net"].hard) == (
            "delayed",
            False,
        )
        assert (result.reason, result.hard) == ("user_unknown", True)

    def test_dsn_with_only_delayed_recipients_is_a_delay(self) -> None:
        raw = report(
            "Delayed.",
            group("kunde@example.org", "delayed", "4.2.2", "452 4.2.2 mailbox full"),
        )
        result = classify(raw)
        assert result.kind == "delay"
        assert result.recipients[0].action == "delayed"

    def test_text_bounce_lists_failed_and_delayed_addresses(self) -> None:
        raw = """\
From: Mail Delivery Subsystem <MAILER-DAEMON@mx.shop-relay.example>
To: bounces@shop.example
Subject: Returned mail: see transcript for details

The original message was received at Mon, 2 Mar 2026 10:00:00 +0100

   ----- The following addresses had permanent fatal errors -----
<kunde@example.org>
    (reason: 550 5.1.1 <kunde@example.org>... User unknown)

   ----- The following addresses had transient non-fatal errors -----
<zweite@example.net>
    (reason: 451 4.4.1 reply: read error from mx.example.net)

   ----- Transcript of session follows -----
"""
        result = classify(raw)
        assert result.kind == "bounce"
        rows = {r.address: r for r in result.recipients}
        assert rows["kunde@example.org"].action == "failed"
        assert rows["kunde@example.org"].hard is True
        assert rows["zweite@example.net"].action == "delayed"
        assert rows["zweite@example.net"].hard is False

    def test_a_final_failure_with_a_4xx_reply_stays_failed(self) -> None:
        raw = """\
From: Mail Delivery System <Mailer-Daemon@mx.shop-relay.example>
To: bounces@shop.example
Subject: Mail delivery failed: returning message to sender

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  kunde@example.org
    retry timeout exceeded
    host mx.example.org [192.0.2.7]: 451 4.3.0 Temporary local problem
"""
        result = classify(raw)
        (row,) = result.recipients
        assert (row.action, row.reason, row.hard) == ("failed", "expired", False)
        assert result.kind == "bounce"

    def test_warning_text_is_a_delay(self) -> None:
        raw = """\
From: Mail Delivery System <MAILER-DAEMON@mx.shop-relay.example>
To: bounces@shop.example
Subject: Delayed Mail (still being retried)

This is the mail system at host mx.shop-relay.example.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 4 hour(s).
It will be retried until it is 5 day(s) old.

<kunde@example.org>: connect to mx.example.org[192.0.2.7]:25: Connection timed out
"""
        result = classify(raw)
        assert result.kind == "delay"
        assert result.recipients[0].action == "delayed"
        assert result.recipients[0].hard is False


class TestStageFromTheReportText:
    def test_postfix_writes_the_stage_in_the_text_part(self) -> None:
        text = (
            "<kunde@example.org>: host mx.example.org[192.0.2.7] said: 550 5.1.0\n"
            "    <bounces@shop.example>: Sender rejected (in reply to MAIL FROM command)"
        )
        raw = report(text, group("kunde@example.org", "failed", "5.1.0", "550 5.1.0 rejected"))
        row = classify(raw).recipients[0]
        assert row.stage == "mail"
        assert (row.reason, row.hard, row.fault) == ("policy", False, "sender")

    def test_a_reply_quoting_the_returned_originals_sender_is_about_our_sender(self) -> None:
        raw = report(
            "Delivery failed.",
            group(
                "kunde@example.org",
                "failed",
                "5.1.1",
                "550 5.1.1 <bounces@shop.example>... User unknown",
            ),
        )
        row = classify(raw).recipients[0]
        assert (row.stage, row.hard) == ("mail", False)

    def test_relay_refused_in_reply_to_rcpt_to_is_not_hard(self) -> None:
        text = (
            "<kunde@example.org>: host mx.example.org[192.0.2.7] said: 554 5.7.1\n"
            "    <kunde@example.org>: Relay access denied (in reply to RCPT TO command)"
        )
        raw = report(
            text,
            group("kunde@example.org", "failed", "5.7.1", "554 5.7.1 Relay access denied"),
        )
        row = classify(raw).recipients[0]
        assert (row.stage, row.reason, row.hard) == ("rcpt", "relay_denied", False)


def exim_bounce(failed: str, listing: str, to: str = "bounces@shop.example") -> str:
    """An Exim bounce to ``to`` naming ``failed`` in X-Failed-Recipients, then ``listing``."""
    return f"""\
From: Mail Delivery System <Mailer-Daemon@mx.example.org>
To: {to}
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: {failed}

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

{listing}"""


def test_x_failed_recipients_names_the_failed_addresses() -> None:
    raw = exim_bounce(
        "ziel@example.net",
        """\
  alias@example.org
    forwarded to ziel@example.net: SMTP error from remote mail server after RCPT TO:<ziel@example.net>:
    550 5.1.1 <ziel@example.net>: Recipient address rejected: User unknown
""",
    )
    result = classify(raw)
    assert result.addresses == ("ziel@example.net",)
    assert result.recipients[0].hard is True


def test_paragraph_after_a_lead_in_belongs_to_the_recipient() -> None:
    raw = (
        GMAIL_FAILURE_HEAD
        + """\

Google tried to deliver your message, but it was rejected by the recipient domain. The error that the other server returned was: 550 5.1.1 <bounces@shop.example>... User unknown

----- Original message -----

From: Shop <bounces@shop.example>
To: kunde@example.org
"""
    )
    (row,) = classify(raw).recipients
    assert row.address == "kunde@example.org"
    assert (row.stage, row.hard) == ("mail", False)  # the reply refused our sender


def test_bounce_naming_nobody_takes_the_returned_originals_recipient() -> None:
    raw = """\
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: bounces@shop.example
Subject: Delivery Status Notification (Failure)
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="G"

--G
Content-Type: text/plain

Hello, the group you tried to contact may not exist, or you may not have permission to post
messages to the group.

--G
Content-Type: message/rfc822

From: Shop <bounces@shop.example>
To: news@groups.example.org
Subject: Newsletter
Message-ID: <sm.news.1.x@shop.example>

Hallo
--G--
"""
    result = classify(raw)
    assert result.kind == "bounce"  # "auto-replied" is what DSNs carry too (RFC 3834)
    (row,) = result.recipients
    assert row.address == "news@groups.example.org"
    assert row.hard is not True  # "may not exist" is not a statement
    assert result.original_message_id == "<sm.news.1.x@shop.example>"


def test_daemon_bounce_marked_auto_replied_is_a_bounce_even_without_addresses() -> None:
    raw = (
        "From: Mail Delivery Subsystem <mailer-daemon@mx.example.org>\nTo: bounces@shop.example\n"
        "Subject: Delivery Status Notification (Failure)\nAuto-Submitted: auto-replied\n\n"
        "Your message could not be delivered. This is a permanent error.\n"
    )
    assert classify(raw).kind == "bounce"


def test_ses_notification_mailed_as_json() -> None:
    ses = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": "kunde@example.org",
                    "action": "failed",
                    "status": "5.7.1",
                    "diagnosticCode": "smtp; 550 5.7.1 Client host blocked using zen.spamhaus.org",
                }
            ],
        },
        "mail": {"messageId": "0102abc", "source": "bounces@shop.example"},
    }
    envelope = json.dumps({"Type": "Notification", "Message": json.dumps(ses)})
    folded = envelope[:60] + "\n " + envelope[60:]  # SNS folds long lines of the mail
    raw = (
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\nTo: ops@shop.example\n"
        f"Subject: AWS Notification Message\nContent-Type: text/plain\n\n{folded}\n"
    )
    result = classify(raw)
    assert (result.kind, result.detector) == ("bounce", "ses")
    (row,) = result.recipients
    # SES calls it Permanent; the evidence says our host is on a blocklist
    assert (row.address, row.reason, row.hard) == ("kunde@example.org", "blocked", False)


def test_microsoft_jmrp_complaint() -> None:
    raw = """\
From: staff@hotmail.com
To: abuse@shop.example
Subject: complaint about message from 192.0.2.1
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="J"

--J
Content-Type: message/rfc822

X-HmXmrOriginalRecipient: kunde@outlook.example
From: Shop <news@shop.example>
To: kunde@outlook.example
Message-ID: <sm.news.2.x@shop.example>
Subject: Angebote

Hallo
--J--
"""
    result = classify(raw)
    assert (result.kind, result.detector) == ("complaint", "jmrp")
    assert result.addresses == ("kunde@outlook.example",)
    assert result.original_message_id == "<sm.news.2.x@shop.example>"


def test_null_envelope_sender_is_a_bounce_signal() -> None:
    raw = (
        "From: postmaster@mx.example.org\nTo: bounces@shop.example\nSubject: Notice\n\n"
        "Your message could not be delivered.\n\n<kunde@example.org>: 550 no such user\n"
    )
    message = parse_message(raw.encode(), Envelope("m1", "", ("bounces@shop.example",)))
    result = classify_message(message)
    assert result.kind == "bounce"
    assert (result.recipients[0].reason, result.recipients[0].hard) == ("user_unknown", True)


class TestDefects:
    def test_empty_status_part_is_recorded(self) -> None:
        raw = (
            "From: MAILER-DAEMON@mx.example.org\nTo: bounces@shop.example\n"
            "Subject: Undeliverable\nMIME-Version: 1.0\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="x"\n\n'
            "--x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n--x--\n"
        )
        result = classify(raw)
        assert any(d.startswith("DsnWithoutRecipients") for d in result.defects)
        assert result.to_dict()["defects"] == list(result.defects)

    def test_undecodable_report_part_is_recorded(self) -> None:
        raw = (
            b"From: MAILER-DAEMON@mx.example.org\nTo: bounces@shop.example\n"
            b"Subject: Undeliverable\nMIME-Version: 1.0\n"
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="x"\n\n'
            b"--x\nContent-Type: message/delivery-status; charset=x-klingon\n"
            b"Content-Transfer-Encoding: 8bit\n\n"
            b"Final-Recipient: rfc822; kunde@example.org\nAction: failed\nStatus: 5.1.1\n"
            b"Diagnostic-Code: smtp; 550 Gr\xfc\xdfe user unknown\n--x--\n"
        )
        result = classify_tree(BytesParser(policy=compat32).parsebytes(raw))
        assert result.recipients[0].hard is True
        assert result.defects == ()  # group fields are header-like: no charset involved

    def test_unreadable_ses_json_is_recorded(self) -> None:
        raw = (
            "From: no-reply@sns.amazonaws.com\nTo: ops@shop.example\nSubject: AWS Notification\n\n"
            '{"notificationType": "Bounce", "mail": \n'
        )
        result = classify(raw)
        assert any(d.startswith("SesNotificationUnreadable") for d in result.defects)

    def test_an_internal_error_is_a_defect_never_an_exception(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*_args: object) -> None:
            raise RuntimeError("reader bug")

        monkeypatch.setattr(classifier_module, "_classify", broken)
        result = classify(report("x", group("kunde@example.org", "failed", "5.1.1", "550")))
        assert (result.kind, result.detector) == ("none", "error")
        assert result.defects == ("ClassifierError: RuntimeError",)


SENDMAIL_HEAD = """\
From: Mail Delivery Subsystem <MAILER-DAEMON@mx.shop-relay.example>
To: bounces@shop.example
Subject: Returned mail: see transcript for details

   ----- Transcript of session follows -----
"""


class TestReadingTheReport:
    def test_status_fields_of_a_report_whose_mime_headers_were_lost(self) -> None:
        raw = """\
From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>
To: bounces@shop.example
Subject: Returned mail: see transcript for details

This is a MIME-encapsulated message

--XYZ.1/mx.example.org

   ----- The following addresses had permanent fatal errors -----
kunde
    (expanded from: kunde)

--XYZ.1/mx.example.org
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: RFC822; kunde@example.org
Action: failed
Status: 5.2.2
Diagnostic-Code: SMTP; 552 5.2.2 quota of the mailbox exceeded

--XYZ.1/mx.example.org--
"""
        result = classify(raw)
        (row,) = result.recipients
        assert (row.address, row.action, row.status) == ("kunde@example.org", "failed", "5.2.2")
        assert (row.reason, row.hard) == ("mailbox_full", False)
        assert row.diagnostic == "552 5.2.2 quota of the mailbox exceeded"  # the field's

    def test_a_technical_report_section_written_as_text(self) -> None:
        raw = """\
From: MAILER-DAEMON@relay.example.net
To: bounces@shop.example
Subject: Delivery Status Notification (Failure)

We could not deliver your message to these recipients:
kunde@example.org

Technical report:
Reporting-MTA: dns; relay.example.net
Action: failed
Final-Recipient: rfc822; kunde@example.org
Diagnostic-Code: smtp; 550 5.1.1 <kunde@example.org>... no such mailbox
Status: 5.1.1
"""
        (row,) = classify(raw).recipients
        assert (row.reason, row.hard, row.status) == ("user_unknown", True, "5.1.1")
        assert row.diagnostic == "550 5.1.1 <kunde@example.org>... no such mailbox"

    def test_x_failed_recipients_names_an_address_the_text_does_not(self) -> None:
        raw = exim_bounce(
            "kunde@example.org", "  save to /var/spool/archive/kunde\n    mailbox quota exceeded\n"
        )
        (row,) = classify(raw).recipients
        assert (row.address, row.reason, row.hard) == ("kunde@example.org", "mailbox_full", False)

    def test_x_failed_recipients_wins_over_the_reports_own_addresses(self) -> None:
        raw = exim_bounce(
            "team@example.org, andere@example.net",
            """\
  team@example.org
    SMTP error from remote mail server after RCPT TO:<team@example.org>:
    550 5.1.1 <team@example.org>: no such user

  andere@example.net
    SMTP error from remote mail server after RCPT TO:<andere@example.net>:
    552 5.2.2 <andere@example.net>: mailbox full
""",
            to="team@example.org",
        )
        rows = {r.address: r for r in classify(raw).recipients}
        assert set(rows) == {"team@example.org", "andere@example.net"}
        assert (rows["team@example.org"].reason, rows["team@example.org"].hard) == (
            "user_unknown",
            True,
        )

    def test_sns_mail_with_an_unsubscribe_footer_after_the_json(self) -> None:
        ses = {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bouncedRecipients": [
                    {
                        "emailAddress": "kunde@example.org",
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 no such user",
                    }
                ],
            },
            "mail": {"messageId": "0102abc", "source": "bounces@shop.example"},
        }
        raw = (
            "From: AWS Notifications <no-reply@sns.amazonaws.com>\nTo: ops@shop.example\n"
            "Subject: AWS Notification Message\nContent-Type: text/plain\n\n"
            f"{json.dumps(ses)}\n--\nTo stop these notifications, follow the link below:\n"
            "https://sns.example.com/unsubscribe\n"
        )
        result = classify(raw)
        assert (result.kind, result.detector) == ("bounce", "ses")
        assert result.recipients[0].hard is True

    def test_a_contact_address_of_the_report_is_never_a_recipient(self) -> None:
        raw = """\
From: MAILER-DAEMON@relay.example.net (Mail Delivery System)
To: bounces@shop.example
Subject: Undelivered Mail Returned to Sender

This is the mail system at host relay.example.net.
For further assistance, please contact <helpdesk@relay.example.net>.
Bei Fragen wenden Sie sich bitte an <helpdesk@relay.example.net>, Ihr Team.

<kunde@example.org>: host mx.example.org[192.0.2.7] said: 550 5.1.1
    <kunde@example.org>: user unknown (in reply to RCPT TO command)
"""
        result = classify(raw)
        assert result.addresses == ("kunde@example.org",)
        assert result.recipients[0].hard is True

    def test_a_sendmail_error_line_about_another_target_is_not_the_recipients(self) -> None:
        raw = (
            SENDMAIL_HEAD
            + """\
554 5.0.0 <kunde@example.org>... Service unavailable
550 5.1.2 example.net (smtp)... Host unknown
554 5.0.0 <andere@example.net>... Host unknown (Name server: example.net: host not found)
"""
        )
        rows = {r.address: r for r in classify(raw).recipients}
        assert rows["kunde@example.org"].hard is not True  # the host line is another target's
        assert rows["andere@example.net"].reason == "host_unknown"

    def test_the_transcript_reply_to_mail_from_belongs_to_the_recipients_after_it(self) -> None:
        raw = (
            SENDMAIL_HEAD
            + """\
... while talking to mx.example.org.:
>>> MAIL From:<bounces@shop.example> SIZE=1200
<<< 553 5.7.1 Sending host listed at dnsbl.example.net
554 5.0.0 <kunde@example.org>... Service unavailable
... while talking to mx.example.net.:
>>> RCPT To:<andere@example.net>
<<< 550 5.1.1 <andere@example.net>... User unknown
550 5.1.1 <andere@example.net>... User unknown
"""
        )
        rows = {r.address: r for r in classify(raw).recipients}
        kunde, andere = rows["kunde@example.org"], rows["andere@example.net"]
        assert (kunde.stage, kunde.reason, kunde.hard) == ("mail", "blocked", False)
        assert (andere.stage, andere.reason, andere.hard) == ("rcpt", "user_unknown", True)

    def test_the_reason_written_above_a_bare_address(self) -> None:
        raw = """\
From: POSTMASTER@notes.example.com
To: bounces@shop.example
Subject: Undeliverable message

------- Failure Reasons  --------

No such person in the organization's address book
kunde@example.com
------- Returned Message --------
From: bounces@shop.example
To: kunde@example.com
"""
        (row,) = classify(raw).recipients
        assert (row.address, row.reason, row.hard) == ("kunde@example.com", "user_unknown", True)
        assert row.diagnostic is not None and row.diagnostic.startswith("No such person")

    def test_a_system_mailbox_returning_our_message_is_a_bounce(self) -> None:
        body = (
            "Benachrichtigung\n\nYour message to <kunde@example.net> could not be delivered:\n"
            "the recipient's mailbox is full.\n"
        )
        returned = (
            "--N\nContent-Type: message/rfc822\n\nFrom: info@shop.example\n"
            "To: kunde@example.net\nSubject: Ihre Bestellung\n\nDanke\n--N--\n"
        )
        head = (
            "From: no-reply@mail.example.net\nTo: info@shop.example\nSubject: Hinweis\n"
            'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="N"\n\n'
            f"--N\nContent-Type: text/plain\n\n{body}\n"
        )
        result = classify(head + returned)
        assert result.kind == "bounce"
        assert (result.recipients[0].reason, result.recipients[0].hard) == ("mailbox_full", False)
        # the same words without our message returned are no bounce
        assert classify(head + "--N--\n").kind == "none"

    def test_post_master_is_a_postmaster(self) -> None:
        raw = """\
From: post_master@sms.example.net
To: info@shop.example
Subject: Re: Ihre Bestellung

Error: Invalid user address
Error message below:
550 - Requested action not taken: no such user here
  RCPT TO: 0170000000@sms.example.net
"""
        result = classify(raw)
        assert result.kind == "bounce"
        assert result.addresses == ("0170000000@sms.example.net",)
