"""``shopmail run --faults``: the offline stack with a fault profile.

The relay refuses every connection (``421``) while the profile is on: the shop's order mail
waits in its queue (never dead-lettered, never lost); once the relay answers again it is sent,
once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopmail_local.cli.main import main
from shopmail_local.stack.runner import LocalStack, RunConfig
from tests.fixtures.e2e_stack import free_ports, relay_records, wait_until

REPO = Path(__file__).resolve().parents[2]
REFUSING = """
description = "The relay refuses every connection."

[[relay]]
stage = "connect"
reply = "421 Too many concurrent SMTP connections"
probability = 1.0
"""


@pytest.fixture
def faulty_stack(tmp_path: Path) -> Iterator[LocalStack]:
    profile = tmp_path / "refusing.toml"
    profile.write_text(REFUSING, encoding="utf-8")
    names = ("moto_port", "inbound_port", "relay_port", "web_port", "unsubscribe_port")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    config = RunConfig(
        state_dir=tmp_path / "state", start_web=False, faults=str(profile), fault_seed=3, **ports
    )
    with LocalStack(config) as stack:
        yield stack


def _order(stack: LocalStack, to: str) -> None:
    event = json.loads((REPO / "events" / "outbound" / "OrderPlaced.json").read_text("utf-8"))
    event["detail"]["recipient"]["email"] = to
    response = stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.stack_info()["bus"],
                "Source": "shop",
                "DetailType": "OrderPlaced",
                "Detail": json.dumps(event["detail"]),
            }
        ]
    )
    assert response["FailedEntryCount"] == 0


def _waiting(stack: LocalStack, queue_url: str) -> int:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def _outbound_queues(stack: LocalStack) -> tuple[list[str], list[str]]:
    info: dict[str, Any] = stack.stack_info()
    queues = [
        u for k, u in info["queues"].items() if k.startswith("Outbound") and "DeadLetter" not in k
    ]
    dlqs = [u for k, u in info["dead_letter_queues"].items() if "Outbound" in k]
    assert queues and dlqs, info["queues"]
    return queues, dlqs


def test_a_refusing_relay_keeps_the_mail_queued_then_sends_it_once(
    faulty_stack: LocalStack,
) -> None:
    stack = faulty_stack
    plan = stack.fault_plan
    assert plan is not None and stack.stack_info()["faults"]["seed"] == 3
    assert "faults           refusing" in stack.banner()
    to = "kim@customer.example"
    _order(stack, to)
    assert wait_until(lambda: plan.injected["relay:connect:421"] >= 6, timeout=60)
    queues, dlqs = _outbound_queues(stack)
    assert relay_records(stack, rcpt_tos=[to]) == []
    assert sum(_waiting(stack, q) for q in queues) == 1  # waiting, not lost
    assert sum(_waiting(stack, q) for q in dlqs) == 0  # an outage is no reason to give up

    plan.enabled = False  # the relay is back
    assert wait_until(lambda: relay_records(stack, rcpt_tos=[to]), timeout=60)
    assert wait_until(lambda: sum(_waiting(stack, q) for q in queues) == 0, timeout=30)
    assert len(relay_records(stack, rcpt_tos=[to])) == 1


def test_an_unknown_profile_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--faults", "no-such-profile"]) == 2
    err = capsys.readouterr().err
    assert "unknown fault profile" in err and "ses-throttling" in err
