"""The router: shipped default routes, built-in policy, rule semantics, loop guard, JSON shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from shopmail.domain.inbound.routing import (
    FALLBACK_ROUTE,
    Router,
    RoutingDecision,
    parse_routes,
    recipients_of,
)
from shopmail.domain.message import Address, Attachment, InboundMessage, MessageFlags, Verdicts
from shopmail.domain.outbound.message_ids import make_message_id

from tests.fixtures.inbound_messages import CUSTOMER, DOMAIN, inbound_message


def make(
    *,
    subject: str = "Frage",
    text: str = "Hallo",
    sender: str = CUSTOMER,
    headers: tuple[tuple[str, str], ...] = (),
    to: tuple[str, ...] = (),
    cc: tuple[str, ...] = (),
    envelope: bool = True,
    **fields: Any,
) -> InboundMessage:
    """A mail from ``sender`` (``fields``: recipients, verdicts, flags, references, attachments)."""
    return inbound_message(
        sender=sender if envelope else None,
        author=sender,
        headers=(("Subject", subject), *headers),
        subject=subject,
        text=text,
        to=tuple(Address("", a) for a in to),
        cc=tuple(Address("", a) for a in cc),
        **fields,
    )


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.from_file(None, DOMAIN)


def decide(router: Router, recipient: str | None, **kw: object) -> RoutingDecision:
    return router.decide(make(**kw), recipient)  # type: ignore[arg-type]


# -- shipped default routes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "route", "detail_type", "auto_reply"),
    [
        ("support@shop.example", "support", "SupportMessageReceived", True),
        ("Support@SHOP.example", "support", "SupportMessageReceived", True),
        ("orders@shop.example", "orders", "OrderInquiryReceived", False),
        ("returns@shop.example", "returns", "ReturnMailReceived", True),
        ("invoices@shop.example", "invoices", "InvoiceMailReceived", False),
        ("somebody@shop.example", "catch-all", "MessageReceived", False),
    ],
)
def test_default_routes(
    router: Router, recipient: str, route: str, detail_type: str, auto_reply: bool
) -> None:
    d = decide(router, recipient)
    assert (d.route, d.detail_type) == (route, detail_type)
    assert ("auto_reply" in d.action_names) is auto_reply
    assert d.auto_reply_allowed is (True if auto_reply else None)
    if route != "catch-all":
        assert "store_attachments" in d.action_names


def test_plus_addressed_support_gives_tag_and_order(router: Router) -> None:
    d = decide(router, "support+ORD-1001@shop.example", subject="Bestellung 2002")
    assert d.route == "support"
    assert d.tag == "ORD-1001"
    assert d.order_id == "ORD-1001"
    assert d.order_numbers == ("ORD-1001", "2002")  # the tag as the shop writes it
    assert any("plus-addressed" in w for w in d.why)


def test_plus_tag_that_is_no_order(router: Router) -> None:
    d = decide(router, "returns+blue-shirt@shop.example")
    assert (d.route, d.tag, d.order_id) == ("returns", "blue-shirt", None)


def test_local_parts_work_for_any_mail_domain() -> None:
    other = Router.from_file(None, "laden.example")
    assert other.decide(make(), "support@laden.example").route == "support"
    assert other.decide(make(), "support@shop.example").route == "catch-all"


def test_subdomain_of_the_mail_domain_is_ours(router: Router) -> None:
    assert decide(router, "support@eu.shop.example").route == "support"


def test_foreign_recipient_goes_to_catch_all_with_reason(router: Router) -> None:
    d = decide(router, "support@other.example")
    assert d.route == "catch-all"
    assert d.tag is None
    assert any("other.example is not shop.example" in w for w in d.why)


def test_no_recipient_goes_to_catch_all(router: Router) -> None:
    d = router.decide(make(), None)
    assert (d.recipient, d.route) == (None, "catch-all")
    assert d.why[-1] == "catch-all: catch-all (no recipient)"


def test_reply_to_our_order_mail_is_customer_replied(router: Router) -> None:
    mid = make_message_id("OrderShipped", "ORD-100234", "OrderShipped:ORD-100234:x", DOMAIN)
    d = decide(router, "support@shop.example", references=("<x@mua>", mid))
    assert (d.route, d.detail_type) == ("customer-reply", "CustomerReplied")
    assert d.order_id == "ORD-100234"
    assert d.order_numbers == ("ORD-100234",)
    assert dict(d.captures) == {"reply_kind": "ordershipped", "reply_to_id": "ORD-100234"}
    assert "auto_reply" not in d.action_names


@pytest.mark.parametrize(
    "subject",
    [
        "Rücksendung Bestellung ORD-1002",
        "Re: Ihre Bestellung ORD-1002 ist eingegangen",
        "Re: Votre commande n° ORD-1002 est en route",
        "RE: ord-1002",
    ],
)
def test_reply_id_and_subject_id_agree_and_are_one(router: Router, subject: str) -> None:
    mid = make_message_id("OrderPlaced", "ORD-1002", "OrderPlaced:ORD-1002:x", DOMAIN)
    d = decide(router, "returns@shop.example", subject=subject, references=(mid,))
    assert d.order_id == "ORD-1002"
    assert d.order_numbers == ("ORD-1002",)  # one id, spelled as the shop spells it
    alone = decide(router, "returns@shop.example", subject="Rücksendung Bestellung ORD-1002")
    assert (alone.order_id, alone.order_numbers) == (None, ("ORD-1002",))


def test_order_id_from_a_tag_follows_a_custom_pattern_like_the_order_numbers() -> None:
    custom = Router.from_file(None, DOMAIN, order_pattern=r"AB-(\d+)")
    d = custom.decide(make(subject="about AB-78"), "support+AB-77@shop.example")
    assert d.order_id == "77"  # the pattern's first group is the id, for the tag too
    assert d.order_numbers == ("77", "78")


def test_reply_to_a_foreign_domain_message_id_is_not_ours(router: Router) -> None:
    mid = make_message_id("OrderShipped", "ORD-1", "k", "other.example")
    assert decide(router, "support@shop.example", references=(mid,)).route == "support"


def test_reports_route_from_flags(router: Router) -> None:
    for flags in (MessageFlags(is_dsn=True), MessageFlags(is_arf=True)):
        d = decide(router, "support@shop.example", flags=flags)
        assert (d.route, d.detail_type) == ("reports", "MailFeedbackReceived")


def test_injected_classifier_decides_the_kind() -> None:
    calls: list[str] = []

    def classify(message: InboundMessage) -> str:
        calls.append(message.subject)
        return "complaint"

    r = Router.from_file(None, DOMAIN, classify=classify)
    assert r.decide(make(subject="s1"), "support@shop.example").route == "reports"
    assert calls == ["s1"]


def test_failing_classifier_falls_back_to_flags() -> None:
    def classify(message: InboundMessage) -> str:
        raise RuntimeError("broken")

    r = Router.from_file(None, DOMAIN, classify=classify)
    assert r.decide(make(), "support@shop.example").route == "support"
    d = r.decide(make(flags=MessageFlags(is_dsn=True)), "support@shop.example")
    assert d.route == "reports"


# -- built-in policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdicts", "route"),
    [
        (Verdicts(virus="FAIL"), "policy:virus"),
        (Verdicts(spam="FAIL"), "policy:spam"),
        (Verdicts(virus="FAIL", spam="FAIL"), "policy:virus"),
        (Verdicts(dmarc="FAIL", dmarc_policy="reject"), "policy:dmarc"),
        (Verdicts(dmarc="FAIL", dmarc_policy="QUARANTINE"), "policy:dmarc"),
    ],
)
def test_policy_quarantines(router: Router, verdicts: Verdicts, route: str) -> None:
    d = decide(router, "support@shop.example", verdicts=verdicts)
    assert d.route == route
    assert d.action_names == ["quarantine"]
    assert d.detail_type is None
    assert d.auto_reply_allowed is None
    assert "FAIL" in str(d.action("quarantine").get("reason"))  # type: ignore[union-attr]


def test_dmarc_fail_with_policy_none_routes_but_never_auto_replies(router: Router) -> None:
    d = decide(router, "support@shop.example", verdicts=Verdicts(dmarc="FAIL", dmarc_policy="none"))
    assert d.route == "support"
    assert "auto_reply" not in d.action_names
    assert d.auto_reply_allowed is False
    assert any(w.startswith("auto_reply suppressed: DMARC") for w in d.why)


def test_policy_can_be_overridden_explicitly() -> None:
    table = parse_routes(
        '[policy]\nspam_fail = "route"\n'
        '[[rules]]\nname = "spam-box"\nmatch = { verdicts = { spam = "FAIL" } }\n'
        'actions = [{ type = "drop", reason = "spam" }]\n'
        '[[rules]]\nname = "rest"\nactions = [{ type = "publish", detail_type = "M" }]\n'
    )
    r = Router(table, DOMAIN)
    d = r.decide(make(verdicts=Verdicts(spam="FAIL")), "x@shop.example")
    assert d.route == "spam-box"
    assert d.action_names == ["drop"]
    assert any("disabled by [policy] spam_fail" in w for w in d.why)
    # virus is still quarantined
    assert r.decide(make(verdicts=Verdicts(virus="FAIL")), "x@shop.example").route == (
        "policy:virus"
    )


def test_loop_guard_suppresses_auto_reply_for_no_reply_senders(router: Router) -> None:
    d = decide(router, "support@shop.example", sender="no-reply@kunde.example")
    assert d.route == "support"
    assert d.action_names == ["publish", "store_attachments"]
    assert d.auto_reply_allowed is False
    assert "no-reply" in d.auto_reply_reason


def test_loop_guard_suppresses_auto_reply_for_lists(router: Router) -> None:
    d = decide(router, "returns@shop.example", headers=(("List-Id", "<x.example>"),))
    assert d.auto_reply_allowed is False and "auto_reply" not in d.action_names


# -- rule semantics ------------------------------------------------------------------------

CHAIN = """
[[rules]]
name = "tagged"
stop = false
match = { tag = true }
actions = [{ type = "store_attachments" }]

[[rules]]
name = "vip"
stop = false
match = { sender_domain = "vip.example" }
actions = [{ type = "forward", to = "vip-team@shop.example" }, { type = "store_attachments" }]

[[rules]]
name = "team"
match = { recipient_regex = '^(?P<team>sales|billing)(\\+[^@]*)?@' }
actions = [{ type = "publish", detail_type = "TeamMail" }]

[[rules]]
name = "never"
match = { subject = "never" }
actions = [{ type = "drop" }]

[[rules]]
name = "rest"
catch_all = true
actions = [{ type = "publish", detail_type = "MessageReceived" }]
"""


def test_non_stopping_rules_contribute_until_the_first_stopping_match() -> None:
    r = Router(parse_routes(CHAIN), DOMAIN)
    d = r.decide(make(sender="boss@vip.example"), "sales+q3@shop.example")
    assert d.route == "team"
    assert d.rules == ("tagged", "vip", "team")
    assert d.action_names == ["store_attachments", "forward", "publish"]  # deduplicated
    assert d.action("forward").get("to") == ("vip-team@shop.example",)  # type: ignore[union-attr]
    assert dict(d.captures) == {"team": "sales"}
    assert d.tag == "q3"
    assert [w.split(":")[0] for w in d.why] == ["tagged", "vip", "team"]


def test_non_stopping_rules_then_catch_all() -> None:
    r = Router(parse_routes(CHAIN), DOMAIN)
    d = r.decide(make(), "info+x@shop.example")
    assert d.rules == ("tagged", "rest")
    assert d.route == "rest"
    assert d.action_names == ["store_attachments", "publish"]


def test_fallback_without_catch_all() -> None:
    table = parse_routes(
        '[[rules]]\nname = "only"\nmatch = { subject = "^x$" }\nactions = [{ type = "drop" }]\n'
    )
    d = Router(table, DOMAIN).decide(make(), "a@shop.example")
    assert d.route == FALLBACK_ROUTE
    assert d.detail_type == "MessageReceived"


@pytest.mark.parametrize(
    ("match", "kwargs", "hit"),
    [
        ('{ recipient = "info@shop.example" }', {}, True),
        ('{ recipient = "other@shop.example" }', {}, False),
        ('{ recipient_domain = "shop.example" }', {}, True),
        ('{ recipient_domain = ".example" }', {}, True),
        ('{ recipient_domain = "other.example" }', {}, False),
        ('{ sender = "kunde@kunde.example" }', {}, True),
        ('{ sender = "x@kunde.example" }', {}, False),
        ('{ sender_domain = "example" }', {}, True),
        ('{ sender_domain = "kunde.other" }', {}, False),
        ('{ subject = "^frage$" }', {}, True),
        (
            '{ header = { name = "x-prio", pattern = "^high" } }',
            {"headers": (("X-Prio", "HIGH"),)},
            True,
        ),
        ('{ header = { name = "X-Prio", pattern = "^high" } }', {}, False),
        ('{ verdicts = { spf = "PASS" } }', {"verdicts": Verdicts(spf="PASS")}, True),
        ('{ verdicts = { spf = "PASS" } }', {}, False),
        ('{ verdicts = { spf = "GRAY" } }', {"envelope": False}, True),
        ('{ flags = ["list"] }', {"flags": MessageFlags(is_list=True)}, True),
        ('{ flags = ["auto_reply"] }', {"flags": MessageFlags(auto_submitted=True)}, True),
        ('{ flags = ["bounce"] }', {"flags": MessageFlags(auto_submitted=True)}, False),
        ('{ without_flags = ["list"] }', {"flags": MessageFlags(is_list=True)}, False),
        ('{ without_flags = ["list"] }', {}, True),
        ("{ has_attachment = true }", {}, False),
        ("{ has_attachment = false }", {}, True),
        ("{ tag = false }", {}, True),
        ("{ replies_to_ours = false }", {}, True),
        ("{ replies_to_ours = true }", {}, False),
    ],
)
def test_single_matchers(match: str, kwargs: dict[str, object], hit: bool) -> None:
    table = parse_routes(
        f'[[rules]]\nname = "m"\nmatch = {match}\n'
        'actions = [{ type = "publish", detail_type = "Hit" }]\n'
        '[[rules]]\nname = "rest"\nactions = [{ type = "drop" }]\n'
    )
    d = Router(table, DOMAIN).decide(make(**kwargs), "info@shop.example")  # type: ignore[arg-type]
    assert (d.route == "m") is hit, d.why


def test_has_attachment_ignores_inline_parts() -> None:
    table = parse_routes(
        '[[rules]]\nname = "m"\nmatch = { has_attachment = true }\n'
        'actions = [{ type = "store_attachments" }]\n'
        '[[rules]]\nname = "rest"\nactions = [{ type = "drop" }]\n'
    )
    r = Router(table, DOMAIN)
    inline = Attachment(0, "logo.png", "image/png", 10, "0" * 64, "inline")
    real = Attachment(1, "rechnung.pdf", "application/pdf", 10, "0" * 64)
    assert r.decide(make(attachments=(inline,)), "a@shop.example").route == "rest"
    assert r.decide(make(attachments=(inline, real)), "a@shop.example").route == "m"


def test_subject_and_header_captures_and_order_id_capture() -> None:
    table = parse_routes(
        '[[rules]]\nname = "m"\n'
        "match = { subject = 'ticket (?P<ticket>\\d+)', "
        "header = { name = 'X-Order', pattern = '^(?P<order_id>[A-Z]+-\\d+)$' } }\n"
        'actions = [{ type = "publish", detail_type = "Ticket" }]\n'
    )
    msg = make(subject="Ticket 42", headers=(("X-Order", "ORD-77"),))
    d = Router(table, DOMAIN).decide(msg, "a@shop.example")
    assert dict(d.captures) == {"ticket": "42", "order_id": "ORD-77"}
    assert d.order_id == "ORD-77"


def test_regex_input_is_bounded() -> None:
    table = parse_routes(
        '[[rules]]\nname = "m"\nmatch = { subject = "end$" }\n'
        'actions = [{ type = "drop" }]\n'
        '[[rules]]\nname = "rest"\nactions = [{ type = "publish", detail_type = "M" }]\n'
    )
    r = Router(table, DOMAIN)
    assert r.decide(make(subject="x end"), "a@shop.example").route == "m"
    assert r.decide(make(subject="x" * 5000 + "end"), "a@shop.example").route == "rest"


def test_user_quarantine_suppresses_auto_reply() -> None:
    table = parse_routes(
        '[[rules]]\nname = "m"\n'
        'actions = [{ type = "quarantine", reason = "manual" }, '
        '{ type = "auto_reply", template = "AutoReply" }]\n'
    )
    d = Router(table, DOMAIN).decide(make(), "a@shop.example")
    assert d.action_names == ["quarantine"]
    assert d.auto_reply_allowed is False


def test_empty_mail_domain_treats_every_recipient_as_ours() -> None:
    r = Router.from_file(None, "")
    assert r.decide(make(), "support@anything.example").route == "support"


# -- recipients and JSON shape ---------------------------------------------------------------


def test_recipients_of_prefers_envelope_then_to_cc_deduplicated() -> None:
    m1 = make(recipients=("a@shop.example",), to=("b@shop.example",))
    assert recipients_of(m1) == ["a@shop.example"]
    m2 = make(to=("b@shop.example", "B@shop.example"), cc=("c@shop.example", "b@SHOP.example"))
    assert recipients_of(m2) == ["b@shop.example", "c@shop.example"]
    assert recipients_of(make()) == []


def test_decide_all(router: Router) -> None:
    m = make(to=("support@shop.example",), cc=("orders@shop.example",))
    assert [d.route for d in router.decide_all(m)] == ["support", "orders"]
    assert [d.route for d in router.decide_all(make())] == ["catch-all"]
    assert [d.recipient for d in router.decide_all(m, ["returns@shop.example"])] == [
        "returns@shop.example"
    ]


def test_decision_json_shape(router: Router) -> None:
    d = decide(router, "<support+ORD-1001@shop.example>")
    data = json.loads(json.dumps(d.to_dict()))
    assert set(data) >= {
        "recipient",
        "route",
        "rules",
        "actions",
        "action_specs",
        "detail_type",
        "tag",
        "order_id",
        "order_numbers",
        "captures",
        "why",
        "auto_reply",
    }
    assert data["recipient"] == "support+ORD-1001@shop.example"
    assert data["actions"] == ["publish", "store_attachments", "auto_reply"]
    assert data["action_specs"][0] == {
        "type": "publish",
        "rule": "support",
        "detail_type": "SupportMessageReceived",
    }
    assert data["action_specs"][2]["template"] == "AutoReply"
    assert data["auto_reply"] == {"allowed": True, "reason": "ok"}
    assert data["order_numbers"] == ["ORD-1001"]
    assert data["order_id"] == "ORD-1001"
    assert data["captures"] == {}


def test_decision_is_frozen(router: Router) -> None:
    d = decide(router, "support@shop.example")
    with pytest.raises(AttributeError):
        d.route = "x"  # type: ignore[misc]


def test_a_later_drop_cancels_an_earlier_auto_reply() -> None:
    routes = parse_routes(
        """
[[rules]]
name = "ack"
stop = false
match = { recipient_local = "support" }
actions = [
  { type = "auto_reply", template = "AutoReply" },
  { type = "publish", detail_type = "SupportMessageReceived" },
]

[[rules]]
name = "junk"
match = { subject = "(?i)winner" }
actions = [{ type = "drop", reason = "junk" }]
"""
    )
    r = Router(routes, DOMAIN)
    kept = r.decide(make(subject="Frage"), "support@shop.example")
    assert "auto_reply" in kept.action_names and kept.auto_reply_allowed is True
    dropped = r.decide(make(subject="You are a WINNER"), "support@shop.example")
    assert "auto_reply" not in dropped.action_names
    assert dropped.auto_reply_allowed is False
    assert dropped.auto_reply_reason == "message is quarantined or dropped"
