"""The SES SMTP relay client against a SES-like relay over real TCP with STARTTLS and AUTH."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from shopmail.adapters.smtp_relay import SesSmtpRelay, SmtpCredentials
from shopmail.errors import (
    ConfigurationError,
    DeliveryAmbiguousError,
    DeliveryDeferredError,
    InvalidRecipientError,
    MessageRejectedError,
    QuotaExceededError,
    RelayUnavailableError,
    ShopmailError,
)

from shopmail_local.certs import ensure_certs
from tests.fixtures.ses_smtp import SesSmtp

SENDER = "shop@shop.example"
RCPT = "customer@example.org"


def build(subject: str = "Order 1001", sender: str = SENDER, body: str = "Hello") -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = RCPT
    msg["Subject"] = subject
    msg.set_content(body)
    return msg.as_bytes()


def subjects(ses: SesSmtp) -> list[str]:
    return [str(BytesParser().parsebytes(m.data)["Subject"]) for m in ses.messages]


# --- happy path ---------------------------------------------------------------------------


def test_batch_on_one_connection_captures_message_ids(ses_smtp: SesSmtp) -> None:
    relay = ses_smtp.relay()
    with relay.session() as smtp:
        ids = [smtp.send(SENDER, [RCPT], build(f"m{i}")) for i in range(3)]
    assert ids == [m.message_id for m in ses_smtp.messages]
    assert len(set(ids)) == 3
    assert all(i.startswith("0102") for i in ids)
    assert ses_smtp.server.connections == 1
    assert ses_smtp.server.logins == 1
    assert subjects(ses_smtp) == ["m0", "m1", "m2"]
    assert ses_smtp.messages[0].envelope.mail_from == SENDER
    assert ses_smtp.messages[0].envelope.rcpt_tos == (RCPT,)
    assert ses_smtp.messages[0].envelope.auth_login == ses_smtp.access_key_id


def test_dot_stuffing_keeps_the_body_intact(ses_smtp: SesSmtp) -> None:
    body = ".leading dot\n..two dots\n.\nend"
    with ses_smtp.relay().session() as smtp:
        smtp.send(SENDER, [RCPT], build(body=body))
    got = BytesParser(policy=policy.default).parsebytes(ses_smtp.messages[0].data)
    assert got.get_content().replace("\r\n", "\n").rstrip("\n") == body


def test_adapter_send_satisfies_the_mail_sender_port(ses_smtp: SesSmtp) -> None:
    relay = ses_smtp.relay()
    try:
        first = relay.send(SENDER, [RCPT], build("a"))
        second = relay.send(SENDER, [RCPT], build("b"))
    finally:
        relay.close()
    assert [first, second] == [m.message_id for m in ses_smtp.messages]
    assert ses_smtp.server.connections == 1


def test_session_connects_lazily_and_quits(ses_smtp: SesSmtp) -> None:
    with ses_smtp.relay().session():
        pass
    assert ses_smtp.server.connections == 0
    with ses_smtp.relay().session() as smtp:
        smtp.send(SENDER, [RCPT], build())
    assert ses_smtp.server.replies[-1].startswith("221")


def test_delivery_hook_receives_envelope_bytes_and_id(
    make_ses_smtp: Callable[..., SesSmtp],
) -> None:
    seen: list[tuple[str, bytes, str]] = []
    ses = make_ses_smtp(on_message=lambda env, raw, mid: seen.append((env.mail_from, raw, mid)))
    with ses.relay().session() as smtp:
        ses_id = smtp.send(SENDER, [RCPT], build("hooked"))
    assert seen == [(SENDER, ses.messages[0].data, ses_id)]


def test_failing_delivery_hook_is_a_transient_failure(
    make_ses_smtp: Callable[..., SesSmtp],
) -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("routing broke")

    ses = make_ses_smtp(on_message=boom)
    with ses.relay().session() as smtp, pytest.raises(DeliveryDeferredError):
        smtp.send(SENDER, [RCPT], build())
    assert ses.messages == []


# --- the EHLO advertisement -----------------------------------------------------------------


def test_ehlo_advertises_exactly_what_ses_advertises(ses_smtp: SesSmtp) -> None:
    context = ssl.create_default_context(cafile=str(ses_smtp.ca_file))
    with smtplib.SMTP(ses_smtp.host, ses_smtp.port, timeout=5) as client:
        code, before = client.ehlo("client.example")
        assert code == 250
        assert before.decode().splitlines()[1:] == [
            "8BITMIME",
            "STARTTLS",
            "AUTH PLAIN LOGIN",
            "Ok",
        ]
        assert client.mail(SENDER) == (530, b"Must issue a STARTTLS command first")
        client.starttls(context=context)
        code, after = client.ehlo("client.example")
        assert after.decode().splitlines()[1:] == ["8BITMIME", "AUTH PLAIN LOGIN", "Ok"]
        for absent in ("pipelining", "smtputf8", "enhancedstatuscodes", "chunking", "dsn", "size"):
            assert not client.has_extn(absent)
        assert client.mail(SENDER) == (530, b"Authentication required")


# --- transient replies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("454 Throttling failure: Maximum sending rate exceeded.", DeliveryDeferredError),
        ("554 Transaction failed: Duplicate header 'Subject'.", MessageRejectedError),
    ],
    ids=["454-after-data-is-deferred", "554-transaction-failed-is-permanent"],
)
def test_a_refused_message_fails_alone_and_the_batch_goes_on(
    ses_smtp: SesSmtp, reply: str, error: type[ShopmailError]
) -> None:
    ses_smtp.script("data", reply)
    with ses_smtp.relay().session() as smtp:
        with pytest.raises(error) as info:
            smtp.send(SENDER, [RCPT], build("refused"))
        assert info.value.context["smtp_code"] == int(reply[:3])
        ses_id = smtp.send(SENDER, [RCPT], build("next"))
    assert subjects(ses_smtp) == ["next"]
    assert ses_smtp.messages[0].message_id == ses_id
    assert ses_smtp.server.connections == 1


def test_real_rate_limit_answers_454(make_ses_smtp: Callable[..., SesSmtp]) -> None:
    ses = make_ses_smtp(max_rate=1.0)
    with ses.relay().session() as smtp:
        smtp.send(SENDER, [RCPT], build("one"))
        with pytest.raises(DeliveryDeferredError, match="Maximum sending rate"):
            smtp.send(SENDER, [RCPT], build("two"))


def _sent_once_after_one_reconnect(ses_smtp: SesSmtp, subject: str = "Order 1001") -> None:
    """One message goes through after exactly one reconnect, and is delivered once."""
    with ses_smtp.relay().session() as smtp:
        ses_id = smtp.send(SENDER, [RCPT], build(subject))
        assert smtp.reconnects == 1
    assert [m.message_id for m in ses_smtp.messages] == [ses_id]
    assert ses_smtp.server.connections == 2


@pytest.mark.parametrize(
    "reply",
    ["421 Too many concurrent SMTP connections", "451 4.4.2 Timeout waiting for data from client."],
)
@pytest.mark.parametrize("stage", ["mail", "data"])
def test_reconnect_once_then_success(ses_smtp: SesSmtp, reply: str, stage: str) -> None:
    ses_smtp.script(stage, reply)
    _sent_once_after_one_reconnect(ses_smtp, "retried")


def test_421_at_the_start_of_data_is_handled(ses_smtp: SesSmtp) -> None:
    # CPython gh-132796: smtplib's sendmail does not handle 421 in DATA; this client does.
    ses_smtp.script("data_start", "421 Service not available, closing transmission channel")
    _sent_once_after_one_reconnect(ses_smtp)
    assert "421 Service not available, closing transmission channel" in ses_smtp.server.replies


def test_second_reconnect_failure_is_deferred(ses_smtp: SesSmtp) -> None:
    for _ in range(2):
        ses_smtp.script("mail", "421 Too many concurrent SMTP connections")
    with ses_smtp.relay().session() as smtp:
        with pytest.raises(DeliveryDeferredError, match="twice"):
            smtp.send(SENDER, [RCPT], build())
        smtp.send(SENDER, [RCPT], build("later"))  # the session recovers for the next item
    assert subjects(ses_smtp) == ["later"]


@pytest.mark.parametrize(
    ("fault", "delivered"),
    [
        ({"drop": True}, 0),  # reset before the relay accepted it
        ({"drop": True, "close": True}, 0),  # clean close, nothing accepted
        ({"drop": True, "deliver": True}, 1),  # accepted, then the 250 was lost
        ({"drop": True, "close": True, "deliver": True}, 1),
    ],
    ids=["reset", "close", "reset-after-accept", "close-after-accept"],
)
def test_connection_lost_after_the_final_dot_is_ambiguous_and_never_resent(
    ses_smtp: SesSmtp, fault: dict[str, bool], delivered: int
) -> None:
    ses_smtp.script("data", **fault)
    with ses_smtp.relay().session() as smtp:
        with pytest.raises(DeliveryAmbiguousError) as info:
            smtp.send(SENDER, [RCPT], build("maybe"))
        assert info.value.context["ambiguous"] is True and info.value.permanent
        assert smtp.reconnects == 0
        # the session goes on with a new connection for the next message
        smtp.send(SENDER, [RCPT], build("next"))
    assert subjects(ses_smtp) == ["maybe"] * delivered + ["next"]
    assert ses_smtp.server.connections == 2


def test_timeout_after_the_final_dot_is_ambiguous_and_never_resent(ses_smtp: SesSmtp) -> None:
    ses_smtp.script("data", delay=1.0)  # the relay accepts it, too late for the client
    with ses_smtp.relay(timeout=0.3).session() as smtp:
        with pytest.raises(DeliveryAmbiguousError) as info:
            smtp.send(SENDER, [RCPT], build("slow"))
        assert info.value.context["ambiguous"] is True
        assert smtp.reconnects == 0
    assert ses_smtp.server.connections == 1


def test_connection_lost_before_the_final_dot_is_resent_once(ses_smtp: SesSmtp) -> None:
    ses_smtp.script("data_start", drop=True)  # at DATA: nothing can have been accepted
    _sent_once_after_one_reconnect(ses_smtp, "resent")


def test_connection_lost_twice_before_the_final_dot_is_deferred(ses_smtp: SesSmtp) -> None:
    ses_smtp.script("data_start", drop=True)
    ses_smtp.script("data_start", drop=True)
    with ses_smtp.relay().session() as smtp:
        with pytest.raises(DeliveryDeferredError, match="twice"):
            smtp.send(SENDER, [RCPT], build())
        smtp.send(SENDER, [RCPT], build("later"))  # a message problem: the session goes on
    assert subjects(ses_smtp) == ["later"]


def test_451_temporary_service_failure_is_deferred_with_a_new_connection(
    ses_smtp: SesSmtp,
) -> None:
    ses_smtp.script("data", "451 Temporary service failure")
    with ses_smtp.relay().session() as smtp:
        with pytest.raises(DeliveryDeferredError):
            smtp.send(SENDER, [RCPT], build())
        smtp.send(SENDER, [RCPT], build("after"))
    assert ses_smtp.server.connections == 2


def test_idle_connection_is_replaced_before_use(ses_smtp: SesSmtp) -> None:
    now = [1000.0]
    with ses_smtp.relay(clock=lambda: now[0], idle_limit=5.0).session() as smtp:
        smtp.send(SENDER, [RCPT], build("a"))
        now[0] += 4.0
        smtp.send(SENDER, [RCPT], build("b"))
        assert ses_smtp.server.connections == 1
        now[0] += 5.5
        smtp.send(SENDER, [RCPT], build("c"))
    assert ses_smtp.server.connections == 2
    assert subjects(ses_smtp) == ["a", "b", "c"]


def test_server_idle_timeout_answers_451_4_4_2_and_client_recovers(
    make_ses_smtp: Callable[..., SesSmtp],
) -> None:
    import time

    ses = make_ses_smtp(idle_timeout=0.3)
    # idle_limit above the server's timeout: the client does not know the connection died
    with ses.relay(idle_limit=60).session() as smtp:
        smtp.send(SENDER, [RCPT], build("a"))
        time.sleep(0.6)
        smtp.send(SENDER, [RCPT], build("b"))
        assert smtp.reconnects == 1
    assert any(r.startswith("451 4.4.2 Timeout waiting for data") for r in ses.server.replies)
    assert subjects(ses) == ["a", "b"]


# --- batch-stopping replies ------------------------------------------------------------------


def test_daily_quota_stops_the_batch(ses_smtp: SesSmtp) -> None:
    ses_smtp.script("data", "454 Throttling failure: Daily message quota exceeded.")
    with ses_smtp.relay().session() as smtp:
        with pytest.raises(QuotaExceededError):
            smtp.send(SENDER, [RCPT], build())
        connections = ses_smtp.server.connections
        with pytest.raises(QuotaExceededError):
            smtp.send(SENDER, [RCPT], build())
        assert ses_smtp.server.connections == connections  # no further network use
    assert ses_smtp.messages == []


def test_real_daily_quota(make_ses_smtp: Callable[..., SesSmtp]) -> None:
    ses = make_ses_smtp(daily_quota=1)
    with ses.relay().session() as smtp:
        smtp.send(SENDER, [RCPT], build())
        with pytest.raises(QuotaExceededError):
            smtp.send(SENDER, [RCPT], build())


def test_wrong_password_is_a_configuration_error(ses_smtp: SesSmtp) -> None:
    bad = SmtpCredentials(ses_smtp.access_key_id, "B" + "x" * 43)
    with ses_smtp.relay(credentials=bad).session() as smtp:
        with pytest.raises(ConfigurationError) as info:
            smtp.send(SENDER, [RCPT], build())
        assert info.value.context["smtp_code"] == 535
        assert "Authentication Credentials Invalid" in info.value.reason
        with pytest.raises(ConfigurationError):  # the batch stays stopped
            smtp.send(SENDER, [RCPT], build())
    assert ses_smtp.server.connections == 1
    assert "x" * 43 not in info.value.reason


def test_raw_secret_instead_of_derived_password_is_rejected(ses_smtp: SesSmtp) -> None:
    raw = SmtpCredentials(ses_smtp.access_key_id, ses_smtp.secret_access_key)
    with ses_smtp.relay(credentials=raw).session() as smtp, pytest.raises(ConfigurationError):
        smtp.send(SENDER, [RCPT], build())


def test_scripted_535_is_a_configuration_error(ses_smtp: SesSmtp) -> None:
    ses_smtp.script("auth", "535 Authentication Credentials Invalid")
    with ses_smtp.relay().session() as smtp, pytest.raises(ConfigurationError):
        smtp.send(SENDER, [RCPT], build())


def test_unverified_sender_is_a_configuration_error(ses_smtp: SesSmtp) -> None:
    with ses_smtp.relay().session() as smtp, pytest.raises(ConfigurationError) as info:
        smtp.send("news@unverified.example", [RCPT], build(sender="news@unverified.example"))
    assert "not verified" in info.value.reason
    assert "news@" not in info.value.reason  # addresses reduced to the domain
    assert ses_smtp.messages == []


@pytest.mark.parametrize(
    "reply",
    [
        "554 Access denied: User arn:aws:iam::123456789012:user/x is not authorized to perform "
        "ses:SendRawEmail",
        "554 Message rejected: Sending paused for this account.",
    ],
)
def test_other_554_configuration_errors(ses_smtp: SesSmtp, reply: str) -> None:
    ses_smtp.script("data", reply)
    with ses_smtp.relay().session() as smtp, pytest.raises(ConfigurationError):
        smtp.send(SENDER, [RCPT], build())


# --- permanent replies -----------------------------------------------------------------------


def test_too_long_message_is_permanent(make_ses_smtp: Callable[..., SesSmtp]) -> None:
    ses = make_ses_smtp(max_message_size=2000)
    with ses.relay().session() as smtp:
        with pytest.raises(MessageRejectedError, match="552 Message is too long"):
            smtp.send(SENDER, [RCPT], build(body="x" * 5000))
        smtp.send(SENDER, [RCPT], build("small"))
    assert subjects(ses) == ["small"]


def test_553_recipient_is_permanent(ses_smtp: SesSmtp) -> None:
    ses_smtp.script("rcpt", "553 Invalid email address")
    with ses_smtp.relay().session() as smtp:
        with pytest.raises(MessageRejectedError):
            smtp.send(SENDER, [RCPT], build())
        smtp.send(SENDER, [RCPT], build("after rset"))
    assert subjects(ses_smtp) == ["after rset"]


# --- TLS and input ---------------------------------------------------------------------------


def test_certificate_from_another_ca_fails_verification(
    ses_smtp: SesSmtp, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = ensure_certs(tmp_path_factory.mktemp("other-ca"), common_name="some other CA")
    relay = ses_smtp.relay(ca_file=str(other.ca_file))
    with relay.session() as smtp:
        with pytest.raises(ConfigurationError, match="certificate"):
            smtp.send(SENDER, [RCPT], build())
        with pytest.raises(ConfigurationError, match="certificate"):  # batch stays stopped
            smtp.send(SENDER, [RCPT], build())
    assert ses_smtp.server.connections == 1
    assert ses_smtp.server.logins == 0
    assert ses_smtp.messages == []


def test_system_trust_store_rejects_the_local_ca(ses_smtp: SesSmtp) -> None:
    relay = SesSmtpRelay(ses_smtp.host, ses_smtp.port, ses_smtp.credentials, timeout=5)
    with relay.session() as smtp, pytest.raises(ConfigurationError, match="certificate"):
        smtp.send(SENDER, [RCPT], build())


def test_ssl_context_is_built_once_per_adapter(ses_smtp: SesSmtp) -> None:
    relay = ses_smtp.relay()
    context = relay.ssl_context
    with relay.session() as a:
        a.send(SENDER, [RCPT], build())
    with relay.session() as b:
        b.send(SENDER, [RCPT], build())
    assert relay.ssl_context is context
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_tcp_nodelay_is_set(ses_smtp: SesSmtp) -> None:
    import socket

    with ses_smtp.relay().session() as smtp:
        smtp.send(SENDER, [RCPT], build())
        conn = smtp._conn
        assert conn is not None and conn.sock is not None
        assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_unreachable_relay_stops_the_session(ses_smtp: SesSmtp) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    relay = SesSmtpRelay("127.0.0.1", port, ses_smtp.credentials, timeout=2)
    with relay.session() as smtp:
        with pytest.raises(RelayUnavailableError) as info:
            smtp.send(SENDER, [RCPT], build())
        assert info.value.context["stage"] == "connect"
        assert smtp.reconnects == 1  # tried once more
        with pytest.raises(RelayUnavailableError):  # no further network use
            smtp.send(SENDER, [RCPT], build())
        assert smtp.reconnects == 1


@pytest.mark.parametrize(
    ("stage", "reply"),
    [
        ("connect", "421 Service not available"),
        ("ehlo", "421 Service not available"),
        ("auth", "454 Temporary authentication failure"),
        ("starttls", "454 TLS not available due to temporary reason"),
    ],
)
def test_session_opening_4xx_twice_stops_the_session(
    ses_smtp: SesSmtp, stage: str, reply: str
) -> None:
    ses_smtp.script(stage, reply)
    ses_smtp.script(stage, reply)
    with ses_smtp.relay().session() as smtp:
        with pytest.raises(RelayUnavailableError) as info:
            smtp.send(SENDER, [RCPT], build())
        assert info.value.context["stage"] == stage
        connections = ses_smtp.server.connections
        with pytest.raises(RelayUnavailableError):
            smtp.send(SENDER, [RCPT], build())
        assert ses_smtp.server.connections == connections
    assert ses_smtp.messages == []


def test_session_opening_4xx_once_is_retried(ses_smtp: SesSmtp) -> None:
    ses_smtp.script("auth", "454 Temporary authentication failure")
    with ses_smtp.relay().session() as smtp:
        smtp.send(SENDER, [RCPT], build("second try"))
        assert smtp.reconnects == 1
    assert subjects(ses_smtp) == ["second try"]


def test_5xx_while_opening_the_session_is_configuration(ses_smtp: SesSmtp) -> None:
    ses_smtp.script("ehlo", "554 Access to this service is not permitted")
    with ses_smtp.relay().session() as smtp, pytest.raises(ConfigurationError) as info:
        smtp.send(SENDER, [RCPT], build())
    assert info.value.context["stage"] == "ehlo"


@pytest.mark.parametrize(
    ("sender", "recipients"),
    [
        (SENDER, []),
        (SENDER, ["kunde@exämple.de"]),
        (SENDER, ["jürgen@example.de"]),
        (SENDER, ["a@example.org\r\nRCPT TO:<evil@example.org>"]),
        (SENDER, ["no-at-sign"]),
        (SENDER, [f"r{i}@example.org" for i in range(51)]),
        ("shöp@shop.example", [RCPT]),
    ],
)
def test_bad_addresses_are_rejected_before_sending(
    ses_smtp: SesSmtp, sender: str, recipients: list[str]
) -> None:
    with ses_smtp.relay().session() as smtp, pytest.raises(InvalidRecipientError):
        smtp.send(sender, recipients, build())
    assert ses_smtp.server.connections == 0


def test_pacing_is_shared_by_the_sessions_of_an_adapter(ses_smtp: SesSmtp) -> None:
    from shopmail.domain.smtp.pacing import TokenBucket

    waits: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(10, burst=1, clock=lambda: now[0], sleep=sleep)
    relay = ses_smtp.relay(pacer=bucket)
    with relay.session() as a:
        a.send(SENDER, [RCPT], build())
    with relay.session() as b:
        b.send(SENDER, [RCPT], build())
        b.send(SENDER, [RCPT], build())
    assert waits == pytest.approx([0.1, 0.1])


# --- a relay that offers no STARTTLS, or no working TLS ------------------------------------


def test_no_starttls_offered_means_no_auth_in_clear() -> None:
    """A plain relay that would take AUTH without TLS: the client must refuse before AUTH."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    logins: list[str] = []

    def accept_anything(
        server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        logins.append(mechanism)
        return AuthResult(success=True)

    class Sink:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 Ok 0102-accepted-in-clear"

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        Sink(),
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,
        auth_required=False,
        authenticator=accept_anything,
    )
    controller.start()
    try:
        relay = SesSmtpRelay("127.0.0.1", port, SmtpCredentials("AKIA", "pw"), timeout=5)
        with relay.session() as smtp:
            with pytest.raises(ConfigurationError) as info:
                smtp.send(SENDER, [RCPT], build())
            assert info.value.context["stage"] == "starttls"
            with pytest.raises(ConfigurationError):  # the session stays stopped
                smtp.send(SENDER, [RCPT], build())
    finally:
        controller.stop()
    assert logins == []  # the credentials never went over the wire


def test_failed_tls_handshake_is_a_configuration_error() -> None:
    """A relay that says 220 to STARTTLS and then speaks no TLS."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rwb") as f:
            f.write(b"220 fake ESMTP\r\n")
            f.flush()
            f.readline()  # EHLO
            f.write(b"250-fake\r\n250-STARTTLS\r\n250 Ok\r\n")
            f.flush()
            f.readline()  # STARTTLS
            f.write(b"220 Ready to start TLS\r\n")
            f.flush()
            f.write(b"this is not a TLS server hello\r\n" * 4)
            f.flush()
            conn.recv(4096)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        relay = SesSmtpRelay("127.0.0.1", port, SmtpCredentials("AKIA", "pw"), timeout=5)
        with relay.session() as smtp, pytest.raises(ConfigurationError, match="TLS handshake"):
            smtp.send(SENDER, [RCPT], build())
    finally:
        thread.join(timeout=5)
        listener.close()
