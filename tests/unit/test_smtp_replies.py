"""Every row of the SES reply table classified on code AND text, and mapped to errors."""

from __future__ import annotations

import pytest
from shopmail.domain.smtp import replies
from shopmail.errors import (
    ConfigurationError,
    DeliveryDeferredError,
    MessageRejectedError,
    PermanentError,
    QuotaExceededError,
    TransientError,
)

Out = replies.ReplyOutcome

# (code, text, expected outcome): the reply table of shopmail.domain.smtp.replies, in order.
TABLE = [
    (250, "Ok 0102018c2f4e5a6b-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-000000", Out.SENT),
    (421, "Too many concurrent SMTP connections", Out.RECONNECT),
    (451, "Temporary service failure", Out.TRANSIENT),
    (451, "4.4.2 Timeout waiting for data from client.", Out.RECONNECT),
    (454, "Throttling failure: Maximum sending rate exceeded.", Out.TRANSIENT),
    (454, "Throttling failure: Daily message quota exceeded.", Out.QUOTA_EXCEEDED),
    (454, "Temporary authentication failure", Out.TRANSIENT),
    (454, "Temporary service failure", Out.TRANSIENT),
    (530, "Authentication required", Out.CONFIGURATION),
    (530, "Must issue a STARTTLS command first", Out.CONFIGURATION),
    (535, "Authentication Credentials Invalid", Out.CONFIGURATION),
    (552, "Message is too long.", Out.PERMANENT),
    (553, "<bad@@example.org>... Invalid email address", Out.PERMANENT),
    (553, "address unknown", Out.PERMANENT),
    (
        554,
        "Access denied: User `arn:aws:iam::123456789012:user/smtp' is not authorized to "
        "perform `ses:SendRawEmail' on resource `arn:aws:ses:eu-west-1:123456789012:identity/x'",
        Out.CONFIGURATION,
    ),
    (
        554,
        "Message rejected: Email address is not verified. The following identities failed "
        "the check in region EU-WEST-1: shop@shop.example",
        Out.CONFIGURATION,
    ),
    (554, "Message rejected: Sending paused for this account.", Out.CONFIGURATION),
    (554, "Transaction failed: Duplicate header 'Subject'.", Out.PERMANENT),
    (554, "Transaction failed: Missing final '@domain'", Out.PERMANENT),
    (554, "Transaction failed: Illegal semicolon, not in group", Out.PERMANENT),
    (554, "Transaction failed: Illegal address", Out.PERMANENT),
]


@pytest.mark.parametrize(("code", "text", "expected"), TABLE)
def test_reference_table(code: int, text: str, expected: replies.ReplyOutcome) -> None:
    assert replies.classify(code, text) is expected
    assert replies.classify(code, text.encode()) is expected
    assert replies.SmtpReply(code, text).outcome is expected


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (replies.DISCONNECTED, "connection lost", Out.RECONNECT),
        (421, "", Out.RECONNECT),
        (451, "4.4.2 Timeout", Out.RECONNECT),
        (451, "", Out.TRANSIENT),
        (454, "THROTTLING FAILURE: DAILY MESSAGE QUOTA EXCEEDED", Out.QUOTA_EXCEEDED),
        (454, "", Out.TRANSIENT),
        (450, "mailbox busy", Out.TRANSIENT),
        (554, "", Out.PERMANENT),
        (554, "Message rejected: content", Out.PERMANENT),
        (550, "Mailbox unavailable", Out.PERMANENT),
        (501, "Invalid MAIL FROM address", Out.PERMANENT),
        (503, "Bad sequence of commands", Out.CONFIGURATION),
        (534, "Authentication mechanism is too weak", Out.CONFIGURATION),
        (538, "Encryption required", Out.CONFIGURATION),
        (235, "Authentication successful", Out.SENT),
        (999, "garbage", Out.TRANSIENT),
    ],
)
def test_edges(code: int, text: str, expected: replies.ReplyOutcome) -> None:
    assert replies.classify(code, text) is expected


def test_the_code_alone_does_not_decide() -> None:
    assert replies.classify(
        454, "Throttling failure: Daily message quota exceeded."
    ) is not replies.classify(454, "Throttling failure: Maximum sending rate exceeded.")
    assert replies.classify(
        554, "Transaction failed: Duplicate header 'To'."
    ) is not replies.classify(554, "Message rejected: Sending paused for this account.")
    assert replies.classify(
        451, "4.4.2 Timeout waiting for data from client."
    ) is not replies.classify(451, "Temporary service failure")


@pytest.mark.parametrize(
    ("outcome_row", "error_type", "branch"),
    [
        ((451, "Temporary service failure"), DeliveryDeferredError, TransientError),
        ((421, "Too many concurrent SMTP connections"), DeliveryDeferredError, TransientError),
        (
            (454, "Throttling failure: Daily message quota exceeded."),
            QuotaExceededError,
            TransientError,
        ),
        ((552, "Message is too long."), MessageRejectedError, PermanentError),
        (
            (554, "Transaction failed: Duplicate header 'From'."),
            MessageRejectedError,
            PermanentError,
        ),
        ((535, "Authentication Credentials Invalid"), ConfigurationError, ConfigurationError),
        (
            (554, "Message rejected: Sending paused for this account."),
            ConfigurationError,
            ConfigurationError,
        ),
    ],
)
def test_error_mapping(
    outcome_row: tuple[int, str], error_type: type[Exception], branch: type[Exception]
) -> None:
    code, text = outcome_row
    error = replies.error_for(
        replies.SmtpReply(code, text), "data", message_id="<sm.x@shop.example>"
    )
    assert type(error) is error_type
    assert isinstance(error, branch)
    # the three branches are disjoint: a configuration error is neither permanent nor transient
    branches = [
        b for b in (PermanentError, TransientError, ConfigurationError) if isinstance(error, b)
    ]
    assert branches == [branch]
    assert error.context["smtp_code"] == code
    assert error.context["stage"] == "data"
    assert error.context["message_id"] == "<sm.x@shop.example>"
    assert str(code) in error.reason


def test_error_for_a_success_is_a_bug() -> None:
    with pytest.raises(ValueError, match="success"):
        replies.error_for(replies.SmtpReply(250, "Ok abc"))


def test_errors_never_carry_full_addresses() -> None:
    reply = replies.SmtpReply(
        554,
        "Message rejected: Email address is not verified. The following identities failed "
        "the check in region EU-WEST-1: shop@shop.example, Jane.Doe+x@Example.ORG",
    )
    error = replies.error_for(reply, "data")
    text = repr(error.to_dict())
    assert "shop@" not in text and "Jane.Doe" not in text
    assert "***@shop.example" in text and "***@Example.ORG" in text


def test_redact_leaves_non_addresses_alone() -> None:
    assert replies.redact_addresses("Missing final '@domain'") == "Missing final '@domain'"
    assert replies.redact_addresses("<a.b@c.de> ok") == "<***@c.de> ok"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ok 0102018c2f4e5a6b-1a2b-000000", "0102018c2f4e5a6b-1a2b-000000"),
        (b"Ok 0102018c2f4e5a6b-1a2b-000000", "0102018c2f4e5a6b-1a2b-000000"),
        ("OK  abc", "abc"),
        ("Ok", None),
        ("Accepted", None),
        ("", None),
    ],
)
def test_ses_message_id(text: str | bytes, expected: str | None) -> None:
    assert replies.ses_message_id(text) == expected


def test_reply_from_smtplib_pair() -> None:
    reply = replies.SmtpReply.of(421, b"Too many concurrent SMTP connections\n")
    assert reply == replies.SmtpReply(421, "Too many concurrent SMTP connections")
    assert str(replies.SmtpReply(replies.DISCONNECTED, "gone")) == "disconnected gone"
