"""Inbound forward and auto-reply through the real relay path: the SMTP secret in moto's
Secrets Manager (every shape), the SES-like relay over TCP with STARTTLS and AUTH.

A relay that refuses (535 after a key rotation, sending paused, a TLS certificate that does not
verify, unreachable) is the system's problem, not the mail's: the event is raised for Lambda to
retry, never dead-lettered, and once the secret is fixed the same warm service sends.
"""

from __future__ import annotations

import email
import json
from dataclasses import replace
from email import policy
from pathlib import Path
from typing import Any

import pytest
from shopmail.adapters.smtp_credentials import clear_cache
from shopmail.bootstrap.inbound import build_inbound_service
from shopmail.domain.smtp.password import smtp_password
from shopmail.errors import ConfigurationError, RelayUnavailableError
from shopmail.services.inbound import InboundService

from shopmail_local.certs import ensure_certs
from tests.fixtures.inbound_aws import BUCKET, Stack
from tests.fixtures.ses_smtp import SesSmtp
from tests.fixtures.shop import SHOP_TOML

ROUTES = """
[[rules]]
name = "support"
match = { recipient_local = ["support"] }
actions = [
  { type = "publish", detail_type = "SupportMessageReceived" },
  { type = "forward", to = "team@shop.example" },
  { type = "auto_reply", template = "AutoReply" },
]

[[rules]]
name = "rest"
catch_all = true
actions = [{ type = "publish", detail_type = "MessageReceived" }]
"""


def _shapes(relay: SesSmtp) -> dict[str, dict[str, str]]:
    return {
        "access-key": {
            "AccessKeyId": relay.access_key_id,
            "SecretAccessKey": relay.secret_access_key,
        },
        "template": {
            "access_key_id": relay.access_key_id,
            "secret_access_key": relay.secret_access_key,
        },
        "derived": {
            "username": relay.access_key_id,
            "password": smtp_password(relay.secret_access_key, relay.region),
        },
    }


class RelayedInbound:
    """The inbound service of ``stack`` with the real relay path (no fake sender)."""

    def __init__(
        self, stack: Stack, relay: SesSmtp, tmp_path: Path, shape: str = "access-key"
    ) -> None:
        self.stack = stack
        self.relay = relay
        self.good = json.dumps(_shapes(relay)[shape])
        sm = stack.client("secretsmanager")
        self.secret = sm.create_secret(Name="shopmail/smtp", SecretString=self.good)["ARN"]
        routes = tmp_path / "routes.toml"
        routes.write_text(ROUTES, encoding="utf-8")
        clear_cache()
        self.settings = replace(
            stack.settings,
            routes_file=str(routes),
            smtp_host=relay.host,
            smtp_port=relay.port,
            smtp_ca_file=str(relay.ca_file),
            smtp_secret_arn=self.secret,
            smtp_timeout=5.0,
            smtp_max_rate=0.0,
        )
        self.service = self.build()

    def build(self, **changes: Any) -> InboundService:
        return build_inbound_service(replace(self.settings, **changes), self.stack.client)

    def rotate(self, secret: str | None = None) -> None:
        wrong = json.dumps({"AccessKeyId": self.relay.access_key_id, "SecretAccessKey": "old"})
        self.stack.client("secretsmanager").put_secret_value(
            SecretId=self.secret, SecretString=secret or wrong
        )

    def handle(self, event: dict[str, Any], service: InboundService | None = None) -> Any:
        return self.stack.app.handle(event, service or self.service)

    def sent_to(self) -> list[tuple[str, ...]]:
        return [m.envelope.rcpt_tos for m in self.relay.messages]


@pytest.fixture
def relayed(inbound_stack: Stack, ses_smtp: SesSmtp, tmp_path: Path) -> RelayedInbound:
    return RelayedInbound(inbound_stack, ses_smtp, tmp_path)


@pytest.mark.parametrize("shape", ["access-key", "template", "derived"])
def test_every_secret_shape_sends_forward_and_auto_reply(
    inbound_stack: Stack, ses_smtp: SesSmtp, tmp_path: Path, shape: str
) -> None:
    r = RelayedInbound(inbound_stack, ses_smtp, tmp_path, shape)
    result = r.handle(inbound_stack.put_sample("support"))
    assert result["dead_lettered"] == 0
    assert result["actions"] == {"publish": 1, "forward": 1, "auto_reply": 1}
    assert sorted(r.sent_to()) == [("kim.meyer@example.org",), ("team@shop.example",)]
    assert ses_smtp.server.logins == 1  # one secret read, one relay, one session


def test_rotated_key_535_is_retried_and_the_new_secret_is_used_without_a_cold_start(
    relayed: RelayedInbound,
) -> None:
    r = relayed
    event = r.stack.put_sample("support")
    r.rotate()
    clear_cache()  # the container read the old key before the rotation
    with pytest.raises(ConfigurationError) as info:
        r.handle(event)  # the real relay answers 535 to the old key's password
    assert info.value.context["smtp_code"] == 535
    assert r.stack.drain(r.stack.dlq_url) == []  # never dead-lettered
    assert r.relay.messages == []

    r.rotate(r.good)  # the operator stores the new key; the same warm service goes on
    result = r.handle(event)  # Lambda's retry of the same event
    assert result["dead_lettered"] == 0
    assert result["duplicates"] == 1  # the publish before the failure is not repeated
    assert result["actions"] == {"forward": 1, "auto_reply": 1}
    assert sorted(r.sent_to()) == [("kim.meyer@example.org",), ("team@shop.example",)]
    assert [e["detail-type"] for e in r.stack.drain(r.stack.observed_url)] == [
        "SupportMessageReceived"
    ]


def test_rotated_key_auto_reply_alone_reads_the_secret_again(relayed: RelayedInbound) -> None:
    r = relayed
    service = r.build(routes_file="")  # the shipped routes: support is acknowledged, no forward
    event = r.stack.put_sample("support")
    r.rotate()
    clear_cache()
    with pytest.raises(ConfigurationError):
        r.handle(event, service)
    assert r.stack.drain(r.stack.dlq_url) == []
    r.rotate(r.good)
    result = r.handle(event, service)
    assert result["actions"] == {"auto_reply": 1} and result["duplicates"] == 2
    assert r.sent_to() == [("kim.meyer@example.org",)]


@pytest.mark.parametrize(
    "reply",
    [
        "554 Message rejected: Sending paused for this account.",
        "554 Access denied: User is not authorized to perform ses:SendRawEmail",
        "530 Authentication required",
    ],
)
def test_relay_configuration_refusals_are_retried_not_dead_lettered(
    relayed: RelayedInbound, reply: str
) -> None:
    r = relayed
    event = r.stack.put_sample("support")
    stage = "data" if reply.startswith("554") else "mail"
    r.relay.script(stage, reply)
    with pytest.raises(ConfigurationError):
        r.handle(event)
    assert r.stack.drain(r.stack.dlq_url) == []
    result = r.handle(event)  # the retry, after the operator's fix
    assert result["dead_lettered"] == 0 and result["actions"]["forward"] == 1


def test_a_certificate_that_does_not_verify_is_retried_not_dead_lettered(
    relayed: RelayedInbound, tmp_path_factory: pytest.TempPathFactory
) -> None:
    r = relayed
    other = ensure_certs(tmp_path_factory.mktemp("other-ca"), common_name="another CA")
    event = r.stack.put_sample("support")
    with pytest.raises(ConfigurationError, match="certificate"):
        r.handle(event, r.build(smtp_ca_file=str(other.ca_file)))
    assert r.stack.drain(r.stack.dlq_url) == [] and r.relay.server.logins == 0
    assert r.handle(event)["dead_lettered"] == 0


def test_unreachable_relay_is_retried_not_dead_lettered(relayed: RelayedInbound) -> None:
    import socket

    r = relayed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    event = r.stack.put_sample("support")
    with pytest.raises(RelayUnavailableError):
        r.handle(event, r.build(smtp_port=closed, smtp_timeout=1.0))
    assert r.stack.drain(r.stack.dlq_url) == []


def test_reply_lost_after_the_final_dot_counts_the_forward_as_done(
    relayed: RelayedInbound,
) -> None:
    r = relayed
    event = r.stack.put_sample("support")
    r.relay.script("data", drop=True, deliver=True)  # the forward: accepted, reply lost
    result = r.handle(event)
    assert result["dead_lettered"] == 0
    assert result["actions"] == {"publish": 1, "forward": 1, "auto_reply": 1}
    again = r.handle(event)  # a re-delivery sends nothing again
    assert again["duplicates"] == 3
    assert sorted(r.sent_to()) == [("kim.meyer@example.org",), ("team@shop.example",)]


def test_the_auto_reply_is_signed_by_the_shop_of_shop_config_in_s3(
    relayed: RelayedInbound,
) -> None:
    s3 = relayed.stack.client("s3")
    shop = SHOP_TOML + '\n[locales]\ndefault = "fr-FR"\nfallback = "en"\n'
    s3.put_object(Bucket=BUCKET, Key="config/shop.toml", Body=shop.encode("utf-8"))
    service = relayed.build(shop_config=f"s3://{BUCKET}/config/shop.toml")
    event = relayed.stack.put_sample("support")
    result = relayed.handle(event, service)
    assert result["actions"] == {"publish": 1, "forward": 1, "auto_reply": 1}
    (reply,) = [
        email.message_from_bytes(m.data, policy=policy.default)
        for m in relayed.relay.messages
        if tuple(m.envelope.rcpt_tos) == ("kim.meyer@example.org",)
    ]
    sender = reply["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == (
        "Kaffeerösterei Müller",
        "support@shop.example",
    )
    # the sample says Content-Language: de-DE: answered in German, signed with the shop's name
    assert str(reply["Content-Language"]) == "de"
    assert reply.get_content().rstrip().endswith("Kaffeerösterei Müller")


def test_without_shop_config_the_auto_reply_has_the_shipped_texts(
    relayed: RelayedInbound,
) -> None:
    relayed.handle(relayed.stack.put_sample("support"))
    (reply,) = [
        email.message_from_bytes(m.data, policy=policy.default)
        for m in relayed.relay.messages
        if tuple(m.envelope.rcpt_tos) == ("kim.meyer@example.org",)
    ]
    assert reply["From"].addresses[0].display_name == ""
    assert "Kaffeerösterei" not in reply.get_content()
