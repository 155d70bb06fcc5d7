"""The fault harness, a seeded slice: shop events and inbound mail through the real handlers,
moto over HTTP and the SES-like relay over TCP (STARTTLS + AUTH) under injected faults.

``make faults`` runs the full harness (1,000 + 1,000); here a slice keeps ``make test`` short.
Every input must end sent, dead-lettered with its reason, or ambiguous (the documented rule:
connection lost after the final dot, counted as sent, never resent); none lost, none doubled.
"""

from __future__ import annotations

from pathlib import Path

from shopmail_local.faults.harness import OUTCOMES, run_harness


def test_chaos_slice_loses_nothing_and_doubles_nothing(moto: str) -> None:
    report = run_harness(60, 60, "chaos", seed=11, endpoint=moto)
    assert report.violations() == []
    for flow in (report.outbound, report.inbound):
        assert flow.inputs == 60 and sum(flow.outcomes.values()) == 60
        assert set(flow.outcomes) <= set(OUTCOMES)
        assert flow.outcomes["sent_retried"] > 0  # the faults were felt and overcome
    kinds = {kind.split(":")[0] for kind in report.injected}
    assert kinds == {"aws", "relay", "delivery"}
    assert len(report.injected) >= 12
    assert report.table().count("\n") > len(report.injected)


def test_faults_right_after_the_actions_double_nothing(moto: str, tmp_path: Path) -> None:
    """DynamoDB failing right after a mail went out (the idempotency record), the connection
    lost after the final dot, and redelivered input: still one mail per event and action."""
    profile = tmp_path / "after-send.toml"
    profile.write_text(
        """
[delivery]
redeliver = 0.2
duplicate_invoke = 0.2

[[aws]]
service = "dynamodb"
operation = "PutItem"
code = "InternalServerError"
status = 500
probability = 0.3

[[relay]]
stage = "data"
name = "after-dot-delivered"
drop = true
deliver = true
probability = 0.1

[[relay]]
stage = "data"
name = "after-dot-lost"
drop = true
probability = 0.05
""",
        encoding="utf-8",
    )
    report = run_harness(20, 20, str(profile), seed=5, endpoint=moto)
    assert report.violations() == []
    assert report.injected["aws:dynamodb:InternalServerError"] >= 10
    assert report.outbound.outcomes["duplicates"] == report.inbound.outcomes["duplicates"] == 0
    ambiguous = sum(
        flow.outcomes[k]
        for flow in (report.outbound, report.inbound)
        for k in ("ambiguous_delivered", "ambiguous_undelivered")
    )
    assert ambiguous > 0
