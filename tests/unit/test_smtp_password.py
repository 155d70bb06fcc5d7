"""SES SMTP password derivation (version 4) against published and independent vectors."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from shopmail.domain.smtp.password import smtp_password

# Published vectors: terraform-provider-aws, internal/service/iam/access_key_test.go,
# TestSESSMTPPasswordFromSecretKeySigV4 (the provider's passwords authenticate against SES).
PUBLISHED = [
    ("eu-central-1", "some+secret+key", "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2"),
    ("eu-central-1", "another+secret+key", "BBbphbrQmrKMx42d1N6+C7VINYEBGI5v9VsZeTxwskfh"),
    ("us-west-1", "some+secret+key", "BH+jbMzper5WwlwUar9E1ySBqHa9whi0GPo+sJ0mVYJj"),
    ("us-west-1", "another+secret+key", "BKVmjjMDFk/qqw8EROW99bjCS65PF8WKvK5bSr4Y6EqF"),
]


@pytest.mark.parametrize(("region", "secret", "expected"), PUBLISHED)
def test_published_vectors(region: str, secret: str, expected: str) -> None:
    assert smtp_password(secret, region) == expected


def _independent(secret: str, region: str) -> str:
    """A second, unrolled implementation written straight from the reference text."""
    k_date = hmac.digest(b"AWS4" + secret.encode(), b"11111111", "sha256")
    k_region = hmac.digest(k_date, region.encode(), "sha256")
    k_service = hmac.digest(k_region, b"ses", "sha256")
    k_terminal = hmac.digest(k_service, b"aws4_request", "sha256")
    k_message = hmac.digest(k_terminal, b"SendRawEmail", "sha256")
    return base64.b64encode(bytes([4]) + k_message).decode()


@pytest.mark.parametrize(
    "region", ["eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-2", "us-gov-west-1"]
)
@pytest.mark.parametrize(
    "secret",
    ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "local-secret", "a" * 40, "ÄÖÜ+/="],
)
def test_matches_independent_implementation(region: str, secret: str) -> None:
    assert smtp_password(secret, region) == _independent(secret, region)


def test_shape_version_byte_and_length() -> None:
    raw = base64.b64decode(smtp_password("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "eu-west-1"))
    assert raw[0] == 4
    assert len(raw) == 1 + hashlib.sha256().digest_size


def test_region_changes_the_password() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert smtp_password(secret, "eu-west-1") != smtp_password(secret, "eu-central-1")


def test_secret_is_not_the_password() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert secret not in smtp_password(secret, "eu-west-1")


@pytest.mark.parametrize(("secret", "region"), [("", "eu-west-1"), ("key", "")])
def test_empty_input_is_rejected(secret: str, region: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        smtp_password(secret, region)
