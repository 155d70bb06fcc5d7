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

_EXPORTS: dict[str, str] = {
    "EVENT_TYPES": "contracts",
    "ShopEvent": "contracts",
    "idempotency_key": "contracts",
    "validate": "contracts",
    "MessageRef": "message_ids",
    "find_message_refs": "message_ids",
    "make_message_id": "message_ids",
    "parse_message_id": "message_ids",
    "BuiltMessage": "mime_build",
    "build_message": "mime_build",
    "Recipient": "recipients",
    "normalize_recipient": "recipients",
    "AttachmentRef": "rendering",
    "RenderedMail": "rendering",
    "render": "rendering",
    "SentMail": "sent_mail",
    "ShopConfig": "shop_config",
    "parse_shop_config": "shop_config",
    "Overlay": "template_overlay",
    "build_overlay": "template_overlay",
}

__getattr__ = lazy_surface(__name__, _EXPORTS)

__all__ = [
    "EVENT_TYPES",
    "AttachmentRef",
    "BuiltMessage",
    "MessageRef",
    "Overlay",
    "Recipient",
    "RenderedMail",
    "SentMail",
    "ShopConfig",
    "ShopEvent",
    "build_message",
    "build_overlay",
    "find_message_refs",
    "idempotency_key",
    "make_message_id",
    "normalize_recipient",
    "parse_message_id",
    "parse_shop_config",
    "render",
    "validate",
]
