"""Stop and start again: immediately, on the same ports, with the same state.

After a clean stop the next start restores moto's data (tables, objects, queued messages), so
every page still agrees with the outbox and the logs; an unclean stop or ``--reset`` clears the
logs and the outbox together with moto's data.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import requests
from shopmail.domain.smtp.password import smtp_password

from shopmail_local.stack.runner import LocalStack, RunConfig
from shopmail_local.stack.stack_file import read_stack_file, update_stack_file
from tests.fixtures.e2e_stack import free_ports, wait_until

SUPPRESSED = "restart-test@example.org"


def _config(state: Path, ports: list[int], **kwargs: object) -> RunConfig:
    moto, inbound, relay, web = ports[:4]
    return RunConfig(
        state_dir=state,
        moto_port=moto,
        inbound_port=inbound,
        relay_port=relay,
        web_port=web,
        unsubscribe_port=ports[4] if len(ports) > 4 else free_ports(1)[0],
        retry_delays=(0.05, 0.05),
        **kwargs,  # type: ignore[arg-type]
    )


def _relay_send(stack: LocalStack, rcpt: str, subject: str) -> None:
    out = stack.outputs
    assert out is not None
    creds = out.smtp_credentials
    msg = EmailMessage()
    msg["From"] = "shop@shop.example"
    msg["To"] = rcpt
    msg["Subject"] = subject
    msg.set_content("hello")
    ctx = ssl.create_default_context(cafile=stack.ca_file)
    with smtplib.SMTP("127.0.0.1", stack.config.relay_port, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(creds["access_key_id"], smtp_password(creds["secret_access_key"], out.region))
        smtp.sendmail("shop@shop.example", [rcpt], msg.as_bytes())
    assert wait_until(lambda: [r for r in stack.state.relay_log() if r["subject"] == subject])


def _pages(stack: LocalStack) -> dict[str, str]:
    base = f"http://127.0.0.1:{stack.config.web_port}"
    return {p: requests.get(base + p, timeout=10).text for p in ("/", "/suppression", "/dlq")}


def _fill(stack: LocalStack) -> str:
    """A mail in the outbox, a suppression entry, a dead letter; return the mail's subject."""
    subject = "kept across a restart"
    _relay_send(stack, "kunde@example.com", subject)
    out = stack.outputs
    assert out is not None
    stack.client("dynamodb").put_item(
        TableName=out.tables["SuppressionTable"],
        Item={"address": {"S": SUPPRESSED}, "class": {"S": "manual"}},
    )
    stack.client("sqs").send_message(
        QueueUrl=out.dead_letter_queues["FeedbackDeadLetterQueue"],
        MessageBody=json.dumps({"kept": "dead letter"}),
    )
    pages = _pages(stack)  # browser-like requests leave TIME-WAIT connections on the web port
    assert subject in pages["/"] and SUPPRESSED in pages["/suppression"]
    return subject


@dataclass(frozen=True)
class _Stopped:
    """A stack that was started, filled (:func:`_fill`) and stopped cleanly."""

    state: Path
    ports: list[int]
    subject: str
    ca: bytes


def _fill_and_stop(tmp_path: Path) -> _Stopped:
    ports = free_ports(5)
    state = tmp_path / "state"
    first = LocalStack(_config(state, ports)).start()
    try:
        subject = _fill(first)
        ca = Path(first.ca_file).read_bytes()
    finally:
        first.stop()
    return _Stopped(state, ports, subject, ca)


@contextmanager
def _restarted(stopped: _Stopped, **kwargs: object) -> Iterator[LocalStack]:
    """The stack started again on the same state folder and ports; stopped afterwards."""
    stack = LocalStack(_config(stopped.state, stopped.ports, **kwargs)).start()
    try:
        yield stack
    finally:
        stack.stop()


def test_stop_and_immediate_restart_keeps_every_page_in_agreement(tmp_path: Path) -> None:
    stopped = _fill_and_stop(tmp_path)
    saved = read_stack_file(stopped.state)
    assert saved is not None and saved.status == "stopped"

    with _restarted(stopped) as second:  # same ports, right away
        assert second.restored is not None
        assert second.restored.counts[f"dynamodb:{second.outputs.tables['SuppressionTable']}"] >= 1  # type: ignore[union-attr]
        assert "restored" in second.banner()
        pages = _pages(second)
        assert stopped.subject in pages["/"]  # the outbox and the relay log were kept ...
        assert SUPPRESSED in pages["/suppression"]  # ... and so was moto's table
        assert "dead letter" in pages["/dlq"]  # ... and the queued message
        running = read_stack_file(stopped.state)
        assert running is not None and running.is_running()
        assert running.endpoint == second.endpoint
        assert running.port("web") == stopped.ports[3]


def test_an_unclean_stop_resets_the_mail_together_with_moto(tmp_path: Path) -> None:
    stopped = _fill_and_stop(tmp_path)
    # as if the process had been killed: still "running", by a process that is gone
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    update_stack_file(stopped.state, status="running", pid=int(dead.stdout))

    with _restarted(stopped) as second:
        assert "did not stop cleanly" in second.state_note
        assert "did not stop cleanly" in second.banner()
        pages = _pages(second)
        assert stopped.subject not in pages["/"]  # no mail whose AWS data is gone ...
        assert SUPPRESSED not in pages["/suppression"]  # ... and no stale moto data
        assert second.state.relay_log() == [] and second.state.outbox_keys() == []


def test_reset_starts_empty(tmp_path: Path) -> None:
    stopped = _fill_and_stop(tmp_path)
    with _restarted(stopped, reset=True) as second:
        assert second.restored is None
        assert stopped.subject not in _pages(second)["/"]
        assert SUPPRESSED not in _pages(second)["/suppression"]
        assert Path(second.ca_file).read_bytes() == stopped.ca  # the local CA is kept
