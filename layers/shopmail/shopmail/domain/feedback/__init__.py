"""Feedback classifier: DSN (RFC 3464), ARF (RFC 5965), text bounces and auto-replies.

:func:`classify_message` says what a message is; for bounces, each recipient's ``reason`` and
``hard`` come from :func:`judge`, which weighs the evidence in the order documented in
:mod:`shopmail.domain.feedback.reasons`.

Names are loaded on first use (``domain/_surface.py``): reading an SES event or judging a
diagnostic never loads the MIME classifiers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmail.domain._surface import lazy_surface

if TYPE_CHECKING:
    from shopmail.domain.feedback.classifier import (
        classify_message,
        classify_tree,
    )
    from shopmail.domain.feedback.model import (
        FAULTS,
        KIND_AUTO_REPLY,
        KIND_BOUNCE,
        KIND_COMPLAINT,
        KIND_DELAY,
        KIND_DELIVERY_REPORT,
        KIND_NONE,
        KINDS,
        REASONS,
        STAGES,
        Classification,
        Fault,
        RecipientResult,
        Stage,
    )
    from shopmail.domain.feedback.reasons import (
        Verdict,
        classify_reason,
        hard_for,
        judge,
    )

_EXPORTS: dict[str, str] = {
    "classify_message": "classifier",
    "classify_tree": "classifier",
    "FAULTS": "model",
    "KIND_AUTO_REPLY": "model",
    "KIND_BOUNCE": "model",
    "KIND_COMPLAINT": "model",
    "KIND_DELAY": "model",
    "KIND_DELIVERY_REPORT": "model",
    "KIND_NONE": "model",
    "KINDS": "model",
    "REASONS": "model",
    "STAGES": "model",
    "Classification": "model",
    "Fault": "model",
    "RecipientResult": "model",
    "Stage": "model",
    "Verdict": "reasons",
    "classify_reason": "reasons",
    "hard_for": "reasons",
    "judge": "reasons",
}

__getattr__ = lazy_surface(__name__, _EXPORTS)

__all__ = [
    "FAULTS",
    "KINDS",
    "KIND_AUTO_REPLY",
    "KIND_BOUNCE",
    "KIND_COMPLAINT",
    "KIND_DELAY",
    "KIND_DELIVERY_REPORT",
    "KIND_NONE",
    "REASONS",
    "STAGES",
    "Classification",
    "Fault",
    "RecipientResult",
    "Stage",
    "Verdict",
    "classify_message",
    "classify_reason",
    "classify_tree",
    "hard_for",
    "judge",
]
