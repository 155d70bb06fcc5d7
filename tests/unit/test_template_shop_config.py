"""template.yaml: the shop configuration settings come from parameters, and the functions may
read exactly what those parameters name (resolved as CloudFormation would, by the local
stack's resolver)."""

from __future__ import annotations

from typing import Any

import pytest
from shopmail.config import ENV_NAMES, Settings

from shopmail_local.stack.template_model import Resolver
from tests.fixtures.paths import REPO

NEW_SETTINGS = ("shop_config", "templates_location", "config_cache_seconds")
PARAMETERS = (
    "ShopConfig",
    "TemplatesBucket",
    "TemplatesPrefix",
    "RoutesFile",
    "OrderNumberPattern",
    "ConfigCacheSeconds",
)
OUTBOUND_POLICY = "OutboundShopConfigurationReadPolicy"
INBOUND_POLICY = "InboundRoutesReadPolicy"
INBOUND_SHOP_POLICY = "InboundShopConfigReadPolicy"


def _env(t: dict[str, Any], function: str) -> dict[str, Any]:
    env: dict[str, Any] = t["Resources"][function]["Properties"]["Environment"]["Variables"]
    return env


def _resolver(t: dict[str, Any], **parameters: str) -> Resolver:
    return Resolver(t, {"MailDomain": "shop.example", **parameters})


def _statements(t: dict[str, Any], r: Resolver, policy: str) -> list[dict[str, Any]]:
    if not r.resource_enabled(policy):
        return []
    props = t["Resources"][policy]["Properties"]
    doc: dict[str, Any] = r.resolve(props["PolicyDocument"])
    return list(doc["Statement"])


def test_the_settings_are_set_from_parameters(cfn_template: dict[str, Any]) -> None:
    params = cfn_template["Parameters"]
    for name in PARAMETERS:
        assert name in params, name
    assert params["ShopConfig"]["Default"] == params["RoutesFile"]["Default"] == ""
    assert params["TemplatesBucket"]["Default"] == ""
    assert params["ConfigCacheSeconds"]["Default"] == Settings().config_cache_seconds
    outbound = _env(cfn_template, "OutboundFunction")
    assert outbound["SHOP_CONFIG"] == {"Ref": "ShopConfig"}
    assert outbound["CONFIG_CACHE_SECONDS"] == {"Ref": "ConfigCacheSeconds"}
    inbound = _env(cfn_template, "InboundFunction")
    assert inbound["ROUTES_FILE"] == {"Ref": "RoutesFile"}
    assert inbound["SHOP_CONFIG"] == {"Ref": "ShopConfig"}  # the auto-replies' signature
    assert inbound["ORDER_NUMBER_PATTERN"] == {"Ref": "OrderNumberPattern"}
    assert inbound["CONFIG_CACHE_SECONDS"] == {"Ref": "ConfigCacheSeconds"}
    for name in NEW_SETTINGS:
        assert name in ENV_NAMES
    grouped = {
        p
        for g in cfn_template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        for p in g["Parameters"]
    }
    assert set(PARAMETERS) <= grouped


def test_templates_location_is_built_from_bucket_and_prefix(cfn_template: dict[str, Any]) -> None:
    spec = _env(cfn_template, "OutboundFunction")["TEMPLATES_LOCATION"]
    r = _resolver(cfn_template)
    assert r.resolve(spec) == ""
    r = _resolver(cfn_template, TemplatesBucket="kaffee-config", TemplatesPrefix="mail/t/")
    assert r.resolve(spec) == "s3://kaffee-config/mail/t/"


def test_nothing_is_granted_while_nothing_is_configured(cfn_template: dict[str, Any]) -> None:
    for values in ({}, {"ShopConfig": "/opt/shop/shop.toml", "RoutesFile": "routes.toml"}):
        r = _resolver(cfn_template, **values)
        assert not r.resource_enabled(OUTBOUND_POLICY)
        assert not r.resource_enabled(INBOUND_POLICY)
        assert not r.resource_enabled(INBOUND_SHOP_POLICY)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {"ShopConfig": "s3://kaffee-config/shopmail/shop.toml"},
            [("s3:GetObject", "arn:aws:s3:::kaffee-config/shopmail/shop.toml", None)],
        ),
        (
            {"ShopConfig": "ssm:/shopmail/shop"},
            [
                (
                    "ssm:GetParameter",
                    "arn:aws:ssm:eu-west-1:123456789012:parameter/shopmail/shop",
                    None,
                )
            ],
        ),
        (
            {"TemplatesBucket": "kaffee-config", "TemplatesPrefix": "mail/templates/"},
            [
                ("s3:GetObject", "arn:aws:s3:::kaffee-config/mail/templates/*", None),
                (
                    "s3:ListBucket",
                    "arn:aws:s3:::kaffee-config",
                    {"StringLike": {"s3:prefix": "mail/templates/*"}},
                ),
            ],
        ),
    ],
)
def test_outbound_may_read_exactly_what_is_configured(
    cfn_template: dict[str, Any], parameters: dict[str, str], expected: list[Any]
) -> None:
    r = _resolver(cfn_template, **parameters)
    got = [
        (s["Action"], s["Resource"], s.get("Condition"))
        for s in _statements(cfn_template, r, OUTBOUND_POLICY)
    ]
    assert got == expected
    policy = cfn_template["Resources"][OUTBOUND_POLICY]
    assert policy["Properties"]["Roles"] == [{"Ref": "OutboundRole"}]
    assert not r.resource_enabled(INBOUND_POLICY)


@pytest.mark.parametrize(
    ("routes", "action", "resource"),
    [
        (
            "s3://kaffee-config/routes.toml",
            "s3:GetObject",
            "arn:aws:s3:::kaffee-config/routes.toml",
        ),
        (
            "ssm:/shopmail/routes",
            "ssm:GetParameter",
            "arn:aws:ssm:eu-west-1:123456789012:parameter/shopmail/routes",
        ),
    ],
)
def test_inbound_may_read_exactly_its_routes(
    cfn_template: dict[str, Any], routes: str, action: str, resource: str
) -> None:
    r = _resolver(cfn_template, RoutesFile=routes)
    (stmt,) = _statements(cfn_template, r, INBOUND_POLICY)
    assert (stmt["Effect"], stmt["Action"], stmt["Resource"]) == ("Allow", action, resource)
    assert cfn_template["Resources"][INBOUND_POLICY]["Properties"]["Roles"] == [
        {"Ref": "InboundRole"}
    ]
    assert not r.resource_enabled(OUTBOUND_POLICY)


def test_every_new_setting_and_parameter_has_a_readme_row() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    for name in NEW_SETTINGS:
        assert any(f"`{ENV_NAMES[name]}`" in row for row in rows), ENV_NAMES[name]
    for name in PARAMETERS:
        assert any(f"`{name}`" in row for row in rows), name


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {"ShopConfig": "s3://kaffee-config/shopmail/shop.toml"},
            [("s3:GetObject", "arn:aws:s3:::kaffee-config/shopmail/shop.toml")],
        ),
        (
            {"ShopConfig": "ssm:/shopmail/shop"},
            [("ssm:GetParameter", "arn:aws:ssm:eu-west-1:123456789012:parameter/shopmail/shop")],
        ),
        # the inbound function never reads the template overrides (nor the logo in them)
        ({"TemplatesBucket": "kaffee-config", "TemplatesPrefix": "mail/templates/"}, []),
    ],
)
def test_inbound_may_read_exactly_the_shop_config(
    cfn_template: dict[str, Any], parameters: dict[str, str], expected: list[Any]
) -> None:
    r = _resolver(cfn_template, **parameters)
    got = [(s["Action"], s["Resource"]) for s in _statements(cfn_template, r, INBOUND_SHOP_POLICY)]
    assert got == expected
    policy = cfn_template["Resources"][INBOUND_SHOP_POLICY]
    assert policy["Properties"]["Roles"] == [{"Ref": "InboundRole"}]
