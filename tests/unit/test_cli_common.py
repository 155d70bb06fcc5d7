"""Where CLI commands send AWS calls, how they find the stack, and their one-line errors."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from shopmail_local.cli.common import (
    CommandError,
    aws_target,
    cli_errors,
    explain,
    find_stack,
    running_stack,
)
from shopmail_local.stack.stack_file import read_stack_file, update_stack_file, write_stack_file


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    state = tmp_path / "state"
    monkeypatch.setenv("SHOPMAIL_LOCAL_STATE", str(state))
    return state


def _listening() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, int(s.getsockname()[1])


def test_stack_file_is_written_atomically_and_read_back(tmp_path: Path) -> None:
    path = write_stack_file(
        tmp_path, {"status": "running", "pid": os.getpid(), "ports": {"moto": 1}}
    )
    assert path.name == "stack.json"
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"]  # no temporary file left
    found = read_stack_file(tmp_path)
    assert found is not None and found.get("version") == 1
    assert found.port("moto") == 1 and found.port("web") == 0
    assert found.credentials == ("", "")  # none in the file: the environment's are used
    update_stack_file(tmp_path, status="stopped")
    again = read_stack_file(tmp_path)
    assert again is not None and again.status == "stopped" and again.get("pid") == os.getpid()
    (tmp_path / "stack.json").write_text("{torn", encoding="utf-8")
    assert read_stack_file(tmp_path) is None


def test_a_stack_runs_only_with_its_process_and_its_port(clean_env: Path) -> None:
    sock, port = _listening()
    try:
        write_stack_file(clean_env, {"status": "running", "pid": os.getpid(),
                                     "ports": {"moto": port}})  # fmt: skip
        assert running_stack() is not None
        update_stack_file(clean_env, pid=2**22 + 12345)  # no such process
        assert running_stack() is None
        update_stack_file(clean_env, pid=os.getpid(), status="stopped")
        assert running_stack() is None
    finally:
        sock.close()
    update_stack_file(clean_env, status="running")
    assert running_stack() is None  # nothing listens any more
    assert find_stack() is not None


def test_target_precedence(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # nothing configured, no stack: AWS with the default chain
    none = aws_target()
    assert none.endpoint is None and not none.local
    # a stack file (even of a stopped stack) makes the local stack the target
    write_stack_file(clean_env, {"status": "stopped", "endpoint": "http://127.0.0.1:4999",
                                 "region": "eu-central-1", "ports": {"moto": 4999}})  # fmt: skip
    local = aws_target()
    assert (local.endpoint, local.region, local.local) == (
        "http://127.0.0.1:4999",
        "eu-central-1",
        True,
    )
    assert local.stack is not None and "the local stack at" in local.where
    # credentials in the environment mean AWS for commands that can talk to AWS ...
    monkeypatch.setenv("AWS_PROFILE", "prod")
    assert aws_target().endpoint is None
    # ... but local-only commands stay local
    assert aws_target(local_only=True).endpoint == "http://127.0.0.1:4999"
    # AWS_ENDPOINT_URL beats the stack file, an explicit endpoint beats both
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    assert aws_target().endpoint == "http://127.0.0.1:5000"
    assert aws_target("http://localhost:5001").endpoint == "http://localhost:5001"
    assert aws_target("http://localhost:5001").local
    assert not aws_target("https://dynamodb.eu-west-1.amazonaws.com").local


def test_local_target_without_a_listener_says_so_in_one_line(clean_env: Path) -> None:
    sock, port = _listening()
    sock.close()
    target = aws_target(f"http://127.0.0.1:{port}", local_only=True)
    with pytest.raises(CommandError) as err:
        target.require_reachable()
    assert "not running" in err.value.line and "make run" in err.value.line
    assert "\n" not in err.value.line


def test_expected_aws_failures_become_one_line(clean_env: Path) -> None:
    local = aws_target("http://127.0.0.1:1", local_only=True)
    down = explain(EndpointConnectionError(endpoint_url="http://127.0.0.1:1/"), local)
    assert down is not None and "is the stack running" in down.line
    creds = explain(NoCredentialsError())
    assert creds is not None and "AWS_PROFILE" in creds.line
    missing = ClientError(
        {
            "Error": {
                "Code": "ResourceNotFoundException",
                "Message": "Requested resource\nnot found",
            }
        },
        "Scan",
    )
    line = explain(missing, local)
    assert line is not None
    assert "Scan: not found in http://127.0.0.1:1" in line.line and "\n" not in line.line
    assert explain(ValueError("a bug")) is None  # unexpected errors are not hidden


def test_cli_errors_prints_one_line_and_keeps_bugs_loud(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @cli_errors("shopmail x")
    def fails(args: object) -> int:
        raise CommandError("the thing is missing", "create it", exit_code=3)

    assert fails(None) == 3
    assert capsys.readouterr().err == "shopmail x: error: the thing is missing; create it\n"

    @cli_errors("shopmail y")
    def bug(args: object) -> int:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        bug(None)
