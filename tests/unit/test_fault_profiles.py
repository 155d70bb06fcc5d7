"""Fault profiles, the seeded plan and the botocore hooks (no network: the hooks answer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from shopmail_local.faults import (
    FaultPlan,
    ProfileError,
    RelayFaults,
    install,
    load_profile,
    profile_names,
)
from shopmail_local.faults.profiles import parse_profile


def _client(service: str) -> Any:
    make: Any = boto3.client
    return make(
        service,
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9",  # nothing listens: a call that is sent fails
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )


def test_the_shipped_profiles_load_and_only_none_is_empty() -> None:
    names = profile_names()
    assert {"none", "ses-throttling", "relay-flaky", "aws-5xx", "chaos"} <= set(names)
    for name in names:
        profile = load_profile(name)
        assert profile.description
        assert profile.empty == (name == "none")
    chaos = load_profile("chaos")
    stages = {f.stage for f in chaos.relay}
    assert stages >= {"connect", "starttls", "auth", "mail", "rcpt", "data_start", "data"}
    assert {f.service for f in chaos.aws} >= {"s3", "dynamodb", "events", "sqs"}
    assert any(f.partial for f in chaos.aws)
    replies = {(f.reply or "")[:3] for f in load_profile("relay-flaky").relay}
    assert {"421", "451", "454", "535", "554"} <= replies


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"relay": [{"stage": "quit", "drop": True}]}, "stage must be one of"),
        ({"relay": [{"stage": "data"}]}, "either a reply or drop"),
        ({"relay": [{"stage": "rcpt", "drop": True, "deliver": True}]}, "deliver applies"),
        ({"relay": [{"stage": "data", "reply": "ok"}]}, "3-digit code"),
        ({"aws": [{"service": "s3", "code": "SlowDown", "probability": 2}]}, "from 0 to 1"),
        ({"aws": [{"service": "s3", "code": "X", "partial": True}]}, "PutEvents"),
        ({"aws": [{"service": "s3", "code": "X", "status": 200}]}, "HTTP error status"),
        ({"delivery": {"redeliver": 0.1, "typo": 1}}, "delivery takes"),
        ({"faults": []}, "unknown keys"),
    ],
)
def test_a_bad_profile_names_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile(data, "bad")


def test_an_unknown_profile_lists_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="ses-throttling"):
        load_profile("no-such-profile")
    path = tmp_path / "mine.toml"
    path.write_text('[[relay]]\nstage = "connect"\nreply = "421 busy"\nprobability = 1\n')
    assert load_profile(str(path)).relay[0].kind == "relay:connect:421"


def test_the_same_seed_injects_the_same_faults() -> None:
    def run(seed: int) -> list[str | None]:
        hook = RelayFaults(FaultPlan("relay-flaky", seed))
        return [
            (item.reply or ("drop" if item.drop else "")) if item else None
            for _ in range(200)
            for item in [hook.at("data")]
        ]

    assert run(3) == run(3)
    assert run(3) != run(4)
    assert any(run(3))


def test_a_limit_bounds_the_injections_and_each_is_counted_and_attributed() -> None:
    profile = parse_profile(
        {"relay": [{"stage": "connect", "reply": "421 busy", "probability": 1, "limit": 3}]}, "x"
    )
    plan = FaultPlan(profile, 0)
    hook = RelayFaults(plan)
    with plan.exposing(["a", "b"]):
        first = [hook.at("connect") for _ in range(2)]
    with plan.exposing(["c"]):
        rest = [hook.at("connect") for _ in range(5)]
    assert [i is not None for i in first + rest] == [True] * 3 + [False] * 4
    assert plan.injected == {"relay:connect:421": 3}
    assert plan.exposed["relay:connect:421"] == {"a": 2, "b": 2, "c": 1}
    assert hook.at("mail") is None  # nothing at other stages


def test_an_aws_fault_reaches_the_caller_as_the_service_error() -> None:
    profile = parse_profile(
        {"aws": [{"service": "dynamodb", "code": "ThrottlingException", "status": 400,
                  "probability": 1, "limit": 1}]},
        "x",
    )  # fmt: skip
    plan = FaultPlan(profile, 0)
    ddb = install(_client("dynamodb"), plan)
    with pytest.raises(ClientError) as caught:
        ddb.get_item(TableName="t", Key={"id": {"S": "k"}})
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert plan.injected == {"aws:dynamodb:ThrottlingException": 1}
    s3 = install(_client("s3"), plan)  # another service: sent (and fails to connect)
    with pytest.raises(Exception) as sent:
        s3.get_object(Bucket="b", Key="k")
    assert not isinstance(sent.value, ClientError)


def test_a_putevents_partial_failure_of_every_entry_is_answered_without_sending() -> None:
    profile = parse_profile(
        {"aws": [{"service": "events", "operation": "PutEvents", "partial": True,
                  "code": "InternalFailure", "probability": 1}]},
        "x",
    )  # fmt: skip
    plan = FaultPlan(profile, 0)
    events = install(_client("events"), plan)
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": "b"}
    answers = [events.put_events(Entries=[entry]) for _ in range(3)]
    for answer in answers:
        assert answer["FailedEntryCount"] == 1
        assert answer["Entries"][0]["ErrorCode"] == "InternalFailure"
    assert plan.injected == {"aws:events:PutEvents:partial": 3}


def test_a_disabled_plan_injects_nothing() -> None:
    plan = FaultPlan("chaos", 1)
    plan.enabled = False
    hook = RelayFaults(plan)
    assert all(hook.at(stage) is None for stage in ("connect", "data") for _ in range(100))
    assert plan.total() == 0
