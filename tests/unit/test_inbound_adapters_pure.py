"""Pure parts of the inbound adapters and actions: error mapping, safe keys, lazy clients."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from shopmail.adapters.aws_errors import is_transient, transient_error
from shopmail.bootstrap.clients import LazyClient
from shopmail.domain.addresses import address_hash as hash_key
from shopmail.domain.inbound.attachment_keys import attachment_key, safe_key_part
from shopmail.domain.inbound.routing import ActionName, ActionSpec
from shopmail.domain.message import Attachment
from shopmail.errors import ServiceUnavailableError


def _client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Op",
    )


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("ThrottlingException", 400, True),
        ("ProvisionedThroughputExceededException", 400, True),
        ("RequestLimitExceeded", 400, True),
        ("SlowDown", 503, True),
        ("InternalError", 500, True),
        ("SomethingNew", 502, True),
        ("ThrottledBySomething", 400, True),
        ("AccessDenied", 403, False),
        ("ValidationException", 400, False),
        ("ConditionalCheckFailedException", 400, False),
    ],
)
def test_client_error_classification(code: str, status: int, transient: bool) -> None:
    exc = _client_error(code, status)
    assert is_transient(exc) is transient
    mapped = transient_error(exc, "s3", "GetObject")
    if transient:
        assert isinstance(mapped, ServiceUnavailableError)
        assert mapped.context["code"] == code
    else:
        assert mapped is exc


def test_connection_errors_are_transient() -> None:
    exc = EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    assert isinstance(transient_error(exc, "events", "PutEvents"), ServiceUnavailableError)
    assert not is_transient(ValueError("no"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("Rechnung März 2026.pdf", "Rechnung_M_rz_2026.pdf"),
        ("....", "attachment"),
        ("", "attachment"),
        (".hidden", "hidden"),
        ("a/b/c d.txt", "c_d.txt"),
    ],
)
def test_safe_key_part(name: str, expected: str) -> None:
    assert safe_key_part(name) == expected


def test_long_names_keep_extension() -> None:
    out = safe_key_part("x" * 300 + ".pdf")
    assert len(out) == 100 and out.endswith(".pdf")


def test_attachment_key() -> None:
    att = Attachment(3, "../a b.pdf", "application/pdf", 1, "0" * 64)
    assert attachment_key("attachments/", "m1", att) == "attachments/m1/3-a_b.pdf"


def test_hash_key_hides_and_normalizes_addresses() -> None:
    assert hash_key("Kim@Example.org") == hash_key("kim@example.org ")
    assert "example" not in hash_key("kim@example.org")


def test_action_specs_are_typed() -> None:
    spec = ActionSpec("forward", (("to", ("a@shop.example",)),))
    assert spec.name is ActionName.FORWARD
    assert spec.param_map == {"to": ("a@shop.example",)}
    with pytest.raises(ValueError, match="not_an_action"):
        ActionSpec("not_an_action")


def test_lazy_client_builds_once_on_first_use() -> None:
    calls: list[int] = []

    class Client:
        def ping(self) -> str:
            return "pong"

    def factory() -> Any:
        calls.append(1)
        return Client()

    lazy = LazyClient(factory)
    assert calls == []
    assert lazy.ping() == "pong" and lazy.ping() == "pong"
    assert calls == [1]


def test_the_client_factory_creates_its_session_with_the_first_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3
    from shopmail.bootstrap.clients import default_client_factory

    created: list[Any] = []
    real = boto3.session.Session

    def counting(*args: Any, **kwargs: Any) -> Any:
        session = real(*args, **kwargs)
        created.append(session)
        return session

    monkeypatch.setattr(boto3.session, "Session", counting)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    make = default_client_factory("http://127.0.0.1:9", "eu-west-1")
    assert created == []  # building the composition reads no AWS configuration
    s3, sqs = make("s3"), make("sqs")
    assert len(created) == 1  # one session for every client of the factory
    assert s3.meta.region_name == sqs.meta.region_name == "eu-west-1"
    assert s3.meta.endpoint_url == "http://127.0.0.1:9"
