"""SMTP, as the SES relay speaks it: reply classes, pacing and the SMTP password.

Public API::

    classify(code, text) -> ReplyOutcome      error_for(reply, stage) -> ShopmailError
    SmtpReply, ses_message_id(text)           TokenBucket(rate, burst)
    smtp_password(secret_access_key, region)

Names are loaded on first use (``domain/_surface.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmail.domain._surface import lazy_surface

if TYPE_CHECKING:
    from shopmail.domain.smtp.pacing import (
        TokenBucket,
    )
    from shopmail.domain.smtp.password import (
        smtp_password,
    )
    from shopmail.domain.smtp.replies import (
        DISCONNECTED,
        ReplyOutcome,
        SmtpReply,
        classify,
        error_for,
        redact_addresses,
        ses_message_id,
    )


__getattr__ = lazy_surface(
    __name__,
    pacing=("TokenBucket",),
    password=("smtp_password",),
    replies=(
        "DISCONNECTED",
        "ReplyOutcome",
        "SmtpReply",
        "classify",
        "error_for",
        "redact_addresses",
        "ses_message_id",
    ),
)
__all__ = __getattr__.names
