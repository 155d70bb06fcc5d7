"""Where the ``store_attachments`` action puts each attachment (deterministic S3 keys).

``{ATTACHMENTS_PREFIX}{SES messageId}/{index}-{safe file name}``: the index keeps names unique,
the safe name keeps keys free of paths, dots at the start and characters S3 tools trip over. The
keys are planned before anything is stored so the published event can name them, and a retry
writes the same keys again (idempotent).

Example
-------
>>> safe_key_part("../../etc/passwd")
'passwd'
>>> safe_key_part("Rechnung März 2026.pdf")
'Rechnung_M_rz_2026.pdf'
"""

from __future__ import annotations

import re
from typing import Final

from shopmail.domain.message import Attachment, InboundMessage

#: At most this many attachments of one message are stored; the rest are left out (and flagged).
MAX_ATTACHMENTS: Final = 100

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


def safe_key_part(name: str, limit: int = 100) -> str:
    """Reduce ``name`` to ``[A-Za-z0-9._-]`` (no path, no leading dot), never empty."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._") or "attachment"
    if len(cleaned) > limit:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (stem[: limit - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else cleaned
        cleaned = cleaned[:limit]
    return cleaned


def attachment_key(prefix: str, message_id: str, attachment: Attachment) -> str:
    """``{prefix}{messageId}/{index}-{safe filename}`` for one attachment."""
    return f"{prefix}{message_id}/{attachment.index}-{safe_key_part(attachment.filename)}"


def planned_attachment_keys(
    prefix: str, message: InboundMessage, message_id: str
) -> dict[int, str]:
    """The S3 key of each attachment ``store_attachments`` stores, by attachment index."""
    return {
        att.index: attachment_key(prefix, message_id, att)
        for att in message.attachments[:MAX_ATTACHMENTS]
    }
