"""The suppression list: its entries, who may still be mailed, and when feedback suppresses.

``entries`` holds the model and the send-time check (:func:`is_blocked`); ``policy`` decides
what a piece of feedback does to an address. Names are loaded on first use
(``domain/_surface.py``): the send-time check never loads the feedback classifier that
``policy`` reads reports with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmail.domain._surface import lazy_surface

if TYPE_CHECKING:
    from shopmail.domain.suppression.entries import (
        HASH_PREFIX,
        SuppressionClass,
        SuppressionEntry,
        effective_entry,
        hashed_suppression_key,
        is_blocked,
        is_hashed_key,
        keeps,
        parse_bypass_types,
        suppression_key,
        suppression_keys,
    )
    from shopmail.domain.suppression.policy import (
        PolicyAction,
        SuppressionDecision,
        decide,
        decide_complaint,
        threshold_reached,
    )


__getattr__ = lazy_surface(
    __name__,
    entries=(
        "HASH_PREFIX",
        "SuppressionClass",
        "SuppressionEntry",
        "effective_entry",
        "hashed_suppression_key",
        "is_blocked",
        "is_hashed_key",
        "parse_bypass_types",
        "suppression_key",
        "suppression_keys",
        "keeps",
    ),
    policy=(
        "PolicyAction",
        "SuppressionDecision",
        "decide",
        "decide_complaint",
        "threshold_reached",
    ),
)
__all__ = __getattr__.names
