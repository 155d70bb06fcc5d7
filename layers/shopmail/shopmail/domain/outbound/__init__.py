"""Outbound mail: shop-event contracts, rendering, MIME building and our Message-IDs.

Public API (loaded on first use, so importing the contracts never loads Jinja2 or Babel)::

    validate(event) -> ShopEvent                 idempotency_key(event) -> str
    render(event, settings) -> RenderedMail      build_message(event, rendered, settings)
    make_message_id(...), parse_message_id(...)  normalize_recipient(address) -> Recipient
    SentMail                                     (the record of an accepted mail)
    parse_shop_config(text) -> ShopConfig        build_overlay(files, target) -> Overlay
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmail.domain._surface import lazy_surface

if TYPE_CHECKING:
    from shopmail.domain.outbound.contracts import (
        EVENT_TYPES,
        ShopEvent,
        idempotency_key,
        validate,
    )
    from shopmail.domain.outbound.message_ids import (
        MessageRef,
        find_message_refs,
        make_message_id,
        parse_message_id,
    )
    from shopmail.domain.outbound.mime_build import BuiltMessage, build_message
    from shopmail.domain.outbound.recipients import Recipient, normalize_recipient
    from shopmail.domain.outbound.rendering import AttachmentRef, RenderedMail, render
    from shopmail.domain.outbound.sent_mail import SentMail
    from shopmail.domain.outbound.shop_config import ShopConfig, parse_shop_config
    from shopmail.domain.outbound.template_overlay import Overlay, build_overlay


__getattr__ = lazy_surface(
    __name__,
    contracts=("EVENT_TYPES", "ShopEvent", "idempotency_key", "validate"),
    message_ids=("MessageRef", "find_message_refs", "make_message_id", "parse_message_id"),
    mime_build=("BuiltMessage", "build_message"),
    recipients=("Recipient", "normalize_recipient"),
    rendering=("AttachmentRef", "RenderedMail", "render"),
    sent_mail=("SentMail",),
    shop_config=("ShopConfig", "parse_shop_config"),
    template_overlay=("Overlay", "build_overlay"),
)
__all__ = __getattr__.names
