"""The CloudWatch dashboard (``template.yaml``): it shows what operators need, and every
shopmail metric on it (and on every alarm) is one the handlers really emit, with the same
dimensions, from the function whose service name it names.

What the handlers emit is read from their EMF output: each handler runs on a result with every
counter set (the services filling those counters are tested in the functional tests)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stdout
from io import StringIO
from types import ModuleType
from typing import Any

import pytest
from shopmail.domain.outbound.unsubscribe_page import HttpResponse
from shopmail.errors import ConfigurationError
from shopmail.services.erasure import ErasureBatchResult
from shopmail.services.feedback import FeedbackBatchResult
from shopmail.services.inbound import InboundResult
from shopmail.services.outbound import BatchResult

from tests.fixtures.paths import load_handler

FUNCTIONS = {
    "InboundFunction": "inbound",
    "OutboundFunction": "outbound",
    "FeedbackFunction": "feedback",
    "UnsubscribeFunction": "unsubscribe",
    "ErasureFunction": "erasure",
}
_SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}\s+MetricName=\"([^\"]+)\"(?:\s+service=\"([^\"]+)\")?")
_SUB = re.compile(r"\$\{([^}]+)\}")

Emitted = dict[tuple[str, frozenset[str]], set[str]]  # (metric, dimension names) -> services


class _Context:
    function_name = "fn"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:fn"
    aws_request_id = "req-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _load(name: str) -> ModuleType:
    return load_handler(name, f"dashboard_{name}_app")


def _emf(out: str) -> Iterator[tuple[str, str, frozenset[str], str]]:
    for line in out.splitlines():
        if '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            dims = frozenset(directive["Dimensions"][0])
            for metric in directive["Metrics"]:
                yield directive["Namespace"], metric["Name"], dims, str(record.get("service"))


class _Service:
    def __init__(self, result: Any) -> None:
        self.result = result

    def handle_event(self, event: Any, remaining_ms: Any = None) -> Any:
        return self.result

    def handle_batch(self, records: Any, remaining_ms: Any = None) -> Any:
        return self.result

    def handle(self, request: Any) -> Any:
        return self.result


class _Misconfigured:
    """An unsubscribe result standing for "the service cannot be composed"."""


def _factory(result: Any) -> Any:
    def service() -> _Service:
        if isinstance(result, _Misconfigured):
            raise ConfigurationError("signing keys unreadable")
        return _Service(result)

    return service


def _results() -> dict[str, list[Any]]:
    inbound = InboundResult(records=2, duplicates=1, dead_lettered=1)
    inbound.routes.update({"support": 2, "policy:spam": 1})
    inbound.feedback_unverified.update({"no_reference": 1})
    inbound.feedback_not_address.update({("example.org", "blocked"): 2})
    outbound = []
    for alarm in ("configuration", "quota"):
        result = BatchResult(alarm=alarm)
        result.counts.update(
            sent=1, duplicate=1, suppressed=1, dead_lettered=1, invalid=1, retry=1, stopped=1
        )
        result.counts["notify_failed"] = 1
        result.by_type.update(
            {
                ("OrderPlaced", "EmailSent"): 1,
                ("OrderPlaced", "EmailFailed"): 1,
                ("CheckoutAbandoned", "EmailSuppressed"): 1,
            }
        )
        result.relay_errors.update({"transient": 1, "configuration": 1})
        outbound.append(result)
    feedback = FeedbackBatchResult(records=3, processed=2, invalid=1, duplicates=1, suppressed=1)
    feedback.unverified.update({"unknown_mail": 1})
    feedback.not_address.update({("example.net", "blocked"): 1, ("example.net", "content"): 1})
    erasure = ErasureBatchResult(invalid=1)
    erasure.reports.extend([_Report(complete=True), _Report(complete=False)])
    return {
        "inbound": [inbound],
        "outbound": outbound,
        "feedback": [feedback],
        "unsubscribe": [HttpResponse(200, "ok"), _Misconfigured()],
        "erasure": [erasure],
    }


class _Report:
    def __init__(self, complete: bool) -> None:
        self.complete = complete


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from tests.fixtures.cfn_template import load_template

    return load_template()


def _service_names(template: dict[str, Any]) -> dict[str, str]:
    res = template["Resources"]
    return {
        app: res[logical]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for logical, app in FUNCTIONS.items()
    }


@pytest.fixture(scope="module")
def emitted(template: dict[str, Any]) -> Emitted:
    """What each handler emits, run with its template service name and namespace."""
    namespace = template["Globals"]["Function"]["Environment"]["Variables"][
        "POWERTOOLS_METRICS_NAMESPACE"
    ]
    services = _service_names(template)
    out: Emitted = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POWERTOOLS_METRICS_NAMESPACE", namespace)
        for app, results in _results().items():
            mp.setenv("POWERTOOLS_SERVICE_NAME", services[app])
            module = _load(app)
            # Powertools keeps metrics and default dimensions process-wide: start clean
            module.metrics.clear_default_dimensions()
            module.metrics.clear_metrics()
            for result in results:
                mp.setattr(module, "_service", _factory(result))
                from contextlib import redirect_stdout
                from io import StringIO

                buf = StringIO()
                with redirect_stdout(buf):
                    module.lambda_handler({"Records": []}, _Context())
                for ns, name, dims, service in _emf(buf.getvalue()):
                    assert ns == namespace
                    out.setdefault((name, dims), set()).add(service)
            # Powertools keeps default dimensions process-wide (one handler per process on AWS)
            module.metrics.clear_default_dimensions()
            module.metrics.clear_metrics()
    return out


def _dashboard(template: dict[str, Any]) -> dict[str, Any]:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(_SUB.sub(lambda m: f"<{m.group(1)}>", body))


def _metrics(
    dashboard: dict[str, Any],
) -> Iterator[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """``(namespace, name, dimensions, widget properties)`` of every metric on the dashboard."""
    for widget in dashboard["widgets"]:
        props = widget["properties"]
        for entry in props.get("metrics", []):
            if isinstance(entry[0], dict):
                found = _SEARCH.search(entry[0]["expression"])
                assert found, entry
                ns, *names = [p.strip() for p in found.group(1).split(",")]
                dims = dict.fromkeys(names, "*")
                if found.group(3):
                    dims["service"] = found.group(3)
                yield ns, found.group(2), dims, props
            else:
                plain = [e for e in entry if not isinstance(e, dict)]
                ns, name, *pairs = plain
                yield ns, name, dict(zip(pairs[::2], pairs[1::2], strict=True)), props


def _alarm_metrics(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    for res in template["Resources"].values():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        p = res["Properties"]
        stats = [m["MetricStat"]["Metric"] for m in p.get("Metrics", []) if "MetricStat" in m]
        if "MetricName" in p:
            stats.append(p)
        for m in stats:
            dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}
            yield m["Namespace"], m["MetricName"], dims


def test_every_shopmail_metric_on_the_dashboard_and_alarms_is_emitted(
    template: dict[str, Any], emitted: Emitted
) -> None:
    services = set(_service_names(template).values())
    shown = [(ns, n, d) for ns, n, d, _ in _metrics(_dashboard(template))]
    checked = 0
    for ns, name, dims in shown + list(_alarm_metrics(template)):
        if ns.startswith("AWS/"):
            continue
        assert ns == "shopmail", (name, ns)
        key = (name, frozenset(dims) | {"service"})
        assert key in emitted, f"{name} with dimensions {sorted(key[1])} is not emitted"
        service = dims.get("service")
        if service not in (None, "*"):
            assert service in services and service in emitted[key], (name, service)
        checked += 1
    assert checked >= 12


def test_the_dashboard_shows_what_operators_need(template: dict[str, Any]) -> None:
    res = template["Resources"]
    metrics = list(_metrics(_dashboard(template)))
    shopmail = {(n, frozenset(d) - {"service"}) for ns, n, d, _ in metrics if ns == "shopmail"}
    for needed in (
        ("InboundMessages", {"Route"}),
        ("EmailsSent", {"EmailType"}),
        ("EmailsFailed", {"EmailType"}),
        ("EmailsSuppressed", {"EmailType"}),
        ("RelayErrors", {"ReplyClass"}),
        ("FeedbackUnverified", set()),
        ("NonAddressBounces", {"RecipientDomain", "Reason"}),
        ("BlockedByProvider", set()),
    ):
        assert (needed[0], frozenset(needed[1])) in shopmail, needed
    by_name: Counter[tuple[str, str]] = Counter()
    for _, name, dims, _ in metrics:
        for value in dims.values():
            by_name[(name, value)] += 1
    queues = [k for k, v in res.items() if v["Type"] == "AWS::SQS::Queue"]
    dlqs = [k for k in queues if "DeadLetter" in k]
    for q in queues:
        assert by_name[("ApproximateAgeOfOldestMessage", f"<{q}.QueueName>")] == 1, q
    for q in dlqs:
        assert by_name[("ApproximateNumberOfMessagesVisible", f"<{q}.QueueName>")] == 1, q
    for fn in FUNCTIONS:
        assert by_name[("Duration", f"<{fn}>")] == 2, fn  # p50 and p99
    rates = {n: p for ns, n, _, p in metrics if ns == "AWS/SES"}
    lines = {n: {a["value"] for a in p["annotations"]["horizontal"]} for n, p in rates.items()}
    # SES: review at 5 % bounces / 0.1 % complaints, sending paused at 10 % / 0.5 %
    assert lines == {
        "Reputation.BounceRate": {0.05, 0.1},
        "Reputation.ComplaintRate": {0.001, 0.005},
    }


def test_dimension_values_are_bounded_per_invocation() -> None:
    from aws_lambda_powertools import Metrics
    from shopmail.bootstrap.powertools import MAX_DOMAIN_DIMENSIONS, add_dimension_counts

    buf = StringIO()
    with redirect_stdout(buf):
        counts = {f"route-{i}": 1 for i in range(MAX_DOMAIN_DIMENSIONS + 5)}
        add_dimension_counts(Metrics(namespace="t"), "InboundMessages", counts, ("Route",))
    records = [json.loads(x) for x in buf.getvalue().splitlines()]
    routes = {r["Route"]: r["InboundMessages"] for r in records}
    assert len(routes) == MAX_DOMAIN_DIMENSIONS + 1 and routes["other"] in (5.0, [5.0])
