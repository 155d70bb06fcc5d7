"""The inbound use case: SES receipt events in, route actions executed.

:class:`InboundService` (``service.py``) walks records, recipients and the router's decisions;
the actions it runs (``actions.py``) are one small object per
:class:`~shopmail.domain.inbound.routing.model.ActionName`.
"""

from shopmail.services.inbound.actions import (
    EXECUTORS,
    ActionContext,
    ActionOutcome,
    ActionPorts,
    ActionStatus,
)
from shopmail.services.inbound.service import InboundResult, InboundService

__all__ = [
    "EXECUTORS",
    "ActionContext",
    "ActionOutcome",
    "ActionPorts",
    "ActionStatus",
    "InboundResult",
    "InboundService",
]
