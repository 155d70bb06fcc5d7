"""Loop-proof forwarding: what a forward carries, the guard on the way in, the load-time check."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from shopmail.bootstrap.inbound import ReloadingRouter
from shopmail.config import Settings
from shopmail.domain.inbound.forwarding import build_forward
from shopmail.domain.inbound.loop_guard import (
    DEFAULT_FORWARD_HOP_LIMIT,
    forward_allowed,
    forward_hops,
)
from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.inbound.routing import Router, load_routes, parse_routes
from shopmail.domain.message import Envelope, InboundMessage
from shopmail.domain.outbound.message_ids import make_message_id, parse_message_id
from shopmail.errors import RouteConfigError

from tests.fixtures.inbound_fakes import InboundHarness, inbound_settings

DOMAIN = "shop.example"
RAW = (
    b"From: Kim <kim@example.org>\r\nTo: support@shop.example\r\nSubject: Hallo\r\n"
    b"Message-ID: <orig-1@example.org>\r\n\r\nHallo Shop\r\n"
)
ENV = Envelope("sesid1", "kim@example.org", ("support@shop.example",))


def _message(*headers: tuple[str, str]) -> InboundMessage:
    return InboundMessage(subject="Hallo", headers=(("From", "kim@example.org"), *headers))


def _forward(raw: bytes) -> bytes:
    return build_forward(
        parse_message(raw),
        ENV,
        raw,
        from_address="shop@shop.example",
        to=["team@partner.example"],
        route="support",
        mail_domain=DOMAIN,
    ).message


# --- what a forward carries -----------------------------------------------------------------


def test_a_forward_is_auto_forwarded_with_our_route_and_one_hop() -> None:
    out = message_from_bytes(_forward(RAW), policy=policy.default)
    assert out["Auto-Submitted"] == "auto-forwarded"
    assert out["X-Shopmail-Route"] == "support"
    assert out["X-Shopmail-Hops"] == "1"


def test_a_forward_of_a_forward_counts_one_hop_more() -> None:
    first = _forward(RAW)
    second = message_from_bytes(_forward(first), policy=policy.default)
    assert second["X-Shopmail-Hops"] == "2"
    assert forward_hops(parse_message(first)) == 1


# --- the guard on the way in ----------------------------------------------------------------


def test_a_plain_mail_may_be_forwarded() -> None:
    assert forward_allowed(_message()) == (True, "ok")
    assert forward_allowed(_message(("Auto-Submitted", "no"))) == (True, "ok")
    assert forward_allowed(_message(("Auto-Submitted", "auto-replied"))) == (True, "ok")


@pytest.mark.parametrize("value", ["auto-forwarded", "Auto-Forwarded; owner=x", " AUTO-FORWARDED"])
def test_an_auto_forwarded_mail_is_not_forwarded_again(value: str) -> None:
    allowed, reason = forward_allowed(_message(("Auto-Submitted", value)))
    assert allowed is False
    assert "auto-forwarded" in reason


def test_the_hop_limit_refuses_at_the_limit_and_is_configurable() -> None:
    assert DEFAULT_FORWARD_HOP_LIMIT == 3
    assert forward_allowed(_message(("X-Shopmail-Hops", "2")))[0] is True
    allowed, reason = forward_allowed(_message(("X-Shopmail-Hops", "3")))
    assert allowed is False and reason == "forward hop limit reached (X-Shopmail-Hops: 3 >= 3)"
    assert forward_allowed(_message(("X-Shopmail-Hops", "3")), hop_limit=5)[0] is True
    assert forward_allowed(_message(("X-Shopmail-Hops", "1")), hop_limit=1)[0] is False


def test_hop_counts_read_every_value_our_route_header_and_garbage() -> None:
    assert forward_hops(_message()) == 0
    assert forward_hops(_message(("X-Shopmail-Route", "support"))) == 1
    both = _message(("X-Shopmail-Hops", "1"), ("X-Shopmail-Hops", "7"))
    assert forward_hops(both) == 7
    for garbage in ("x", "-1", "99999999999999999999", "\ufffd", "١٢"):
        assert forward_hops(_message(("X-Shopmail-Hops", garbage))) >= 1_000_000, garbage


def _routes(*rules: tuple[str, str, str]) -> str:
    """A routes file: one ``(name, match line, actions)`` per rule."""
    return "".join(f'[[rules]]\nname = "{n}"\n{m}\nactions = [{a}]\n\n' for n, m, a in rules)


def _local(*parts: str) -> str:
    return "match = { recipient_local = [" + ", ".join(f'"{p}"' for p in parts) + "] }"


PUBLISH_ALL = ("catch-all", "catch_all = true", '{ type = "publish", detail_type = "Mail" }')
ROUTES_FORWARD_OUT = _routes(
    (
        "support",
        _local("support"),
        '{ type = "publish", detail_type = "SupportMessageReceived" }, '
        '{ type = "forward", to = "team@partner.example" }',
    ),
    PUBLISH_ALL,
)


def _harness(routes: str, **settings: Any) -> InboundHarness:
    from dataclasses import replace

    config = replace(inbound_settings(), **settings)
    return InboundHarness(config, router=Router(parse_routes(routes), DOMAIN))


def _event(h: InboundHarness, raw: bytes, mid: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(json.dumps(h.put_sample("support")))
    record = event["Records"][0]["ses"]
    record["mail"]["messageId"] = mid
    h.store.objects[f"{h.settings.raw_mail_prefix}{mid}"] = raw
    return event


def test_the_service_refuses_to_forward_a_returning_forward_but_still_publishes() -> None:
    h = _harness(ROUTES_FORWARD_OUT)
    first = h.service.handle_event(_event(h, RAW, "m1"))
    assert first.actions["forward"] == 1 and len(h.sender.sent) == 1
    forwarded = h.sender.sent[0][2]
    # the partner's alias sends it back to support@: it is published, not forwarded again
    again = h.service.handle_event(_event(h, forwarded, "m2"))
    assert len(h.sender.sent) == 1
    assert again.skipped["forward"] == 1
    assert again.actions["publish"] == 1
    assert dict(again.forwards_refused) == {"auto_forwarded": 1}
    assert again.to_dict()["forwards_refused"] == {"auto_forwarded": 1}
    assert again.dead_lettered == 0


def test_the_service_applies_the_configured_hop_limit(caplog: pytest.LogCaptureFixture) -> None:
    h = _harness(ROUTES_FORWARD_OUT, forward_hop_limit=2)
    ok = b"X-Shopmail-Hops: 1\r\n" + RAW
    assert h.service.handle_event(_event(h, ok, "m1")).actions["forward"] == 1
    over = b"X-Shopmail-Hops: 2\r\n" + RAW
    with caplog.at_level("WARNING"):
        result = h.service.handle_event(_event(h, over, "m2"))
    assert dict(result.forwards_refused) == {"hop_limit": 1}
    assert len(h.sender.sent) == 1
    refused = [r for r in caplog.records if r.getMessage() == "forward refused by the loop guard"]
    assert refused and "hop limit" in refused[0].reason  # type: ignore[attr-defined]


def test_forward_hop_limit_is_a_setting() -> None:
    assert Settings().forward_hop_limit == 3
    env = {"FORWARD_HOP_LIMIT": "5"}
    assert Settings.from_env(env).forward_hop_limit == 5


# --- the load-time check --------------------------------------------------------------------

LOOP = _routes(
    ("support", _local("support"), '{ type = "forward", to = "team@shop.example" }'),
    ("team", _local("team"), '{ type = "forward", to = "support@shop.example" }'),
)


def test_a_forward_loop_on_our_domain_is_refused_at_load() -> None:
    with pytest.raises(RouteConfigError) as info:
        parse_routes(LOOP, "loop.toml", mail_domain=DOMAIN)
    errors = info.value.context["errors"]
    assert len(errors) == 2
    assert errors[0].startswith("rule #1 'support': field 'actions[0].to': team@shop.example")
    assert "rule 'team' would forward it again (a forward loop)" in errors[0]
    assert "loop.toml" in str(info.value)


def test_without_a_mail_domain_the_loop_is_not_checked() -> None:
    assert len(parse_routes(LOOP).rules) == 2


def test_a_self_forward_and_a_subdomain_and_a_tag_are_loops() -> None:
    for target in ("support@shop.example", "support@mail.shop.example", "support+x@Shop.Example"):
        text = (
            '[[rules]]\nname = "s"\nmatch = { recipient_regex = "^support" }\n'
            f'actions = [{{ type = "forward", to = "{target}" }}]\n'
        )
        with pytest.raises(RouteConfigError, match="forward loop"):
            parse_routes(text, mail_domain=DOMAIN)


def test_forwards_that_cannot_come_back_to_a_forward_load() -> None:
    outside = LOOP.replace("team@shop.example", "team@partner.example").replace(
        "support@shop.example", "x@partner.example"
    )
    assert len(parse_routes(outside, mail_domain=DOMAIN).rules) == 2
    published = LOOP.replace(
        '{ type = "forward", to = "support@shop.example" }',
        '{ type = "publish", detail_type = "TeamMail" }',
    )
    assert len(parse_routes(published, mail_domain=DOMAIN).rules) == 2
    # an earlier rule that surely matches the target and stops shadows a later forward
    shadowed = (
        '[[rules]]\nname = "team-first"\nmatch = { recipient = "team@shop.example" }\n'
        'actions = [{ type = "publish", detail_type = "TeamMail" }]\n'
    ) + LOOP.replace('to = "support@shop.example"', 'to = "x@partner.example"')
    assert len(parse_routes(shadowed, mail_domain=DOMAIN).rules) == 3
    with pytest.raises(RouteConfigError, match="rule 'team' would forward it again"):
        unshadowed = LOOP.replace('to = "support@shop.example"', 'to = "x@partner.example"')
        parse_routes(unshadowed, mail_domain=DOMAIN)


def test_a_rule_that_depends_on_the_message_may_match_and_counts() -> None:
    text = (
        '[[rules]]\nname = "vip"\nmatch = { recipient_local = ["team"], subject = "vip" }\n'
        'actions = [{ type = "forward", to = "boss@partner.example" }]\n' + LOOP
    ).replace('to = "support@shop.example"', 'to = "x@partner.example"')
    with pytest.raises(RouteConfigError) as info:
        parse_routes(text, mail_domain=DOMAIN)
    assert "rule 'vip' would forward it again" in str(info.value)


def test_load_routes_and_the_router_check_with_their_mail_domain(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(LOOP)
    with pytest.raises(RouteConfigError, match="forward loop"):
        load_routes(path, mail_domain=DOMAIN)
    with pytest.raises(RouteConfigError, match="forward loop"):
        Router.from_file(path, DOMAIN)
    assert Router.from_file(path, "other.example").table.rules  # not our domain there


class _Source:
    def __init__(self, text: str) -> None:
        self.text = text

    def read_text(self, location: Any) -> str:
        return self.text


def test_routes_from_s3_or_ssm_are_checked_the_same_way() -> None:
    settings = Settings(mail_domain=DOMAIN, routes_file="s3://config/routes.toml")
    router = ReloadingRouter(settings, _Source(LOOP))  # type: ignore[arg-type]
    with pytest.raises(RouteConfigError, match="forward loop"):
        router.table()


def test_routes_check_cli_reports_the_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shopmail_local.cli.main import main

    path = tmp_path / "routes.toml"
    path.write_text(LOOP)
    assert main(["routes", "check", str(path), "--mail-domain", DOMAIN]) == 1
    out = capsys.readouterr().out
    assert "INVALID (2 problem(s))" in out and "forward loop" in out
    assert main(["routes", "check", str(path), "--mail-domain", "other.example"]) == 0


def test_the_shipped_routes_have_no_forward_loop() -> None:
    assert load_routes(None, mail_domain=DOMAIN).rules


# --- Message-ID domains ---------------------------------------------------------------------


def test_message_id_domains_compare_case_insensitively() -> None:
    mid = make_message_id("order", "ORD-1", "k1", "shop.example")
    upper = mid.replace("@shop.example", "@SHOP.Example")
    ref = parse_message_id(upper, "shop.example")
    assert ref is not None and ref.domain == "shop.example"
    assert parse_message_id(mid, "Shop.EXAMPLE") is not None
    assert parse_message_id(mid, "other.example") is None
