"""A SES-like SMTP relay on 127.0.0.1 (aiosmtpd) for tests and the offline stack.

It behaves like ``email-smtp.<region>.amazonaws.com``:

* STARTTLS is required before anything else (``530 Must issue a STARTTLS command first``);
  AUTH PLAIN/LOGIN with the configured user name and SMTP password (``535 Authentication
  Credentials Invalid`` otherwise); MAIL without AUTH gets ``530 Authentication required``.
* EHLO advertises exactly what SES advertises: ``8BITMIME``, ``STARTTLS`` (before TLS),
  ``AUTH PLAIN LOGIN``, then ``250 Ok``. No SIZE, PIPELINING, SMTPUTF8, ENHANCEDSTATUSCODES,
  CHUNKING, DSN or HELP.
* After DATA: ``250 Ok <ses-message-id>``; ``554 Message rejected: Email address is not
  verified...`` for an unverified sender; ``552 Message is too long.`` over the size limit;
  ``454 Throttling failure: Maximum sending rate exceeded.`` above ``max_rate``;
  ``454 Throttling failure: Daily message quota exceeded.`` above ``daily_quota``.
* An idle connection is closed after ``idle_timeout`` seconds with
  ``451 4.4.2 Timeout waiting for data from client``.
* Tests queue scripted replies and faults per stage (:meth:`SesRelayServer.script`); a fault
  hook (``faults=``, :class:`FaultHook`, e.g. :class:`shopmail_local.faults.RelayFaults`) is
  asked at every stage after the script (seeded fault profiles, ``shopmail run --faults``).
* Accepted mail is kept in :attr:`SesRelayServer.messages` and handed to ``on_message``.
"""

# aiosmtpd dispatches on the upper-case names smtp_EHLO / handle_DATA.
# ruff: noqa: N802

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Protocol

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from shopmail.domain.smtp.pacing import TokenBucket
from shopmail.domain.smtp.password import smtp_password

from shopmail_local.certs import server_tls_context
from shopmail_local.stack.smtp_hooks import SmtpHooks

log = logging.getLogger(__name__)

BIND_HOST = "127.0.0.1"
DEFAULT_PORT = 2587
MAX_MESSAGE_SIZE = 40 * 1024 * 1024
STAGES = ("connect", "ehlo", "starttls", "auth", "mail", "rcpt", "data_start", "data")

REPLY_OK = "250 Ok"
REPLY_AUTH_OK = "235 Authentication successful."
REPLY_AUTH_INVALID = "535 Authentication Credentials Invalid"
REPLY_AUTH_REQUIRED = "530 Authentication required"
REPLY_NOT_VERIFIED = (
    "554 Message rejected: Email address is not verified. The following identities failed "
    "the check in region {region}: {identities}"
)
REPLY_TOO_LONG = "552 Message is too long."
REPLY_RATE = "454 Throttling failure: Maximum sending rate exceeded."
REPLY_QUOTA = "454 Throttling failure: Daily message quota exceeded."
REPLY_IDLE = "451 4.4.2 Timeout waiting for data from client."
REPLY_SERVICE = "451 Temporary service failure"


def ses_message_id() -> str:
    """Return a new id shaped like SES's (``0102<ms hex>-<uuid>-000000``)."""
    return f"0102{int(time.time() * 1000):012x}-{uuid.uuid4()}-000000"


def relay_credentials(access_key_id: str, secret_access_key: str, region: str) -> dict[str, str]:
    """Map the access key id to the SMTP password derived for ``region`` (as SES checks)."""
    return {access_key_id: smtp_password(secret_access_key, region)}


@dataclass(frozen=True)
class RelayEnvelope:
    """The SMTP envelope of an accepted message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    auth_login: str
    peer: str


@dataclass(frozen=True)
class ReceivedMessage:
    """A message the relay accepted (``250 Ok <message_id>``)."""

    envelope: RelayEnvelope
    data: bytes
    message_id: str


@dataclass(frozen=True)
class ScriptedReply:
    """One scripted answer for a stage.

    Parameters
    ----------
    stage
        One of ``connect`` (greeting), ``ehlo``, ``starttls``, ``auth``, ``mail``, ``rcpt``,
        ``data_start`` (the reply to the DATA command, instead of 354), ``data`` (the final
        reply after the message was received).
    reply
        The full reply line to send instead of the normal one (``"421 ..."``).
    drop
        Reset the connection without replying (``data``: after the message was received,
        before the final reply; nothing is delivered unless ``deliver``). With
        ``close=True`` the ``data`` drop closes the connection cleanly instead of resetting it.
    close
        Close the connection after sending ``reply`` (default: for 421 and ``451 4.4.2``).
    delay
        Seconds to wait before answering (``data`` with ``reply=None``: then the normal
        answer) to provoke client timeouts.
    deliver
        ``data`` with ``drop``: accept (deliver) the message, then drop the connection before
        the ``250`` reply: the relay has the mail, the client cannot know.
    """

    stage: str
    reply: str | None = None
    drop: bool = False
    close: bool | None = None
    delay: float = 0.0
    deliver: bool = False

    @property
    def closes(self) -> bool:
        if self.drop:
            return True
        if self.close is not None:
            return self.close
        reply = self.reply or ""
        return reply.startswith(("421", "451 4.4.2"))


MessageHook = Callable[[RelayEnvelope, bytes, str], None]


class FaultHook(Protocol):
    """Asked at every stage a connection reaches, after the scripted replies."""

    def at(self, stage: str) -> ScriptedReply | None:
        """The fault to play at ``stage`` now, or ``None`` for the normal reply."""
        ...


@dataclass
class _State:
    """Mutable server state shared by all connections (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    script: collections.deque[ScriptedReply] = field(default_factory=collections.deque)
    messages: list[ReceivedMessage] = field(default_factory=list)
    connections: int = 0
    tls_sessions: int = 0
    logins: int = 0
    sent_today: int = 0
    replies: list[str] = field(default_factory=list)

    def take(self, stage: str) -> ScriptedReply | None:
        with self.lock:
            for item in self.script:
                if item.stage == stage:
                    self.script.remove(item)
                    return item
        return None


class _Session(Session):
    """aiosmtpd's Session without the deprecation warning on every AUTH (login_data)."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _SesSMTP(SMTP):
    """aiosmtpd's SMTP with SES's wording, idle reply and scripted faults."""

    def __init__(self, relay: SesRelayServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._relay = relay

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        with self._relay._state.lock:
            if first:
                self._relay._state.connections += 1
            else:
                self._relay._state.tls_sessions += 1

    def _create_session(self) -> Session:
        return _Session(self.loop)

    def _timeout_cb(self) -> None:
        # SES: "451 4.4.2 Timeout waiting for data from client", then the connection closes.
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(REPLY_IDLE.encode() + b"\r\n")
            with self._relay._state.lock:
                self._relay._state.replies.append(REPLY_IDLE)
        super()._timeout_cb()

    async def check_auth_needed(self, caller_method: str) -> bool:
        assert self.session is not None
        if self._auth_required and not self.session.authenticated:
            await self.push(REPLY_AUTH_REQUIRED)
            return True
        return False

    async def push(self, status: str) -> None:  # type: ignore[override]
        with self._relay._state.lock:
            self._relay._state.replies.append(str(status))
        await super().push(status)

    async def _scripted(self, stage: str) -> bool:
        """Apply a scripted reply for ``stage``; True when it replaced the normal reply."""
        item = self._relay._next(stage)
        if item is None:
            return False
        if item.delay:
            await asyncio.sleep(item.delay)
        if item.reply is None and not item.drop:
            return False
        if item.reply and not item.drop:
            await self.push(item.reply)
        if item.closes and self.transport is not None:
            self.transport.close()
        return True

    async def _handle_client(self) -> None:
        item = self._relay._next("connect")
        if item is not None:
            if item.reply and not item.drop:
                self._writer.write(item.reply.encode() + b"\r\n")
            if item.closes or item.drop or (item.reply or "").startswith("4"):
                assert self.transport is not None
                self.transport.close()
                return
        await super()._handle_client()

    async def smtp_EHLO(self, hostname: str) -> None:
        if hostname and await self._scripted("ehlo"):
            return
        await super().smtp_EHLO(hostname)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if await self._scripted("starttls"):
            return
        await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg: str) -> None:
        extended = self.session is not None and self.session.extended_smtp
        if extended and arg and await self._scripted("auth"):
            return
        await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg: str) -> None:
        authenticated = self.session is not None and self.session.authenticated
        if self._tls_protocol and authenticated and await self._scripted("mail"):
            return
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str) -> None:
        started = self.envelope is not None and self.envelope.mail_from is not None
        if started and await self._scripted("rcpt"):
            return
        await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        has_rcpt = self.envelope is not None and bool(self.envelope.rcpt_tos)
        if has_rcpt and await self._scripted("data_start"):
            return
        await super().smtp_DATA(arg)


class _Handler(SmtpHooks):
    """aiosmtpd handler hooks: EHLO wording, MAIL/RCPT wording, the DATA decision."""

    def __init__(self, relay: SesRelayServer) -> None:
        self.relay = relay

    def ehlo_reply(self, server: SMTP, responses: list[str]) -> list[str]:
        lines = [f"250-{self.relay.hostname}", "250-8BITMIME"]
        if not server._tls_protocol:
            lines.append("250-STARTTLS")
        lines += ["250-AUTH PLAIN LOGIN", "250 Ok"]
        return lines

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return REPLY_OK

    def rcpt_reply(self, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= 50:
            return "554 Transaction failed: Recipient count exceeds 50."
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return REPLY_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        relay = self.relay
        item = relay._next("data")
        if item is not None:
            if item.delay:
                await asyncio.sleep(item.delay)
            if item.drop:
                if item.deliver:
                    raw = envelope.original_content or b""
                    relay._accept(session, envelope, raw if isinstance(raw, bytes) else b"")
                (_close if item.close else _abort)(server)
                return ""
            if item.reply:
                if item.closes:
                    asyncio.get_running_loop().call_soon(_close, server)
                return item.reply
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # pragma: no cover - decode_data is off
            raw = raw.encode("utf-8", "surrogateescape")
        return relay._accept(session, envelope, raw)


def _abort(server: SMTP) -> None:
    transport = server.transport
    if transport is not None:
        abort = getattr(transport, "abort", None)
        if abort is not None:
            abort()
        else:  # pragma: no cover - every asyncio transport has abort()
            transport.close()


def _close(server: SMTP) -> None:
    if server.transport is not None:
        server.transport.close()


class _Controller(Controller):
    def __init__(self, relay: SesRelayServer, **kwargs: Any) -> None:
        self._relay = relay
        super().__init__(_Handler(relay), **kwargs)

    def factory(self) -> SMTP:
        relay = self._relay
        return _SesSMTP(
            relay,
            self.handler,
            hostname=relay.hostname,
            ident="ESMTP SimpleEmailService-local",
            data_size_limit=None,
            enable_SMTPUTF8=False,
            decode_data=False,
            tls_context=relay._tls_context,
            require_starttls=True,
            timeout=relay.idle_timeout,
            auth_required=True,
            auth_require_tls=True,
            authenticator=relay._authenticate,
        )


class SesRelayServer:
    """A SES-like SMTP relay bound to 127.0.0.1.

    Parameters
    ----------
    cert_file, key_file
        The server certificate and key (see :func:`shopmail_local.certs.ensure_certs`).
    credentials
        User name -> SMTP password (see :func:`relay_credentials`).
    port
        TCP port; ``0`` picks a free one (read :attr:`port` after :meth:`start`).
    region
        Named in SES-like replies.
    verified_identities
        Verified addresses and domains; the envelope sender and the From header must match
        one, or the message gets ``554 ... not verified``. ``None`` accepts any sender.
    max_rate
        Messages per second above which DATA gets ``454 ... Maximum sending rate exceeded``
        (``None``: unlimited).
    daily_quota
        Accepted messages after which DATA gets ``454 ... Daily message quota exceeded``.
    max_message_size
        Bytes above which DATA gets ``552 Message is too long.`` (SES: 40 MB).
    idle_timeout
        Seconds of client silence before ``451 4.4.2`` and close (SES: about 10 s).
    on_message
        Called with ``(RelayEnvelope, raw bytes, ses_message_id)`` for each accepted
        message, in the server thread. If it raises, the client gets ``451 Temporary
        service failure`` and the message is not recorded.
    hostname
        The name in the greeting and EHLO.
    keep_messages
        Keep accepted messages in :attr:`messages` (turn off for long-running stacks).
    faults
        A :class:`FaultHook` asked at every stage (``None``: no injected faults).
    """

    def __init__(
        self,
        *,
        cert_file: str | Path,
        key_file: str | Path,
        credentials: Mapping[str, str],
        port: int = DEFAULT_PORT,
        region: str = "eu-west-1",
        verified_identities: Iterable[str] | None = None,
        max_rate: float | None = None,
        daily_quota: int | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        idle_timeout: float = 10.0,
        on_message: MessageHook | None = None,
        hostname: str = "email-smtp.local",
        keep_messages: bool = True,
        faults: FaultHook | None = None,
    ) -> None:
        self.host = BIND_HOST
        self.port = port
        self.region = region
        self.hostname = hostname
        self.credentials = dict(credentials)
        self.verified_identities = (
            None if verified_identities is None else {i.lower() for i in verified_identities}
        )
        self.max_rate = max_rate
        self.daily_quota = daily_quota
        self.max_message_size = max_message_size
        self.idle_timeout = idle_timeout
        self.on_message = on_message
        self.keep_messages = keep_messages
        self.faults = faults
        self._tls_context = server_tls_context(cert_file, key_file)
        self._state = _State()
        self._bucket = self._new_bucket()
        self._controller: _Controller | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> SesRelayServer:
        """Start listening (in a background thread); return ``self``."""
        if self._controller is not None:
            return self
        if self.port == 0:
            with socket.socket() as s:
                s.bind((BIND_HOST, 0))
                self.port = int(s.getsockname()[1])
        self._controller = _Controller(self, hostname=BIND_HOST, port=self.port)
        self._controller.start()
        self.reset()  # forget the controller's own readiness probe
        log.info("SES-like relay listening on %s:%s", BIND_HOST, self.port)
        return self

    def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SesRelayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test control ---------------------------------------------------------------------

    def script(
        self,
        stage: str,
        reply: str | None = None,
        *,
        drop: bool = False,
        close: bool | None = None,
        delay: float = 0.0,
        deliver: bool = False,
    ) -> None:
        """Queue a scripted reply or fault for the next time ``stage`` is reached.

        Example
        -------
        ``server.script("data", "454 Throttling failure: Maximum sending rate exceeded.")``,
        ``server.script("mail", "421 Too many concurrent SMTP connections")`` (closes),
        ``server.script("data", drop=True)`` (connection lost before the final reply),
        ``server.script("data", drop=True, deliver=True)`` (accepted, then the reply is lost),
        ``server.script("data", delay=2.0)`` (the normal final reply, 2 s late).
        """
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        if reply is None and not drop and not delay:
            raise ValueError("give a reply, drop=True or a delay")
        with self._state.lock:
            self._state.script.append(ScriptedReply(stage, reply, drop, close, delay, deliver))

    def reset(self) -> None:
        """Forget messages, counters, scripted replies, the rate bucket and the quota."""
        with self._state.lock:
            self._state.script.clear()
            self._state.messages.clear()
            self._state.replies.clear()
            self._state.connections = 0
            self._state.tls_sessions = 0
            self._state.logins = 0
            self._state.sent_today = 0
        self._bucket = self._new_bucket()

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Accepted messages, oldest first (a copy)."""
        with self._state.lock:
            return list(self._state.messages)

    @property
    def connections(self) -> int:
        """TCP connections accepted since the last :meth:`reset`."""
        return self._state.connections

    @property
    def logins(self) -> int:
        """Successful AUTH commands since the last :meth:`reset`."""
        return self._state.logins

    @property
    def replies(self) -> list[str]:
        """Every reply line sent since the last :meth:`reset` (a copy)."""
        with self._state.lock:
            return list(self._state.replies)

    @property
    def pending_script(self) -> int:
        """Scripted replies not yet used."""
        return len(self._state.script)

    # --- protocol decisions ---------------------------------------------------------------

    def _next(self, stage: str) -> ScriptedReply | None:
        """The scripted reply for ``stage``, else the fault hook's, else ``None``."""
        item = self._state.take(stage)
        if item is None and self.faults is not None:
            item = self.faults.at(stage)
        return item

    def _new_bucket(self) -> TokenBucket | None:
        if not self.max_rate:
            return None
        return TokenBucket(self.max_rate, max(1.0, self.max_rate))

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            expected = self.credentials.get(login)
            if expected is not None and _same(expected, password):
                with self._state.lock:
                    self._state.logins += 1
                return AuthResult(success=True, auth_data=auth_data, message=REPLY_AUTH_OK)
        return AuthResult(success=False, handled=False, message=REPLY_AUTH_INVALID)

    def _unverified(self, envelope: Envelope, raw: bytes) -> list[str]:
        if self.verified_identities is None:
            return []
        senders = [str(envelope.mail_from or "")]
        headers = BytesHeaderParser().parsebytes(raw)
        senders += [addr for _, addr in getaddresses(headers.get_all("From", []))]
        failed = []
        for sender in senders:
            address = sender.strip().lower()
            domain = address.rpartition("@")[2]
            if address not in self.verified_identities and domain not in (self.verified_identities):
                failed.append(address or "<>")
        return sorted(set(failed))

    def _accept(self, session: Session, envelope: Envelope, raw: bytes) -> str:
        if len(raw) > self.max_message_size:
            return REPLY_TOO_LONG
        if self.daily_quota is not None and self._state.sent_today >= self.daily_quota:
            return REPLY_QUOTA
        if self._bucket is not None and not self._bucket.try_acquire():
            return REPLY_RATE
        failed = self._unverified(envelope, raw)
        if failed:
            return REPLY_NOT_VERIFIED.format(
                region=self.region.upper(), identities=", ".join(failed)
            )
        message_id = ses_message_id()
        auth = session.auth_data
        login = auth.login if isinstance(auth, LoginPassword) else None
        relay_envelope = RelayEnvelope(
            mail_from=str(envelope.mail_from or ""),
            rcpt_tos=tuple(envelope.rcpt_tos),
            auth_login=login.decode("utf-8", "replace") if isinstance(login, bytes) else "",
            peer=str(session.peer),
        )
        if self.on_message is not None:
            try:
                self.on_message(relay_envelope, raw, message_id)
            except Exception:
                log.exception("delivery hook failed for %s", message_id)
                return REPLY_SERVICE
        with self._state.lock:
            self._state.sent_today += 1
            if self.keep_messages:
                self._state.messages.append(ReceivedMessage(relay_envelope, raw, message_id))
        return f"250 Ok {message_id}"


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())
