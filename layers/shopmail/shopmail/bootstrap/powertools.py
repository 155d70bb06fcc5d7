"""Powertools for a handler module: its logger (joined with the layer's loggers) and metrics.

Example
-------
>>> logger, metrics = handler_tools("shopmail-inbound")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from shopmail.config import env_setting


def handler_tools(default_service: str) -> tuple[Logger, Metrics]:
    """The handler's ``Logger`` and ``Metrics`` (names from ``POWERTOOLS_*`` or the defaults).

    The layer logs with ``logging.getLogger(__name__)``; those loggers get the handler's
    structured JSON format and level.
    """
    logger = Logger(service=env_setting("service_name", default_service))
    copy_config_to_registered_loggers(source_logger=logger, include={"shopmail"})
    metrics = Metrics(namespace=env_setting("metrics_namespace", "shopmail"))
    return logger, metrics


def add_counts(metrics: Metrics, counts: Mapping[str, int], *, skip_zero: bool = False) -> None:
    """Add one ``Count`` metric per ``name -> value`` (zeros left out with ``skip_zero``)."""
    for name, value in counts.items():
        if value or not skip_zero:
            metrics.add_metric(name, MetricUnit.Count, value)


#: Distinct recipient domains one invocation reports as metric dimensions (the rest: "other").
MAX_DOMAIN_DIMENSIONS = 20


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
    namespace = metrics.namespace
    total_unverified = sum(unverified.values())
    if total_unverified:
        metrics.add_metric("FeedbackUnverified", MetricUnit.Count, total_unverified)
    for reason, count in unverified.items():
        with single_metric(
            name="FeedbackUnverified", unit=MetricUnit.Count, value=count, namespace=namespace
        ) as metric:
            metric.add_dimension(name="Reason", value=reason)
    domains: set[str] = set()
    blocked = 0
    for (domain, reason), count in not_address.items():
        if domain not in domains and len(domains) >= MAX_DOMAIN_DIMENSIONS:
            domain = "other"
        domains.add(domain)
        blocked += count if reason == "blocked" else 0
        with single_metric(
            name="NonAddressBounces", unit=MetricUnit.Count, value=count, namespace=namespace
        ) as metric:
            metric.add_dimension(name="RecipientDomain", value=domain or "unknown")
            metric.add_dimension(name="Reason", value=reason)
    if blocked:
        metrics.add_metric("BlockedByProvider", MetricUnit.Count, blocked)
