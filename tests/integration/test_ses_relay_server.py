"""The SES-like relay server itself, driven by bare smtplib over TCP."""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shopmail_local.certs import ensure_certs
from shopmail_local.stack.ses_relay import SesRelayServer
from tests.fixtures.ses_smtp import SesSmtp

MSG = b"From: shop@shop.example\r\nTo: c@example.org\r\nSubject: s\r\n\r\nhi\r\n"


def _tls(ses: SesSmtp) -> smtplib.SMTP:
    client = smtplib.SMTP(ses.host, ses.port, timeout=5)
    client.starttls(context=ssl.create_default_context(cafile=str(ses.ca_file)))
    return client


def test_certs_are_made_once_and_reused(tmp_path: Path) -> None:
    first = ensure_certs(tmp_path)
    ca = first.ca_file.read_bytes()
    second = ensure_certs(tmp_path)
    assert second == first and second.ca_file.read_bytes() == ca
    assert oct(first.key_file.stat().st_mode & 0o777) == "0o600"
    third = ensure_certs(tmp_path, hostnames=("localhost", "relay.local"))
    assert third.ca_file.read_bytes() != ca  # new SAN needed: made afresh


def test_auth_before_starttls_is_refused(ses_smtp: SesSmtp) -> None:
    with smtplib.SMTP(ses_smtp.host, ses_smtp.port, timeout=5) as client:
        client.ehlo()
        code, text = client.docmd("AUTH", "PLAIN AGEAYg==")
    assert (code, text) == (530, b"Must issue a STARTTLS command first")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_mechanisms(ses_smtp: SesSmtp, mechanism: str) -> None:
    creds = ses_smtp.credentials
    with _tls(ses_smtp) as client:
        client.ehlo()
        method = client.auth_plain if mechanism == "PLAIN" else client.auth_login
        client.user, client.password = creds.username, creds.password
        code, _ = client.auth(mechanism, method)
        assert code == 235
        client.sendmail("shop@shop.example", ["c@example.org"], MSG)
    assert len(ses_smtp.messages) == 1


def test_wrong_password_gets_ses_wording(ses_smtp: SesSmtp) -> None:
    with _tls(ses_smtp) as client, pytest.raises(smtplib.SMTPAuthenticationError) as info:
        client.login(ses_smtp.access_key_id, "wrong")
    assert info.value.smtp_code == 535
    assert info.value.smtp_error == b"Authentication Credentials Invalid"


def test_scripted_greeting_421_closes(ses_smtp: SesSmtp) -> None:
    ses_smtp.script("connect", "421 Too many concurrent SMTP connections")
    with pytest.raises(smtplib.SMTPConnectError) as info:
        smtplib.SMTP(ses_smtp.host, ses_smtp.port, timeout=5)
    assert info.value.smtp_code == 421


def test_idle_client_gets_451_4_4_2(make_ses_smtp: Callable[..., SesSmtp]) -> None:
    ses = make_ses_smtp(idle_timeout=0.2)
    with smtplib.SMTP(ses.host, ses.port, timeout=5) as client:
        client.ehlo()
        time.sleep(0.5)
        client.putcmd("noop")
        code, text = client.getreply()
    assert (code, text) == (451, b"4.4.2 Timeout waiting for data from client.")


def test_script_validation(ses_smtp: SesSmtp) -> None:
    with pytest.raises(ValueError, match="unknown stage"):
        ses_smtp.script("quit", "221 bye")
    with pytest.raises(ValueError, match="give a reply"):
        ses_smtp.script("data")


def test_binds_loopback_only(tmp_path: Path) -> None:
    certs = ensure_certs(tmp_path)
    server = SesRelayServer(
        cert_file=certs.cert_file, key_file=certs.key_file, credentials={"u": "p"}, port=0
    )
    with server:
        assert server.host == "127.0.0.1"
        assert server._controller is not None
        sockets = server._controller.server.sockets  # type: ignore[union-attr]
        assert {s.getsockname()[0] for s in sockets} == {"127.0.0.1"}
