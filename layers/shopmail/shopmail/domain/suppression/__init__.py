"""The suppression list: its entries, who may still be mailed, and when feedback suppresses.

``entries`` holds the model and the send-time check (:func:`is_blocked`); ``policy`` decides
what a piece of feedback does to an address.
"""

from shopmail.domain.suppression.entries import (
    SuppressionEntry,
    is_blocked,
    parse_bypass_types,
    suppression_key,
)
from shopmail.domain.suppression.policy import (
    SuppressionDecision,
    decide_bounce,
    decide_complaint,
    decide_dsn_recipient,
    threshold_reached,
)

__all__ = [
    "SuppressionDecision",
    "SuppressionEntry",
    "decide_bounce",
    "decide_complaint",
    "decide_dsn_recipient",
    "is_blocked",
    "parse_bypass_types",
    "suppression_key",
    "threshold_reached",
]
