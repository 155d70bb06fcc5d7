"""``docs/operations.md`` keeps up with the template: one runbook section per alarm (and none
for an alarm that is gone), every dashboard metric explained, the DNS records the template
writes with Route 53 listed for shops without it."""

from __future__ import annotations

import re
from typing import Any

from tests.fixtures.paths import REPO

DOC = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")


def _sections(level: str, text: str = DOC) -> dict[str, str]:
    """Heading -> the text under it, for the headings of ``level`` (``##``, ``###``)."""
    parts = re.split(rf"^{level} (.+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_alarm_has_a_runbook_section(cfn_template: dict[str, Any]) -> None:
    alarms = {
        name
        for name, res in cfn_template["Resources"].items()
        if res["Type"] == "AWS::CloudWatch::Alarm"
    }
    sections = _sections("###", _sections("##")["Alarms"])
    assert set(sections) == alarms
    for name, text in sections.items():
        assert "**Means**" in text and "**Do**" in text, name


def test_every_dashboard_metric_is_explained(cfn_template: dict[str, Any]) -> None:
    body = cfn_template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r'MetricName=\\"(\w+)\\"', body))
    names |= set(re.findall(r'\["(?:AWS/\w+|shopmail)", "([\w.]+)"', body))
    assert len(names) > 12
    table = _sections("###")["Dashboard widgets and their metrics"]
    for name in names:
        assert f"`{name}`" in table, name


def test_dns_records_match_what_the_template_writes(cfn_template: dict[str, Any]) -> None:
    records = [
        r["Properties"]
        for r in cfn_template["Resources"].values()
        if r["Type"] == "AWS::Route53::RecordSet"
    ]
    dns = _sections("##")["DNS records without Route 53"]
    for kind in {r["Type"] for r in records}:
        assert f"| {kind} |" in dns, kind
    assert "inbound-smtp.<region>.amazonaws.com" in dns
    assert "feedback-smtp.<region>.amazonses.com" in dns
    assert '"v=spf1 include:amazonses.com ~all"' in dns and "v=DMARC1" in dns
    assert "_domainkey" in dns and "dkim.amazonses.com" in dns
