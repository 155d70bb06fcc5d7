"""Loop-proof forwarding, end to end offline: a customer mail to ``support@`` is forwarded to a
partner's team inbox through the SES relay emulator; the partner's inbox forwards everything
back to ``support@`` (an alias loop the routes file cannot see). Each time the forward comes
back over SMTP to the SES inbound emulator, the inbound function publishes it but does not
forward it again, and says why (``forwards_refused`` in its result, the loop guard's reason in
the log).
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopmail_local.stack.runner import LocalStack
from tests.fixtures.e2e_stack import run_config, wait_until

DOMAIN = "shop.example"
TEAM = "team@partner.example"
ROUTES = f"""
version = 1

[[rules]]
name = "support"
match = {{ recipient_local = ["support"] }}
actions = [
  {{ type = "publish", detail_type = "SupportMessageReceived" }},
  {{ type = "forward", to = "{TEAM}" }},
]

[[rules]]
name = "catch-all"
catch_all = true
actions = [{{ type = "publish", detail_type = "MessageReceived" }}]
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The offline stack with routes that forward ``support@`` to a partner's inbox."""
    folder = tmp_path_factory.mktemp("forward-loop")
    routes = folder / "routes.toml"
    routes.write_text(ROUTES)
    config = run_config(folder / "state", parameters={"RoutesFile": str(routes)}, start_web=False)
    with LocalStack(config) as running:
        yield running


def _invocations(stack: LocalStack) -> dict[str, dict[str, Any]]:
    return {
        str(r["message_id"]): dict(r["result"])
        for r in stack.state.inbound_log()
        if r.get("kind") == "invocation" and r.get("result")
    }


def _deliver(stack: LocalStack, raw: bytes, mail_from: str) -> dict[str, Any]:
    """Send ``raw`` to ``support@`` at the SES inbound emulator; the inbound function's result."""
    before = set(_invocations(stack))
    with smtplib.SMTP("127.0.0.1", stack.config.inbound_port, timeout=10) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context(cafile=stack.ca_file))
        smtp.sendmail(mail_from, [f"support@{DOMAIN}"], raw)
    new = wait_until(lambda: sorted(set(_invocations(stack)) - before), timeout=30)
    assert new, "the inbound function did not run"
    (message_id,) = new
    return _invocations(stack)[message_id]


def _forwards(stack: LocalStack) -> list[dict[str, Any]]:
    return [r for r in stack.state.relay_log() if TEAM in (r.get("outbox") or [])]


def test_a_forward_that_comes_back_is_not_forwarded_again(stack: LocalStack) -> None:
    subject = f"Loop {uuid.uuid4().hex[:8]}"
    original = (
        f"From: Kim <kim@kunde.example>\r\nTo: support@{DOMAIN}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@kunde.example>\r\n"
        "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nWo bleibt meine Bestellung?\r\n"
    ).encode()
    first = _deliver(stack, original, "kim@kunde.example")
    assert first["actions"] == {"publish": 1, "forward": 1}
    forwarded = wait_until(lambda: _forwards(stack), timeout=30)
    assert forwarded and len(forwarded) == 1
    stored = stack.state.get_relayed(str(forwarded[0]["key"]))
    assert stored is not None
    assert b"Auto-Submitted: auto-forwarded" in stored.raw
    assert b"X-Shopmail-Hops: 1" in stored.raw

    # The partner's inbox sends the forward back to support@, three times over.
    for _ in range(3):
        again = _deliver(stack, stored.raw, "team@partner.example")
        assert again["actions"] == {"publish": 1}
        assert again["skipped"] == {"forward": 1}
        assert again["forwards_refused"] == {"auto_forwarded": 1}
        assert again["dead_lettered"] == 0
    assert len(_forwards(stack)) == 1  # bounded: one forward, however often it comes back

    # The published events still carry every copy (nothing was dropped).
    published = [
        r["event"]
        for r in stack.state.event_log()
        if r["event"].get("detail-type") == "SupportMessageReceived"
        and subject in str(r["event"].get("detail", {}).get("subject", ""))
    ]
    assert len(published) == 4


def test_the_stack_refuses_routes_that_forward_back_into_a_forward(tmp_path: Path) -> None:
    from shopmail.domain.inbound.routing import load_routes
    from shopmail.errors import RouteConfigError

    path = tmp_path / "routes.toml"
    path.write_text(ROUTES.replace(TEAM, f"support@{DOMAIN}"))
    with pytest.raises(RouteConfigError, match="forward loop"):
        load_routes(path, mail_domain=DOMAIN)
