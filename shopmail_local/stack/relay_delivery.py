"""Where mail accepted by the local SES relay goes (the relay's ``on_message`` hook).

- recipients a receipt rule covers (the shop's own domain) loop back into the SES-inbound
  emulator, as SES would deliver them to its own MX;
- mailbox-simulator recipients produce the matching SES events on the default bus;
- everything else lands in the outbox Maildir.

Every accepted message is also kept in the ``relay`` Maildir for the web inbox, and (when a
configuration set applies) SES events are published for each recipient.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Sequence
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP as SMTP_POLICY
from email.policy import compat32
from typing import Any

from shopmail_local.stack.mailview import decode_header_value
from shopmail_local.stack.ses_events import (
    SentMail,
    events_for,
    parse_message_tags,
    put_ses_events,
    simulator_kind,
)
from shopmail_local.stack.ses_inbound import RejectedError, SesInbound
from shopmail_local.stack.state import StateStore

log = logging.getLogger(__name__)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class RelayDelivery:
    """Callable hook ``(envelope, raw, ses_message_id)`` for ``SesRelayServer(on_message=...)``.

    Parameters
    ----------
    state
        Where relayed mail and the relay log go.
    inbound
        The SES-inbound emulator (loopback for covered recipients).
    events_client
        boto3 EventBridge client on the moto server (SES events).
    default_configuration_set
        The identity's default configuration set (SES events need one).
    """

    def __init__(
        self,
        state: StateStore,
        inbound: SesInbound | None,
        events_client: Any,
        *,
        default_configuration_set: str = "",
        account_id: str = "123456789012",
    ) -> None:
        self.state = state
        self.inbound = inbound
        self.events = events_client
        self.default_configuration_set = default_configuration_set
        self.account_id = account_id

    def __call__(self, envelope: Any, raw: bytes, ses_message_id: str) -> None:
        """Route one accepted message (errors in one branch never lose the others)."""
        mail_from = str(getattr(envelope, "mail_from", "") or "")
        rcpt_tos: Sequence[str] = tuple(getattr(envelope, "rcpt_tos", ()) or ())
        loop = [r for r in rcpt_tos if self.inbound is not None and self.inbound.covered(r)]
        simulated = [r for r in rcpt_tos if simulator_kind(r)]
        outbox = [r for r in rcpt_tos if r not in loop and r not in simulated]
        key = self.state.add_relayed(raw, outbox=bool(outbox))
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        record: dict[str, Any] = {
            "ses_message_id": ses_message_id,
            "key": key,
            "mail_from_domain": _domain(mail_from),
            "mail_from": mail_from,
            "rcpt_tos": list(rcpt_tos),
            "subject": decode_header_value(str(headers.get("Subject", ""))),
            "message_id": str(headers.get("Message-ID", "")),
            "in_reply_to": " ".join(str(headers.get("In-Reply-To", "")).split())[:998],
            "configuration_set": str(headers.get("X-SES-CONFIGURATION-SET", "")),
            "tags": parse_message_tags(headers.get("X-SES-MESSAGE-TAGS")),
            "loopback": loop,
            "simulator": simulated,
            "outbox": outbox,
            "loopback_ids": [],
            "events": [],
        }
        if loop and self.inbound is not None:
            try:
                delivery = self.inbound.deliver(mail_from, loop, raw, tls=True, helo="email-smtp")
                record["loopback_ids"].append(delivery.message_id)
            except RejectedError as exc:
                record["loopback_error"] = exc.reply
            except Exception as exc:
                log.exception("loopback into the inbound emulator failed")
                record["loopback_error"] = type(exc).__name__
        sent = SentMail.from_raw(
            raw,
            ses_message_id=ses_message_id,
            mail_from=mail_from,
            recipients=rcpt_tos,
            default_configuration_set=self.default_configuration_set,
            account_id=self.account_id,
        )
        if sent.configuration_set:
            details = [d for r in rcpt_tos for d in events_for(sent, r)]
            try:
                put_ses_events(self.events, details)
                record["events"] = [d["eventType"] for d in details]
            except Exception as exc:
                log.exception("publishing SES events failed")
                record["events_error"] = type(exc).__name__
        raw_subject = str(headers.get("Subject", ""))
        if raw_subject != record["subject"]:
            record["subject_raw"] = raw_subject
        for r in simulated:
            if simulator_kind(r) == "ooto" and mail_from:
                self._out_of_office(r, mail_from, headers)
        self.state.log_relay(record)
        log.info(
            "relay %s: %d loopback, %d simulator, %d outbox",
            ses_message_id,
            len(loop),
            len(simulated),
            len(outbox),
        )

    def _out_of_office(self, simulator: str, to: str, original: Any) -> None:
        """The simulator's out-of-office reply to the sender (only if it is ours)."""
        if self.inbound is None or not self.inbound.covered(to):
            return
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = simulator
        msg["To"] = to
        msg["Subject"] = "Out of the office: " + str(original.get("Subject", ""))
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg["Message-ID"] = email.utils.make_msgid(domain="simulator.amazonses.com")
        msg["Auto-Submitted"] = "auto-replied"
        if original.get("Message-ID"):
            msg["In-Reply-To"] = str(original["Message-ID"])
            msg["References"] = str(original["Message-ID"])
        msg.set_content("I am out of the office (Amazon SES mailbox simulator, local).\n")
        try:
            self.inbound.deliver("", [to], msg.as_bytes(), tls=True, helo="simulator")
        except Exception:
            log.exception("out-of-office reply failed")
