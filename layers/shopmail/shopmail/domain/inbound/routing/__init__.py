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


__getattr__ = lazy_surface(
    __name__,
    loader=("compile_pattern", "default_routes_text", "load_routes", "parse_routes"),
    model=(
        "ACTION_NAMES",
        "ActionName",
        "ActionSpec",
        "Classify",
        "FALLBACK_DETAIL_TYPE",
        "FLAG_NAMES",
        "MatchContext",
        "MatchResult",
        "Matcher",
        "Policy",
        "RouteTable",
        "RoutingDecision",
        "Rule",
    ),
    router=("FALLBACK_ROUTE", "Router", "recipients_of"),
)
__all__ = __getattr__.names
