"""The SES-inbound emulator of the running stack driven by real clients: swaks (Debian package,
installed by ``make system-deps``) with and without STARTTLS, and smtplib with STARTTLS.

A covered recipient is accepted (raw mail in the rule's bucket, the real inbound handler routes
it); an uncovered one gets ``550`` in-session, as SES rejects it.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shopmail_local.stack.runner import LocalStack
from tests.fixtures.e2e_stack import require_tool, wait_until

MESSAGE = (
    "From: Jürgen Müller <juergen.mueller@example.com>\r\n"
    "To: orders@shop.example\r\n"
    "Subject: Frage zu Bestellung ORD-100234 ({tag})\r\n"
    "Date: Sat, 28 Nov 2026 11:30:00 +0100\r\n"
    "Message-ID: <swaks-{tag}@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Wann wird meine Bestellung ORD-100234 versandt?\r\n"
)
ACCEPTED = re.compile(r"<[-~]\s+250 Ok (\S+)")  # "<~": inside TLS


def _swaks(
    stack: LocalStack, to: str, data: Path, *, tls: bool, artifact: Path | None = None
) -> subprocess.CompletedProcess[str]:
    swaks = require_tool("swaks")
    cmd = [
        swaks,
        "--server", "127.0.0.1",
        "--port", str(stack.config.inbound_port),
        "--helo", "client.example",
        "--from", "juergen.mueller@example.com",
        "--to", to,
        "--data", f"@{data}",
        "--timeout", "20",
    ]  # fmt: skip
    if tls:
        cmd += ["--tls", "--tls-verify", "--tls-ca-path", stack.ca_file]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if artifact is not None:
        artifact.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    return proc


def _raw_object(stack: LocalStack, message_id: str) -> bytes:
    out = stack.outputs
    assert out is not None
    key = out.outputs["RawMailPrefix"] + message_id
    obj = stack.client("s3").get_object(Bucket=out.outputs["RawMailBucketName"], Key=key)
    return bytes(obj["Body"].read())


def _inbound(stack: LocalStack, message_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        r
        for r in stack.state.inbound_log()
        if r.get("message_id") == message_id and r.get("kind") == kind
    ]


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "starttls"])
def test_swaks_covered_recipient_is_accepted_stored_and_routed(
    e2e_stack: LocalStack, tmp_path: Path, artifacts_dir: Path, tls: bool
) -> None:
    tag = "tls" if tls else "plain"
    data = tmp_path / "mail.eml"
    data.write_bytes(MESSAGE.format(tag=tag).encode("utf-8"))
    proc = _swaks(
        e2e_stack, "orders@shop.example", data, tls=tls,
        artifact=artifacts_dir / f"swaks-accepted-{tag}.txt",
    )  # fmt: skip
    transcript = proc.stdout + proc.stderr
    assert proc.returncode == 0, transcript
    if tls:
        assert "-> STARTTLS" in transcript
        assert "TLS started" in transcript
        assert re.search(r"~> RCPT TO:<orders@shop.example>", transcript)
    else:
        assert "STARTTLS" in transcript  # offered in EHLO, not used
        assert "-> STARTTLS" not in transcript
    match = ACCEPTED.search(transcript)
    assert match, transcript
    message_id = match.group(1)

    stored = _raw_object(e2e_stack, message_id)
    assert f"<swaks-{tag}@example.com>".encode() in stored
    assert stored.startswith(b"Return-Path: <juergen.mueller@example.com>")
    (received,) = _inbound(e2e_stack, message_id, "received")
    assert received["recipients"] == ["orders@shop.example"]
    # the .local record's verdict keys are an interface: all present, no DMARC policy is ""
    assert received["verdicts"] == {
        "spam": "GRAY",
        "virus": "GRAY",
        "spf": "GRAY",
        "dkim": "GRAY",
        "dmarc": "GRAY",
        "dmarc_policy": "",
    }
    decisions = wait_until(lambda: _inbound(e2e_stack, message_id, "decision"))
    assert decisions, "the inbound handler recorded no routing decision"
    assert decisions[0]["route"] == "orders"
    invocation = wait_until(lambda: _inbound(e2e_stack, message_id, "invocation"))
    assert invocation and invocation[0]["ok"], invocation


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "starttls"])
def test_swaks_uncovered_recipient_is_rejected_with_550(
    e2e_stack: LocalStack, tmp_path: Path, artifacts_dir: Path, tls: bool
) -> None:
    data = tmp_path / "mail.eml"
    data.write_bytes(MESSAGE.format(tag="rejected").encode("utf-8"))
    before = len(e2e_stack.state.inbound_log())
    tag = "tls" if tls else "plain"
    proc = _swaks(
        e2e_stack, "someone@elsewhere.example", data, tls=tls,
        artifact=artifacts_dir / f"swaks-rejected-{tag}.txt",
    )  # fmt: skip
    transcript = proc.stdout + proc.stderr
    assert proc.returncode == 24, transcript  # swaks: no recipient accepted
    assert re.search(r"<[*~]\*\s+550 5\.1\.1", transcript), transcript
    assert not re.search(r"[-~]> DATA", transcript)
    assert len(e2e_stack.state.inbound_log()) == before


def test_smtplib_starttls_session_rejects_uncovered_and_accepts_covered(
    e2e_stack: LocalStack,
) -> None:
    ctx = ssl.create_default_context(cafile=e2e_stack.ca_file)
    with smtplib.SMTP("127.0.0.1", e2e_stack.config.inbound_port, timeout=20) as smtp:
        smtp.ehlo("client.example")
        assert smtp.has_extn("starttls")
        smtp.starttls(context=ctx)
        smtp.ehlo("client.example")
        assert not smtp.has_extn("starttls")  # already in TLS
        smtp.mail("juergen.mueller@example.com")
        code, _ = smtp.rcpt("nobody@elsewhere.example")
        assert code == 550
        code, _ = smtp.rcpt("support@shop.example")
        assert code == 250
        code, reply = smtp.data(MESSAGE.format(tag="smtplib").encode("utf-8"))
    assert code == 250
    message_id = reply.decode().split()[-1]
    assert b"<swaks-smtplib@example.com>" in _raw_object(e2e_stack, message_id)
    (received,) = _inbound(e2e_stack, message_id, "received")
    assert received["recipients"] == ["support@shop.example"]
    decisions = wait_until(lambda: _inbound(e2e_stack, message_id, "decision"))
    assert decisions and decisions[0]["route"] == "support"
