"""The aiosmtpd handler hooks the local SES servers share (``ses_inbound`` and ``ses_relay``).

aiosmtpd calls ``handle_EHLO`` and ``handle_RCPT`` with its full hook signatures;
:class:`SmtpHooks` keeps the client's EHLO name on the session (as aiosmtpd does without a
hook) and hands each server's answer to a narrow method.
"""

from __future__ import annotations

from aiosmtpd.smtp import SMTP, Envelope, Session


class SmtpHooks:
    """Base of an aiosmtpd handler: override :meth:`ehlo_reply` and :meth:`rcpt_reply`."""

    async def handle_EHLO(  # noqa: N802 - aiosmtpd hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Record the EHLO name on the session; the reply lines are :meth:`ehlo_reply`'s."""
        session.host_name = hostname
        return self.ehlo_reply(server, responses)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Answer ``RCPT TO`` with :meth:`rcpt_reply`."""
        return self.rcpt_reply(envelope, address, rcpt_options)

    def ehlo_reply(self, server: SMTP, responses: list[str]) -> list[str]:
        """The EHLO reply lines (default: aiosmtpd's own ``responses``)."""
        return responses

    def rcpt_reply(self, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        """Accept or refuse one recipient; an accepted one is added to ``envelope``."""
        raise NotImplementedError
