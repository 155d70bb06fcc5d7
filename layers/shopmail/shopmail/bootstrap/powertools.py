"""Powertools for a handler module: its logger (joined with the layer's loggers) and metrics.

Example
-------
>>> logger, metrics = handler_tools("shopmail-inbound")  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from shopmail.config import env_setting


def handler_tools(
    default_service: str, *, service_dimension: bool = False
) -> tuple[Logger, Metrics]:
    """The handler's ``Logger`` and ``Metrics`` (names from ``POWERTOOLS_*`` or the defaults).

    The layer logs with ``logging.getLogger(__name__)``; those loggers get the handler's
    structured JSON format and level. With ``service_dimension`` every metric carries the
    ``service`` dimension (the logger's service name).
    """
    logger = Logger(service=env_setting("service_name", default_service))
    copy_config_to_registered_loggers(source_logger=logger, include={"shopmail"})
    # Powertools adds ``service`` to each metric itself when given one; default dimensions would
    # be shared by every handler of the process (the offline stack runs them all in one)
    namespace = env_setting("metrics_namespace", "shopmail")
    if service_dimension:
        return logger, Metrics(namespace=namespace, service=logger.service)
    return logger, Metrics(namespace=namespace)


def add_counts(metrics: Metrics, counts: Mapping[str, int], *, skip_zero: bool = False) -> None:
    """Add one ``Count`` metric per ``name -> value`` (zeros left out with ``skip_zero``)."""
    for name, value in counts.items():
        if value or not skip_zero:
            metrics.add_metric(name, MetricUnit.Count, value)


#: Distinct values of one dimension that one invocation reports (the rest: "other").
MAX_DOMAIN_DIMENSIONS = 20


def add_dimension_counts(
    metrics: Metrics,
    name: str,
    counts: Mapping[Any, int],
    dimensions: Sequence[str],
    *,
    limit: int = MAX_DOMAIN_DIMENSIONS,
) -> None:
    """One ``name`` count per distinct value(s) of ``dimensions`` (each its own EMF record).

    Keys of ``counts`` are one value (one dimension) or a tuple of values in the order of
    ``dimensions``. At most ``limit`` distinct values per dimension are reported; the rest
    count as ``other``, so an invocation can never create unbounded metrics. Zeros are left
    out; an empty value is reported as ``unknown``. The handler's ``service`` dimension is
    added as on every shopmail metric.
    """
    seen: list[set[str]] = [set() for _ in dimensions]
    merged: Counter[tuple[str, ...]] = Counter()
    for key, count in counts.items():
        values = (key,) if isinstance(key, str) else tuple(key)
        capped = []
        for i, value in enumerate(values):
            value = str(value) or "unknown"
            if value not in seen[i] and len(seen[i]) >= limit:
                value = "other"
            seen[i].add(value)
            capped.append(value)
        merged[tuple(capped)] += count
    for values, count in merged.items():
        if not count:
            continue
        with single_metric(
            name=name, unit=MetricUnit.Count, value=count, namespace=metrics.namespace
        ) as metric:
            for dimension, value in zip(dimensions, values, strict=True):
                metric.add_dimension(name=dimension, value=value)


def add_feedback_counts(
    metrics: Metrics,
    unverified: Mapping[str, int],
    not_address: Mapping[tuple[str, str], int],
) -> None:
    """Metrics of the feedback trust rules.

    * ``FeedbackUnverified`` (all, and per ``Reason``): mail-borne feedback that referred to no
      mail we sent to its recipient; it suppressed nobody.
    * ``NonAddressBounces`` per ``RecipientDomain`` and ``Reason``: bounces that were not the
      address's fault (blocklists, content, network...), so nobody was suppressed.
    * ``BlockedByProvider`` (all): the ``blocked`` share of those, which the deliverability
      alarm watches (a provider refusing the shop's mail is the shop's incident).
    """
    total_unverified = sum(unverified.values())
    if total_unverified:
        metrics.add_metric("FeedbackUnverified", MetricUnit.Count, total_unverified)
    add_dimension_counts(metrics, "FeedbackUnverified", unverified, ("Reason",))
    add_dimension_counts(metrics, "NonAddressBounces", not_address, ("RecipientDomain", "Reason"))
    blocked = sum(count for (_, reason), count in not_address.items() if reason == "blocked")
    if blocked:
        metrics.add_metric("BlockedByProvider", MetricUnit.Count, blocked)


#: The per-type metric of each outbound event (``EmailSent`` -> ``EmailsSent`` by ``EmailType``).
OUTBOUND_TYPE_METRICS = {
    "EmailSent": "EmailsSent",
    "EmailFailed": "EmailsFailed",
    "EmailSuppressed": "EmailsSuppressed",
}


def add_outbound_counts(
    metrics: Metrics,
    by_type: Mapping[tuple[str, str], int],
    relay_errors: Mapping[str, int],
) -> None:
    """Outbound metrics with dimensions.

    * ``EmailsSent`` / ``EmailsFailed`` / ``EmailsSuppressed`` per ``EmailType`` (the shop
      event's detail-type), from ``by_type`` (``(email type, published detail-type) -> n``);
    * ``RelayErrors`` per ``ReplyClass`` (``transient``, ``reconnect``, ``quota_exceeded``,
      ``permanent``, ``configuration``).
    """
    for detail_type, name in OUTBOUND_TYPE_METRICS.items():
        counts = {t: n for (t, d), n in by_type.items() if d == detail_type}
        add_dimension_counts(metrics, name, counts, ("EmailType",))
    add_dimension_counts(metrics, "RelayErrors", relay_errors, ("ReplyClass",))
