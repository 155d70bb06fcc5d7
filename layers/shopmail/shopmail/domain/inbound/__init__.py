"""Inbound mail: the SES receipt event, parsing, routing, the loop guard, reply text, order
ids, the published events, forwards and acknowledgements.

Sub-packages with their own surfaces: ``parsing`` (raw bytes -> InboundMessage) and ``routing``
(rules as data -> RoutingDecision). Public API of the rest (loaded on first use)::

    parse_ses_event(event) -> list[SesRecord]     auto_reply_allowed(message, sender, domain)
    strip_reply(text) -> str                      find_order_numbers(text) -> list[str]
    build_detail(...), fit_detail(...)            build_forward(...), build_auto_reply(...)
    ReplyShop(name, languages)  (who answers an auto-reply)
    planned_attachment_keys(prefix, message, id)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmail.domain._surface import lazy_surface

if TYPE_CHECKING:
    from shopmail.domain.inbound.acknowledgement import ReplyShop, build_auto_reply
    from shopmail.domain.inbound.attachment_keys import planned_attachment_keys
    from shopmail.domain.inbound.events import build_detail, fit_detail
    from shopmail.domain.inbound.forwarding import build_forward
    from shopmail.domain.inbound.loop_guard import auto_reply_allowed
    from shopmail.domain.inbound.order_numbers import find_order_numbers
    from shopmail.domain.inbound.reply_text import strip_reply
    from shopmail.domain.inbound.ses_event import SesRecord, parse_ses_event


__getattr__ = lazy_surface(
    __name__,
    acknowledgement=("ReplyShop", "build_auto_reply"),
    attachment_keys=("planned_attachment_keys",),
    events=("build_detail", "fit_detail"),
    forwarding=("build_forward",),
    loop_guard=("auto_reply_allowed",),
    order_numbers=("find_order_numbers",),
    reply_text=("strip_reply",),
    ses_event=("SesRecord", "parse_ses_event"),
)
__all__ = __getattr__.names
