"""Composition of the receipt rule-set activation (the custom resource's handler)."""

from __future__ import annotations

from shopmail.adapters.ses_receipt_rules import SesReceiptRuleSets
from shopmail.bootstrap.clients import AwsClients
from shopmail.config import Settings


def receipt_rule_sets(settings: Settings) -> SesReceiptRuleSets:
    """The SES receipt rule sets of ``settings.region`` (endpoint from the settings)."""
    return SesReceiptRuleSets(AwsClients.from_settings(settings).ses())
