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
        KINDS,
        REASONS,
        STAGES,
        Classification,
        Fault,
        MessageKind,
        RecipientResult,
        Stage,
    )
    from shopmail.domain.feedback.reasons import (
        Verdict,
        classify_reason,
        hard_for,
        judge,
    )


__getattr__ = lazy_surface(
    __name__,
    classifier=("classify_message", "classify_tree"),
    model=(
        "FAULTS",
        "KINDS",
        "REASONS",
        "STAGES",
        "Classification",
        "Fault",
        "MessageKind",
        "RecipientResult",
        "Stage",
    ),
    reasons=("Verdict", "classify_reason", "hard_for", "judge"),
)
__all__ = __getattr__.names
