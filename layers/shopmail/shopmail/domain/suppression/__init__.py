"""The suppression list: its entries, who may still be mailed, and when feedback suppresses.

``entries`` holds the model and the send-time check (:func:`is_blocked`); ``policy`` decides
what a piece of feedback does to an address.
"""

from shopmail.domain.suppression.entries import (
    HASH_PREFIX,
    SuppressionClass,
    SuppressionEntry,
    effective_entry,
    hashed_suppression_key,
    is_blocked,
    is_hashed_key,
    parse_bypass_types,
    suppression_key,
    suppression_keys,
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
    "HASH_PREFIX",
    "PolicyAction",
    "SuppressionClass",
    "SuppressionDecision",
    "SuppressionEntry",
    "decide",
    "decide_complaint",
    "effective_entry",
    "hashed_suppression_key",
    "is_blocked",
    "is_hashed_key",
    "keeps",
    "parse_bypass_types",
    "suppression_key",
    "suppression_keys",
    "threshold_reached",
]
