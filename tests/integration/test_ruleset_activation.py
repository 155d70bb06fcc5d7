"""Receipt-rule-set activation (custom resource) against a real moto server over HTTP.

Also the custom-resource response (urllib PUT) against a local HTTP server, and the thin
handler end to end (moto for SES, a local server standing in for the pre-signed S3 URL).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from shopmail.adapters.cfn_response import response_body, send_response
from shopmail.adapters.ses_receipt_rules import SesReceiptRuleSets
from shopmail.services.ruleset_activation import PHYSICAL_ID_PREFIX, handle_request

from tests.fixtures.paths import load_handler

REPO = Path(__file__).resolve().parents[2]
OURS = "shopmail-test-inbound"
OTHER = "someone-elses-rules"


@pytest.fixture
def ses(aws_client: Callable[..., Any]) -> Any:
    client = aws_client("ses")
    client.create_receipt_rule_set(RuleSetName=OURS)
    client.create_receipt_rule_set(RuleSetName=OTHER)
    return client


@pytest.fixture
def rule_sets(ses: Any) -> SesReceiptRuleSets:
    return SesReceiptRuleSets(ses)


def _active(ses: Any) -> str | None:
    meta = ses.describe_active_receipt_rule_set().get("Metadata") or {}
    return meta.get("Name")


def _request(kind: str, name: str = OURS, activate: str = "true", **extra: Any) -> dict[str, Any]:
    req: dict[str, Any] = {
        "RequestType": kind,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/shopmail/1",
        "RequestId": f"req-{kind}",
        "LogicalResourceId": "RuleSetActivation",
        "ResourceType": "Custom::ReceiptRuleSetActivation",
        "ResourceProperties": {"ServiceToken": "arn:fn", "RuleSetName": name, "Activate": activate},
    }
    req.update(extra)
    return req


# ----------------------------------------------------------------- adapter


def test_adapter_reads_sets_and_clears_the_active_set(ses: Any, rule_sets: Any) -> None:
    assert rule_sets.active_rule_set() is None
    rule_sets.activate(OURS)
    assert rule_sets.active_rule_set() == OURS == _active(ses)
    rule_sets.deactivate()
    assert rule_sets.active_rule_set() is None


# ----------------------------------------------------------------- service over the adapter


def test_create_activates(ses: Any, rule_sets: Any) -> None:
    result = handle_request(_request("Create"), rule_sets)
    assert result.status == "SUCCESS"
    assert result.physical_resource_id == PHYSICAL_ID_PREFIX + OURS
    assert result.data == {"RuleSetName": OURS, "Activated": "true"}
    assert _active(ses) == OURS


def test_create_replaces_another_active_set(ses: Any, rule_sets: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName=OTHER)
    assert handle_request(_request("Create"), rule_sets).status == "SUCCESS"
    assert _active(ses) == OURS


def test_create_with_activation_off_leaves_the_account_alone(ses: Any, rule_sets: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName=OTHER)
    result = handle_request(_request("Create", activate="false"), rule_sets)
    assert result.status == "SUCCESS"
    assert result.data["Activated"] == "false"
    assert _active(ses) == OTHER


def test_create_of_a_missing_set_fails_with_reason(ses: Any, rule_sets: Any) -> None:
    result = handle_request(_request("Create", name="does-not-exist"), rule_sets)
    assert result.status == "FAILED"
    assert "does-not-exist" in result.reason or "RuleSetDoesNotExist" in result.reason
    assert _active(ses) is None


def test_create_without_name_fails(ses: Any, rule_sets: Any) -> None:
    result = handle_request(_request("Create", name=""), rule_sets)
    assert result.status == "FAILED"
    assert "RuleSetName" in result.reason


def test_delete_deactivates_when_still_active(ses: Any, rule_sets: Any) -> None:
    created = handle_request(_request("Create"), rule_sets)
    deleted = handle_request(
        _request("Delete", PhysicalResourceId=created.physical_resource_id), rule_sets
    )
    assert deleted.status == "SUCCESS"
    assert deleted.reason == "deactivated"
    assert _active(ses) is None
    ses.delete_receipt_rule_set(RuleSetName=OURS)  # an inactive set can now be deleted


def test_delete_leaves_another_active_set_alone(ses: Any, rule_sets: Any) -> None:
    created = handle_request(_request("Create"), rule_sets)
    ses.set_active_receipt_rule_set(RuleSetName=OTHER)  # the operator switched sets meanwhile
    deleted = handle_request(
        _request("Delete", PhysicalResourceId=created.physical_resource_id), rule_sets
    )
    assert deleted.status == "SUCCESS"
    assert "left unchanged" in deleted.reason
    assert _active(ses) == OTHER


def test_delete_when_nothing_is_active_succeeds(ses: Any, rule_sets: Any) -> None:
    result = handle_request(
        _request("Delete", PhysicalResourceId=PHYSICAL_ID_PREFIX + OURS), rule_sets
    )
    assert result.status == "SUCCESS"
    assert _active(ses) is None


def test_delete_after_a_failed_create_succeeds(ses: Any, rule_sets: Any) -> None:
    # CloudFormation sends Delete with whatever physical id the FAILED create reported.
    ses.set_active_receipt_rule_set(RuleSetName=OTHER)
    result = handle_request(_request("Delete", name="", PhysicalResourceId="none"), rule_sets)
    assert result.status == "SUCCESS"
    assert _active(ses) == OTHER


def test_update_to_a_new_set_then_delete_of_old(ses: Any, rule_sets: Any) -> None:
    new = "shopmail-test-inbound-v2"
    ses.create_receipt_rule_set(RuleSetName=new)
    created = handle_request(_request("Create"), rule_sets)
    updated = handle_request(
        _request(
            "Update",
            name=new,
            PhysicalResourceId=created.physical_resource_id,
            OldResourceProperties={"RuleSetName": OURS, "Activate": "true"},
        ),
        rule_sets,
    )
    assert updated.status == "SUCCESS"
    assert updated.physical_resource_id == PHYSICAL_ID_PREFIX + new
    assert _active(ses) == new
    # CloudFormation then deletes the old physical resource: the new set must stay active.
    old_delete = handle_request(
        _request("Delete", name=OURS, PhysicalResourceId=created.physical_resource_id), rule_sets
    )
    assert old_delete.status == "SUCCESS"
    assert _active(ses) == new


def test_update_switching_activation_off_deactivates_our_set(ses: Any, rule_sets: Any) -> None:
    created = handle_request(_request("Create"), rule_sets)
    updated = handle_request(
        _request(
            "Update",
            activate="false",
            PhysicalResourceId=created.physical_resource_id,
            OldResourceProperties={"RuleSetName": OURS, "Activate": "true"},
        ),
        rule_sets,
    )
    assert updated.status == "SUCCESS"
    assert _active(ses) is None


def test_update_switching_activation_off_keeps_other_set(ses: Any, rule_sets: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName=OTHER)
    updated = handle_request(
        _request(
            "Update",
            activate="false",
            PhysicalResourceId=PHYSICAL_ID_PREFIX + OURS,
            OldResourceProperties={"RuleSetName": OURS, "Activate": "true"},
        ),
        rule_sets,
    )
    assert updated.status == "SUCCESS"
    assert _active(ses) == OTHER


def test_unknown_request_type_fails(ses: Any, rule_sets: Any) -> None:
    assert handle_request(_request("Rotate"), rule_sets).status == "FAILED"


# ----------------------------------------------------------------- response over HTTP


@dataclass
class _Captured:
    method: str = ""
    headers: dict[str, str] | None = None
    body: dict[str, Any] | None = None


@pytest.fixture
def response_server() -> Iterator[tuple[str, list[_Captured]]]:
    captured: list[_Captured] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            captured.append(_Captured("PUT", dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/presigned?sig=x", captured
    finally:
        server.shutdown()
        server.server_close()


def test_send_response_puts_the_document(response_server: tuple[str, list[_Captured]]) -> None:
    url, captured = response_server
    body = response_body(_request("Create"), "SUCCESS", "pid-1", "ok", {"RuleSetName": OURS})
    assert send_response(url, body) == 200
    (got,) = captured
    assert got.body == {
        "Status": "SUCCESS",
        "Reason": "ok",
        "PhysicalResourceId": "pid-1",
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/shopmail/1",
        "RequestId": "req-Create",
        "LogicalResourceId": "RuleSetActivation",
        "NoEcho": False,
        "Data": {"RuleSetName": OURS},
    }
    assert got.headers is not None and got.headers.get("Content-Type") == ""


def test_send_response_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="scheme"):
        send_response("file:///etc/passwd", {"Status": "SUCCESS"})
    with pytest.raises(ValueError, match="SUCCESS or FAILED"):
        response_body({}, "MAYBE", "pid")


# ----------------------------------------------------------------- handler end to end


@dataclass
class _Context:
    function_name: str = "RuleSetActivatorFunction"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:activator"
    aws_request_id: str = "request-1"


@dataclass
class _Activator:
    """The handler module, loaded against moto, and where its responses are captured."""

    app: ModuleType
    url: str
    captured: list[_Captured]


@pytest.fixture
def activator(
    moto: str, monkeypatch: pytest.MonkeyPatch, response_server: tuple[str, list[_Captured]]
) -> _Activator:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    url, captured = response_server
    return _Activator(load_handler("ruleset_activator", "ruleset_activator_app"), url, captured)


def test_handler_activates_and_reports(ses: Any, activator: _Activator) -> None:
    app, url, captured = activator.app, activator.url, activator.captured
    for kind in ("Create", "Delete"):
        event = _request(kind, ResponseURL=url, PhysicalResourceId=PHYSICAL_ID_PREFIX + OURS)
        if kind == "Create":
            event.pop("PhysicalResourceId")
        body = app.lambda_handler(event, _Context())
        assert body["Status"] == "SUCCESS"
        assert _active(ses) == (OURS if kind == "Create" else None)
    assert [c.body["Status"] for c in captured if c.body] == ["SUCCESS", "SUCCESS"]


def test_handler_reports_failure_instead_of_raising(ses: Any, activator: _Activator) -> None:
    event = _request("Create", name="missing-set", ResponseURL=activator.url)
    body = activator.app.lambda_handler(event, _Context())
    captured = activator.captured
    assert body["Status"] == "FAILED"
    assert captured[0].body is not None and captured[0].body["Status"] == "FAILED"
    assert captured[0].body["Reason"]
