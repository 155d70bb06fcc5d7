"""A transient S3 failure while the raw mail is read (the GetObject call, or the stream breaking
half-way) is retried by Lambda: raised as transient, nothing published, nothing dead-lettered,
and the retry handles the mail once. Faults are injected into the real S3 client of the
service; everything else is the moto server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from shopmail.adapters.s3_raw_mail import S3RawMailStore
from shopmail.errors import ServiceUnavailableError

from tests.fixtures.inbound_aws import Stack


def _s3_of(stack: Stack) -> Any:
    store = stack.service.ports.store
    assert isinstance(store, S3RawMailStore)
    return store._s3.client  # the real boto3 client behind the lazy proxy


class _Raw:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""


class _BreakingBody:
    """A streaming body that fails after its first chunk (a connection reset mid-read)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def iter_chunks(self, chunk_size: int = 1024) -> Iterator[bytes]:
        yield self._body.read(64)
        raise ReadTimeoutError(endpoint_url="http://s3.local")

    def close(self) -> None:
        self._body.close()


def _assert_retried_then_handled_once(stack: Stack, event: dict[str, Any]) -> None:
    assert stack.drain(stack.dlq_url) == []
    assert stack.drain(stack.observed_url) == []
    result = stack.handle(event)  # Lambda's retry
    assert result["dead_lettered"] == 0
    assert [e["detail-type"] for e in stack.drain(stack.observed_url)] == ["SupportMessageReceived"]


def test_throttled_get_object_is_retried_not_dead_lettered(inbound_stack: Stack) -> None:
    event = inbound_stack.put_sample("support")
    client = _s3_of(inbound_stack)

    def slow_down(params: dict[str, Any], **_: Any) -> Any:
        parsed = {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}
        return AWSResponse("https://s3.invalid", 503, {}, _Raw()), parsed

    client.meta.events.register("before-call.s3.GetObject", slow_down)
    try:
        with pytest.raises(ServiceUnavailableError, match="SlowDown"):
            inbound_stack.handle(event)
    finally:
        client.meta.events.unregister("before-call.s3.GetObject", slow_down)
    _assert_retried_then_handled_once(inbound_stack, event)


def test_stream_breaking_mid_read_is_retried_not_dead_lettered(inbound_stack: Stack) -> None:
    event = inbound_stack.put_sample("support")
    client = _s3_of(inbound_stack)

    def break_body(parsed: dict[str, Any], **_: Any) -> None:
        if "Body" in parsed:
            parsed["Body"] = _BreakingBody(parsed["Body"])

    client.meta.events.register("after-call.s3.GetObject", break_body)
    try:
        with pytest.raises(ServiceUnavailableError) as info:
            inbound_stack.handle(event)
    finally:
        client.meta.events.unregister("after-call.s3.GetObject", break_body)
    assert info.value.context["operation"] == "GetObject.read"
    assert inbound_stack.sender.sent == []
    _assert_retried_then_handled_once(inbound_stack, event)
