"""Provision the resources of ``template.yaml`` into a moto server over HTTP.

Data resources (buckets, tables, queues, bus rules and targets, the SMTP secret, SES identity,
receipt rule set and rule, configuration set, topics, the dashboard) are created for real in
moto. Compute and account plumbing (IAM, CloudWatch alarms, Lambda, logs, Route 53, KMS, custom
resources) is emulated: it gets a physical id and the attributes other resources refer to,
nothing more. The EventBridge schema registry and its schemas are not in moto: they are
resolved and skipped with a log line.

The result, :class:`StackOutputs`, carries each resource's physical id, the template's
``Outputs``, each function's resolved environment (Globals + its own variables) and its SQS
event sources, and the receipt rules, so the handlers run in-process with the same settings as
on AWS.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import string
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import boto3
from botocore.exceptions import ClientError

from shopmail_local.stack.template_model import (
    PhysicalResource,
    Resolver,
    TemplateError,
    creation_order,
    load_template,
)

log = logging.getLogger(__name__)

DEFAULT_PARAMETERS = {"MailDomain": "shop.example", "ActivateRuleSet": "true"}
"""Parameter values the local stack uses unless told otherwise."""


@dataclass(frozen=True)
class SqsEventSource:
    """An SQS event source mapping of a function (from the SAM ``Events`` section)."""

    name: str
    queue_arn: str
    queue_url: str
    batch_size: int = 10
    batching_window: float = 0.0
    report_batch_item_failures: bool = False
    max_concurrency: int | None = None


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function of the template, ready to run in-process."""

    logical_id: str
    name: str
    arn: str
    code_uri: str
    handler: str
    timeout: int
    memory: int
    environment: Mapping[str, str]
    sqs_sources: tuple[SqsEventSource, ...] = ()
    max_retry_attempts: int = 2
    on_failure_arn: str = ""
    on_failure_url: str = ""


@dataclass(frozen=True)
class S3ActionSpec:
    """A receipt rule's S3 action."""

    bucket: str
    prefix: str


@dataclass(frozen=True)
class LambdaActionSpec:
    """A receipt rule's Lambda action (``function_logical_id`` names the template function)."""

    function_arn: str
    function_logical_id: str
    invocation_type: str = "Event"


@dataclass(frozen=True)
class ReceiptRuleSpec:
    """A receipt rule of the template, in set order."""

    rule_set: str
    name: str
    enabled: bool
    recipients: tuple[str, ...]
    tls_policy: str
    scan_enabled: bool
    s3_actions: tuple[S3ActionSpec, ...]
    lambda_actions: tuple[LambdaActionSpec, ...]


@dataclass
class StackOutputs:
    """What provisioning created: physical ids, outputs, functions and receipt rules."""

    endpoint_url: str
    region: str
    account_id: str
    stack_name: str
    parameters: dict[str, Any]
    physical: dict[str, PhysicalResource] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    receipt_rules: list[ReceiptRuleSpec] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL
    dead_letter_queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL
    redrive_sources: dict[str, list[str]] = field(default_factory=dict)  # DLQ URL -> source URLs
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    buses: list[str] = field(default_factory=list)
    smtp_credentials: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> why not created
    function_urls: dict[str, str] = field(default_factory=dict)  # function logical id -> URL

    def __getitem__(self, logical_id: str) -> str:
        """The physical id (``Ref``) of a resource."""
        return self.physical[logical_id].ref

    def queue_url_for_arn(self, arn: str) -> str:
        """The URL of the queue with this ARN ('' if unknown)."""
        for res in self.physical.values():
            if res.attributes.get("Arn") == arn and "QueueUrl" in res.attributes:
                return str(res.attributes["QueueUrl"])
        return ""

    def function_by_arn(self, arn: str) -> FunctionSpec | None:
        """The function whose ARN is ``arn``."""
        return next((f for f in self.functions.values() if f.arn == arn), None)


def _rand(n: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


class Provisioner:
    """Create the template's resources in a moto server.

    Parameters
    ----------
    template
        The parsed template (see :func:`load_template`).
    endpoint_url
        The moto server, e.g. ``http://127.0.0.1:4566``.
    parameters
        Parameter overrides (merged over :data:`DEFAULT_PARAMETERS`).
    credentials
        ``(access key id, secret)`` for the moto server (moto accepts any; the stack's own).
    function_url
        The URL the local function URL server answers at (``AWS::Lambda::Url``; one function).
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        endpoint_url: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        region: str = "eu-west-1",
        account_id: str = "123456789012",
        stack_name: str = "shopmail-local",
        credentials: tuple[str, str] | None = None,
        function_url: str = "https://127.0.0.1:8026/",
    ) -> None:
        self.template = template
        self.credentials = credentials or local_credentials()
        self.function_url = function_url
        self.endpoint_url = endpoint_url
        self.region = region
        params = {**DEFAULT_PARAMETERS, **(parameters or {})}
        declared = template.get("Parameters") or {}
        params = {k: v for k, v in params.items() if k in declared}
        self.resolver = Resolver(
            template, params, region=region, account_id=account_id, stack_name=stack_name
        )
        self.out = StackOutputs(
            endpoint_url=endpoint_url,
            region=region,
            account_id=account_id,
            stack_name=stack_name,
            parameters=self.resolver.parameter_values,
            physical=self.resolver.physical,
        )
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """A boto3 client bound to the moto server (local dummy credentials)."""
        if service not in self._clients:
            make: Any = boto3.client
            self._clients[service] = make(
                service,
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=self.credentials[0],
                aws_secret_access_key=self.credentials[1],
            )
        return self._clients[service]

    # ------------------------------------------------------------------ driver
    def provision(self) -> StackOutputs:
        """Create every enabled resource in dependency order; return what was created."""
        resources = self.template.get("Resources") or {}
        for logical in creation_order(self.template):
            spec = resources[logical]
            if not self.resolver.resource_enabled(logical):
                self.out.skipped[logical] = "condition false"
                continue
            rtype = spec.get("Type", "")
            handler = self._HANDLERS.get(rtype)
            props = spec.get("Properties") or {}
            if handler is None:
                self._emulate(logical, rtype)
                continue
            handler(self, logical, props)
        # a DLQ's sources in template order (the first is where a redrive goes), whatever order
        # the dependency sort created them in
        position = {
            self.out.queues[name]: i for i, name in enumerate(resources) if name in self.out.queues
        }
        for sources in self.out.redrive_sources.values():
            sources.sort(key=lambda url: position.get(url, len(position)))
        self._resolve_outputs()
        return self.out

    def _set(self, logical: str, ref: str, **attributes: Any) -> None:
        self.resolver.physical[logical] = PhysicalResource(ref, dict(attributes))

    def _name(self, logical: str, *, lower: bool = False, max_len: int = 64) -> str:
        name = f"{self.out.stack_name}-{logical}"[:max_len]
        return name.lower() if lower else name

    def _arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:aws:{service}:{region}:{self.out.account_id}:{resource}"

    def _emulate(self, logical: str, rtype: str) -> None:
        """Give a not-provisioned resource a physical id and the usual attributes."""
        name = self._name(logical)
        arn_by_type = {
            "AWS::IAM::Role": self._arn("iam", f"role/{name}", regional=False),
            "AWS::Logs::LogGroup": self._arn("logs", f"log-group:{name}:*"),
            "AWS::KMS::Key": self._arn("kms", f"key/{_rand(8).lower()}-local"),
            "AWS::Serverless::LayerVersion": self._arn("lambda", f"layer:{name}:1"),
        }
        arn = arn_by_type.get(rtype, self._arn("local", f"{rtype}/{name}"))
        ref = arn if rtype in ("AWS::Serverless::LayerVersion",) else name
        if rtype == "AWS::Logs::LogGroup":
            ref = f"/aws/local/{name}"
        self._set(logical, ref, Arn=arn)
        self.out.skipped[logical] = f"{rtype} is emulated (not needed locally)"

    # ------------------------------------------------------------------ S3
    def _bucket(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        name = p.get("BucketName") or self._name(logical, lower=True, max_len=63)
        s3 = self.client("s3")
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            s3.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou",):
                raise
        if "BucketEncryption" in p:
            rules = []
            for rule in p["BucketEncryption"].get("ServerSideEncryptionConfiguration") or []:
                sse = dict(rule.get("ServerSideEncryptionByDefault") or {})
                enc: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": sse}
                if "BucketKeyEnabled" in rule:
                    enc["BucketKeyEnabled"] = _truthy(rule["BucketKeyEnabled"])
                rules.append(enc)
            s3.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules}
            )
        if "VersioningConfiguration" in p:
            s3.put_bucket_versioning(
                Bucket=name,
                VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]},
            )
        if "PublicAccessBlockConfiguration" in p:
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={
                    k: _truthy(v) for k, v in p["PublicAccessBlockConfiguration"].items()
                },
            )
        rules = (p.get("LifecycleConfiguration") or {}).get("Rules") or []
        if rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in rules]}
            )
        self._set(
            logical,
            name,
            Arn=f"arn:aws:s3:::{name}",
            DomainName=f"{name}.s3.amazonaws.com",
            RegionalDomainName=f"{name}.s3.{self.region}.amazonaws.com",
        )

    def _bucket_policy(self, logical: str, props: Mapping[str, Any]) -> None:
        # The real policy denies non-TLS access, and moto's endpoint is plain HTTP: enforcing
        # it locally would lock the handlers out. Resolve it (so errors show) but do not apply.
        self.resolver.resolve(props)
        self._set(logical, self._name(logical))
        self.out.skipped[logical] = "bucket policy resolved, not applied (local HTTP endpoint)"

    # ------------------------------------------------------------------ SQS
    def _queue(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        fifo = str(p.get("FifoQueue", "")).lower() == "true"
        name = p.get("QueueName") or self._name(logical, max_len=75) + (".fifo" if fifo else "")
        attrs: dict[str, str] = {}
        for key in (
            "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
            "ReceiveMessageWaitTimeSeconds", "FifoQueue", "ContentBasedDeduplication",
            "SqsManagedSseEnabled", "KmsMasterKeyId",
        ):  # fmt: skip
            if key in p:
                value = p[key]
                attrs[key] = str(value).lower() if isinstance(value, bool) else str(value)
        if "RedrivePolicy" in p:
            rp = dict(p["RedrivePolicy"])
            rp["maxReceiveCount"] = int(rp["maxReceiveCount"])
            attrs["RedrivePolicy"] = json.dumps(rp)
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        arn = self._arn("sqs", name)
        self._set(logical, url, Arn=arn, QueueName=name, QueueUrl=url)
        self.out.queues[logical] = url
        if "RedrivePolicy" in p:
            dlq_url = self.out.queue_url_for_arn(p["RedrivePolicy"]["deadLetterTargetArn"])
            self.out.redrive_sources.setdefault(dlq_url, []).append(url)

    def _queue_policy(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        for url in p.get("Queues") or []:
            self.client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])}
            )
        self._set(logical, self._name(logical))

    # ------------------------------------------------------------------ DynamoDB
    def _table(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        name = p.get("TableName") or self._name(logical)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": p["AttributeDefinitions"],
            "KeySchema": p["KeySchema"],
            "BillingMode": p.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = p["ProvisionedThroughput"]
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
            if key in p:
                kwargs[key] = p[key]
        ddb = self.client("dynamodb")
        desc = ddb.create_table(**kwargs)["TableDescription"]
        ttl = p.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        self._set(logical, name, Arn=desc["TableArn"], StreamArn=desc.get("LatestStreamArn", ""))
        self.out.tables[logical] = name

    # ------------------------------------------------------------------ IAM access key + secret
    def _access_key(self, logical: str, props: Mapping[str, Any]) -> None:
        # A local IAM user's key: only the local SES relay checks it (derived SMTP password).
        self.resolver.resolve(props)
        key_id = "AKIALOCAL" + _rand(11)
        secret = _rand(40, string.ascii_letters + string.digits + "/+")
        self._set(logical, key_id, SecretAccessKey=secret)
        self.out.smtp_credentials = {"access_key_id": key_id, "secret_access_key": secret}
        self.out.skipped[logical] = "local access key generated (IAM is not provisioned)"

    def _secret(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        name = p.get("Name") or self._name(logical)
        kwargs: dict[str, Any] = {"Name": name, "Description": p.get("Description", "")}
        if "SecretString" in p:
            kwargs["SecretString"] = p["SecretString"]
        elif "GenerateSecretString" in p:
            kwargs["SecretString"] = _generated_secret(p["GenerateSecretString"])
        arn = self.client("secretsmanager").create_secret(**kwargs)["ARN"]
        self._set(logical, arn, Id=arn, Name=name)

    # ------------------------------------------------------------------ EventBridge
    def _ensure_bus(self, bus: str) -> str:
        name = bus.rsplit("/", 1)[-1] if bus.startswith("arn:") else bus
        if name != "default" and name not in self.out.buses:
            try:
                self.client("events").create_event_bus(Name=name)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                    raise
        if name not in self.out.buses:
            self.out.buses.append(name)
        return name

    def _event_bus(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        name = self._ensure_bus(p.get("Name") or self._name(logical))
        arn = self._arn("events", f"event-bus/{name}")
        self._set(logical, name, Arn=arn, Name=name)

    def _rule(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        bus = self._ensure_bus(p.get("EventBusName", "default"))
        name = p.get("Name") or self._name(logical)
        events = self.client("events")
        kwargs: dict[str, Any] = {
            "Name": name,
            "EventBusName": bus,
            "State": p.get("State", "ENABLED"),
        }
        if "EventPattern" in p:
            kwargs["EventPattern"] = json.dumps(p["EventPattern"])
        if "ScheduleExpression" in p:
            kwargs["ScheduleExpression"] = p["ScheduleExpression"]
        if "Description" in p:
            kwargs["Description"] = p["Description"]
        arn = events.put_rule(**kwargs)["RuleArn"]
        targets = [_target(t) for t in p.get("Targets") or []]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        self._set(logical, name if bus == "default" else f"{bus}|{name}", Arn=arn)

    # ------------------------------------------------------------------ SES
    def _configuration_set(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        name = p.get("Name") or self._name(logical)
        self.client("ses").create_configuration_set(ConfigurationSet={"Name": name})
        self._set(logical, name)

    def _event_destination(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        dest = p["EventDestination"]
        # moto's SES v1 knows SNS/Kinesis/CloudWatch destinations only; the EventBridge one is
        # emulated by the local relay (simulator addresses put SES events on the bus).
        self._set(logical, f"{p['ConfigurationSetName']}|{dest.get('Name', logical)}")
        self.out.skipped[logical] = "EventBridge destination emulated by the local SES relay"

    def _email_identity(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        identity = p["EmailIdentity"]
        ses = self.client("ses")
        if "@" in identity:
            ses.verify_email_identity(EmailAddress=identity)
        else:
            ses.verify_domain_identity(Domain=identity)
        attrs = {}
        for i in (1, 2, 3):
            token = _rand(32).lower()
            attrs[f"DkimDNSTokenName{i}"] = f"{token}._domainkey.{identity}"
            attrs[f"DkimDNSTokenValue{i}"] = f"{token}.dkim.amazonses.com"
        self._set(logical, identity, **attrs)

    def _rule_set(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        name = p.get("RuleSetName") or self._name(logical)
        self.client("ses").create_receipt_rule_set(RuleSetName=name)
        self._set(logical, name)

    def _receipt_rule(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        rule = dict(p["Rule"])
        rule.setdefault("Name", self._name(logical))
        ses = self.client("ses")
        kwargs: dict[str, Any] = {"RuleSetName": p["RuleSetName"], "Rule": _ses_rule(rule)}
        if "After" in p:
            kwargs["After"] = p["After"]
        ses.create_receipt_rule(**kwargs)
        self._set(logical, rule["Name"])
        s3_actions: list[S3ActionSpec] = []
        lambda_actions: list[LambdaActionSpec] = []
        for action in rule.get("Actions") or []:
            if "S3Action" in action:
                a = action["S3Action"]
                s3_actions.append(S3ActionSpec(a["BucketName"], a.get("ObjectKeyPrefix", "")))
            if "LambdaAction" in action:
                a = action["LambdaAction"]
                fn = self._function_logical_by_arn(a["FunctionArn"])
                lambda_actions.append(
                    LambdaActionSpec(a["FunctionArn"], fn, a.get("InvocationType", "Event"))
                )
        spec = ReceiptRuleSpec(
            rule_set=p["RuleSetName"],
            name=rule["Name"],
            enabled=_truthy(rule.get("Enabled", False)),
            recipients=tuple(rule.get("Recipients") or ()),
            tls_policy=rule.get("TlsPolicy", "Optional"),
            scan_enabled=_truthy(rule.get("ScanEnabled", False)),
            s3_actions=tuple(s3_actions),
            lambda_actions=tuple(lambda_actions),
        )
        rules = self.out.receipt_rules
        if "After" in p:
            idx = next((i for i, r in enumerate(rules) if r.name == p["After"]), len(rules) - 1)
            rules.insert(idx + 1, spec)
        else:
            rules.insert(0, spec)  # SES puts a rule without After at the front of the set

    def _activation(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        if _truthy(p.get("Activate", True)):
            self.client("ses").set_active_receipt_rule_set(RuleSetName=p["RuleSetName"])
        self._set(logical, f"{p['RuleSetName']}-activation")

    # ------------------------------------------------------------------ SNS
    def _topic(self, logical: str, props: Mapping[str, Any]) -> None:
        p = self.resolver.resolve(props)
        name = p.get("TopicName") or self._name(logical, max_len=256)
        arn = self.client("sns").create_topic(Name=name)["TopicArn"]
        self._set(logical, arn, TopicName=name, TopicArn=arn)

    # ------------------------------------------------------------------ operations
    def _dashboard(self, logical: str, props: Mapping[str, Any]) -> None:
        # moto keeps dashboards: the body is resolved and parsed (a broken one fails here).
        p = self.resolver.resolve(props)
        name = p.get("DashboardName") or self._name(logical)
        body = p["DashboardBody"]
        json.loads(body)
        self.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=body)
        self._set(logical, name)

    def _not_in_moto(self, logical: str, props: Mapping[str, Any]) -> None:
        # EventBridge schema registries are not in moto: resolved (so errors show), skipped.
        rtype = str((self.template.get("Resources") or {})[logical].get("Type", ""))
        p = self.resolver.resolve(props)
        registry = str(p.get("RegistryName") or self._name(logical))
        if rtype == "AWS::EventSchemas::Registry":
            arn = self._arn("schemas", f"registry/{registry}")
            self._set(logical, arn, RegistryArn=arn, RegistryName=registry)
        else:
            name = str(p.get("SchemaName") or self._name(logical))
            arn = self._arn("schemas", f"schema/{registry}/{name}")
            self._set(logical, arn, SchemaArn=arn, SchemaName=name, SchemaVersion="1")
        self.out.skipped[logical] = f"{rtype} is not supported by moto (skipped)"
        log.info("%s %s skipped: moto has no EventBridge schema registry", rtype, logical)

    # ------------------------------------------------------------------ function URLs
    def _function_url(self, logical: str, props: Mapping[str, Any]) -> None:
        """A function URL: the local function URL server (one function) answers at it."""
        p = self.resolver.resolve(props)
        target = self.out.function_by_arn(str(p.get("TargetFunctionArn", "")))
        if target is None:
            raise TemplateError(f"{logical}: TargetFunctionArn names no function of the template")
        if self.out.function_urls:
            raise TemplateError(f"{logical}: only one function URL is served locally")
        self.out.function_urls[target.logical_id] = self.function_url
        arn = self._arn("lambda", f"function:{target.name}")
        self._set(logical, arn, FunctionUrl=self.function_url, FunctionArn=arn)
        self.out.skipped[logical] = (
            f"served by the local function URL server at {self.function_url}"
        )

    # ------------------------------------------------------------------ Lambda (in-process)
    def _function_logical_by_arn(self, arn: str) -> str:
        for logical, res in self.resolver.physical.items():
            if res.attributes.get("Arn") == arn and logical in self._function_ids():
                return logical
        return ""

    def _function_ids(self) -> set[str]:
        return {
            k
            for k, v in (self.template.get("Resources") or {}).items()
            if v.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function")
        }

    def _register_stub_function(self, name: str) -> str:
        """Register a stub of the function in moto so SES rules can name it; return its ARN.

        The real handler runs in-process (see ``shopmail_local.stack.runner``); the stub only
        satisfies moto's checks (e.g. ``CreateReceiptRule`` validates the Lambda action).
        """
        iam = self.client("iam")
        role_name = f"{self.out.stack_name}-local-lambda"
        try:
            role_arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        except ClientError:
            trust = service_policy("lambda.amazonaws.com", "sts:AssumeRole")
            role_arn = iam.create_role(
                RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust)
            )["Role"]["Arn"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
        fn = self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role_arn,
            Handler="app.lambda_handler",
            Code={"ZipFile": buf.getvalue()},
            Description="stub: runs in-process under shopmail run",
        )
        return str(fn["FunctionArn"])

    def _function(self, logical: str, props: Mapping[str, Any]) -> None:
        name = props.get("FunctionName") or self._name(logical)
        arn = self._register_stub_function(str(name))
        self._set(logical, str(name), Arn=arn)
        globals_fn = (self.template.get("Globals") or {}).get("Function") or {}
        merged = {**globals_fn, **props}
        env = {
            **((globals_fn.get("Environment") or {}).get("Variables") or {}),
            **((props.get("Environment") or {}).get("Variables") or {}),
        }
        environment = {k: _env_str(v) for k, v in self.resolver.resolve(env).items()}
        sources = []
        for ev_name, ev in (props.get("Events") or {}).items():
            if ev.get("Type") != "SQS":
                continue
            e = self.resolver.resolve(ev.get("Properties") or {})
            queue_arn = e["Queue"]
            sources.append(
                SqsEventSource(
                    name=ev_name,
                    queue_arn=queue_arn,
                    queue_url=self.out.queue_url_for_arn(queue_arn),
                    batch_size=int(e.get("BatchSize", 10)),
                    batching_window=float(e.get("MaximumBatchingWindowInSeconds", 0)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (e.get("FunctionResponseTypes") or []),
                    max_concurrency=(
                        int(e["ScalingConfig"]["MaximumConcurrency"])
                        if "ScalingConfig" in e
                        else None
                    ),
                )
            )
        invoke_cfg = self.resolver.resolve(merged.get("EventInvokeConfig") or {})
        on_failure = ((invoke_cfg.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination", ""
        )
        self.out.functions[logical] = FunctionSpec(
            logical_id=logical,
            name=str(name),
            arn=arn,
            code_uri=str(merged.get("CodeUri", "")),
            handler=str(merged.get("Handler", "app.lambda_handler")),
            timeout=int(self.resolver.resolve(merged.get("Timeout", 3))),
            memory=int(self.resolver.resolve(merged.get("MemorySize", 128))),
            environment=environment,
            sqs_sources=tuple(sources),
            max_retry_attempts=int(invoke_cfg.get("MaximumRetryAttempts", 2)),
            on_failure_arn=str(on_failure),
            on_failure_url=self.out.queue_url_for_arn(str(on_failure)) if on_failure else "",
        )
        self.out.skipped[logical] = "function runs in-process (shopmail run)"

    def _outputs_value(self, spec: Mapping[str, Any]) -> Any:
        return self.resolver.resolve(spec.get("Value"))

    def _resolve_outputs(self) -> None:
        for name, spec in (self.template.get("Outputs") or {}).items():
            cond = spec.get("Condition")
            if cond and not self.resolver.condition(cond):
                continue
            self.out.outputs[name] = self._outputs_value(spec)
        for logical, url in self.out.queues.items():
            if url in self.out.redrive_sources or any(
                f.on_failure_url == url for f in self.out.functions.values()
            ):
                self.out.dead_letter_queues[logical] = url

    _HANDLERS: ClassVar[dict[str, Callable[[Provisioner, str, Mapping[str, Any]], None]]] = {}


Provisioner._HANDLERS = {
    "AWS::S3::Bucket": Provisioner._bucket,
    "AWS::S3::BucketPolicy": Provisioner._bucket_policy,
    "AWS::SQS::Queue": Provisioner._queue,
    "AWS::SQS::QueuePolicy": Provisioner._queue_policy,
    "AWS::DynamoDB::Table": Provisioner._table,
    "AWS::IAM::AccessKey": Provisioner._access_key,
    "AWS::SecretsManager::Secret": Provisioner._secret,
    "AWS::Events::Rule": Provisioner._rule,
    "AWS::Events::EventBus": Provisioner._event_bus,
    "AWS::SES::ConfigurationSet": Provisioner._configuration_set,
    "AWS::SES::ConfigurationSetEventDestination": Provisioner._event_destination,
    "AWS::SES::EmailIdentity": Provisioner._email_identity,
    "AWS::SES::ReceiptRuleSet": Provisioner._rule_set,
    "AWS::SES::ReceiptRule": Provisioner._receipt_rule,
    "Custom::ReceiptRuleSetActivation": Provisioner._activation,
    "AWS::SNS::Topic": Provisioner._topic,
    "AWS::CloudWatch::Dashboard": Provisioner._dashboard,
    "AWS::EventSchemas::Registry": Provisioner._not_in_moto,
    "AWS::EventSchemas::Schema": Provisioner._not_in_moto,
    "AWS::Serverless::Function": Provisioner._function,
    "AWS::Lambda::Function": Provisioner._function,
    "AWS::Lambda::Url": Provisioner._function_url,
}


def service_policy(service: str, action: str, **statement: Any) -> dict[str, Any]:
    """An IAM policy document with one statement: ``service`` may do ``action``.

    Parameters
    ----------
    service
        The principal, e.g. ``lambda.amazonaws.com``.
    action
        The action allowed, e.g. ``sts:AssumeRole``.
    **statement
        More keys of the statement (``Resource``, ``Condition``).
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": action, **statement}
        ],
    }


def local_credentials() -> tuple[str, str]:
    """Fresh random credentials for a local moto server (it accepts any; none are fixed)."""
    return "AKIALOCAL" + _rand(11), _rand(40, string.ascii_letters + string.digits)


def _generated_secret(spec: Mapping[str, Any]) -> str:
    """What Secrets Manager's ``GenerateSecretString`` makes: a random password, as the whole
    string or under ``GenerateStringKey`` of the ``SecretStringTemplate`` object."""
    length = int(spec.get("PasswordLength", 32))
    alphabet = string.ascii_letters + string.digits
    if not _truthy(spec.get("ExcludePunctuation", False)):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    password = _rand(length, alphabet)
    key = spec.get("GenerateStringKey")
    if not key:
        return password
    data = json.loads(spec.get("SecretStringTemplate") or "{}")
    data[key] = password
    return json.dumps(data)


def _truthy(value: Any) -> bool:
    return str(value).lower() == "true"


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule.get("Status", "Enabled")}
    out["Filter"] = {"Prefix": rule["Prefix"]} if "Prefix" in rule else {}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    elif _truthy(rule.get("ExpiredObjectDeleteMarker")):
        out["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    if "NoncurrentVersionExpiration" in rule:
        days = rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(days)}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
    return out


def _target(t: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": t["Id"], "Arn": t["Arn"]}
    for key in ("Input", "InputPath", "InputTransformer", "SqsParameters", "DeadLetterConfig"):
        if key in t:
            out[key] = t[key]
    if "RetryPolicy" in t:
        out["RetryPolicy"] = {k: int(v) for k, v in t["RetryPolicy"].items()}
    return out


def _ses_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Name": rule["Name"],
        "Enabled": _truthy(rule.get("Enabled", False)),
        "ScanEnabled": _truthy(rule.get("ScanEnabled", False)),
        "TlsPolicy": rule.get("TlsPolicy", "Optional"),
        "Recipients": list(rule.get("Recipients") or []),
        "Actions": [],
    }
    for action in rule.get("Actions") or []:
        out["Actions"].append({k: dict(v) for k, v in action.items()})
    return out


def provision_template(
    template_path: str | Path,
    endpoint_url: str,
    *,
    parameters: Mapping[str, Any] | None = None,
    region: str = "eu-west-1",
    stack_name: str = "shopmail-local",
    credentials: tuple[str, str] | None = None,
    function_url: str = "https://127.0.0.1:8026/",
) -> StackOutputs:
    """Load ``template_path`` and provision it into the moto server at ``endpoint_url``.

    Example
    -------
    >>> outputs = provision_template("template.yaml", "http://127.0.0.1:4566")  # doctest: +SKIP
    >>> outputs.outputs["RawMailBucketName"]  # doctest: +SKIP
    'shopmail-local-rawmailbucket'
    """
    template = load_template(template_path)
    return Provisioner(
        template,
        endpoint_url,
        parameters=parameters,
        region=region,
        stack_name=stack_name,
        credentials=credentials,
        function_url=function_url,
    ).provision()
