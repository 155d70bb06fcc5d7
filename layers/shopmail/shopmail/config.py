"""Settings: every environment variable name appears here once, and only this module reads
the environment.

Resolution order (as in Powertools): explicit argument -> environment -> default.
``Settings.from_env()`` reads the environment; tests build ``Settings(...)`` directly or use
``dataclasses.replace``. What each function cannot run without is listed in
:data:`REQUIRED_SETTINGS` and checked by :meth:`Settings.require` with a message that names the
environment variables to set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from shopmail.errors import ConfigurationError

# Environment variable name for each field (one place only).
ENV_NAMES: dict[str, str] = {
    "mail_domain": "MAIL_DOMAIN",
    "region": "AWS_REGION",
    "raw_mail_bucket": "RAW_MAIL_BUCKET",
    "raw_mail_prefix": "RAW_MAIL_PREFIX",
    "attachments_prefix": "ATTACHMENTS_PREFIX",
    "quarantine_prefix": "QUARANTINE_PREFIX",
    "event_bus_name": "SHOP_EVENT_BUS_NAME",
    "idempotency_table": "IDEMPOTENCY_TABLE",
    "rate_limit_table": "RATE_LIMIT_TABLE",
    "suppression_table": "SUPPRESSION_TABLE",
    "sent_mail_table": "SENT_MAIL_TABLE",
    "inbound_dlq_url": "INBOUND_DLQ_URL",
    "feedback_dlq_url": "FEEDBACK_DLQ_URL",
    "routes_file": "ROUTES_FILE",
    "order_number_pattern": "ORDER_NUMBER_PATTERN",
    "auto_reply_period_days": "AUTO_REPLY_PERIOD_DAYS",
    "forward_hop_limit": "FORWARD_HOP_LIMIT",
    "transactional_from": "TRANSACTIONAL_FROM",
    "marketing_from": "MARKETING_FROM",
    "support_address": "SUPPORT_ADDRESS",
    "configuration_set": "SES_CONFIGURATION_SET",
    "smtp_host": "SMTP_HOST",
    "smtp_port": "SMTP_PORT",
    "smtp_ca_file": "SMTP_CA_FILE",
    "smtp_secret_arn": "SMTP_SECRET_ARN",
    "smtp_timeout": "SMTP_TIMEOUT",
    "smtp_max_rate": "SMTP_MAX_RATE",
    "idempotency_ttl_seconds": "IDEMPOTENCY_TTL_SECONDS",
    "transient_bounce_threshold": "TRANSIENT_BOUNCE_THRESHOLD",
    "transient_bounce_window_days": "TRANSIENT_BOUNCE_WINDOW_DAYS",
    "outbound_dlq_url": "OUTBOUND_DLQ_URL",
    "suppression_bypass_types": "SUPPRESSION_BYPASS_TYPES",
    "feedback_topic_arns": "FEEDBACK_TOPIC_ARNS",
    "message_id_key": "MESSAGE_ID_KEY",
    "aws_endpoint_url": "AWS_ENDPOINT_URL",
    # one-click unsubscribe and erasure
    "unsubscribe_base_url": "UNSUBSCRIBE_BASE_URL",
    "unsubscribe_secret_arn": "UNSUBSCRIBE_SECRET_ARN",
    "unsubscribe_token_days": "UNSUBSCRIBE_TOKEN_DAYS",
    "erasure_index_table": "ERASURE_INDEX_TABLE",
    "erasure_dlq_url": "ERASURE_DLQ_URL",
    "raw_mail_retention_days": "RAW_MAIL_RETENTION_DAYS",
    "attachments_retention_days": "ATTACHMENTS_RETENTION_DAYS",
    "quarantine_retention_days": "QUARANTINE_RETENTION_DAYS",
    "service_name": "POWERTOOLS_SERVICE_NAME",
    "metrics_namespace": "POWERTOOLS_METRICS_NAMESPACE",
    # --- a shop's brand, texts and rules as configuration (s3://, ssm: or a path) ---------
    "shop_config": "SHOP_CONFIG",
    "templates_location": "TEMPLATES_LOCATION",
    "config_cache_seconds": "CONFIG_CACHE_SECONDS",
    # outbound reliability: invoice location and waiting, the queues' receive limit
    "invoice_bucket": "INVOICE_BUCKET",
    "invoice_key_prefix": "INVOICE_KEY_PREFIX",
    "invoice_wait_seconds": "INVOICE_WAIT_SECONDS",
    "outbound_max_receive_count": "OUTBOUND_MAX_RECEIVE_COUNT",
}

#: The settings each function cannot run without (field names; see :meth:`Settings.require`).
REQUIRED_SETTINGS: Final[dict[str, tuple[str, ...]]] = {
    "inbound": (),
    "outbound": ("idempotency_table", "suppression_table", "sent_mail_table"),
    "feedback": ("suppression_table",),
    "unsubscribe": ("suppression_table", "unsubscribe_secret_arn"),
    "erasure": ("suppression_table", "raw_mail_bucket"),
}


@dataclass(frozen=True)
class Settings:
    """Runtime settings of every shopmail function.

    Parameters
    ----------
    mail_domain
        The shop's mail domain (receipt rule recipients, own-domain loop checks, Message-IDs).
    raw_mail_bucket, raw_mail_prefix
        Where SES's S3 action stores raw mail; the object key is ``prefix + messageId``.
    event_bus_name
        The shop's EventBridge bus (name or ARN).

    Example
    -------
    >>> Settings(mail_domain="shop.example").raw_mail_prefix
    'inbound/'
    """

    mail_domain: str = "shop.example"
    region: str = "eu-west-1"
    raw_mail_bucket: str = ""
    raw_mail_prefix: str = "inbound/"
    attachments_prefix: str = "attachments/"
    quarantine_prefix: str = "quarantine/"
    event_bus_name: str = "shop"
    idempotency_table: str = ""
    rate_limit_table: str = ""
    suppression_table: str = ""
    sent_mail_table: str = ""
    inbound_dlq_url: str = ""
    feedback_dlq_url: str = ""
    routes_file: str = ""
    order_number_pattern: str = ""  # "": shopmail.domain.inbound.order_numbers default pattern
    auto_reply_period_days: int = 3
    #: A mail that has been through this many shopmail forwards is not forwarded again.
    forward_hop_limit: int = 3
    transactional_from: str = ""
    marketing_from: str = ""
    support_address: str = ""
    configuration_set: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_ca_file: str = ""
    smtp_secret_arn: str = ""
    smtp_timeout: float = 10.0
    smtp_max_rate: float = 14.0
    #: At least the longest dead-letter retention (14 days) plus the inbound event age (6 h),
    #: so a replay from a dead-letter queue never re-runs finished work.
    idempotency_ttl_seconds: int = 15 * 24 * 3600
    transient_bounce_threshold: int = 3
    transient_bounce_window_days: int = 30
    outbound_dlq_url: str = ""
    #: Comma-separated detail-types still sent to hard-bounced/complained addresses.
    suppression_bypass_types: str = "PasswordResetRequested"
    #: Comma-separated SNS topic ARNs whose SES notifications the feedback function accepts
    #: (``""``: none; SES events from the default bus, ``source: aws.ses``, need no topic).
    feedback_topic_arns: str = ""
    #: Key of our Message-IDs' digest (per stack; ``""``: unkeyed SHA-256).
    message_id_key: str = field(default="", repr=False)
    #: An endpoint for every AWS client (moto locally); ``""`` = the real AWS endpoints.
    aws_endpoint_url: str = ""
    # --- one-click unsubscribe (RFC 8058) and erasure (GDPR Art. 17)
    #: The unsubscribe endpoint (HTTPS); ``""``: marketing mail uses the shop's unsubscribeUrl.
    unsubscribe_base_url: str = ""
    #: Secret with the HMAC keys of unsubscribe tokens (``{"current": ..., "previous": ...}``).
    unsubscribe_secret_arn: str = ""
    #: How long an unsubscribe link works after the mail was sent.
    unsubscribe_token_days: int = 90
    #: Table of the erasure index (address hash -> S3 keys); ``""``: no index is written.
    erasure_index_table: str = ""
    erasure_dlq_url: str = ""
    #: Lifecycle expiry of the bucket's prefixes (the erasure index outlives the longest).
    raw_mail_retention_days: int = 30
    attachments_retention_days: int = 365
    quarantine_retention_days: int = 90
    #: Powertools' service name and metrics namespace (``""``: the function's default name).
    service_name: str = ""
    metrics_namespace: str = "shopmail"
    # --- a shop's brand, texts and rules as configuration ---------------------------------
    #: The shop configuration file (``s3://bucket/key``, ``ssm:/name`` or a path; ``""``: the
    #: shipped look); see :mod:`shopmail.domain.outbound.shop_config`.
    shop_config: str = ""
    #: Template overrides laid over the shipped templates file by file (``s3://bucket/prefix/``
    #: or a folder; ``""``: none); see :mod:`shopmail.domain.outbound.template_overlay`.
    templates_location: str = ""
    #: How long a function keeps what it read from S3/SSM (shop config, templates, routes)
    #: before it looks again.
    config_cache_seconds: int = 300
    # --- outbound reliability ------------------------------------------------------------
    #: The only bucket InvoiceIssued PDFs may come from (``""``: not checked).
    invoice_bucket: str = ""
    #: The key prefix those PDFs must have (``""``: any key).
    invoice_key_prefix: str = ""
    #: How long after the event's time a missing invoice PDF is waited for before the mail
    #: fails (permanently, with the reason).
    invoice_wait_seconds: int = 3600
    #: The outbound queues' ``maxReceiveCount``: an item still failing on that delivery is
    #: dead-lettered with its reason (``0``: unknown, the queue's redrive moves it).
    outbound_max_receive_count: int = 0
    extra: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Defaults that derive from the mail domain.
        for name, local in (
            ("transactional_from", "shop"),
            ("marketing_from", "news"),
            ("support_address", "support"),
        ):
            if not getattr(self, name):
                object.__setattr__(self, name, f"{local}@{self.mail_domain}")
        if not self.smtp_host:
            object.__setattr__(self, "smtp_host", f"email-smtp.{self.region}.amazonaws.com")

    @property
    def erasure_index_days(self) -> int:
        """Days an erasure index item is kept: one more than the longest object retention."""
        return 1 + max(
            self.raw_mail_retention_days,
            self.attachments_retention_days,
            self.quarantine_retention_days,
        )

    def require(self, function: str) -> Settings:
        """Check that the settings ``function`` needs are set; return ``self``.

        Parameters
        ----------
        function
            ``inbound``, ``outbound``, ``feedback``, ``unsubscribe`` or ``erasure`` (a key of
        :data:`REQUIRED_SETTINGS`).

        Raises
        ------
        ConfigurationError
            Naming every missing environment variable.

        Example
        -------
        >>> Settings().require("feedback")
        Traceback (most recent call last):
        ...
        shopmail.errors.ConfigurationError: feedback function: SUPPRESSION_TABLE is not set
        """
        missing = [
            ENV_NAMES[name] for name in REQUIRED_SETTINGS[function] if not getattr(self, name)
        ]
        if missing:
            raise ConfigurationError(
                f"{function} function: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'}"
                " not set",
                missing=missing,
            )
        return self

    @staticmethod
    def split_list(value: str) -> tuple[str, ...]:
        """A comma-separated setting as a tuple (blanks dropped)."""
        return tuple(part.strip() for part in value.split(",") if part.strip())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from explicit overrides, then the environment, then defaults.

        Parameters
        ----------
        environ
            The environment to read (default: ``os.environ``).
        **overrides
            Explicit values that win over the environment.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            raw = env.get(ENV_NAMES[f.name])
            if raw is None or raw == "":
                continue
            if f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        return cls(**values)


def env_setting(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    """One setting's raw value from the environment (``default`` when unset or empty).

    For what must be known at import time, before :meth:`Settings.from_env` runs (the Powertools
    logger's service name in a handler module).

    Example
    -------
    >>> env_setting("service_name", "shopmail-inbound", environ={})
    'shopmail-inbound'
    """
    env = os.environ if environ is None else environ
    return env.get(ENV_NAMES[name]) or default
