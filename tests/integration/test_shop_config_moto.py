"""Shop configuration, template overrides and routes read from S3 and SSM on a real moto server
(HTTP), through the outbound function's real adapters and the SES-like relay (SMTP)."""

from __future__ import annotations

import dataclasses
import email
import logging
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from shopmail.bootstrap.clients import AwsClients
from shopmail.bootstrap.inbound import build_router
from shopmail.bootstrap.outbound import build_outbound_service
from shopmail.bootstrap.shop import ShopMail
from shopmail.config import Settings
from shopmail.domain.inbound.parsing import parse_message
from shopmail.errors import ConfigurationError, RouteConfigError
from shopmail.services.outbound import OutboundService

from shopmail_local.cli.main import main
from tests.fixtures.outbound_aws import OutboundStack
from tests.fixtures.paths import EVENTS
from tests.fixtures.shop import PNG, SHOP_TOML, override_page

CONFIG_BUCKET = "kaffee-mail-config"
ROUTES = """\
[[rules]]
name = "kaffee-support"
match = { recipient_local = ["kundenservice", "support"] }
actions = [{ type = "publish", detail_type = "KaffeeSupportMail" }]

[[rules]]
name = "rest"
catch_all = true
actions = [{ type = "drop", reason = "not ours" }]
"""


@pytest.fixture
def bucket(outbound_stack: OutboundStack) -> Any:
    s3 = outbound_stack.client("s3")
    s3.create_bucket(
        Bucket=CONFIG_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return s3


def put(s3: Any, key: str, body: str | bytes) -> None:
    data = body.encode("utf-8") if isinstance(body, str) else body
    s3.put_object(Bucket=CONFIG_BUCKET, Key=key, Body=data)


def service(st: OutboundStack, **settings: Any) -> OutboundService:
    return build_outbound_service(
        dataclasses.replace(st.settings, **settings), lambda name: st.client(name)
    )


def send_order(st: OutboundStack, svc: OutboundService, **changes: Any) -> dict[str, Any]:
    event = st.sample("OrderPlaced")
    event["detail"]["order"].update(changes)
    st.put_event(event)
    response: dict[str, Any] = st.app.handle({"Records": st.receive()}, svc)
    st.app.metrics.clear_metrics()
    return response


def last_mail(st: OutboundStack) -> tuple[EmailMessage, str, str]:
    msg = email.message_from_bytes(st.relay.messages[-1].data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    return msg, text.get_content(), html.get_content()


def test_shop_config_template_overrides_and_logo_from_s3(
    outbound_stack: OutboundStack, bucket: Any
) -> None:
    st = outbound_stack
    put(bucket, "shopmail/shop.toml", SHOP_TOML + '[logo]\nsource = "logo.png"\n')
    page = override_page("OrderPlaced.html", "<p>Frisch geröstet!</p>")
    put(bucket, "shopmail/templates/de/OrderPlaced.html", page)
    put(bucket, "shopmail/templates/de/strings.json", '{"closing": "Herzliche Grüße"}')
    put(bucket, "shopmail/templates/logo.png", PNG)
    svc = service(
        st,
        shop_config=f"s3://{CONFIG_BUCKET}/shopmail/shop.toml",
        templates_location=f"s3://{CONFIG_BUCKET}/shopmail/templates/",
    )
    assert send_order(st, svc)["batchItemFailures"] == []
    msg, text, html = last_mail(st)
    assert msg["From"].addresses[0].display_name == "Kaffeerösterei Müller"
    for part in (text, html):
        assert "Kaffeerösterei Müller GmbH" in part and "Amtsgericht Kassel HRB 4711" in part
        assert "DE123456789" in part
    assert "<p>Frisch geröstet!</p>" in html and "Herzliche Grüße" in text
    (logo,) = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert logo.get_content() == PNG and f'src="cid:{logo["Content-ID"][1:-1]}"' in html
    (sent,) = st.observed()
    assert sent["detail-type"] == "EmailSent"


def test_without_configuration_the_mail_is_the_shipped_one(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    assert send_order(st, st.service)["batchItemFailures"] == []
    msg, text, _ = last_mail(st)
    assert str(msg["From"]) == "shop@shop.example"
    assert "Ihr Shop-Team" in text and "Handelsregister" not in text


def test_the_config_is_read_on_the_first_mail_and_a_missing_one_keeps_the_work(
    outbound_stack: OutboundStack, bucket: Any, caplog: pytest.LogCaptureFixture
) -> None:
    st = outbound_stack
    location = f"s3://{CONFIG_BUCKET}/shopmail/shop.toml"
    svc = service(st, shop_config=location)  # nothing read yet: composing needs no object
    event = st.sample("OrderPlaced")
    st.put_event(event)
    records = st.receive()
    with caplog.at_level(logging.ERROR):
        response = st.app.handle({"Records": records}, svc)
    st.app.metrics.clear_metrics()
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        r["messageId"] for r in records
    ]  # kept for a retry, not dead-lettered
    assert st.relay.messages == [] and st.dead_letters() == [] and st.observed() == []
    assert any(f"{location} does not exist" in r.getMessage() for r in caplog.records)
    put(bucket, "shopmail/shop.toml", SHOP_TOML)  # the operator fixes it; the retry sends
    assert st.app.handle({"Records": records}, svc)["batchItemFailures"] == []
    st.app.metrics.clear_metrics()
    msg, _, _ = last_mail(st)
    assert msg["From"].addresses[0].display_name == "Kaffeerösterei Müller"


def test_an_updated_object_applies_after_the_cache_time_and_a_broken_one_is_not_used(
    outbound_stack: OutboundStack, bucket: Any, caplog: pytest.LogCaptureFixture
) -> None:
    st = outbound_stack
    put(bucket, "shop.toml", SHOP_TOML)
    svc = service(st, shop_config=f"s3://{CONFIG_BUCKET}/shop.toml", config_cache_seconds=0)
    assert send_order(st, svc, id="ORD-1")["batchItemFailures"] == []
    put(
        bucket,
        "shop.toml",
        SHOP_TOML.replace(
            'transactional_name = "Kaffeerösterei Müller"', 'transactional_name = "Müller Kaffee"'
        ),
    )
    assert send_order(st, svc, id="ORD-2")["batchItemFailures"] == []
    assert last_mail(st)[0]["From"].addresses[0].display_name == "Müller Kaffee"
    put(bucket, "shop.toml", 'name = "x"\n[colors]\naccent = "braun"\n')
    with caplog.at_level(logging.ERROR):
        assert send_order(st, svc, id="ORD-3")["batchItemFailures"] == []
    assert last_mail(st)[0]["From"].addresses[0].display_name == "Müller Kaffee"
    assert any(r.getMessage() == "config_reload_failed" for r in caplog.records)
    assert len(st.relay.messages) == 3


def test_shop_config_from_ssm(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    ssm = st.client("ssm")
    ssm.put_parameter(Name="/shopmail/shop", Value=SHOP_TOML, Type="String")
    svc = service(st, shop_config="ssm:/shopmail/shop")
    assert send_order(st, svc)["batchItemFailures"] == []
    msg, text, _ = last_mail(st)
    assert msg["From"].addresses[0].display_name == "Kaffeerösterei Müller"
    assert "USt-IdNr.: DE123456789" in text
    missing = ShopMail(
        dataclasses.replace(st.settings, shop_config="ssm:/shopmail/none"),
        AwsClients(lambda name: st.client(name)),
    )
    with pytest.raises(ConfigurationError, match=r"ssm:/shopmail/none does not exist"):
        missing.shop()


# --- routes --------------------------------------------------------------------------------


def _support_mail() -> Any:
    return parse_message((EVENTS / "inbound" / "support.eml").read_bytes())


def test_routes_from_s3_and_ssm_are_validated_and_used(
    outbound_stack: OutboundStack, bucket: Any
) -> None:
    st = outbound_stack
    aws = AwsClients(lambda name: st.client(name))
    put(bucket, "shopmail/routes.toml", ROUTES)
    st.client("ssm").put_parameter(Name="/shopmail/routes", Value=ROUTES, Type="String")
    for location in (f"s3://{CONFIG_BUCKET}/shopmail/routes.toml", "ssm:/shopmail/routes"):
        settings = Settings(mail_domain="shop.example", routes_file=location)
        router = build_router(settings, aws=aws)
        decision = router.decide(_support_mail(), "support@shop.example")
        assert decision.route == "kaffee-support"
        assert [a.name for a in decision.actions] == ["publish"]
        assert decision.order_numbers == ("ORD-100234",)


def test_a_broken_routes_object_fails_at_load_naming_the_rule(
    outbound_stack: OutboundStack, bucket: Any
) -> None:
    st = outbound_stack
    put(bucket, "routes.toml", ROUTES.replace('type = "publish"', 'type = "publsh"'))
    settings = Settings(mail_domain="shop.example", routes_file=f"s3://{CONFIG_BUCKET}/routes.toml")
    with pytest.raises(RouteConfigError) as caught:
        build_router(settings, aws=AwsClients(lambda name: st.client(name)))
    assert any(
        "rule #1 'kaffee-support'" in e and "publish" in e for e in caught.value.context["errors"]
    )


def test_routes_reload_after_the_cache_time(outbound_stack: OutboundStack, bucket: Any) -> None:
    st = outbound_stack
    put(bucket, "routes.toml", ROUTES)
    settings = Settings(
        mail_domain="shop.example",
        routes_file=f"s3://{CONFIG_BUCKET}/routes.toml",
        config_cache_seconds=0,
    )
    router = build_router(settings, aws=AwsClients(lambda name: st.client(name)))
    assert router.decide(_support_mail(), "support@shop.example").route == "kaffee-support"
    put(bucket, "routes.toml", ROUTES.replace("kaffee-support", "support-v2"))
    assert router.decide(_support_mail(), "support@shop.example").route == "support-v2"
    put(bucket, "routes.toml", "[[rules]]\nname = 1\n")  # broken: the last good rules stay
    assert router.decide(_support_mail(), "support@shop.example").route == "support-v2"


@pytest.fixture
def cli_bucket(bucket: Any, moto: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The config bucket, with the CLI pointed at the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    return bucket


def test_routes_check_reads_s3(cli_bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bucket = cli_bucket
    put(bucket, "routes.toml", ROUTES)
    put(bucket, "bad.toml", "[[rules]]\nname = 1\n")
    assert main(["routes", "check", f"s3://{CONFIG_BUCKET}/routes.toml"]) == 0
    assert "OK, 2 rule(s)" in capsys.readouterr().out
    assert main(["routes", "check", f"s3://{CONFIG_BUCKET}/bad.toml"]) == 1
    assert "INVALID" in capsys.readouterr().out
    assert main(["routes", "check", f"s3://{CONFIG_BUCKET}/none.toml"]) == 1
    assert "does not exist" in capsys.readouterr().out


def test_render_cli_reads_a_shop_config_from_s3(
    cli_bucket: Any, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    put(cli_bucket, "shop.toml", SHOP_TOML)
    order = str(Path(EVENTS / "outbound" / "OrderPlaced.json"))
    assert main(["render", order, "--shop-config", f"s3://{CONFIG_BUCKET}/shop.toml"]) == 0
    raw = capsysbinary.readouterr().out
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["From"].addresses[0].display_name == "Kaffeerösterei Müller"
