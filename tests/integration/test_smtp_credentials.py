"""SMTP credentials from Secrets Manager (real moto server over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from shopmail.adapters.smtp_credentials import (
    SecretsManagerSmtpCredentials,
    clear_cache,
    credentials_from_secret,
)
from shopmail.adapters.smtp_relay import SmtpCredentials
from shopmail.domain.smtp.password import smtp_password
from shopmail.errors import ConfigurationError

from tests.fixtures.ses_smtp import SesSmtp

SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def test_access_key_secret_is_derived_per_region(aws_client: Callable[..., Any]) -> None:
    sm = aws_client("secretsmanager")
    arn = sm.create_secret(
        Name="shopmail/smtp",
        SecretString=json.dumps({"AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": SECRET_KEY}),
    )["ARN"]
    creds = SecretsManagerSmtpCredentials(sm, arn, "eu-central-1").get()
    assert creds == SmtpCredentials("AKIAEXAMPLE", smtp_password(SECRET_KEY, "eu-central-1"))
    other = SecretsManagerSmtpCredentials(sm, arn, "us-west-1").get()
    assert other.password != creds.password
    assert SECRET_KEY not in repr(creds) and creds.password not in repr(creds)


def test_cached_per_container_until_invalidated(aws_client: Callable[..., Any]) -> None:
    sm = aws_client("secretsmanager")
    sm.create_secret(Name="s", SecretString=json.dumps({"username": "u1", "password": "p1"}))
    provider = SecretsManagerSmtpCredentials(sm, "s", "eu-west-1")
    assert provider.get().username == "u1"
    sm.put_secret_value(SecretId="s", SecretString=json.dumps({"username": "u2", "password": "p2"}))
    assert SecretsManagerSmtpCredentials(sm, "s", "eu-west-1").get().username == "u1"
    provider.invalidate()
    assert provider.get().username == "u2"


def test_missing_secret_is_a_configuration_error(aws_client: Callable[..., Any]) -> None:
    sm = aws_client("secretsmanager")
    with pytest.raises(ConfigurationError, match="ResourceNotFound"):
        SecretsManagerSmtpCredentials(sm, "nope", "eu-west-1").get()


@pytest.mark.parametrize(
    "secret", ["not json", "[1, 2]", json.dumps({"user": "x"}), json.dumps({"AccessKeyId": "a"})]
)
def test_malformed_secret(secret: str) -> None:
    with pytest.raises(ConfigurationError):
        credentials_from_secret(secret, "eu-west-1")


def test_secret_credentials_authenticate_at_the_relay(
    aws_client: Callable[..., Any], ses_smtp: SesSmtp
) -> None:
    sm = aws_client("secretsmanager")
    sm.create_secret(
        Name="relay",
        SecretString=json.dumps(
            {"AccessKeyId": ses_smtp.access_key_id, "SecretAccessKey": ses_smtp.secret_access_key}
        ),
    )
    creds = SecretsManagerSmtpCredentials(sm, "relay", ses_smtp.region).get()
    with ses_smtp.relay(credentials=creds).session() as smtp:
        smtp.send(
            "shop@shop.example",
            ["c@example.org"],
            b"From: shop@shop.example\r\nSubject: s\r\n\r\nhi\r\n",
        )
    assert len(ses_smtp.messages) == 1
