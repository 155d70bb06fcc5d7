# ruff: noqa: E501 - the report texts keep their real (long) lines
"""Bounce formats of common MTAs and providers, read end to end (recipient, action, reason).

The texts are written after the formats these systems send; addresses are examples.
"""

from __future__ import annotations

import pytest
from shopmail.domain.feedback import classify_message
from shopmail.domain.inbound.parsing import parse_message

from tests.fixtures.mails import GMAIL_FAILURE_HEAD

FORMATS: dict[str, str] = {
    "aol": """\
From: Mail Delivery Subsystem <MAILER-DAEMON@aol.com>
To: bounces@shop.example
Subject: Returned mail: User unknown

----- The following addresses had permanent fatal errors -----
kunde

  ----- Transcript of session follows -----
... while talking to air-xx.mail.aol.com.:
>>> RCPT To:<kunde@aol.com>
<<< 550 MAILBOX NOT FOUND
550 kunde@aol.com... User unknown
""",
    "courier": """\
From: Courier mail server at mx.example.org <@>
To: bounces@shop.example
Subject: NOTICE: mail delivery status.
Content-Type: text/plain

This is a delivery status notification from mx.example.org,
running the Courier mail server, version 0.73.

The original message was received on Mon, 2 Mar 2026 10:00:00 +0100
from relay.shop.example [192.0.2.1]

---------------------------------------------------------------------------

                           UNDELIVERABLE MAIL

Your message to the following recipients cannot be delivered:

<kunde@example.org>:
    mail.example.org [192.0.2.7]:
>>> RCPT TO:<kunde@example.org>
<<< 550 5.2.2 <kunde@example.org>: Mailbox full

---------------------------------------------------------------------------
""",
    "ex2003": """\
From: System Administrator <postmaster@corp.example.com>
To: bounces@shop.example
Subject: Undeliverable: Ihre Bestellung
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset="us-ascii"

Your message did not reach some or all of the intended recipients.

      Subject:  Ihre Bestellung
      Sent:     3/2/2026 10:00 AM

The following recipient(s) cannot be reached:

      kunde@corp.example.com on 3/2/2026 10:00 AM
            The e-mail account does not exist at the organization this message was sent to.  Check the e-mail address, or contact the recipient directly to find out the correct address.
            <mx.corp.example.com #5.1.1>

--B
Content-Type: message/delivery-status

Reporting-MTA: dns;mx.corp.example.com

Final-Recipient: rfc822;kunde@corp.example.com
Action: failed
Status: 5.1.1

--B--
""",
    "ex2003text": """\
From: System Administrator <postmaster@corp.example.com>
To: bounces@shop.example
Subject: Undeliverable: Ihre Bestellung
Content-Type: text/plain

Your message did not reach some or all of the intended recipients.

      Subject:  Ihre Bestellung
      Sent:     3/2/2026 10:00 AM

The following recipient(s) could not be reached:

      kunde@corp.example.com on 3/2/2026 10:00 AM
            There was a SMTP communication problem with the recipient's email server.  Please contact your system administrator.
            <relay.corp.example.com #5.5.0 smtp;550 5.7.1 Unable to relay for kunde@corp.example.com>
""",
    "exim_delay": """\
From: Mail Delivery System <Mailer-Daemon@relay.shop.example>
To: bounces@shop.example
Subject: Warning: message 1a2b3c-000 delayed 24 hours

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on relay.shop.example.

The message identifier is:     1a2b3c-000
The subject of the message is: Ihre Bestellung
The date of the message is:    Mon, 02 Mar 2026 10:00:00 +0100

The address to which the message has not yet been delivered is:

  kunde@example.org
    host mx.example.org [192.0.2.7]: 451 4.7.1 Greylisting in action, please come back later

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.
""",
    "gmail_old": GMAIL_FAILURE_HEAD
    + """\
Google tried to deliver your message, but it was rejected by the server for the recipient domain example.org by mx.example.org. [192.0.2.7].

The error that the other server returned was:
550 5.7.1 <kunde@example.org>... Mail from 192.0.2.1 refused, see RBL server bl.spamcop.net

----- Original message -----
""",
    "hotmail": """\
From: postmaster@outlook.com
To: bounces@shop.example
Subject: Undeliverable: Ihre Bestellung
Content-Type: text/plain

Delivery has failed to these recipients or groups:

kunde@outlook.com
The email address you entered couldn't be found. Please check the recipient's email address and try to resend the message. If the problem continues, please contact your helpdesk.

Diagnostic information for administrators:

Generating server: BN1PR01MB0001.prod.exchangelabs.com

kunde@outlook.com
Remote Server returned '550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302) [BN1NAM01FT001.eop-nam01.prod.protection.outlook.com]'
""",
    "imail": """\
From: postmaster@example.org
To: bounces@shop.example
Subject: Undeliverable Mail
Content-Type: text/plain

Unknown user: kunde@example.org

Original message follows.
""",
    "mdaemon": """\
From: MDaemon at example.org <MDaemon@example.org>
To: bounces@shop.example
Subject: Permanent Delivery Failure
Content-Type: text/plain

The attached message had PERMANENT fatal delivery errors!

After one or more unsuccessful delivery attempts the attached message has
been removed from the mail queue on this server.  The number and frequency
of delivery attempts are determined by local configuration parameters.

YOU DO NOT NEED TO RESEND THE MESSAGE.  This server has given up.

--- Session Transcript ---
 Mon 2026-03-02 10:00:00: Parsing message <c:/mdaemon/remoteq/md5001.msg>
 Mon 2026-03-02 10:00:00: *  From: bounces@shop.example
 Mon 2026-03-02 10:00:00: *  To: kunde@example.org
 Mon 2026-03-02 10:00:00: Attempting SMTP connection to [mx.example.org]
 Mon 2026-03-02 10:00:01: Connected to [192.0.2.7:25]
 Mon 2026-03-02 10:00:01: >>> RCPT TO:<kunde@example.org>
 Mon 2026-03-02 10:00:01: <<< 550 5.1.1 <kunde@example.org>: Recipient address rejected: User unknown in virtual mailbox table
 Mon 2026-03-02 10:00:01: --> Session closed
--- End Transcript ---
""",
    "messagelabs": """\
From: MAILER-DAEMON@messagelabs.com
To: bounces@shop.example
Subject: Mail Delivery Failure

This is an automatically generated message from MessageLabs.

Delivery to the following recipients failed.

       kunde@example.org

Reason: 553 sorry, that domain isn't in my list of allowed rcpthosts
""",
    "notes": """\
From: Postmaster@corp.example.com
To: bounces@shop.example
Subject: DELIVERY FAILURE: Error transferring to mx.corp.example.com; Maximum hop count exceeded.  Message probably in a routing loop.
Content-Type: text/plain

Your message

  Subject: Ihre Bestellung

was not delivered to:

  kunde@corp.example.com

because:

  Error transferring to mx.corp.example.com; Maximum hop count exceeded.  Message probably in a routing loop.
""",
    "sophos": """\
From: PMX <postmaster@example.org>
To: bounces@shop.example
Subject: Undeliverable message

The following message to <kunde@example.org> was undeliverable.
The reason for the problem:
5.1.0 - Unknown address error 550-'Mailbox quota exceeded for kunde@example.org'
""",
    "yahoo": """\
From: MAILER-DAEMON@yahoo.com
To: bounces@shop.example
Subject: Failure Notice

Sorry, we were unable to deliver your message to the following address.

<kunde@yahoo.com>:
Remote host said: 552 1 Requested mail action aborted, mailbox not found [RCPT_TO]

--- Below this line is a copy of the message.
""",
    "zimbra": """\
From: Mail Delivery System <MAILER-DAEMON@zimbra.example.org>
To: bounces@shop.example
Subject: Undelivered Mail Returned to Sender
Content-Type: text/plain

This is the mail system at host zimbra.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<kunde@example.org>: host mx.example.org[192.0.2.7] said: 554 5.7.1
    Service unavailable; Client host [192.0.2.1] blocked using
    b.barracudacentral.org; http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.1
    (in reply to RCPT TO command)
""",
}


@pytest.mark.parametrize(
    ("name", "kind", "address", "action", "reason", "hard"),
    [
        ("aol", "bounce", "kunde@aol.com", "failed", "user_unknown", True),
        ("courier", "bounce", "kunde@example.org", "failed", "mailbox_full", False),
        ("ex2003", "bounce", "kunde@corp.example.com", "failed", "user_unknown", True),
        ("ex2003text", "bounce", "kunde@corp.example.com", "failed", "relay_denied", False),
        ("exim_delay", "delay", "kunde@example.org", "delayed", "rate_limited", False),
        ("gmail_old", "bounce", "kunde@example.org", "failed", "blocked", False),
        ("hotmail", "bounce", "kunde@outlook.com", "failed", "user_unknown", True),
        ("imail", "bounce", "kunde@example.org", "failed", "user_unknown", True),
        ("mdaemon", "bounce", "kunde@example.org", "failed", "user_unknown", True),
        ("messagelabs", "bounce", "kunde@example.org", "failed", "relay_denied", False),
        ("notes", "bounce", "kunde@corp.example.com", "failed", "network", False),
        ("sophos", "bounce", "kunde@example.org", "failed", "mailbox_full", False),
        ("yahoo", "bounce", "kunde@yahoo.com", "failed", "user_unknown", True),
        ("zimbra", "bounce", "kunde@example.org", "failed", "blocked", False),
    ],
)
def test_format(
    name: str, kind: str, address: str, action: str, reason: str, hard: bool | None
) -> None:
    result = classify_message(parse_message(FORMATS[name].encode("utf-8")))
    assert result.kind == kind
    row = result.recipients[0]
    assert (row.address, row.action, row.reason, row.hard) == (address, action, reason, hard)


def test_exim_lists_each_failed_address_with_its_own_reply() -> None:
    result = classify_message(parse_message(MULTI.encode()))
    rows = {r.address: r for r in result.recipients}
    assert (rows["kunde@example.net"].reason, rows["kunde@example.net"].hard) == (
        "user_unknown",
        True,
    )
    assert (rows["zweite@example.net"].reason, rows["zweite@example.net"].hard) == (
        "mailbox_full",
        False,
    )
    assert {r.stage for r in result.recipients} == {"rcpt"}


MULTI = """\
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: bounces+123@shop.example
Subject: Mail delivery failed: returning message to sender

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  kunde@example.net
    SMTP error from remote mail server after RCPT TO:<kunde@example.net>:
    host mx.example.net [192.0.2.8]: 550 5.1.1 <kunde@example.net>: Recipient address rejected: User unknown in local recipient table
  zweite@example.net
    SMTP error from remote mail server after RCPT TO:<zweite@example.net>:
    host mx.example.net [192.0.2.8]: 452 4.2.2 <zweite@example.net>: Recipient address rejected: Mailbox full
"""
