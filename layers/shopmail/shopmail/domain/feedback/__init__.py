"""Feedback classifier: DSN (RFC 3464), ARF (RFC 5965), text bounces and auto-replies."""

from shopmail.domain.feedback.classifier import classify_message, classify_tree
from shopmail.domain.feedback.model import (
    KIND_AUTO_REPLY,
    KIND_BOUNCE,
    KIND_COMPLAINT,
    KIND_DELAY,
    KIND_DELIVERY_REPORT,
    KIND_NONE,
    KINDS,
    REASONS,
    Classification,
    RecipientResult,
)
from shopmail.domain.feedback.reasons import classify_reason, hard_for

__all__ = [
    "KINDS",
    "KIND_AUTO_REPLY",
    "KIND_BOUNCE",
    "KIND_COMPLAINT",
    "KIND_DELAY",
    "KIND_DELIVERY_REPORT",
    "KIND_NONE",
    "REASONS",
    "Classification",
    "RecipientResult",
    "classify_message",
    "classify_reason",
    "classify_tree",
    "hard_for",
]
