"""MIME parsing into :class:`~shopmail.domain.message.InboundMessage` (pure domain code).

Public API (loaded on first use, so importing one submodule such as ``signals`` never loads
the parser)::

    parse_message(source, envelope=None) -> InboundMessage
    iter_attachment_chunks(message, attachment, chunk_size=1 << 20) -> Iterator[bytes]
    attachment_bytes(message, attachment) -> bytes
    html_to_text(html) -> str
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmail.domain._surface import lazy_surface

if TYPE_CHECKING:
    from shopmail.domain.inbound.parsing.build import (
        attachment_bytes,
        iter_attachment_chunks,
        parse_message,
    )
    from shopmail.domain.inbound.parsing.html_text import html_to_text


__getattr__ = lazy_surface(
    __name__,
    build=("attachment_bytes", "iter_attachment_chunks", "parse_message"),
    html_text=("html_to_text",),
)
__all__ = __getattr__.names
