"""CLI commands find the running stack by themselves and fail in one line when it is down.

The commands run as a user runs them: a separate process with a clean environment (no AWS
variables, an empty home), only ``SHOPMAIL_LOCAL_STATE`` naming the stack's state folder where
``make run`` would use ``.local/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shopmail_local.stack.runner import LocalStack
from shopmail_local.stack.stack_file import write_stack_file
from tests.fixtures.e2e_stack import free_ports, wait_until
from tests.fixtures.paths import EVENTS

ADDRESS = "cli-test@example.org"


def _shopmail(args: list[str], state: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "SHOPMAIL_LOCAL_STATE": str(state),
        "LANG": "C.UTF-8",
    }
    assert not any(k.startswith("AWS_") for k in env)
    return subprocess.run(
        [sys.executable, "-m", "shopmail_local.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_suppression_commands_use_the_running_stack_without_aws_variables(
    e2e_stack: LocalStack, home: Path
) -> None:
    state = e2e_stack.config.state_dir
    added = _shopmail(["suppression", "add", ADDRESS, "--reason", "cli test"], state, home)
    assert added.returncode == 0, added.stderr
    listed = _shopmail(["suppression", "list", "--json"], state, home)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert ADDRESS in [r["address"] for r in rows]
    assert f"the local stack at {e2e_stack.endpoint}" in listed.stderr
    table = e2e_stack.outputs.tables["SuppressionTable"]  # type: ignore[union-attr]
    item = e2e_stack.client("dynamodb").get_item(TableName=table, Key={"address": {"S": ADDRESS}})
    assert "Item" in item  # really written into the stack's moto table

    missing = _shopmail(["suppression", "list", "--table", "no-such-table"], state, home)
    line = _one_line_error(missing)
    assert "no-such-table" in line and "--table" in line


def test_send_event_and_deliver_find_the_stack(e2e_stack: LocalStack, home: Path) -> None:
    state = e2e_stack.config.state_dir
    sent = _shopmail(["send-event", str(EVENTS / "outbound" / "OrderPlaced.json")], state, home)
    assert sent.returncode == 0, sent.stderr
    event_id = sent.stdout.split()[-1]

    def seen() -> list[dict[str, Any]]:
        return [r for r in e2e_stack.state.event_log() if r["event"].get("id") == event_id]

    assert wait_until(seen), "the event did not reach the stack's bus"

    eml = EVENTS / "inbound" / "order_reply.eml"
    delivered = _shopmail(["deliver", str(eml), "--to", "orders@shop.example"], state, home)
    assert delivered.returncode == 0, delivered.stderr  # port and CA file from stack.json
    ses_id = delivered.stdout.split()[-1]
    assert wait_until(
        lambda: [r for r in e2e_stack.state.inbound_log() if r.get("message_id") == ses_id]
    )

    replay = _shopmail(["replay", "--dry-run"], state, home)
    assert replay.returncode == 0, replay.stderr  # the DLQ URL came from the stack
    assert '"summary"' in replay.stderr


def _stopped_stack(folder: Path) -> Path:
    """A state folder whose stack has stopped (its moto port is free now)."""
    moto, inbound, relay, web = free_ports(4)
    write_stack_file(
        folder,
        {
            "status": "stopped",
            "pid": 0,
            "endpoint": f"http://127.0.0.1:{moto}",
            "region": "eu-west-1",
            "host": "127.0.0.1",
            "ports": {"moto": moto, "inbound": inbound, "relay": relay, "web": web},
        },
    )
    return folder


def test_commands_say_in_one_line_that_the_stack_is_not_running(tmp_path: Path, home: Path) -> None:
    state = _stopped_stack(tmp_path / "state")
    event = str(EVENTS / "outbound" / "OrderPlaced.json")
    for args in (
        ["send-event", event],
        ["suppression", "list"],
        ["suppression", "add", ADDRESS],
        ["deliver", str(EVENTS / "inbound" / "order_reply.eml"), "--to", "orders@shop.example"],
        ["replay", "--dry-run"],
    ):
        line = _one_line_error(_shopmail(args, state, home))
        assert "not running" in line or "cannot reach" in line or "not reachable" in line, line
        assert "make run" in line, line


def test_demo_finds_the_stack_by_itself(e2e_stack: LocalStack, home: Path) -> None:
    proc = _shopmail(["demo", "--timeout", "30"], e2e_stack.config.state_dir, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"stack at {e2e_stack.endpoint}" in proc.stdout
    assert "5/5 steps passed" in proc.stdout
