"""SES (v1 API) receipt rule sets: the boto3 side of rule-set activation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient


class SesReceiptRuleSets:
    """Activate, deactivate and read the active SES receipt rule set.

    Parameters
    ----------
    client
        A boto3 ``ses`` client (receipt rules exist only in the v1 API).

    Example
    -------
    >>> import boto3
    >>> rule_sets = SesReceiptRuleSets(boto3.client("ses", region_name="eu-west-1"))
    """

    def __init__(self, client: SESClient) -> None:
        self._client = client

    def active_rule_set(self) -> str | None:
        """Name of the active rule set, or ``None``."""
        response = self._client.describe_active_receipt_rule_set()
        metadata = response.get("Metadata") or {}
        name = metadata.get("Name")
        return str(name) if name else None

    def activate(self, name: str) -> None:
        """Make ``name`` the active rule set (SetActiveReceiptRuleSet)."""
        self._client.set_active_receipt_rule_set(RuleSetName=name)

    def deactivate(self) -> None:
        """Leave no rule set active (SetActiveReceiptRuleSet without a name)."""
        self._client.set_active_receipt_rule_set()
