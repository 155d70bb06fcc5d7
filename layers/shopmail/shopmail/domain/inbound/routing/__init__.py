"""Routing as data: rules from TOML, matchers, and the router.

Example
-------
>>> from shopmail.domain.message import InboundMessage
>>> router = Router.from_file(None, "shop.example")  # the shipped default routes
>>> router.decide(InboundMessage(subject="Hallo"), "support@shop.example").route
'support'

The names below are loaded on first use (PEP 562 ``__getattr__``): importing one submodule
(e.g. the model, for :class:`ActionName`) does not import the loader, the matchers and the
router, which only the composition needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmail.domain._surface import lazy_surface

if TYPE_CHECKING:
    from shopmail.domain.inbound.routing.loader import (
        compile_pattern,
        default_routes_text,
        load_routes,
        parse_routes,
    )
    from shopmail.domain.inbound.routing.model import (
        ACTION_NAMES,
        FALLBACK_DETAIL_TYPE,
        FLAG_NAMES,
        ActionName,
        ActionSpec,
        Classify,
        MatchContext,
        Matcher,
        MatchResult,
        Policy,
        RouteTable,
        RoutingDecision,
        Rule,
    )
    from shopmail.domain.inbound.routing.router import (
        FALLBACK_ROUTE,
        Router,
        recipients_of,
    )

_EXPORTS: dict[str, str] = {
    "ACTION_NAMES": "model",
    "ActionName": "model",
    "ActionSpec": "model",
    "Classify": "model",
    "FALLBACK_DETAIL_TYPE": "model",
    "FALLBACK_ROUTE": "router",
    "FLAG_NAMES": "model",
    "MatchContext": "model",
    "MatchResult": "model",
    "Matcher": "model",
    "Policy": "model",
    "RouteTable": "model",
    "Router": "router",
    "RoutingDecision": "model",
    "Rule": "model",
    "compile_pattern": "loader",
    "default_routes_text": "loader",
    "load_routes": "loader",
    "parse_routes": "loader",
    "recipients_of": "router",
}


__getattr__ = lazy_surface(__name__, _EXPORTS)


__all__ = [
    "ACTION_NAMES",
    "FALLBACK_DETAIL_TYPE",
    "FALLBACK_ROUTE",
    "FLAG_NAMES",
    "ActionName",
    "ActionSpec",
    "Classify",
    "MatchContext",
    "MatchResult",
    "Matcher",
    "Policy",
    "RouteTable",
    "Router",
    "RoutingDecision",
    "Rule",
    "compile_pattern",
    "default_routes_text",
    "load_routes",
    "parse_routes",
    "recipients_of",
]
