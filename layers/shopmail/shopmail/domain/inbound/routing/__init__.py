"""Routing as data: rules from TOML, matchers, and the router.

Example
-------
>>> from shopmail.domain.message import InboundMessage
>>> router = Router.from_file(None, "shop.example")  # the shipped default routes
>>> router.decide(InboundMessage(subject="Hallo"), "support@shop.example").route
'support'
"""

from shopmail.domain.inbound.routing.loader import (
    compile_pattern,
    default_routes_text,
    load_routes,
    parse_routes,
)
from shopmail.domain.inbound.routing.model import (
    ACTION_NAMES,
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
    FALLBACK_DETAIL_TYPE,
    FALLBACK_ROUTE,
    Router,
    recipients_of,
)

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
