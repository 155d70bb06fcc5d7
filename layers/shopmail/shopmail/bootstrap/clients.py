"""AWS clients for the composition: one session, one endpoint setting, created on first use.

Cold start: an invocation that never dead-letters never loads the SQS service model, one that
never forwards never reads Secrets Manager. :class:`AwsClients` hands out typed proxies
(:class:`LazyClient`) that create the real boto3 client on the first call, once per service and
container.

Example
-------
>>> clients = AwsClients.from_settings(Settings(aws_endpoint_url="http://127.0.0.1:4566"))
>>> s3 = clients.s3()          # no client yet: created on the first call of a method
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from shopmail.config import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

#: ``service name -> boto3 client``: the injection seam (tests pass clients bound to moto).
ClientFactory = Callable[[str], Any]


class LazyClient:
    """A proxy that builds its client with ``factory()`` on the first attribute access.

    Example
    -------
    >>> sqs = LazyClient(lambda: boto3.client("sqs"))  # doctest: +SKIP
    >>> sqs.send_message(QueueUrl=url, MessageBody="{}")  # doctest: +SKIP
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The real client (created now if needed)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.client, name)


def default_client_factory(
    endpoint_url: str | None = None, region: str | None = None
) -> ClientFactory:
    """``boto3.client`` with a shared session, optional endpoint (moto) and region.

    The session is created with the first client, as ``boto3.client`` creates its default
    session: it reads the credential and config chain, which only a client needs.
    """
    import boto3

    kwargs: dict[str, Any] = {"endpoint_url": endpoint_url} if endpoint_url else {}
    sessions: list[boto3.session.Session] = []
    lock = threading.Lock()

    def make(service: str) -> Any:
        with lock:
            if not sessions:
                sessions.append(
                    boto3.session.Session(region_name=region) if region else boto3.session.Session()
                )
            session = sessions[0]
        return session.client(service, **kwargs)  # type: ignore[call-overload]

    return make


class AwsClients:
    """Typed, lazily created clients from one :data:`ClientFactory`, one per service.

    Parameters
    ----------
    factory
        ``service name -> boto3 client`` (see :func:`default_client_factory`).
    """

    def __init__(self, factory: ClientFactory) -> None:
        self.factory = factory
        self._proxies: dict[str, LazyClient] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsClients:
        """Clients for ``settings.region`` and ``settings.aws_endpoint_url`` (moto locally)."""
        return cls(default_client_factory(settings.aws_endpoint_url or None, settings.region))

    @classmethod
    def of(cls, clients: AwsClients | ClientFactory) -> AwsClients:
        """``clients`` itself, or an :class:`AwsClients` around a bare factory."""
        return clients if isinstance(clients, AwsClients) else cls(clients)

    def _proxy(self, service: str) -> Any:
        with self._lock:
            proxy = self._proxies.get(service)
            if proxy is None:
                proxy = self._proxies[service] = LazyClient(lambda: self.factory(service))
        return proxy

    def s3(self) -> S3Client:
        """The S3 client."""
        return cast("S3Client", self._proxy("s3"))

    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB (low-level) client."""
        return cast("DynamoDBClient", self._proxy("dynamodb"))

    def events(self) -> EventBridgeClient:
        """The EventBridge client."""
        return cast("EventBridgeClient", self._proxy("events"))

    def sqs(self) -> SQSClient:
        """The SQS client."""
        return cast("SQSClient", self._proxy("sqs"))

    def secretsmanager(self) -> SecretsManagerClient:
        """The Secrets Manager client."""
        return cast("SecretsManagerClient", self._proxy("secretsmanager"))

    def ses(self) -> SESClient:
        """The SES (v1) client (receipt rule sets)."""
        return cast("SESClient", self._proxy("ses"))

    def ssm(self) -> SSMClient:
        """The SSM client (configuration kept in Parameter Store)."""
        return cast("SSMClient", self._proxy("ssm"))
