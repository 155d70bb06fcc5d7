"""``shopmail demo`` end to end: the tour against a whole stack started by the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from shopmail.domain.outbound.message_ids import parse_message_id

from shopmail_local.cli.main import main as cli
from shopmail_local.demo import BOUNCE_ADDRESS, RETURN_LABEL, DemoConfig, StepResult, run_demo
from shopmail_local.stack.runner import LocalStack
from tests.fixtures.e2e_stack import free_ports


def _config(stack: LocalStack) -> DemoConfig:
    cfg = stack.config
    return DemoConfig(
        endpoint=stack.endpoint,
        smtp_port=cfg.inbound_port,
        inbox_url=f"http://127.0.0.1:{cfg.web_port}",
        state_dir=cfg.state_dir,
        timeout=30,
    )


def _explain(results: list[StepResult]) -> str:
    return "\n".join(f"{r.name}: {'ok' if r.ok else 'FAILED'} {r.summary}" for r in results)


def test_demo_every_step_succeeds(e2e_stack: LocalStack) -> None:
    lines: list[str] = []
    results = run_demo(_config(e2e_stack), echo=lines.append)
    by_name = {r.name: r for r in results}
    assert [r.name for r in results] == ["stack", "order", "reply", "return", "bounce"]
    assert all(r.ok for r in results), _explain(results)

    order = by_name["order"].facts
    ref = parse_message_id(order["message_id"], "shop.example")
    assert ref is not None and ref.kind == "orderplaced"
    assert ref.aggregate_id == order["order_id"]
    outbox_ids = [str(m.message()["Message-ID"]) for m in e2e_stack.state.iter_outbox()]
    assert order["message_id"] in outbox_ids
    assert order["inbox"].endswith(f"/mail/{order['key']}")

    reply = by_name["reply"].facts
    assert reply["synthetic"] is False  # replied to the real confirmation
    assert reply["in_reply_to"] == order["message_id"]
    assert reply["route"] == "customer-reply"
    assert reply["order_id"] == order["order_id"]

    ret = by_name["return"].facts
    assert ret["route"] == "returns"
    bucket, _, key = ret["attachment"].removeprefix("s3://").partition("/")
    body = e2e_stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == RETURN_LABEL

    bounce = by_name["bounce"].facts
    table = bounce["table"]
    item = e2e_stack.client("dynamodb").get_item(
        TableName=table, Key={"address": {"S": BOUNCE_ADDRESS}}
    )
    assert "Item" in item, f"no suppression entry for {BOUNCE_ADDRESS} in {table}"
    assert any(
        r["ses_message_id"] == bounce["ses_message_id"] and r["simulator"] == [BOUNCE_ADDRESS]
        for r in e2e_stack.state.relay_log()
    )
    assert lines[-1] == "== 5/5 steps passed"


def test_demo_command_exits_zero_and_can_run_again(
    e2e_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = e2e_stack.config
    code = cli(
        [
            "demo",
            "--endpoint", e2e_stack.endpoint,
            "--smtp-port", str(cfg.inbound_port),
            "--inbox", f"http://127.0.0.1:{cfg.web_port}",
            "--state", str(cfg.state_dir),
            "--timeout", "30",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    for step in ("stack", "order", "reply", "return", "bounce"):
        assert f"== {step}" in out
    assert "FAIL" not in out
    assert "5/5 steps passed" in out


def test_demo_fails_fast_with_a_reason_when_no_stack_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moto, smtp = free_ports(2)
    code = cli(
        [
            "demo",
            "--endpoint", f"http://127.0.0.1:{moto}",
            "--smtp-port", str(smtp),
            "--state", str(tmp_path),
            "--timeout", "2",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "make run" in out
    assert "== order" not in out  # nothing else is attempted


def test_every_shopmail_event_of_the_tour_matches_its_schema(
    e2e_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """An order mail, a customer reply, a return, a simulator bounce (the tour) and a support
    mail: every event shopmail put on the bus validates, camelCase keys only."""
    import json
    import time

    from tests.fixtures.paths import EVENTS

    results = run_demo(_config(e2e_stack), echo=lambda line: None)
    assert all(r.ok for r in results), _explain(results)
    cfg = e2e_stack.config
    support = str(EVENTS / "inbound" / "support.eml")
    args = ["deliver", support, "--to", "support@shop.example", "--state", str(cfg.state_dir)]
    assert cli([*args, "--port", str(cfg.inbound_port)]) == 0

    def types() -> set[str]:
        return {str(r["event"].get("detail-type")) for r in e2e_stack.state.event_log()}

    deadline = time.monotonic() + 30
    while "SupportMessageReceived" not in types() and time.monotonic() < deadline:
        time.sleep(0.2)
    seen = types()
    for expected in ("EmailSent", "CustomerReplied", "ReturnMailReceived", "EmailBounced"):
        assert expected in seen, sorted(seen)
    assert "SupportMessageReceived" in seen
    shopmail_types = {
        str(r["event"].get("detail-type"))
        for r in e2e_stack.state.event_log()
        if str(r["event"].get("source", "")).startswith("shopmail.")
    }
    assert "ReturnRequested" not in shopmail_types  # the shop's trigger name is the shop's
    capsys.readouterr()
    assert cli(["schemas", "check", "--state", str(cfg.state_dir)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # the stack's handlers run in this process and may log (JSON) while the check prints
    rows = [r for r in lines if "problems" in r and "detailType" in r]
    assert len(rows) >= 5 and all(r["ok"] for r in rows)
    sources = {r["source"] for r in rows}
    assert sources == {"shopmail.inbound", "shopmail.outbound", "shopmail.feedback"}
