"""Security- and wiring-relevant properties of template.yaml (parsed, no AWS)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from shopmail.config import ENV_NAMES

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"
FUNCTIONS = (
    "InboundFunction",
    "OutboundFunction",
    "FeedbackFunction",
    "RuleSetActivatorFunction",
    "UnsubscribeFunction",
    "ErasureFunction",
)
DEAD_LETTER_QUEUES = (
    "InboundDeadLetterQueue",
    "OutboundDeadLetterQueue",
    "FeedbackDeadLetterQueue",
    "ErasureDeadLetterQueue",
)


def _res(t: dict[str, Any], name: str) -> dict[str, Any]:
    return t["Resources"][name]


def _props(t: dict[str, Any], name: str) -> dict[str, Any]:
    return _res(t, name)["Properties"]


def _of_type(t: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == type_}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        out.extend(policy["PolicyDocument"]["Statement"])
    return out


def _role_of(t: dict[str, Any], function: str) -> dict[str, Any]:
    role_ref = _props(t, function)["Role"]
    assert role_ref == {"Fn::GetAtt": [role_ref["Fn::GetAtt"][0], "Arn"]}
    return _res(t, role_ref["Fn::GetAtt"][0])


def _env(t: dict[str, Any], function: str) -> dict[str, Any]:
    merged = dict(t["Globals"]["Function"]["Environment"]["Variables"])
    merged.update(_props(t, function).get("Environment", {}).get("Variables", {}))
    return merged


def _rule_arn_sub(t: dict[str, Any]) -> str:
    """The receipt rule ARN the template builds (from the rule set and rule names)."""
    set_name = _props(t, "ReceiptRuleSet")["RuleSetName"]["Fn::Sub"]
    rule_name = _props(t, "ReceiptRule")["Rule"]["Name"]["Fn::Sub"]
    return (
        "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:"
        f"receipt-rule-set/{set_name}:receipt-rule/{rule_name}"
    )


# ----------------------------------------------------------------- globals and layer


def test_globals_runtime_arm64_and_tracing_off_by_default(cfn_template: dict[str, Any]) -> None:
    fn = cfn_template["Globals"]["Function"]
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    assert cfn_template["Parameters"]["EnableTracing"]["Default"] == "false"
    assert fn["Tracing"] == {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]}
    assert fn["Layers"] == [{"Ref": "SharedLayer"}]


def test_layer_is_built_by_makefile_with_py313_bytecode(cfn_template: dict[str, Any]) -> None:
    layer = _res(cfn_template, "SharedLayer")
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["ContentUri"] == "layers/shopmail/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    makefile = (REPO / "layers/shopmail/Makefile").read_text()
    assert re.search(r"^build-SharedLayer:", makefile, re.M)
    assert "--platform manylinux2014_aarch64" in makefile
    assert "--python-version 3.13" in makefile
    assert "--invalidation-mode unchecked-hash" in makefile
    assert not (REPO / "layers/shopmail/python").exists()  # SAM adds python/ itself


# ----------------------------------------------------------------- raw-mail bucket


def test_bucket_encrypted_private_and_expiring(cfn_template: dict[str, Any]) -> None:
    bucket = _props(cfn_template, "RawMailBucket")
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    block = bucket["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    raw = [r for r in rules.values() if r.get("Prefix") == {"Ref": "RawMailPrefix"}]
    assert len(raw) == 1
    assert raw[0]["Status"] == "Enabled"
    assert raw[0]["ExpirationInDays"] == {"Ref": "RawMailRetentionDays"}
    assert cfn_template["Parameters"]["RawMailRetentionDays"]["Default"] == 30
    assert cfn_template["Parameters"]["RawMailPrefix"]["Default"] == "inbound/"
    prefixes = {str(r.get("Prefix")) for r in rules.values()}
    assert str({"Ref": "QuarantinePrefix"}) in prefixes
    assert str({"Ref": "AttachmentsPrefix"}) in prefixes


def test_bucket_policy_scopes_ses_and_denies_plaintext(cfn_template: dict[str, Any]) -> None:
    doc = _props(cfn_template, "RawMailBucketPolicy")["PolicyDocument"]
    ses = [s for s in doc["Statement"] if s.get("Principal") == {"Service": "ses.amazonaws.com"}]
    assert len(ses) == 1
    stmt = ses[0]
    assert stmt["Effect"] == "Allow"
    assert stmt["Action"] == "s3:PutObject"
    assert stmt["Resource"] == {"Fn::Sub": "${RawMailBucket.Arn}/${RawMailPrefix}*"}
    cond = stmt["Condition"]["StringEquals"]
    assert cond["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert cond["aws:SourceArn"] == {"Fn::Sub": _rule_arn_sub(cfn_template)}
    deny = [s for s in doc["Statement"] if s["Effect"] == "Deny"]
    assert len(deny) == 1
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::Sub": "${RawMailBucket.Arn}/*"} in deny[0]["Resource"]


# ----------------------------------------------------------------- receipt rule


def test_receipt_rule_is_enabled_scanned_tls_and_ordered(cfn_template: dict[str, Any]) -> None:
    rule_res = _res(cfn_template, "ReceiptRule")
    rule = rule_res["Properties"]["Rule"]
    assert rule["Enabled"] is True
    assert rule["ScanEnabled"] is True
    assert rule["TlsPolicy"] == "Require"
    assert rule["Recipients"] == [{"Ref": "MailDomain"}]
    actions = rule["Actions"]
    assert [next(iter(a)) for a in actions] == ["S3Action", "LambdaAction"]
    assert actions[0]["S3Action"]["BucketName"] == {"Ref": "RawMailBucket"}
    assert actions[0]["S3Action"]["ObjectKeyPrefix"] == {"Ref": "RawMailPrefix"}
    assert "KmsKeyArn" not in actions[0]["S3Action"]  # would mean SES client-side encryption
    assert actions[1]["LambdaAction"]["InvocationType"] == "Event"
    assert actions[1]["LambdaAction"]["FunctionArn"] == {"Fn::GetAtt": ["InboundFunction", "Arn"]}
    assert set(rule_res["DependsOn"]) >= {"RawMailBucketPolicy", "InboundFunctionSesPermission"}


def test_one_prefix_parameter_feeds_rule_and_function(cfn_template: dict[str, Any]) -> None:
    env = _env(cfn_template, "InboundFunction")
    s3_action = _props(cfn_template, "ReceiptRule")["Rule"]["Actions"][0]["S3Action"]
    assert env["RAW_MAIL_PREFIX"] == s3_action["ObjectKeyPrefix"] == {"Ref": "RawMailPrefix"}
    assert env["RAW_MAIL_BUCKET"] == s3_action["BucketName"] == {"Ref": "RawMailBucket"}


def test_lambda_permission_for_ses_is_scoped_to_the_rule(cfn_template: dict[str, Any]) -> None:
    perm = _props(cfn_template, "InboundFunctionSesPermission")
    assert perm["Principal"] == "ses.amazonaws.com"
    assert perm["Action"] == "lambda:InvokeFunction"
    assert perm["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert perm["SourceArn"] == {"Fn::Sub": _rule_arn_sub(cfn_template)}


def test_rule_set_activation_is_guarded(cfn_template: dict[str, Any]) -> None:
    params = cfn_template["Parameters"]["ActivateRuleSet"]
    assert params["AllowedValues"] == ["true", "false"]
    assert cfn_template["Conditions"]["ActivateRuleSetEnabled"] == {
        "Fn::Equals": [{"Ref": "ActivateRuleSet"}, "true"]
    }
    act = _res(cfn_template, "RuleSetActivation")
    assert act["Condition"] == "ActivateRuleSetEnabled"
    assert act["DependsOn"] == "ReceiptRule"
    props = act["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["RuleSetActivatorFunction", "Arn"]}
    assert props["RuleSetName"] == {"Ref": "ReceiptRuleSet"}
    fn = _res(cfn_template, "RuleSetActivatorFunction")
    assert fn["Condition"] == "ActivateRuleSetEnabled"
    assert fn["Properties"]["CodeUri"] == "functions/ruleset_activator/"
    assert (REPO / "functions/ruleset_activator/app.py").is_file()
    actions = {
        a
        for s in _statements(_role_of(cfn_template, "RuleSetActivatorFunction"))
        for a in _as_list(s["Action"])
    }
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ses:SetActiveReceiptRuleSet",
        "ses:DescribeActiveReceiptRuleSet",
    }


# ----------------------------------------------------------------- functions, DLQs, env


def test_inbound_async_failures_go_to_encrypted_dlq(cfn_template: dict[str, Any]) -> None:
    cfg = _props(cfn_template, "InboundFunction")["EventInvokeConfig"]
    assert cfg["MaximumRetryAttempts"] == 2
    on_failure = cfg["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert on_failure["Destination"] == {"Fn::GetAtt": ["InboundDeadLetterQueue", "Arn"]}
    sends = [
        s
        for s in _statements(_role_of(cfn_template, "InboundFunction"))
        if "sqs:SendMessage" in _as_list(s["Action"])
    ]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": ["InboundDeadLetterQueue", "Arn"]}]


def test_every_queue_is_encrypted(cfn_template: dict[str, Any]) -> None:
    queues = _of_type(cfn_template, "AWS::SQS::Queue")
    assert len(queues) >= 6
    for name, q in queues.items():
        props = q["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name


def test_consumed_queues_redrive_to_dead_letter_queues(cfn_template: dict[str, Any]) -> None:
    expected = {
        "OutboundQueue": "OutboundDeadLetterQueue",
        "OutboundPriorityQueue": "OutboundDeadLetterQueue",
        "FeedbackQueue": "FeedbackDeadLetterQueue",
        "ErasureQueue": "ErasureDeadLetterQueue",
    }
    timeouts = {"Outbound": 60, "Feedback": 30, "Erasure": 900}
    for queue, dlq in expected.items():
        redrive = _props(cfn_template, queue)["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}
        assert redrive["maxReceiveCount"]
        # the visibility timeout covers the function timeout (AWS: at least 6x for retries)
        timeout = next(t for prefix, t in timeouts.items() if queue.startswith(prefix))
        function = {"Outbound": "OutboundFunction", "Feedback": "FeedbackFunction"}.get(
            queue.removesuffix("Queue").removesuffix("Priority"), "ErasureFunction"
        )
        assert _props(cfn_template, function)["Timeout"] <= timeout
        assert _props(cfn_template, queue)["VisibilityTimeout"] >= 6 * timeout


def test_every_dead_letter_queue_has_an_alarm(cfn_template: dict[str, Any]) -> None:
    alarms = _of_type(cfn_template, "AWS::CloudWatch::Alarm").values()
    watched = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    assert watched == set(DEAD_LETTER_QUEUES)
    for alarm in alarms:
        p = alarm["Properties"]
        if p.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            assert p["Threshold"] == 0
            assert p["ComparisonOperator"] == "GreaterThanThreshold"
        assert p["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_env_var_names_match_settings(cfn_template: dict[str, Any]) -> None:
    allowed = set(ENV_NAMES.values())
    for fn in FUNCTIONS:
        for name in _env(cfn_template, fn):
            assert name in allowed or name.startswith("POWERTOOLS_"), (fn, name)
    inbound = set(_env(cfn_template, "InboundFunction"))
    assert inbound >= {
        "MAIL_DOMAIN",
        "RAW_MAIL_BUCKET",
        "RAW_MAIL_PREFIX",
        "ATTACHMENTS_PREFIX",
        "QUARANTINE_PREFIX",
        "SHOP_EVENT_BUS_NAME",
        "IDEMPOTENCY_TABLE",
        "RATE_LIMIT_TABLE",
        "INBOUND_DLQ_URL",
    }
    assert set(_env(cfn_template, "OutboundFunction")) >= {
        "SHOP_EVENT_BUS_NAME",
        "IDEMPOTENCY_TABLE",
        "SUPPRESSION_TABLE",
        "SENT_MAIL_TABLE",
        "SES_CONFIGURATION_SET",
        "SMTP_SECRET_ARN",
    }
    assert set(_env(cfn_template, "FeedbackFunction")) >= {
        "SUPPRESSION_TABLE",
        "SENT_MAIL_TABLE",
        "SHOP_EVENT_BUS_NAME",
        "TRANSIENT_BOUNCE_THRESHOLD",
        "TRANSIENT_BOUNCE_WINDOW_DAYS",
    }


def test_no_secret_in_environment(cfn_template: dict[str, Any]) -> None:
    for fn in FUNCTIONS:
        env = _env(cfn_template, fn)
        text = repr(env)
        assert "SecretAccessKey" not in text and "SmtpAccessKey" not in text, fn
        if "SMTP_SECRET_ARN" in env:
            assert env["SMTP_SECRET_ARN"] == {
                "Fn::If": [
                    "CreateSmtpSecret",
                    {"Ref": "SmtpSecret"},
                    {"Ref": "ExistingSmtpSecretArn"},
                ]
            }
    assert "SecretAccessKey" not in repr(cfn_template["Outputs"])


def test_function_roles_are_least_privilege(cfn_template: dict[str, Any]) -> None:
    star_ok = {"ses:SetActiveReceiptRuleSet", "ses:DescribeActiveReceiptRuleSet"}
    for fn in FUNCTIONS:
        role = _role_of(cfn_template, fn)
        assert "AWSLambdaBasicExecutionRole" not in repr(role)
        for stmt in _statements(role):
            actions = _as_list(stmt["Action"])
            assert stmt["Effect"] == "Allow"
            for action in actions:
                assert "*" not in action.split(":", 1)[1], (fn, action)
            if stmt["Resource"] == "*":
                assert set(actions) <= star_ok, (fn, actions)


def test_inbound_s3_access_is_prefix_scoped(cfn_template: dict[str, Any]) -> None:
    by_action: dict[str, list[Any]] = {}
    for stmt in _statements(_role_of(cfn_template, "InboundFunction")):
        for action in _as_list(stmt["Action"]):
            by_action.setdefault(action, []).extend(_as_list(stmt["Resource"]))
    assert by_action["s3:GetObject"] == [{"Fn::Sub": "${RawMailBucket.Arn}/${RawMailPrefix}*"}]
    assert by_action["s3:PutObject"] == [
        {"Fn::Sub": "${RawMailBucket.Arn}/${AttachmentsPrefix}*"},
        {"Fn::Sub": "${RawMailBucket.Arn}/${QuarantinePrefix}*"},
    ]
    assert not any(a.startswith("s3:") and a not in by_action for a in by_action)
    assert by_action["events:PutEvents"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:"
            "event-bus/${ShopEventBusName}"
        }
    ]


# ----------------------------------------------------------------- tables


def test_tables_encrypted_with_expected_keys(cfn_template: dict[str, Any]) -> None:
    tables = _of_type(cfn_template, "AWS::DynamoDB::Table")
    assert set(tables) == {
        "IdempotencyTable",
        "RateLimitTable",
        "SuppressionTable",
        "SentMailTable",
        "ErasureIndexTable",
    }
    index = _props(cfn_template, "ErasureIndexTable")  # adapters/dynamodb_erasure_index.py
    assert index["KeySchema"] == [
        {"AttributeName": "address_hash", "KeyType": "HASH"},
        {"AttributeName": "object_key", "KeyType": "RANGE"},
    ]
    assert index["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    for name, table in tables.items():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True, name
    idem = _props(cfn_template, "IdempotencyTable")
    assert idem["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idem["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    supp = _props(cfn_template, "SuppressionTable")
    assert supp["KeySchema"] == [{"AttributeName": "address", "KeyType": "HASH"}]
    assert supp["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert _res(cfn_template, "SuppressionTable")["DeletionPolicy"] == "Retain"
    rate = _props(cfn_template, "RateLimitTable")  # layout of adapters/dynamodb_rate_limit.py
    assert rate["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert rate["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    for name in ("RateLimitTable", "SentMailTable"):
        assert _props(cfn_template, name)["TimeToLiveSpecification"]["Enabled"] is True


# ----------------------------------------------------------------- outbound wiring


def _detail_types(t: dict[str, Any], rule: str) -> set[str]:
    return set(_props(t, rule)["EventPattern"]["detail-type"])


def test_outbound_rules_cover_contracts_and_split_priority(cfn_template: dict[str, Any]) -> None:
    contracts = pytest.importorskip("shopmail.domain.outbound.contracts")
    bulk = _detail_types(cfn_template, "OutboundBulkRule")
    priority = _detail_types(cfn_template, "OutboundPriorityRule")
    assert priority == {"PasswordResetRequested", "EmailChangeRequested", "CustomerRegistered"}
    assert priority == set(contracts.PRIORITY_TYPES)
    assert not bulk & priority
    assert bulk | priority == set(contracts.EVENT_TYPES)
    for rule in ("OutboundBulkRule", "OutboundPriorityRule"):
        props = _props(cfn_template, rule)
        assert props["EventBusName"] == {"Ref": "ShopEventBusName"}
        assert props["EventPattern"]["source"] == [{"Ref": "ShopEventSource"}]
        assert props["Targets"][0]["DeadLetterConfig"]["Arn"] == {
            "Fn::GetAtt": ["OutboundDeadLetterQueue", "Arn"]
        }


def test_queue_policies_allow_only_their_rules(cfn_template: dict[str, Any]) -> None:
    expected = {
        "OutboundQueuePolicy": ("OutboundQueue", ["OutboundBulkRule"]),
        "OutboundPriorityQueuePolicy": ("OutboundPriorityQueue", ["OutboundPriorityRule"]),
        "FeedbackQueuePolicy": ("FeedbackQueue", ["FeedbackRule"]),
        "OutboundDeadLetterQueuePolicy": (
            "OutboundDeadLetterQueue",
            ["OutboundBulkRule", "OutboundPriorityRule"],
        ),
        "FeedbackDeadLetterQueuePolicy": ("FeedbackDeadLetterQueue", ["FeedbackRule"]),
        "ErasureQueuePolicy": ("ErasureQueue", ["ErasureRule"]),
        "ErasureDeadLetterQueuePolicy": ("ErasureDeadLetterQueue", ["ErasureRule"]),
    }
    for policy, (queue, rules) in expected.items():
        props = _props(cfn_template, policy)
        assert props["Queues"] == [{"Ref": queue}]
        (stmt,) = props["PolicyDocument"]["Statement"]
        assert stmt["Principal"] == {"Service": "events.amazonaws.com"}
        assert stmt["Action"] == "sqs:SendMessage"
        assert stmt["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
        source = _as_list(stmt["Condition"]["ArnEquals"]["aws:SourceArn"])
        assert source == [{"Fn::GetAtt": [r, "Arn"]} for r in rules]


def test_outbound_consumes_with_partial_batches_and_capped_concurrency(
    cfn_template: dict[str, Any],
) -> None:
    events = _props(cfn_template, "OutboundFunction")["Events"]
    queues = {e["Properties"]["Queue"]["Fn::GetAtt"][0]: e["Properties"] for e in events.values()}
    assert set(queues) == {"OutboundQueue", "OutboundPriorityQueue"}
    for props in queues.values():
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    bulk = queues["OutboundQueue"]["ScalingConfig"]["MaximumConcurrency"]
    assert bulk == {"Ref": "OutboundMaxConcurrency"}
    fb = _props(cfn_template, "FeedbackFunction")["Events"]["FeedbackQueue"]["Properties"]
    assert fb["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_smtp_user_can_only_send_raw_email(cfn_template: dict[str, Any]) -> None:
    user = _res(cfn_template, "SmtpUser")
    assert user["Condition"] == "CreateSmtpSecret"
    (policy,) = user["Properties"]["Policies"]
    (stmt,) = policy["PolicyDocument"]["Statement"]
    assert stmt["Action"] == "ses:SendRawEmail"
    assert all(
        "identity/${MailDomain}" in r["Fn::Sub"] or "configuration-set/" in r["Fn::Sub"]
        for r in stmt["Resource"]
    )
    secret = _props(cfn_template, "SmtpSecret")
    assert "${SmtpAccessKey.SecretAccessKey}" in secret["SecretString"]["Fn::Sub"]
    assert secret["KmsKeyId"] == {"Ref": "ShopmailKey"}
    assert cfn_template["Conditions"]["CreateSmtpSecret"] == {
        "Fn::Equals": [{"Ref": "ExistingSmtpSecretArn"}, ""]
    }


def test_configuration_set_publishes_feedback_to_default_bus(cfn_template: dict[str, Any]) -> None:
    dest = _props(cfn_template, "ConfigurationSetEventDestination")["EventDestination"]
    assert dest["Enabled"] is True
    assert set(dest["MatchingEventTypes"]) == {
        "bounce",
        "complaint",
        "delivery",
        "deliveryDelay",
        "reject",
    }
    assert dest["EventBridgeDestination"]["EventBusArn"]["Fn::Sub"].endswith("event-bus/default")
    rule = _props(cfn_template, "FeedbackRule")
    assert "EventBusName" not in rule  # the default bus
    assert rule["EventPattern"]["source"] == ["aws.ses"]


# ----------------------------------------------------------------- alarms, identity, outputs


def test_reputation_and_configuration_alarms(cfn_template: dict[str, Any]) -> None:
    bounce = _props(cfn_template, "BounceRateAlarm")
    assert (bounce["Namespace"], bounce["MetricName"]) == ("AWS/SES", "Reputation.BounceRate")
    assert bounce["Threshold"] == 0.05
    assert bounce["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    complaint = _props(cfn_template, "ComplaintRateAlarm")
    assert complaint["MetricName"] == "Reputation.ComplaintRate"
    assert complaint["Threshold"] == 0.001
    assert complaint["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    conf = _props(cfn_template, "OutboundConfigurationErrorAlarm")
    assert (conf["Namespace"], conf["MetricName"]) == ("shopmail", "ConfigurationError")
    errors = {
        p["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for p in _of_type(cfn_template, "AWS::CloudWatch::Alarm").values()
        if p["Properties"].get("MetricName") == "Errors"
    }
    assert errors == {
        "InboundFunction",
        "OutboundFunction",
        "FeedbackFunction",
        "UnsubscribeFunction",
    }
    topic = _props(cfn_template, "AlarmTopic")
    assert topic["KmsMasterKeyId"] == {"Ref": "ShopmailKey"}
    assert _res(cfn_template, "AlarmEmailSubscription")["Condition"] == "HasAlarmEmail"


def test_identity_and_dns_are_optional(cfn_template: dict[str, Any]) -> None:
    identity = _res(cfn_template, "MailDomainIdentity")
    assert identity["Condition"] == "CreateIdentity"
    assert identity["Properties"]["DkimSigningAttributes"]["NextSigningKeyLength"]
    mx = _res(cfn_template, "InboundMxRecord")
    assert mx["Condition"] == "HasHostedZone"
    assert mx["Properties"]["ResourceRecords"] == [
        {"Fn::Sub": "10 inbound-smtp.${AWS::Region}.amazonaws.com"}
    ]
    for i in (1, 2, 3):
        rec = _res(cfn_template, f"DkimRecord{i}")
        assert rec["Condition"] == "CreateIdentityRecords"
        assert rec["Properties"]["Type"] == "CNAME"
        assert rec["Properties"]["Name"] == {
            "Fn::GetAtt": ["MailDomainIdentity", f"DkimDNSTokenName{i}"]
        }
    assert cfn_template["Parameters"]["HostedZoneId"]["Default"] == ""


def test_outputs_cover_what_callers_need(cfn_template: dict[str, Any]) -> None:
    assert set(cfn_template["Outputs"]) >= {
        "RawMailBucketName",
        "RawMailPrefix",
        "InboundFunctionName",
        "InboundFunctionArn",
        "InboundDeadLetterQueueUrl",
        "OutboundFunctionName",
        "OutboundQueueUrl",
        "OutboundPriorityQueueUrl",
        "OutboundDeadLetterQueueUrl",
        "FeedbackFunctionName",
        "FeedbackQueueUrl",
        "FeedbackDeadLetterQueueUrl",
        "IdempotencyTableName",
        "RateLimitTableName",
        "SuppressionTableName",
        "SentMailTableName",
        "ShopEventBusName",
        "ReceiptRuleSetName",
        "SmtpSecretArn",
        "ConfigurationSetName",
        "AlarmTopicArn",
        "ErasureIndexTableName",
        "ErasureQueueUrl",
        "ErasureDeadLetterQueueUrl",
        "UnsubscribeUrl",
        "UnsubscribeSecretArn",
    }


def test_samconfig_has_no_secrets_and_deploy_defaults() -> None:
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
        pytest.skip("tomllib needs Python 3.11")
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    for env in ("default", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["resolve_s3"] is True
        assert set(deploy["capabilities"].split()) >= {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}
    lines = (REPO / "samconfig.toml").read_text().lower().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert not re.search(r"secret|password|aws_access_key|akia[0-9a-z]{12}", text)


def test_checkov_skips_are_justified() -> None:
    lines = (REPO / ".checkov.yaml").read_text().splitlines()
    skip_start = lines.index("skip-check:")
    for i, line in enumerate(lines[skip_start + 1 :], start=skip_start + 1):
        if line.strip().startswith("- CKV"):
            assert lines[i - 1].strip().startswith("#"), f"no justification above {line.strip()}"


def test_template_path_is_repo_root() -> None:
    assert Path(TEMPLATE_PATH).name == "template.yaml"
    assert (TEMPLATE_PATH.parent / "samconfig.toml").is_file()


def test_invoice_pdfs_are_read_and_listed_on_one_prefix(cfn_template: dict[str, Any]) -> None:
    policy = _res(cfn_template, "OutboundInvoiceReadPolicy")
    assert "Condition" not in policy  # "" means the stack's own bucket, never no access
    assert policy["Properties"]["Roles"] == [{"Ref": "OutboundRole"}]
    read, listing = policy["Properties"]["PolicyDocument"]["Statement"]
    bucket = {
        "Fn::If": ["CreateInvoiceBucket", {"Ref": "InvoiceBucket"}, {"Ref": "InvoiceBucketName"}]
    }
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"]["Fn::Sub"] == [
        "arn:${AWS::Partition}:s3:::${Bucket}/${InvoiceKeyPrefix}*",
        {"Bucket": bucket},
    ]
    # ListBucket makes a PDF not uploaded yet a 404 (it waits), not a 403 (access denied)
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Resource"]["Fn::Sub"] == [
        "arn:${AWS::Partition}:s3:::${Bucket}",
        {"Bucket": bucket},
    ]
    assert listing["Condition"] == {
        "StringLikeIfExists": {"s3:prefix": {"Fn::Sub": "${InvoiceKeyPrefix}*"}}
    }
    assert cfn_template["Parameters"]["InvoiceBucketName"]["Default"] == ""
    assert cfn_template["Conditions"]["CreateInvoiceBucket"] == {
        "Fn::Equals": [{"Ref": "InvoiceBucketName"}, ""]
    }
    own = _res(cfn_template, "InvoiceBucket")
    assert own["Condition"] == "CreateInvoiceBucket" and own["DeletionPolicy"] == "Retain"
    blocks = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    assert own["Properties"]["PublicAccessBlockConfiguration"] == dict.fromkeys(blocks, True)
    env = _env(cfn_template, "OutboundFunction")
    assert env["INVOICE_BUCKET"] == bucket
    assert env["INVOICE_KEY_PREFIX"] == {"Ref": "InvoiceKeyPrefix"}
    assert env["INVOICE_WAIT_SECONDS"] == {"Ref": "InvoiceWaitSeconds"}
    assert cfn_template["Outputs"]["InvoiceBucketName"]["Value"] == bucket


def test_configuration_error_alarm_matches_powertools_metrics(cfn_template: dict[str, Any]) -> None:
    # Powertools Metrics (EMF) publish to POWERTOOLS_METRICS_NAMESPACE with the default
    # dimension service=POWERTOOLS_SERVICE_NAME: the alarm must watch exactly that metric.
    env = _env(cfn_template, "OutboundFunction")
    alarm = _props(cfn_template, "OutboundConfigurationErrorAlarm")
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]


def test_blocked_by_provider_alarm_watches_both_feedback_paths(
    cfn_template: dict[str, Any],
) -> None:
    """SES events (feedback function) and DSN mail (inbound function) both emit
    BlockedByProvider with their own service dimension; the alarm sums both, hourly, sustained
    over three hours, at the BlockedAlarmThreshold parameter."""
    alarm = _props(cfn_template, "DeliverabilityBlockedAlarm")
    stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    services = set()
    for stat in stats.values():
        metric = stat["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ("shopmail", "BlockedByProvider")
        services.add(metric["Dimensions"][0]["Value"])
        assert stat["Period"] == 3600 and stat["Stat"] == "Sum"
    expected = {
        _env(cfn_template, fn)["POWERTOOLS_SERVICE_NAME"]
        for fn in ("FeedbackFunction", "InboundFunction")
    }
    assert services == expected
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    assert all(i in expression["Expression"] for i in stats) and expression["ReturnData"]
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3
    assert alarm["Threshold"] == {"Ref": "BlockedAlarmThreshold"}
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_feedback_trust_settings_reach_the_functions(cfn_template: dict[str, Any]) -> None:
    feedback = _env(cfn_template, "FeedbackFunction")
    assert feedback["SES_CONFIGURATION_SET"] == {"Ref": "ConfigurationSet"}
    assert feedback["FEEDBACK_TOPIC_ARNS"] == {"Fn::Join": [",", {"Ref": "FeedbackTopicArns"}]}
    inbound = _env(cfn_template, "InboundFunction")
    for name in ("SENT_MAIL_TABLE", "SUPPRESSION_TABLE", "TRANSIENT_BOUNCE_THRESHOLD"):
        assert name in inbound, name


def test_stack_is_limited_to_ses_receiving_regions(cfn_template: dict[str, Any]) -> None:
    (assertion,) = cfn_template["Rules"]["SesReceivingRegion"]["Assertions"]
    regions, region_ref = assertion["Assert"]["Fn::Contains"]
    assert region_ref == {"Ref": "AWS::Region"}
    assert {"eu-west-1", "us-east-1", "eu-central-1"} <= set(regions)
    assert "eu-north-1" not in regions


def test_senders_and_bypass_types_are_parameters(cfn_template: dict[str, Any]) -> None:
    env = cfn_template["Globals"]["Function"]["Environment"]["Variables"]
    for var, param in (
        ("TRANSACTIONAL_FROM", "TransactionalFrom"),
        ("MARKETING_FROM", "MarketingFrom"),
        ("SUPPORT_ADDRESS", "SupportAddress"),
    ):
        assert env[var] == {"Ref": param}
        assert cfn_template["Parameters"][param]["Default"] == ""  # derived from MailDomain
    outbound = _env(cfn_template, "OutboundFunction")
    assert outbound["SUPPRESSION_BYPASS_TYPES"] == {"Ref": "SuppressionBypassTypes"}
    assert (
        cfn_template["Parameters"]["SuppressionBypassTypes"]["Default"] == "PasswordResetRequested"
    )


# ----------------------------------------------------------------- unsubscribe and erasure


def test_unsubscribe_endpoint_is_a_public_url_of_its_own_function(
    cfn_template: dict[str, Any],
) -> None:
    url = _props(cfn_template, "UnsubscribeFunctionUrl")
    assert url["AuthType"] == "NONE"
    assert url["TargetFunctionArn"] == {"Fn::GetAtt": ["UnsubscribeFunction", "Arn"]}
    skips = _res(cfn_template, "UnsubscribeFunctionUrl")["Metadata"]["checkov"]["skip"]
    assert [s["id"] for s in skips] == ["CKV_AWS_258"] and all(s["comment"] for s in skips)
    permissions = {
        _props(cfn_template, name)["Action"]: _props(cfn_template, name)
        for name in _of_type(cfn_template, "AWS::Lambda::Permission")
        if _props(cfn_template, name).get("Principal") == "*"
    }
    assert set(permissions) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert permissions["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert permissions["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
    for perm in permissions.values():
        assert perm["FunctionName"] == {"Fn::GetAtt": ["UnsubscribeFunction", "Arn"]}


def test_unsubscribe_keys_are_generated_encrypted_and_shared_with_outbound(
    cfn_template: dict[str, Any],
) -> None:
    secret = _props(cfn_template, "UnsubscribeSecret")
    assert secret["KmsKeyId"] == {"Ref": "ShopmailKey"}
    generate = secret["GenerateSecretString"]
    assert generate["GenerateStringKey"] == "current"  # SigningKeys.from_secret reads it
    assert generate["PasswordLength"] >= 32
    outbound = _env(cfn_template, "OutboundFunction")
    assert outbound["UNSUBSCRIBE_BASE_URL"] == {
        "Fn::GetAtt": ["UnsubscribeFunctionUrl", "FunctionUrl"]
    }
    assert outbound["UNSUBSCRIBE_SECRET_ARN"] == {"Ref": "UnsubscribeSecret"}
    assert outbound["UNSUBSCRIBE_TOKEN_DAYS"] == {"Ref": "UnsubscribeTokenDays"}
    assert cfn_template["Parameters"]["UnsubscribeTokenDays"]["MinValue"] > 30
    for fn in ("OutboundFunction", "UnsubscribeFunction"):
        reads = [
            s["Resource"]
            for s in _statements(_role_of(cfn_template, fn))
            if "secretsmanager:GetSecretValue" in _as_list(s["Action"])
        ]
        assert {"Ref": "UnsubscribeSecret"} in reads, fn
    unsub = {
        a
        for s in _statements(_role_of(cfn_template, "UnsubscribeFunction"))
        for a in _as_list(s["Action"])
    }
    assert not any(a.startswith(("s3:", "sqs:")) for a in unsub)
    assert "dynamodb:DeleteItem" not in unsub  # it only adds unsubscribe entries


def test_erasure_is_fed_by_the_shop_event_and_scoped_to_the_stack_stores(
    cfn_template: dict[str, Any],
) -> None:
    rule = _props(cfn_template, "ErasureRule")
    assert rule["EventBusName"] == {"Ref": "ShopEventBusName"}
    assert rule["EventPattern"] == {
        "source": [{"Ref": "ShopEventSource"}],
        "detail-type": ["CustomerDataErasureRequested"],
    }
    assert rule["Targets"][0]["DeadLetterConfig"]["Arn"] == {
        "Fn::GetAtt": ["ErasureDeadLetterQueue", "Arn"]
    }
    (source,) = _props(cfn_template, "ErasureFunction")["Events"].values()
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["ErasureQueue", "Arn"]}
    assert source["Properties"]["BatchSize"] == 1
    by_action: dict[str, list[Any]] = {}
    for stmt in _statements(_role_of(cfn_template, "ErasureFunction")):
        for action in _as_list(stmt["Action"]):
            by_action.setdefault(action, []).extend(_as_list(stmt["Resource"]))
    assert by_action["s3:DeleteObjectVersion"] == [
        {"Fn::Sub": "${RawMailBucket.Arn}/${RawMailPrefix}*"},
        {"Fn::Sub": "${RawMailBucket.Arn}/${AttachmentsPrefix}*"},
        {"Fn::Sub": "${RawMailBucket.Arn}/${QuarantinePrefix}*"},
    ]
    assert by_action["s3:ListBucketVersions"] == [{"Fn::GetAtt": ["RawMailBucket", "Arn"]}]
    scrubbed = {r["Fn::GetAtt"][0] for r in by_action["sqs:ReceiveMessage"]}
    assert scrubbed == set(DEAD_LETTER_QUEUES) | {"ErasureQueue"}
    env = _env(cfn_template, "ErasureFunction")
    for name in ("INBOUND_DLQ_URL", "OUTBOUND_DLQ_URL", "FEEDBACK_DLQ_URL", "ERASURE_DLQ_URL",
                 "ERASURE_INDEX_TABLE", "SENT_MAIL_TABLE", "RATE_LIMIT_TABLE"):  # fmt: skip
        assert name in env, name


def test_inbound_index_outlives_every_stored_object(cfn_template: dict[str, Any]) -> None:
    env = _env(cfn_template, "InboundFunction")
    assert env["ERASURE_INDEX_TABLE"] == {"Ref": "ErasureIndexTable"}
    for setting, parameter in (
        ("RAW_MAIL_RETENTION_DAYS", "RawMailRetentionDays"),
        ("ATTACHMENTS_RETENTION_DAYS", "AttachmentsRetentionDays"),
        ("QUARANTINE_RETENTION_DAYS", "QuarantineRetentionDays"),
    ):
        assert env[setting] == {"Ref": parameter}
    writes = [
        s["Resource"]
        for s in _statements(_role_of(cfn_template, "InboundFunction"))
        if "dynamodb:BatchWriteItem" in _as_list(s["Action"])
    ]
    # the index, and the action ledger whose finished records go with it in one write
    assert writes == [
        {"Fn::GetAtt": ["ErasureIndexTable", "Arn"]},
        {"Fn::GetAtt": ["IdempotencyTable", "Arn"]},
    ]


def test_every_suppression_reader_may_read_both_forms(cfn_template: dict[str, Any]) -> None:
    """Lookups read the address and its hash in one BatchGetItem."""
    for fn in ("InboundFunction", "OutboundFunction", "FeedbackFunction", "UnsubscribeFunction",
               "ErasureFunction"):  # fmt: skip
        actions = {
            a
            for s in _statements(_role_of(cfn_template, fn))
            if s["Resource"] == {"Fn::GetAtt": ["SuppressionTable", "Arn"]}
            for a in _as_list(s["Action"])
        }
        assert "dynamodb:BatchGetItem" in actions, fn
