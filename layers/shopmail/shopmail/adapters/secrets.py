"""Reading a secret's string from Secrets Manager with shopmail's error mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from shopmail.errors import ConfigurationError, ServiceUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

#: Codes that mean the secret is missing or not ours to read: an operator must fix it.
MISSING_CODES = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure"}
)


def secret_string(client: SecretsManagerClient, secret_id: str, label: str) -> str:
    """The ``SecretString`` of ``secret_id`` (``label`` names it in errors: ``SMTP secret``).

    Raises
    ------
    ConfigurationError
        The secret is missing, not readable or has no string.
    ServiceUnavailableError
        Secrets Manager throttled, failed or was unreachable.
    """
    try:
        response = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in MISSING_CODES:
            raise ConfigurationError(
                f"cannot read the {label} ({code})", secret=secret_id
            ) from None
        raise ServiceUnavailableError(
            f"Secrets Manager failed ({code or 'unknown'})", secret=secret_id
        ) from None
    except BotoCoreError as exc:
        raise ServiceUnavailableError(
            f"Secrets Manager unreachable ({type(exc).__name__})", secret=secret_id
        ) from None
    text = response.get("SecretString")
    if not text:
        raise ConfigurationError(f"the {label} has no SecretString", secret=secret_id)
    return text
