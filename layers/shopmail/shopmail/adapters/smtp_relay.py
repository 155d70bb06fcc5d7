"""The SES SMTP relay client: one verified, authenticated, paced connection per batch.

Usage by the outbound service (one session per SQS batch)::

    relay = SesSmtpRelay(host, 587, credentials, ca_file=None, max_rate=14)
    with relay.session() as smtp:          # connects lazily on the first send
        for item in batch:
            try:
                ses_id = smtp.send(envelope_from, [rcpt], raw_bytes)
            except DeliveryDeferredError:  # 4xx: this item fails, SQS retries it
                ...
            except MessageRejectedError:   # 552/553/554 Transaction failed: dead-letter
                ...
            # QuotaExceededError / ConfigurationError: stop the batch (the session
            # re-raises them for every further send without touching the network)

Behaviour (the reply classes are in :mod:`shopmail.domain.smtp.replies`): explicit timeout;
STARTTLS with certificate verification (the SSL context is built once per adapter), refused when
the relay does not offer it (AUTH never goes in clear); AUTH PLAIN; ``TCP_NODELAY``; a
connection idle longer than ``idle_limit`` (5 s; SES drops at ~10 s) is replaced before use; the
SES message id is read from the final ``250 Ok <id>`` reply; ``421`` during DATA (CPython
gh-132796) is handled because this client speaks MAIL/RCPT/DATA itself.

Failures, by when they happen:

* **opening the session** (connect, greeting, EHLO, STARTTLS, AUTH): a lost connection or a 4xx
  is tried once more on a new connection, then :class:`RelayUnavailableError`; 5xx, a TLS
  handshake or certificate failure, no STARTTLS: :class:`ConfigurationError`. Both stop the
  session (every later send raises the same error without touching the network): the relay,
  not the message, is the problem.
* **before the final dot** (MAIL, RCPT, DATA, the message itself): ``421``, ``451 4.4.2`` or a
  lost connection is resent once on a new connection (nothing can have been accepted yet);
  other replies are classified per message.
* **after the final dot**: a lost connection of any kind (timeout, close, reset) is
  :class:`DeliveryAmbiguousError`: the relay may have accepted the message, so it is never
  resent in this call (the use cases treat it as sent and flag it).
"""

from __future__ import annotations

import base64
import logging
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from shopmail.domain.addresses import domain_of
from shopmail.domain.smtp.pacing import TokenBucket
from shopmail.domain.smtp.replies import (
    DISCONNECTED,
    ReplyOutcome,
    SmtpReply,
    error_for,
    ses_message_id,
)
from shopmail.errors import (
    ConfigurationError,
    DeliveryAmbiguousError,
    DeliveryDeferredError,
    InvalidMessageError,
    InvalidRecipientError,
    QuotaExceededError,
    RelayUnavailableError,
    ShopmailError,
)

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 50
DEFAULT_PORT = 587
DEFAULT_IDLE_LIMIT = 5.0
_LEADING_DOT = re.compile(rb"(?m)^\.")
_CRLF = b"\r\n"
#: The steps that open a session; a failure there is the relay's, not the message's.
SESSION_STAGES = frozenset({"connect", "ehlo", "starttls", "auth"})


def default_host(region: str) -> str:
    """The SES SMTP endpoint of ``region``."""
    return f"email-smtp.{region}.amazonaws.com"


@dataclass(frozen=True)
class SmtpCredentials:
    """SMTP user name (the access key id) and the derived SMTP password."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"SmtpCredentials(username={self.username!r}, password=***)"


class _Client(smtplib.SMTP):
    """smtplib.SMTP that sets ``TCP_NODELAY`` on the socket as soon as it exists."""

    nodelay = True

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        if self.nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


class _ReplyError(Exception):
    """Internal: a classified reply at some stage."""

    def __init__(self, reply: SmtpReply, stage: str, *, ambiguous: bool = False) -> None:
        super().__init__(str(reply))
        self.reply = reply
        self.stage = stage
        self.ambiguous = ambiguous

    @property
    def outcome(self) -> ReplyOutcome:
        return self.reply.outcome

    @property
    def opening(self) -> bool:
        """Whether it happened while the session was being opened."""
        return self.stage in SESSION_STAGES

    @property
    def retry_once(self) -> bool:
        """Whether one more attempt on a new connection is safe and may help."""
        if self.ambiguous:
            return False
        if self.opening:
            return self.outcome in (ReplyOutcome.RECONNECT, ReplyOutcome.TRANSIENT)
        return self.outcome is ReplyOutcome.RECONNECT


def _log_domain(address: str) -> str:
    return domain_of(address) or "-"


class SesSmtpRelay:
    """Adapter for the SES SMTP relay (implements ``ports.MailSender`` via sessions).

    Parameters
    ----------
    host, port
        The relay endpoint (``email-smtp.<region>.amazonaws.com``, 587; local: 127.0.0.1).
    credentials
        The SMTP user name and derived password (see ``smtp_credentials``).
    timeout
        Socket timeout in seconds for connect and every reply.
    ca_file
        A PEM CA bundle to trust instead of the system store (the local relay's CA).
    max_rate
        Messages per second for the token bucket shared by all sessions of this adapter
        (``None``: no pacing). Ignored when ``pacer`` is given.
    pacer
        A shared :class:`TokenBucket` (e.g. one per Lambda container).
    idle_limit
        A connection idle longer than this many seconds is closed and replaced before use.
    tcp_nodelay
        Set ``TCP_NODELAY`` (default on; off only to measure its effect).
    local_hostname
        The name sent in EHLO (default: smtplib's FQDN lookup is avoided; ``shopmail``).
    clock
        Monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        credentials: SmtpCredentials | None = None,
        *,
        timeout: float = 10.0,
        ca_file: str | None = None,
        max_rate: float | None = None,
        pacer: TokenBucket | None = None,
        idle_limit: float = DEFAULT_IDLE_LIMIT,
        tcp_nodelay: bool = True,
        local_hostname: str = "shopmail.localdomain",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if credentials is None:
            raise ConfigurationError("no SMTP credentials configured for the SES relay")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.host = host
        self.port = int(port)
        self.credentials = credentials
        self.timeout = float(timeout)
        self.idle_limit = float(idle_limit)
        self.tcp_nodelay = tcp_nodelay
        self.local_hostname = local_hostname
        self.clock = clock
        if pacer is None and max_rate:
            pacer = TokenBucket(max_rate, max(1.0, max_rate), clock=clock)
        self.pacer = pacer
        # Built once: create_default_context() costs ~30 ms.
        self.ssl_context = ssl.create_default_context(cafile=ca_file or None)
        self.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._default: RelaySession | None = None

    @classmethod
    def from_settings(cls, settings: Any, credentials: SmtpCredentials) -> SesSmtpRelay:
        """Build from ``shopmail.config.Settings`` (smtp_host/port/ca_file/timeout/max_rate)."""
        return cls(
            settings.smtp_host or default_host(settings.region),
            settings.smtp_port,
            credentials,
            timeout=settings.smtp_timeout,
            ca_file=settings.smtp_ca_file or None,
            max_rate=settings.smtp_max_rate or None,
        )

    @contextmanager
    def session(self) -> Iterator[RelaySession]:
        """Open a batch session (one connection, opened on the first send, QUIT at exit)."""
        s = RelaySession(self)
        try:
            yield s
        finally:
            s.close()

    def open_session(self) -> RelaySession:
        """A session the caller closes itself (``close()``), e.g. across a handler's loop."""
        return RelaySession(self)

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        """Send through the adapter's own session (kept until :meth:`close` or idle).

        Prefer :meth:`session` per batch; this exists so the adapter itself satisfies
        ``ports.MailSender``.
        """
        if self._default is None or self._default.failed is not None:
            if self._default is not None:
                self._default.close()
            self._default = RelaySession(self)
        return self._default.send(envelope_from, recipients, message)

    def close(self) -> None:
        """Close the adapter's own session, if any."""
        if self._default is not None:
            self._default.close()
            self._default = None


class RelaySession:
    """One batch's connection to the relay (not thread-safe; implements ``MailSender``).

    Attributes
    ----------
    sent, reconnects, connections
        Counters for logs and metrics.
    failed
        The batch-stopping error (quota or configuration) once one happened; every later
        :meth:`send` raises it again without touching the network.
    """

    def __init__(self, relay: SesSmtpRelay) -> None:
        self.relay = relay
        self._conn: _Client | None = None
        self._last_used = 0.0
        self.sent = 0
        self.reconnects = 0
        self.connections = 0
        self.failed: ShopmailError | None = None

    def __enter__(self) -> RelaySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public ---------------------------------------------------------------------------

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> str:
        """Send one prebuilt message; return the SES message id.

        Parameters
        ----------
        envelope_from
            The envelope sender (ASCII, a verified identity).
        recipients
            1 to 50 ASCII addresses (IDN domains already as Punycode).
        message
            The complete RFC 5322 message with CRLF line ends.

        Returns
        -------
        str
            The SES message id from ``250 Ok <id>``.

        Raises
        ------
        DeliveryDeferredError
            A 4xx reply to this message, or the connection was lost twice before the final
            dot: retry this message later.
        DeliveryAmbiguousError
            The connection was lost after the final dot: it may have been accepted; never
            resend it automatically.
        QuotaExceededError
            The daily quota is used up: stop the batch (later sends raise it again).
        RelayUnavailableError
            The session could not be opened (unreachable, 4xx or a lost connection while
            connecting, greeting, EHLO, STARTTLS or AUTH, twice): stop the batch.
        MessageRejectedError
            552/553/554 Transaction failed...: this message can never be sent as built.
        ConfigurationError
            530/535/554 access denied/not verified/paused, a certificate that does not
            verify, a failed TLS handshake, no STARTTLS, a 5xx while opening the session:
            fail the batch, mark no message failed, alarm.
        InvalidRecipientError, InvalidMessageError
            Bad input caught before anything was sent.
        """
        if self.failed is not None:
            raise type(self.failed)(self.failed.reason, **self.failed.context)
        self._validate(envelope_from, recipients, message)
        if self.relay.pacer is not None:
            self.relay.pacer.acquire()
        context = {"recipient_domains": sorted({_log_domain(r) for r in recipients})}
        attempt = 0
        while True:
            try:
                conn = self._connection()
                ses_id = self._transaction(conn, envelope_from, recipients, message)
            except _ReplyError as failure:
                if failure.retry_once and attempt == 0:
                    attempt += 1
                    self.reconnects += 1
                    log.info("SES relay: %s at %s, reconnecting once", failure.reply, failure.stage)
                    self._drop()
                    continue
                raise self._error(failure, context) from None
            except ConfigurationError as exc:  # e.g. the certificate does not verify
                self.failed = exc
                self._drop()
                log.error("SES relay: batch stopped: %s", exc.reason)
                raise
            self.sent += 1
            log.debug("SES relay accepted %s", ses_id)
            return ses_id

    def close(self) -> None:
        """QUIT and close the connection (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.sock is not None:
                conn.sock.settimeout(min(self.relay.timeout, 2.0))
            conn.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            conn.close()

    # --- internals ------------------------------------------------------------------------

    @staticmethod
    def _validate(envelope_from: str, recipients: Sequence[str], message: bytes) -> None:
        if isinstance(recipients, str):
            raise InvalidRecipientError("recipients must be a list of addresses, not a string")
        if not recipients:
            raise InvalidRecipientError("no recipients")
        if len(recipients) > MAX_RECIPIENTS:
            raise InvalidRecipientError(
                f"{len(recipients)} recipients; SES accepts at most {MAX_RECIPIENTS}"
            )
        for address in [envelope_from, *recipients]:
            if (
                not address.isascii()
                or any(c in address for c in "\r\n<> ")
                or (address and "@" not in address)
            ):
                raise InvalidRecipientError(
                    "envelope address is not a 7-bit address (non-ASCII, spaces, CR/LF or "
                    "no @); SES advertises no SMTPUTF8",
                    domain=_log_domain(address.encode("ascii", "replace").decode()),
                )
        if not any(recipients) or not all(recipients):
            raise InvalidRecipientError("empty recipient address")
        if not isinstance(message, bytes | bytearray) or not message:
            raise InvalidMessageError("message must be non-empty bytes")

    def _error(self, failure: _ReplyError, context: dict[str, Any]) -> ShopmailError:
        error: ShopmailError
        if failure.ambiguous:
            error = DeliveryAmbiguousError(
                f"the SES relay connection was lost after the final dot ({failure.reply}): "
                "the message may or may not have been accepted; it is not resent",
                stage=failure.stage,
                ambiguous=True,
                outcome=failure.outcome.value,
                **context,
            )
        elif failure.opening:
            error = self._opening_error(failure, context)
        elif failure.outcome is ReplyOutcome.RECONNECT:
            error = DeliveryDeferredError(
                f"SES relay connection failed twice ({failure.reply} at {failure.stage})",
                smtp_code=failure.reply.code,
                smtp_reply=failure.reply.safe_text,
                stage=failure.stage,
                outcome=failure.outcome.value,
                **context,
            )
        else:
            error = error_for(failure.reply, failure.stage, **context)
        if isinstance(error, QuotaExceededError | ConfigurationError | RelayUnavailableError):
            self.failed = error
            self._drop()
            log.error("SES relay: batch stopped: %s", error.reason)
        elif failure.ambiguous:
            log.warning("SES relay: %s", error.reason)
        elif failure.reply.code == 451 or failure.reply.code < 0:
            # SES-side failure: the next message gets a fresh connection.
            self._drop()
        else:
            log.warning("SES relay: message not sent: %s", error.reason)
        return error

    @staticmethod
    def _opening_error(failure: _ReplyError, context: dict[str, Any]) -> ShopmailError:
        """A failure while opening the session: the relay's, never the message's."""
        reply, stage = failure.reply, failure.stage
        details = {"smtp_code": reply.code, "smtp_reply": reply.safe_text, "stage": stage}
        if failure.outcome in (ReplyOutcome.CONFIGURATION, ReplyOutcome.PERMANENT):
            return ConfigurationError(
                f"SES relay refused the session: {reply} at {stage}", **details, **context
            )
        if failure.outcome is ReplyOutcome.QUOTA_EXCEEDED:
            return error_for(reply, stage, **context)
        return RelayUnavailableError(
            f"SES relay unavailable: {reply} at {stage} (also after a reconnect)",
            **details,
            **context,
        )

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> _Client:
        now = self.relay.clock()
        if self._conn is not None and now - self._last_used > self.relay.idle_limit:
            log.debug("SES relay connection idle %.1f s: replacing it", now - self._last_used)
            self.close()
            self.reconnects += 1
        if self._conn is None:
            self._conn = self._open()
            self._last_used = self.relay.clock()
        return self._conn

    def _open(self) -> _Client:
        relay = self.relay
        conn = _Client(local_hostname=relay.local_hostname, timeout=relay.timeout)
        conn.nodelay = relay.tcp_nodelay
        # starttls() verifies the certificate against _host (set only by __init__'s host).
        conn._host = relay.host  # type: ignore[attr-defined]
        try:
            stage = "connect"
            code, text = conn.connect(relay.host, relay.port)
            self._expect(code, text, stage, 220)
            stage = "ehlo"
            code, text = conn.ehlo()
            self._expect(code, text, stage, 250)
            if not conn.has_extn("starttls"):
                raise _ReplyError(SmtpReply(530, "relay does not offer STARTTLS"), "starttls")
            stage = "starttls"
            try:
                code, text = conn.starttls(context=relay.ssl_context)
            except smtplib.SMTPResponseException as exc:
                raise _ReplyError(SmtpReply.of(exc.smtp_code, exc.smtp_error), stage) from None
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                raise  # the connection ended during the handshake: a lost connection
            except ssl.SSLError as exc:
                conn.close()
                problem = (
                    f"the SES relay's TLS certificate does not verify: {exc.verify_message}"
                    if isinstance(exc, ssl.SSLCertVerificationError)
                    else f"TLS handshake with the SES relay failed ({exc.reason or 'SSLError'})"
                )
                raise ConfigurationError(
                    problem,
                    host=relay.host,
                    stage=stage,
                    outcome=ReplyOutcome.CONFIGURATION.value,
                ) from None
            self._expect(code, text, stage, 220)
            stage = "ehlo"
            code, text = conn.ehlo()
            self._expect(code, text, stage, 250)
            stage = "auth"
            creds = relay.credentials
            token = f"\0{creds.username}\0{creds.password}".encode()
            code, text = conn.docmd("AUTH", "PLAIN " + base64.b64encode(token).decode("ascii"))
            self._expect(code, text, stage, 235)
        except _ReplyError:
            conn.close()
            raise
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            conn.close()
            raise _ReplyError(SmtpReply(DISCONNECTED, _describe(exc)), stage) from None
        self.connections += 1
        return conn

    @staticmethod
    def _expect(code: int, text: bytes, stage: str, wanted: int) -> None:
        if code != wanted:
            reply = SmtpReply.of(code, text)
            if reply.outcome is ReplyOutcome.SENT:  # e.g. 250 where 235 was due
                reply = SmtpReply(451, f"unexpected reply {code} {reply.safe_text}")
            raise _ReplyError(reply, stage)

    def _transaction(
        self, conn: _Client, envelope_from: str, recipients: Sequence[str], message: bytes
    ) -> str:
        stage = "mail"
        sent_body = False
        try:
            conn.putcmd("mail", f"FROM:<{envelope_from}>")
            code, text = conn.getreply()
            self._check(conn, code, text, stage)
            stage = "rcpt"
            for rcpt in recipients:
                conn.putcmd("rcpt", f"TO:<{rcpt}>")
                code, text = conn.getreply()
                self._check(conn, code, text, stage)
            stage = "data"
            conn.putcmd("data")
            code, text = conn.getreply()
            if code != 354:
                self._check(conn, code, text, stage, rset=True)
                raise _ReplyError(SmtpReply(451, f"unexpected reply {code} to DATA"), stage)
            body = _LEADING_DOT.sub(b"..", bytes(message))
            if not body.endswith(_CRLF):
                body += _CRLF
            conn.send(body + b"." + _CRLF)
            sent_body = True
            code, text = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # After the final dot any loss (timeout, close, reset) is ambiguous: the relay
            # had the whole message and may have accepted it.
            self._conn = None
            conn.close()
            raise _ReplyError(
                SmtpReply(DISCONNECTED, _describe(exc)), stage, ambiguous=sent_body
            ) from None
        self._last_used = self.relay.clock()
        reply = SmtpReply.of(code, text)
        if code == 250:
            ses_id = ses_message_id(reply.text)
            if ses_id is None:
                log.warning("SES relay accepted without a message id: %s", reply.safe_text)
                return ""
            return ses_id
        if reply.outcome is ReplyOutcome.SENT:
            reply = SmtpReply(451, f"unexpected final reply {code} {reply.safe_text}")
        if code == 421 or reply.outcome is ReplyOutcome.RECONNECT:
            self._drop()
        raise _ReplyError(reply, stage)

    def _check(
        self, conn: _Client, code: int, text: bytes, stage: str, *, rset: bool = True
    ) -> None:
        self._last_used = self.relay.clock()
        if 200 <= code < 300:
            return
        reply = SmtpReply.of(code, text)
        if reply.outcome is ReplyOutcome.RECONNECT:
            self._drop()
        elif rset:
            try:
                conn.rset()
            except (smtplib.SMTPException, OSError):
                self._drop()
        raise _ReplyError(reply, stage)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"connection lost: {text}"
