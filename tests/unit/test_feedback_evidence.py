# ruff: noqa: E501 - MTA replies keep their real (long) lines
"""The evidence order of shopmail.domain.feedback.reasons.judge, one rule per test.

Each case is built so that undoing the rule it names changes the outcome: the stage against a
recipient-looking status, a diagnostic against a generic or contradicting status, transience
against an address reason, and every refusal that must never suppress the address.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from shopmail.domain.feedback import Fault, Stage, Verdict, judge

OURS = frozenset({"bounces@shop.example"})
CASES = {
    table: [(case["diagnostic"], case.get("status"), case["reason"]) for case in cases]
    for table, cases in tomllib.loads(
        (Path(__file__).parent / "data" / "reply_evidence.toml").read_text(encoding="utf-8")
    ).items()
}


def verdict(
    diagnostic: str,
    status: str | None = None,
    action: str = "failed",
    context: str = "",
    address: str = "kunde@example.org",
    ours: frozenset[str] = frozenset(),
) -> Verdict:
    return judge(diagnostic, status, None, action, context, address=address, ours=ours)


class TestStage:
    def test_reply_to_mail_from_is_about_our_sender_whatever_the_status_subject(self) -> None:
        got = verdict(
            "SMTP error from remote mail server after MAIL FROM:<bounces@shop.example> SIZE=2048: "
            "550 5.1.1 <bounces@shop.example>... rejected",
            "5.1.1",
        )
        assert got.stage == Stage.MAIL
        assert (got.reason, got.fault, got.hard) == ("policy", Fault.SENDER, False)

    def test_generic_address_status_after_mail_from_is_our_sender(self) -> None:
        got = verdict(
            "host mx.example.org [192.0.2.7] SMTP error from remote mail server after MAIL FROM:"
            "<bounces@shop.example>: 550 5.1.0 Address rejected",
            "5.1.0",
        )
        assert (got.stage, got.reason, got.hard) == (Stage.MAIL, "policy", False)

    def test_generic_address_status_in_reply_to_rcpt_to_is_the_recipient(self) -> None:
        got = verdict(
            "host mx.example.org[192.0.2.7] said: 550 5.1.0 <kunde@example.org>: Address "
            "rejected (in reply to RCPT TO command)",
            "5.1.0",
        )
        assert (got.stage, got.reason, got.hard) == (Stage.RCPT, "user_unknown", True)

    def test_refusal_at_connection_is_about_our_host(self) -> None:
        got = verdict(
            "SMTP error from remote mail server after initial connection: host mx.example.org "
            "[192.0.2.7]: 554 5.1.1 service refused"
        )
        assert got.stage == Stage.CONNECT
        assert (got.reason, got.fault, got.hard) == ("blocked", Fault.SENDER, False)

    def test_helo_refusal_is_blocked(self) -> None:
        got = verdict(
            "<kunde@example.org>: Connected to 192.0.2.7 but my name was rejected. Remote host "
            "said: 501 5.0.0 Invalid domain name"
        )
        assert (got.stage, got.reason, got.hard) == (Stage.CONNECT, "blocked", False)

    def test_sendmail_transcript_gives_the_stage(self) -> None:
        got = verdict(
            ">>> MAIL From:<bounces@shop.example> SIZE=1234\n<<< 250 2.1.0 Sender ok\n"
            ">>> RCPT To:<kunde@example.org>\n<<< 550 5.1.1 <kunde@example.org>... User unknown"
        )
        assert (got.stage, got.reason, got.hard) == (Stage.RCPT, "user_unknown", True)

    def test_a_reply_that_quotes_our_sender_was_given_to_mail_from(self) -> None:
        diagnostic = "550 5.1.1 <bounces@shop.example>... User unknown"
        ours = verdict(diagnostic, "5.1.1", ours=OURS)
        assert (ours.stage, ours.reason, ours.hard) == (Stage.MAIL, "policy", False)
        # the same reply quoting the recipient is about the recipient
        rcpt = verdict(diagnostic.replace("bounces@shop.example", "kunde@example.org"), "5.1.1")
        assert (rcpt.reason, rcpt.hard) == ("user_unknown", True)

    def test_vague_address_phrase_after_data_is_not_decisive(self) -> None:
        got = verdict("550 mailbox unavailable (in reply to end of DATA command)")
        assert (got.stage, got.reason, got.hard) == (Stage.DATA, "user_unknown", None)
        assert verdict("550 mailbox unavailable (in reply to RCPT TO command)").hard is True


class TestDiagnosticAgainstStatus:
    def test_diagnostic_beats_a_contradicting_status(self) -> None:
        got = verdict("550 5.1.1 <kunde@example.org>... IP address blacklisted", "5.1.1")
        assert (got.reason, got.fault, got.hard) == ("blocked", Fault.SENDER, False)

    def test_rate_text_beats_a_user_unknown_status(self) -> None:
        got = verdict(
            "550 5.1.1 <kunde@example.org> - 203.0.113.2 has sent to too many recipients this hour.",
            "5.1.1",
        )
        assert (got.reason, got.hard) == ("rate_limited", False)

    def test_vague_refusal_of_us_contradicts_an_address_status(self) -> None:
        got = verdict("521 5.2.1 : AOL will not accept delivery of this message.", "5.2.1")
        assert got.hard is False
        assert got.reason == "policy"

    def test_diagnostic_beats_a_generic_status(self) -> None:
        got = verdict("550 5.7.1 No such user!", "5.7.1")
        assert (got.reason, got.hard) == ("user_unknown", True)

    @pytest.mark.parametrize(
        ("status", "reason"),
        [("5.3.0", "system"), ("5.6.0", "content_rejected"), ("5.7.0", "policy")],
    )
    def test_generic_statuses_are_never_user_unknown(self, status: str, reason: str) -> None:
        got = verdict(f"550 {status} Message rejected", status)
        assert got.reason != "user_unknown"
        assert got.hard is False
        assert verdict("", status).reason == reason

    def test_the_status_detail_counts_not_only_the_subject(self) -> None:
        assert verdict("553 5.1.8 Rejected", "5.1.8").reason == "policy"
        assert verdict("553 5.1.8 Rejected", "5.1.8").fault == Fault.SENDER
        assert verdict("501 5.1.7 Rejected", "5.1.7").fault == Fault.SENDER
        assert verdict("550 5.1.1 Rejected", "5.1.1").fault == Fault.RECIPIENT

    def test_a_specific_status_explains_a_circumstance(self) -> None:
        got = verdict("Connection refused by mx.example.org", "4.4.7")
        assert (got.reason, got.hard) == ("expired", False)

    def test_the_remote_status_in_the_diagnostic_wins_over_the_status_field(self) -> None:
        got = verdict("550 5.2.2 <kunde@example.org>... Rejected", "5.1.1")
        assert (got.reason, got.hard) == ("mailbox_full", False)

    def test_explicit_phrase_first_in_the_text_wins(self) -> None:
        got = verdict(
            "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; "
            "user unknown"
        )
        assert got.reason == "blocked"

    def test_report_text_is_used_when_the_recipient_has_no_diagnostic(self) -> None:
        got = verdict("", "5.0.0", context="Mailbox full: kunde@example.org")
        assert (got.reason, got.hard) == ("mailbox_full", False)

    def test_hedged_statement_is_not_an_address_fault(self) -> None:
        got = verdict(
            "554 The mailbox may not exist, or you may not have permission to post to it."
        )
        assert got.hard is not True
        assert got.reason == "policy"
        sure = verdict("554 The mailbox does not exist.")
        assert (sure.reason, sure.hard) == ("user_unknown", True)


class TestTransience:
    def test_host_not_found_try_again_is_transient(self) -> None:
        got = verdict(
            "Host or domain name not found. Name service error for name=example.org type=MX: "
            "Host not found, try again",
            "5.4.4",
        )
        assert got.transient
        assert (got.reason, got.hard) == ("network", False)
        permanent = verdict(
            "Host or domain name not found. Name service error for name=example.org type=A: "
            "Host not found",
            "5.4.4",
        )
        assert (permanent.reason, permanent.hard) == ("host_unknown", True)

    def test_a_domain_said_to_accept_no_mail_stays_host_unknown_but_4xx_is_not_hard(self) -> None:
        got = verdict("451 4.0.0 The domain example.org doesn't receive email (null MX)", "4.0.0")
        assert (got.reason, got.hard) == ("host_unknown", False)

    def test_4xx_user_unknown_is_never_hard(self) -> None:
        got = verdict(
            "450 4.1.1 <kunde@example.org>: Recipient address rejected: User unknown in local "
            "recipient table",
            "4.1.1",
        )
        assert (got.reason, got.hard) == ("user_unknown", False)

    def test_delayed_action_is_never_hard(self) -> None:
        got = verdict("550 5.1.1 user unknown", "5.1.1", action="delayed")
        assert got.hard is False

    def test_advice_to_retry_after_checking_the_address_is_not_transient(self) -> None:
        got = verdict("550 5.1.1 User unknown; please check the address and try again", "5.1.1")
        assert not got.transient
        assert got.hard is True

    def test_not_a_temporary_error_is_not_transient(self) -> None:
        got = verdict("550 5.1.1 No such user. This is not a temporary error.", "5.1.1")
        assert got.hard is True

    def test_a_final_failure_of_a_retried_condition_is_expired(self) -> None:
        got = verdict("451 4.4.1 reply: read error from mx.example.org", "4.4.1")
        assert (got.reason, got.hard) == ("expired", False)
        never_answered = verdict("The recipient server did not accept our requests to connect.")
        assert (never_answered.reason, never_answered.hard) == ("expired", False)
        answered = verdict("554 5.3.0 Service currently unavailable")
        assert answered.reason == "system"


@pytest.mark.parametrize(("diagnostic", "status", "reason"), CASES["never_hard"])
def test_refusals_of_us_or_of_the_message_are_never_hard(
    diagnostic: str, status: str, reason: str
) -> None:
    got = verdict(diagnostic, status)
    assert got.reason == reason
    assert got.hard is False
    assert got.fault != Fault.RECIPIENT or reason == "mailbox_full"


@pytest.mark.parametrize(("diagnostic", "status", "reason"), CASES["address_fault"])
def test_address_faults_are_hard(diagnostic: str, status: str | None, reason: str) -> None:
    got = verdict(diagnostic, status)
    assert (got.reason, got.hard, got.fault) == (reason, True, Fault.RECIPIENT)


class TestWhatTheReplyIsAbout:
    def test_links_in_a_reply_are_references_not_statements(self) -> None:
        got = verdict(
            "554 5.7.1 Message refused. Details: https://postmaster.example.net/ip-blacklist"
        )
        assert got.reason == "policy"  # the blocklist word is only in the link
        routed = verdict("421 4.3.0 Upstream failure, see https://help.example.net/mail-routing/")
        assert routed.reason == "system"  # not "routing" trouble (network)

    def test_the_rfc822_address_type_is_no_content_statement(self) -> None:
        got = verdict("Original-Recipient: rfc822;kunde@example.org", "5.2.2")
        assert (got.reason, got.hard) == ("mailbox_full", False)

    def test_an_enhanced_status_of_another_subject_refines_a_specific_reply_code(self) -> None:
        got = verdict("551 5.7.1 <kunde@example.org>: Recipient address rejected: Not authorized")
        assert (got.reason, got.hard) == ("policy", False)
        plain = verdict("551 User not local; please try <kunde@example.net>")
        assert (plain.reason, plain.hard) == ("user_unknown", True)

    def test_a_reply_naming_only_our_sender_is_about_our_sender_at_any_stage(self) -> None:
        got = verdict(
            "host mx.example.org[192.0.2.7] said: 550 5.1.1 <bounces@shop.example>: unknown user "
            "(in reply to RCPT TO command)",
            "5.1.1",
            ours=OURS,
        )
        assert (got.stage, got.reason, got.fault, got.hard) == (
            Stage.RCPT,
            "policy",
            Fault.SENDER,
            False,
        )

    def test_a_reply_naming_only_our_domain_is_about_our_sender(self) -> None:
        diagnostic = (
            "host mx.example.org [192.0.2.7] SMTP error from remote mail server after end of "
            "data: 553 {} does not exist"
        )
        ours = verdict(diagnostic.format("shop.example"), ours=OURS)
        assert (ours.reason, ours.fault, ours.hard) == ("policy", Fault.SENDER, False)
        theirs = verdict(diagnostic.format("example.org"), ours=OURS)
        assert theirs.hard is True  # the recipient's own domain
        # the reporting MTA's mailbox is not our sender
        daemon = verdict(
            "550 relay.example.net: no such user here",
            ours=frozenset({"mailer-daemon@relay.example.net"}),
        )
        assert (daemon.reason, daemon.hard) == ("user_unknown", True)

    def test_a_vague_refusal_of_our_sender_is_policy_not_a_blocklist(self) -> None:
        got = verdict(
            "SMTP error from remote mail server after MAIL FROM:<bounces@shop.example>: "
            "550 Access denied"
        )
        assert (got.stage, got.reason, got.hard) == (Stage.MAIL, "policy", False)
        listed = verdict(
            "SMTP error from remote mail server after MAIL FROM:<bounces@shop.example>: "
            "550 sending host listed at dnsbl.example.net"
        )
        assert listed.reason == "blocked"

    def test_unable_to_route_with_a_failed_lookup_is_a_dns_failure(self) -> None:
        got = verdict("DNS lookup of the MX of example.org failed: SERVFAIL", "5.4.4")
        assert (got.reason, got.hard) == ("network", False)
        missing = verdict(
            "Name service error for name=example.org type=MX: Host not found", "5.4.4"
        )
        assert (missing.reason, missing.hard) == ("host_unknown", True)
        bare = verdict("Name service error for name=example.org", "5.4.4")
        assert (bare.reason, bare.hard) == ("host_unknown", True)  # the status tells

    def test_a_host_that_refused_us_was_reached(self) -> None:
        got = verdict("550 5.4.1 Access denied by the receiving site", "5.4.1")
        assert (got.reason, got.hard) == ("blocked", False)
        assert verdict("550 5.4.1 No answer from host", "5.4.1").reason == "network"

    def test_insufficient_system_storage_is_not_a_full_mailbox(self) -> None:
        got = verdict("452 Insufficient disk space on the server", action="delayed")
        assert (got.reason, got.fault) == ("system", Fault.TRANSPORT)
        at_mail = verdict(
            "SMTP error from remote mail server after MAIL FROM:<bounces@shop.example>: "
            "452 4.4.5 not enough storage space",
            action="delayed",
        )
        assert at_mail.reason == "system"  # a condition of the server, at any stage
        assert verdict("552 5.2.2 mailbox over quota", "5.2.2").reason == "mailbox_full"

    def test_a_stated_server_condition_keeps_its_reason_when_the_mta_gives_up(self) -> None:
        got = verdict("451 4.3.0 local configuration error on the receiving side", "4.3.0")
        assert (got.reason, got.hard) == ("system", False)
        path = verdict("421 4.4.2 connection to mx.example.org lost", "4.4.2")
        assert (path.reason, path.hard) == ("expired", False)
