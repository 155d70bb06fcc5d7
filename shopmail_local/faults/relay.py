"""The relay's fault hook: seeded replies and lost connections at every SMTP stage.

A small hook object in aiosmtpd's style: the SES-like relay
(:class:`~shopmail_local.stack.ses_relay.SesRelayServer`, ``faults=``) asks it at each stage it
reaches (greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, after the final dot) for a
:class:`~shopmail_local.stack.ses_relay.ScriptedReply`, after the faults a test scripted.

Example
-------
>>> hook = RelayFaults(FaultPlan("relay-flaky", seed=7))
>>> relay = SesRelayServer(..., faults=hook)  # doctest: +SKIP
"""

from __future__ import annotations

from shopmail_local.faults.plan import FaultPlan
from shopmail_local.stack.ses_relay import ScriptedReply


class RelayFaults:
    """Implements the relay's ``faults`` hook from a :class:`FaultPlan`."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan

    def at(self, stage: str) -> ScriptedReply | None:
        """The fault to play at ``stage`` now, or ``None`` for the normal reply."""
        fault = self.plan.pick(self.plan.relay_faults(stage))
        if fault is None:
            return None
        return ScriptedReply(stage, fault.reply, drop=fault.drop, deliver=fault.deliver)
