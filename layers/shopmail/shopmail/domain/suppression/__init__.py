"""The suppression list: its entries, who may still be mailed, and when feedback suppresses.

``entries`` holds the model and the send-time check (:func:`is_blocked`); ``policy`` decides
what a piece of feedback does to an address.
"""

from shopmail.domain.suppression.entries import (
    SuppressionClass,
    SuppressionEntry,
    is_blocked,
    parse_bypass_types,
    suppression_key,
)
from shopmail.domain.suppression.policy import (
    PolicyAction,
    SuppressionDecision,
    decide,
    decide_complaint,
    keeps,
    threshold_reached,
)

__all__ = [
    "PolicyAction",
    "SuppressionClass",
    "SuppressionDecision",
    "SuppressionEntry",
    "decide",
    "decide_complaint",
    "is_blocked",
    "keeps",
    "parse_bypass_types",
    "suppression_key",
    "threshold_reached",
]
