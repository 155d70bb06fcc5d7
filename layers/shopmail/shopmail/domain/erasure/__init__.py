"""Erasure of one customer's data (GDPR Art. 17): which addresses a mail names (the index),
how to find an address in stored data, the shop's request and the report.

Public API (loaded on first use)::

    mentioned_addresses(message, mail_domain=...) -> frozenset[str]
    AddressMatcher.of(address).matches(text) / .in_value(json) / .redact(text)
    parse_erasure_request(event) -> ErasureRequest
    ErasureReport(...).to_detail() / .to_dict()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmail.domain._surface import lazy_surface

if TYPE_CHECKING:
    from shopmail.domain.erasure.matcher import AddressMatcher, normalize_address
    from shopmail.domain.erasure.mentions import mentioned_addresses
    from shopmail.domain.erasure.report import (
        DeadLetterQueueName,
        ErasureReport,
        ItemStore,
    )
    from shopmail.domain.erasure.request import ErasureRequest, parse_erasure_request


__getattr__ = lazy_surface(
    __name__,
    matcher=("AddressMatcher", "normalize_address"),
    mentions=("mentioned_addresses",),
    report=("DeadLetterQueueName", "ErasureReport", "ItemStore"),
    request=("ErasureRequest", "parse_erasure_request"),
)
__all__ = __getattr__.names
