"""template.yaml provisioned into the real moto server (over HTTP) by the local stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shopmail.config import ENV_NAMES

from shopmail_local.stack.provision import StackOutputs


def test_buckets_tables_queues_and_secret_exist(
    provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    out = provisioned.outputs
    s3 = aws_client("s3")
    bucket = out["RawMailBucketName"]
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    raw_rule = next(r for r in rules if r["ID"] == "expire-raw-mail")
    assert raw_rule["Filter"]["Prefix"] == out["RawMailPrefix"]
    assert raw_rule["Expiration"]["Days"] == 30

    ddb = aws_client("dynamodb")
    for name in ("IdempotencyTableName", "SuppressionTableName", "RateLimitTableName"):
        desc = ddb.describe_table(TableName=out[name])["Table"]
        assert desc["KeySchema"][0]["KeyType"] == "HASH"
    ttl = ddb.describe_time_to_live(TableName=out["IdempotencyTableName"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiration"

    secret = aws_client("secretsmanager").get_secret_value(SecretId=out["SmtpSecretArn"])
    value = json.loads(secret["SecretString"])
    assert set(value) == {"access_key_id", "secret_access_key"}
    assert value["access_key_id"] == provisioned.smtp_credentials["access_key_id"]


def test_queues_have_redrive_to_their_dead_letter_queue(
    provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    sqs = aws_client("sqs")
    out = provisioned.outputs
    attrs = sqs.get_queue_attributes(QueueUrl=out["OutboundQueueUrl"], AttributeNames=["All"])
    redrive = json.loads(attrs["Attributes"]["RedrivePolicy"])
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=out["OutboundDeadLetterQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == int(provisioned.parameters["OutboundMaxReceiveCount"])
    assert set(provisioned.dead_letter_queues) == {
        "InboundDeadLetterQueue",
        "OutboundDeadLetterQueue",
        "FeedbackDeadLetterQueue",
        "ErasureDeadLetterQueue",
    }


def test_bus_rules_route_shop_events_and_ses_events_to_their_queues(
    provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    events, sqs = aws_client("events"), aws_client("sqs")
    out = provisioned.outputs
    events.put_events(
        Entries=[
            {"Source": "shop", "DetailType": "OrderPlaced", "Detail": "{}", "EventBusName": "shop"},
            {
                "Source": "shop",
                "DetailType": "PasswordResetRequested",
                "Detail": "{}",
                "EventBusName": "shop",
            },
            {
                "Source": "other",
                "DetailType": "OrderPlaced",
                "Detail": "{}",
                "EventBusName": "shop",
            },
            {
                "Source": "aws.ses",
                "DetailType": "Email Bounced",
                "Detail": json.dumps(
                    {"mail": {"tags": {"ses:configuration-set": [out["ConfigurationSetName"]]}}}
                ),
            },
        ]
    )

    def bodies(url: str) -> list[dict[str, Any]]:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") or []
        return [json.loads(m["Body"]) for m in msgs]

    bulk = bodies(out["OutboundQueueUrl"])
    assert [(e["source"], e["detail-type"]) for e in bulk] == [("shop", "OrderPlaced")]
    priority = bodies(out["OutboundPriorityQueueUrl"])
    assert [e["detail-type"] for e in priority] == ["PasswordResetRequested"]
    feedback = bodies(out["FeedbackQueueUrl"])
    assert [e["detail-type"] for e in feedback] == ["Email Bounced"]


def test_ses_receipt_rule_set_is_active_with_s3_then_lambda(
    provisioned: StackOutputs, aws_client: Callable[..., Any]
) -> None:
    ses = aws_client("ses")
    active = ses.describe_active_receipt_rule_set()
    rule = active["Rules"][0]
    assert active["Metadata"]["Name"] == provisioned.outputs["ReceiptRuleSetName"]
    assert rule["Recipients"] == ["shop.example"]
    assert list(rule["Actions"][0]) == ["S3Action"]
    assert list(rule["Actions"][1]) == ["LambdaAction"]
    spec = provisioned.receipt_rules[0]
    assert spec.s3_actions[0].prefix == provisioned.outputs["RawMailPrefix"]
    assert spec.lambda_actions[0].function_logical_id == "InboundFunction"


def test_function_environments_use_the_config_names(provisioned: StackOutputs) -> None:
    known = set(ENV_NAMES.values())
    inbound = provisioned.functions["InboundFunction"]
    env = inbound.environment
    assert env["MAIL_DOMAIN"] == "shop.example"  # from Globals
    assert env["RAW_MAIL_BUCKET"] == provisioned.outputs["RawMailBucketName"]
    assert env["INBOUND_DLQ_URL"] == provisioned.outputs["InboundDeadLetterQueueUrl"]
    assert inbound.on_failure_url == provisioned.outputs["InboundDeadLetterQueueUrl"]
    assert inbound.max_retry_attempts == 2
    shopmail_vars = {k for k in env if not k.startswith("POWERTOOLS_")}
    assert shopmail_vars <= known
    outbound = provisioned.functions["OutboundFunction"]
    sources = {s.name: s for s in outbound.sqs_sources}
    assert sources["BulkQueue"].queue_url == provisioned.outputs["OutboundQueueUrl"]
    assert sources["BulkQueue"].report_batch_item_failures
    assert sources["PriorityQueue"].batch_size == 5


def test_conditional_resources_are_skipped(provisioned: StackOutputs) -> None:
    assert provisioned.skipped["InboundMxRecord"] == "condition false"
    assert "AlarmEmailSubscription" in provisioned.skipped


def test_dashboard_is_created_and_schema_registry_skipped_with_a_log_line(
    moto: str, aws_client: Callable[..., Any], caplog: Any
) -> None:
    from shopmail_local.stack.provision import provision_template
    from tests.fixtures.local_stack import TEMPLATE

    with caplog.at_level("INFO", logger="shopmail_local.stack.provision"):
        out = provision_template(TEMPLATE, moto)
    body = aws_client("cloudwatch").get_dashboard(DashboardName=out.outputs["DashboardName"])
    widgets = json.loads(body["DashboardBody"])["widgets"]
    dlq = out.physical["OutboundDeadLetterQueue"].attributes["QueueName"]
    assert any(dlq in json.dumps(w) for w in widgets)  # the body's references were resolved
    schemas = [k for k in out.skipped if k.startswith("EventSchema")]
    assert "EventSchemaRegistry" in schemas and len(schemas) > 10
    assert all("not supported by moto" in out.skipped[k] for k in schemas)
    assert out.outputs["EventSchemaRegistryName"] == "shopmail-local-events"
    assert any("moto has no EventBridge schema registry" in r.getMessage() for r in caplog.records)
