"""Routes file loading and validation: the shipped file, every field check, precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from shopmail.domain.inbound.routing import (
    ACTION_NAMES,
    Policy,
    default_routes_text,
    load_routes,
    parse_routes,
)
from shopmail.domain.inbound.routing.loader import compile_pattern
from shopmail.errors import RouteConfigError

MINIMAL = """
[[rules]]
name = "all"
actions = [{ type = "publish", detail_type = "MessageReceived" }]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(RouteConfigError) as info:
        parse_routes(text, "test.toml")
    errors = info.value.context["errors"]
    assert isinstance(errors, list) and errors
    assert info.value.reason.startswith("test.toml:")
    return errors


def test_shipped_default_routes_load() -> None:
    table = load_routes(None)
    names = [r.name for r in table.rules]
    assert names == [
        "reports",
        "auto-replies",
        "customer-reply",
        "support",
        "orders",
        "returns",
        "invoices",
        "catch-all",
    ]
    assert table.has_catch_all
    assert table.policy == Policy()
    for rule in table.rules:
        for action in rule.actions:
            assert action.name in ACTION_NAMES
            assert action.rule == rule.name
    auto = {r.name for r in table.rules if any(a.name == "auto_reply" for a in r.actions)}
    assert auto == {"support", "returns"}


def test_default_routes_text_mentions_no_fixed_domain() -> None:
    text = default_routes_text()
    assert "recipient_local" in text
    assert "shop.example" not in text


def test_minimal_file_is_a_catch_all() -> None:
    table = parse_routes(MINIMAL)
    assert table.rules[0].catch_all and table.rules[0].stop


def test_every_matcher_field_is_accepted() -> None:
    text = """
    version = 1
    [policy]
    spam_fail = "route"
    [[rules]]
    name = "everything"
    stop = false
    description = "d"
    [rules.match]
    recipient = ["Support@Shop.Example"]
    recipient_domain = ".shop.example"
    recipient_local = "support"
    recipient_regex = '^(?P<team>[a-z]+)@'
    tag = '^ORD-(?P<order>\\d+)$'
    sender = "a@b.example"
    sender_domain = ["b.example"]
    header = [{ name = "X-Shop", pattern = "yes" }, { name = "X-Other", pattern = "." }]
    subject = "hello"
    verdicts = { spam = ["PASS", "gray"], dmarc_policy = "reject" }
    flags = ["bounce", "list"]
    without_flags = "auto_submitted"
    has_attachment = true
    reply_kind = "^order"
    [[rules.actions]]
    type = "forward"
    to = ["team@shop.example", "b@shop.example"]
    [[rules.actions]]
    type = "quarantine"
    [[rules]]
    name = "rest"
    catch_all = true
    actions = [{ type = "drop", reason = "nothing else" }]
    """
    table = parse_routes(text)
    first = table.rules[0]
    assert len(first.matchers) == 15  # two header matchers
    assert first.stop is False
    assert first.actions[0].get("to") == ("b@shop.example", "team@shop.example")
    assert first.actions[1].get("reason") == "rule everything"
    assert table.policy.spam_fail == "route"
    assert table.rules[1].actions[0].get("reason") == "nothing else"


@pytest.mark.parametrize(
    ("snippet", "field", "why"),
    [
        ('match = { subjct = "x" }', "match.subjct", "did you mean 'match.subject'"),
        ('match = { subject = "(" }', "match.subject", "invalid regex"),
        ('match = { subject = "(a+)+$" }', "match.subject", "nested quantifier"),
        ('match = { recipient_regex = "(\\\\w+\\\\s?)*" }', "match.recipient_regex", "nested"),
        (f'match = {{ subject = "{"a" * 600}" }}', "match.subject", "longer than"),
        ('match = { recipient = "not-an-address" }', "match.recipient", "not a valid address"),
        ("match = { recipient_domain = [] }", "match.recipient_domain", "non-empty list"),
        ('match = { flags = ["bounce", "spam"] }', "match.flags", "'spam' is not a valid flag"),
        ('match = { verdicts = { spma = "FAIL" } }', "match.verdicts", "did you mean 'spam'"),
        ('match = { verdicts = { spam = "BAD" } }', "match.verdicts", "not a valid status"),
        ('match = { header = { name = "X" } }', "match.header", "'name' and 'pattern'"),
        ('match = { header = { name = "a b", pattern = "x" } }', "match.header", "header name"),
        ('match = { has_attachment = "yes" }', "match.has_attachment", "true or false"),
        (
            'match = { replies_to_ours = false, reply_kind = "x" }',
            "match.reply_kind",
            "contradicts",
        ),
        ('match = { subject = "x" }\ncatch_all = true', "catch_all", "must not have matchers"),
        ('match = { subject = "x" }\nstop = "yes"', "stop", "true or false"),
        ('match = { subject = "x" }\ncolour = 1', "colour", "unknown field"),
    ],
)
def test_matcher_errors_name_rule_and_field(snippet: str, field: str, why: str) -> None:
    text = f"""
[[rules]]
name = "bad-rule"
{snippet}
actions = [{{ type = "publish", detail_type = "X" }}]
"""
    errors = errors_of(text)
    assert any(
        "rule #1 'bad-rule'" in e and f"field '{field}'" in e and why in e for e in errors
    ), errors


@pytest.mark.parametrize(
    ("actions", "field", "why"),
    [
        ('[{ type = "publsh" }]', "actions[0].type", "did you mean 'publish'"),
        ('[{ type = "publish" }]', "actions[0].detail_type", "required"),
        ('[{ type = "publish", detail_type = "has space" }]', "actions[0].detail_type", ""),
        ('[{ type = "forward" }]', "actions[0].to", "required"),
        ('[{ type = "forward", to = ["x"] }]', "actions[0].to", "not a valid address"),
        ('[{ type = "auto_reply" }]', "actions[0].template", "required"),
        ('[{ type = "auto_reply", template = "../x" }]', "actions[0].template", "template"),
        ('[{ type = "drop", reason = "" }]', "actions[0].reason", "non-empty"),
        ('[{ type = "store_attachments", bucket = "x" }]', "actions[0].bucket", "unknown"),
        ('[{ type = "drop" }, { type = "store_attachments" }]', "actions", "drop cannot"),
        ("[]", "actions", "non-empty list"),
        ('["publish"]', "actions[0]", "must be a table"),
    ],
)
def test_action_errors(actions: str, field: str, why: str) -> None:
    text = f'[[rules]]\nname = "r"\nactions = {actions}\n'
    errors = errors_of(text)
    assert any(f"field '{field}'" in e and why in e for e in errors), errors


def test_all_problems_are_reported_at_once() -> None:
    text = """
    [[rules]]
    name = "a"
    match = { subject = "(" }
    actions = [{ type = "nope" }]
    [[rules]]
    name = "a"
    actions = [{ type = "drop" }]
    """
    errors = errors_of(text)
    assert len(errors) == 3
    assert any("duplicate rule name" in e for e in errors)


def test_file_level_errors() -> None:
    assert any("field 'rules'" in e for e in errors_of("version = 1\n"))
    assert any("field 'version'" in e for e in errors_of("version = 2\n" + MINIMAL))
    assert any("field 'ruels'" in e for e in errors_of("ruels = 1\n" + MINIMAL))
    assert any("policy.spam_fail" in e for e in errors_of('[policy]\nspam_fail = "x"\n' + MINIMAL))
    assert any("field 'name'" in e for e in errors_of('[[rules]]\nname = "has space"\n'))


def test_stopping_catch_all_before_other_rules_is_an_error() -> None:
    text = MINIMAL + '[[rules]]\nname = "later"\nactions = [{ type = "drop" }]\n'
    errors = errors_of(text)
    assert any("unreachable (later)" in e for e in errors)


def test_non_stopping_catch_all_before_other_rules_is_fine() -> None:
    text = MINIMAL.replace('name = "all"', 'name = "all"\nstop = false')
    text += '[[rules]]\nname = "later"\nactions = [{ type = "drop" }]\n'
    assert [r.name for r in parse_routes(text).rules] == ["all", "later"]


def test_invalid_toml() -> None:
    with pytest.raises(RouteConfigError, match="not valid TOML"):
        parse_routes("[[rules]\nname=", "x.toml")


def test_load_routes_from_path_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_routes(path).source == str(path)
    with pytest.raises(RouteConfigError, match="cannot read"):
        load_routes(tmp_path / "missing.toml")


def test_compile_pattern_is_case_insensitive() -> None:
    assert compile_pattern("abc").search("xABCx")
    with pytest.raises(ValueError, match="non-empty string"):
        compile_pattern(3)
