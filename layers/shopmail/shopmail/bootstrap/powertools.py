"""Powertools for a handler module: its logger (joined with the layer's loggers) and metrics.

Example
-------
>>> logger, metrics = handler_tools("shopmail-inbound")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

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
