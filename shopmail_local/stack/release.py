"""Release an outbound mail from the local outbox to a real SMTP server (off by default).

``shopmail run --release-smtp HOST:PORT`` turns it on: the mail page then has a form that
sends the mail as the local relay accepted it (line ends made CRLF) to one address through that
server (STARTTLS by default; ``--release-tls tls`` for implicit TLS, ``none`` for a plain
local test server; AUTH when ``--release-user`` is given, the password from the environment
variable ``SHOPMAIL_RELEASE_PASSWORD``). ``--release-allow REGEX`` limits the addresses a mail
may be released to.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from enum import StrEnum

from shopmail.errors import PermanentError

log = logging.getLogger(__name__)

PASSWORD_ENV = "SHOPMAIL_RELEASE_PASSWORD"  # noqa: S105 - the variable's name, not a secret
_ADDRESS = re.compile(r"[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{2,63}")


class ReleaseTls(StrEnum):
    """How the connection to the release server is secured."""

    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


class ReleaseError(PermanentError):
    """The mail could not be released (the message says why in one line)."""

    code = "release_failed"


@dataclass(frozen=True)
class ReleaseTarget:
    """The SMTP server mail is released to.

    Parameters
    ----------
    host, port
        The server.
    tls
        ``starttls`` (default), ``tls`` (implicit TLS) or ``none``.
    username, password
        AUTH credentials ('' for none).
    ca_file
        CA bundle to verify the server with (default: the system's).
    allow
        Regular expression a recipient must match in full ('' allows any address).
    timeout
        Seconds per SMTP step.
    """

    host: str
    port: int
    tls: ReleaseTls = ReleaseTls.STARTTLS
    username: str = ""
    password: str = ""
    ca_file: str = ""
    allow: str = ""
    timeout: float = 30.0

    @property
    def label(self) -> str:
        """``host:port (tls)`` for pages and logs."""
        return f"{self.host}:{self.port} ({self.tls.value})"

    def check_recipient(self, address: str) -> str:
        """The address, stripped; raise :class:`ReleaseError` when it is not allowed."""
        addr = address.strip()
        if not _ADDRESS.fullmatch(addr):
            raise ReleaseError(f"not an e-mail address: {addr[:80]!r}")
        if self.allow and not re.fullmatch(self.allow, addr, flags=re.IGNORECASE):
            raise ReleaseError("address not allowed by --release-allow")
        return addr


def parse_host_port(value: str, default_port: int = 587) -> tuple[str, int]:
    """``host[:port]`` -> ``(host, port)``; raise ``ValueError`` for a bad value."""
    host, sep, port = value.strip().rpartition(":")
    if not sep:
        host, port = value.strip(), str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def release(target: ReleaseTarget, raw: bytes, mail_from: str, recipient: str) -> str:
    """Send ``raw`` to ``recipient`` through ``target``; return the server's reply.

    Raises
    ------
    ReleaseError
        Not allowed, not reachable, TLS/AUTH failed or the server refused the mail.
    """
    rcpt = target.check_recipient(recipient)
    data = re.sub(rb"\r?\n", b"\r\n", raw)  # SMTP lines end in CRLF (RFC 5321 2.3.8)
    context = ssl.create_default_context(cafile=target.ca_file or None)
    smtp: smtplib.SMTP | None = None
    try:
        if target.tls == ReleaseTls.TLS:
            smtp = smtplib.SMTP_SSL(
                target.host, target.port, timeout=target.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
        smtp.ehlo("shopmail-local")
        if target.tls == ReleaseTls.STARTTLS:
            if not smtp.has_extn("starttls"):
                raise ReleaseError(f"{target.label} does not offer STARTTLS")
            smtp.starttls(context=context)
            smtp.ehlo("shopmail-local")
        if target.username:
            smtp.login(target.username, target.password)
        refused = smtp.sendmail(mail_from, [rcpt], data)
        if refused:
            raise ReleaseError(f"{target.label} refused the recipient")
        code, text = smtp.noop()
        reply = f"{code} {text.decode(errors='replace')}"
    except ReleaseError:
        raise
    except smtplib.SMTPResponseException as exc:
        msg = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        raise ReleaseError(f"{target.label} answered {exc.smtp_code} {msg}".strip()) from exc
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        raise ReleaseError(f"cannot release through {target.label}: {exc}") from exc
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
    log.info("released a mail through %s to a %s address", target.label, rcpt.rpartition("@")[2])
    return reply
