"""template.yaml keeps the reliability promises: outages wait, replays find their records, every
queue's age is watched (parsed template, figures from the code that uses them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shopmail.config import Settings
from shopmail.domain.outbound.retry_schedule import (
    DEFAULT_MAX_RECEIVES,
    MAX_DELAY_SECONDS,
    receives_needed,
    time_covered,
)

REPO = Path(__file__).resolve().parents[2]
DAY = 24 * 3600


def _props(t: dict[str, Any], name: str) -> dict[str, Any]:
    return t["Resources"][name]["Properties"]


def _env(t: dict[str, Any], function: str) -> dict[str, Any]:
    merged = dict(t["Globals"]["Function"]["Environment"]["Variables"])
    merged.update(_props(t, function).get("Environment", {}).get("Variables", {}))
    return merged


def _of_type(t: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == type_}


def _max_receives(t: dict[str, Any]) -> int:
    return int(t["Parameters"]["OutboundMaxReceiveCount"]["Default"])


def test_outbound_queues_outlast_a_24_hour_relay_outage(cfn_template: dict[str, Any]) -> None:
    receives = _max_receives(cfn_template)
    assert receives == DEFAULT_MAX_RECEIVES
    assert receives >= receives_needed(DAY)  # the last delivery comes after 24 h of failures
    for queue in ("OutboundQueue", "OutboundPriorityQueue"):
        props = _props(cfn_template, queue)
        assert props["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "OutboundMaxReceiveCount"}
        # the messages are kept well beyond the time the deliveries span
        assert int(props["MessageRetentionPeriod"]) >= 2 * time_covered(receives)
        # the queue's own timeout is only the floor when ChangeMessageVisibility fails
        assert int(props["VisibilityTimeout"]) <= MAX_DELAY_SECONDS


def test_the_arithmetic_in_template_and_readme_is_the_codes(cfn_template: dict[str, Any]) -> None:
    receives = _max_receives(cfn_template)
    figures = {
        f"{time_covered(receives):,}",
        f"{time_covered(receives_needed(DAY)):,}",
        f"{time_covered(receives) / 3600:.1f} h",
    }
    for path in ("template.yaml", "README.md"):
        text = re.sub(r"\s+", " ", (REPO / path).read_text(encoding="utf-8"))
        for figure in figures:
            assert figure in text, (path, figure)


def test_the_outbound_function_knows_its_limits_and_may_postpone(
    cfn_template: dict[str, Any],
) -> None:
    env = _env(cfn_template, "OutboundFunction")
    assert env["OUTBOUND_MAX_RECEIVE_COUNT"] == {"Ref": "OutboundMaxReceiveCount"}
    role = cfn_template["Resources"]["OutboundRole"]["Properties"]["Policies"][0]
    (consume,) = [s for s in role["PolicyDocument"]["Statement"] if s["Sid"] == "ConsumeQueues"]
    assert "sqs:ChangeMessageVisibility" in consume["Action"]
    assert consume["Resource"] == [
        {"Fn::GetAtt": ["OutboundQueue", "Arn"]},
        {"Fn::GetAtt": ["OutboundPriorityQueue", "Arn"]},
    ]
    wait = cfn_template["Parameters"]["InvoiceWaitSeconds"]
    # a PDF is never waited for longer than the deliveries last
    assert int(wait["MaxValue"]) < time_covered(_max_receives(cfn_template))


def test_idempotency_records_outlive_every_dead_letter_queue(cfn_template: dict[str, Any]) -> None:
    queues = _of_type(cfn_template, "AWS::SQS::Queue")
    dead_letter = {
        t["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for t in (q["Properties"] for q in queues.values())
        if "RedrivePolicy" in t
    } | {"InboundDeadLetterQueue"}
    longest = max(int(queues[q]["Properties"]["MessageRetentionPeriod"]) for q in dead_letter)
    # an inbound event reaches its dead-letter queue up to MaximumEventAgeInSeconds late
    invoke = _props(cfn_template, "InboundFunction")["EventInvokeConfig"]
    needed = longest + int(invoke["MaximumEventAgeInSeconds"])
    users = [
        f
        for f in _of_type(cfn_template, "AWS::Serverless::Function")
        if "IDEMPOTENCY_TABLE" in _env(cfn_template, f)
    ]
    assert sorted(users) == [
        "ErasureFunction",
        "FeedbackFunction",
        "InboundFunction",
        "OutboundFunction",
    ]
    # the erasure function only deletes the records that name an address: it writes none
    assert "IDEMPOTENCY_TTL_SECONDS" not in _env(cfn_template, "ErasureFunction")
    for function in sorted(set(users) - {"ErasureFunction"}):
        assert int(_env(cfn_template, function)["IDEMPOTENCY_TTL_SECONDS"]) >= needed, function
    assert Settings().idempotency_ttl_seconds >= needed  # the default where nothing is set


def _age_watched(alarm: dict[str, Any]) -> set[str]:
    stats = [alarm] + [
        m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m
    ]
    return {
        s["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for s in stats
        if s.get("MetricName") == "ApproximateAgeOfOldestMessage"
    }


def test_the_age_of_every_queue_is_watched(cfn_template: dict[str, Any]) -> None:
    alarms = _of_type(cfn_template, "AWS::CloudWatch::Alarm")
    watched: set[str] = set()
    for alarm in alarms.values():
        found = _age_watched(alarm["Properties"])
        if found:
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
            assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            # mail waits long before anything is lost: the alarm comes far earlier
            assert 0 < alarm["Properties"]["Threshold"] < 14 * DAY / 2
        watched |= found
    assert watched == set(_of_type(cfn_template, "AWS::SQS::Queue"))


def test_quota_exceeded_has_an_alarm_on_the_handlers_metric(cfn_template: dict[str, Any]) -> None:
    (alarm,) = [
        a["Properties"]
        for a in _of_type(cfn_template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "QuotaExceeded"
    ]
    env = _env(cfn_template, "OutboundFunction")
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert '"QuotaExceeded"' in (REPO / "functions" / "outbound" / "app.py").read_text()
