"""Intrinsic functions and conditions of the local template model."""

from __future__ import annotations

import pytest

from shopmail_local.stack.template_model import (
    NO_VALUE,
    PhysicalResource,
    Resolver,
    TemplateError,
    creation_order,
    load_template_text,
)

TEMPLATE = """
Parameters:
  Domain: {Type: String}
  Prefix: {Type: String, Default: inbound/}
  Zone: {Type: String, Default: ""}
  Flag: {Type: String, Default: "true"}
  Names: {Type: CommaDelimitedList, Default: "a,b"}
Mappings:
  Sizes: {eu-west-1: {small: "128"}}
Conditions:
  HasZone: !Not [!Equals [!Ref Zone, ""]]
  FlagOn: !Equals [!Ref Flag, "true"]
  Both: !And [!Condition HasZone, !Condition FlagOn]
  Either: !Or [!Condition HasZone, !Condition FlagOn]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn}
  Dlq:
    Type: AWS::SQS::Queue
  Rule:
    Type: AWS::Events::Rule
    DependsOn: Queue
    Properties:
      Name: !Sub "${AWS::StackName}-rule-${Bucket}"
"""


@pytest.fixture
def resolver() -> Resolver:
    template = load_template_text(TEMPLATE)
    r = Resolver(template, {"Domain": "shop.example"}, stack_name="st", region="eu-west-1")
    r.physical["Bucket"] = PhysicalResource("bkt", {"Arn": "arn:aws:s3:::bkt"})
    return r


def test_short_tags_become_long_form() -> None:
    t = load_template_text("A: !Ref X\nB: !GetAtt R.Arn\nC: !Sub 'x'\nD: !Condition C1")
    assert t == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["R", "Arn"]},
        "C": {"Fn::Sub": "x"},
        "D": {"Condition": "C1"},
    }


def test_ref_parameters_defaults_and_pseudo(resolver: Resolver) -> None:
    assert resolver.resolve({"Ref": "Domain"}) == "shop.example"
    assert resolver.resolve({"Ref": "Prefix"}) == "inbound/"
    assert resolver.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert resolver.resolve({"Ref": "AWS::StackName"}) == "st"
    assert resolver.resolve({"Ref": "Names"}) == ["a", "b"]
    assert resolver.resolve({"Ref": "Bucket"}) == "bkt"


def test_missing_parameter_without_default_is_an_error() -> None:
    with pytest.raises(TemplateError, match="Domain"):
        Resolver(load_template_text(TEMPLATE), {})


def test_sub_with_pseudo_params_refs_attributes_and_literals(resolver: Resolver) -> None:
    text = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:${Domain}/${Prefix}*"
    assert resolver.resolve({"Fn::Sub": text}) == (
        "arn:aws:ses:eu-west-1:123456789012:shop.example/inbound/*"
    )
    assert resolver.resolve({"Fn::Sub": "${Bucket.Arn}/x"}) == "arn:aws:s3:::bkt/x"
    assert resolver.resolve({"Fn::Sub": "${!Literal}-${Bucket}"}) == "${Literal}-bkt"
    assert resolver.resolve({"Fn::Sub": ["${a}-${Domain}", {"a": {"Ref": "Bucket"}}]}) == (
        "bkt-shop.example"
    )


def test_conditions_and_if(resolver: Resolver) -> None:
    assert resolver.condition("HasZone") is False
    assert resolver.condition("FlagOn") is True
    assert resolver.condition("Both") is False
    assert resolver.condition("Either") is True
    assert resolver.resolve({"Fn::If": ["FlagOn", "yes", "no"]}) == "yes"
    assert resolver.resolve({"Fn::If": ["HasZone", "yes", {"Ref": "AWS::NoValue"}]}) is NO_VALUE


def test_no_value_removes_keys_and_list_items(resolver: Resolver) -> None:
    value = {
        "keep": 1,
        "drop": {"Fn::If": ["HasZone", "z", {"Ref": "AWS::NoValue"}]},
        "list": ["a", {"Fn::If": ["HasZone", "z", {"Ref": "AWS::NoValue"}]}],
    }
    assert resolver.resolve(value) == {"keep": 1, "list": ["a"]}


def test_join_select_split_findinmap_base64(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Domain"}]]}) == "a-shop.example"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [".", "x.y.z"]}]}) == "y"
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "AWS::Region"}, "small"]}) == (
        "128"
    )
    assert resolver.resolve({"Fn::Base64": "hi"}) == "aGk="


def test_getatt_and_ref_of_uncreated_resource_fail_clearly(resolver: Resolver) -> None:
    with pytest.raises(TemplateError, match="Queue"):
        resolver.resolve({"Ref": "Queue"})
    with pytest.raises(TemplateError, match=r"Bucket\.Nope"):
        resolver.resolve({"Fn::GetAtt": ["Bucket", "Nope"]})
    with pytest.raises(TemplateError, match="ImportValue"):
        resolver.resolve({"Fn::ImportValue": "x"})


def test_creation_order_follows_refs_getatt_sub_and_dependson() -> None:
    order = creation_order(load_template_text(TEMPLATE))
    assert order.index("Dlq") < order.index("Queue") < order.index("Rule")
    assert order.index("Bucket") < order.index("Rule")


def test_circular_dependencies_are_reported() -> None:
    t = load_template_text(
        "Resources:\n  A: {Type: X, Properties: {P: !Ref B}}\n  B: {Type: X, DependsOn: A}\n"
    )
    with pytest.raises(TemplateError, match="circular"):
        creation_order(t)


def test_the_real_template_resolves_in_dependency_order(cfn_template: dict) -> None:
    order = creation_order(cfn_template)
    assert set(order) == set(cfn_template["Resources"])
    assert order.index("RawMailBucket") < order.index("ReceiptRule")
    r = Resolver(cfn_template, {"MailDomain": "shop.example"})
    assert r.condition("CreateSmtpSecret") is True
    assert r.condition("HasHostedZone") is False
