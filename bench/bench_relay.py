"""SES SMTP relay client benchmarks against one local TLS+AUTH SES-like relay (loopback).

(a) the relay client, one connection per batch, vs a naive connect-STARTTLS-AUTH-send-QUIT
    per message (5 KB messages);
(b) the relay client vs bare smtplib sending the same prebuilt bytes on one connection
    (aim: at most 25 % overhead);
(c) 60 KB messages with vs without ``TCP_NODELAY``;
plus the cost of ``ssl.create_default_context()`` (why the adapter builds it once).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from typing import Any

from shopmail.adapters.smtp_relay import SesSmtpRelay, SmtpCredentials

from shopmail_local.certs import ensure_certs
from shopmail_local.stack.ses_relay import SesRelayServer, relay_credentials

SENDER = "shop@shop.example"
RCPT = "customer@example.org"
KEY_ID = "AKIABENCHRELAY"
REGION = "eu-west-1"


def _message(size: int) -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = SENDER
    msg["To"] = RCPT
    msg["Subject"] = f"bench {size}"
    line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod 0123456\n"
    msg.set_content(line * max(1, size // len(line)))
    return msg.as_bytes()


def _rate(n: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        certs = ensure_certs(tmp)
        creds_map = relay_credentials(KEY_ID, "bench-secret", REGION)
        creds = SmtpCredentials(KEY_ID, creds_map[KEY_ID])
        server = SesRelayServer(
            cert_file=certs.cert_file,
            key_file=certs.key_file,
            credentials=creds_map,
            port=0,
            keep_messages=False,
        ).start()
        try:
            return _run(server, str(certs.ca_file), creds)
        finally:
            server.stop()


def _run(server: SesRelayServer, ca_file: str, creds: SmtpCredentials) -> dict[str, Any]:
    host, port = server.host, server.port
    small, large = _message(5 * 1024), _message(60 * 1024)
    context = ssl.create_default_context(cafile=ca_file)

    def relay(**kw: Any) -> SesSmtpRelay:
        return SesSmtpRelay(host, port, creds, timeout=10, ca_file=ca_file, **kw)

    def batch(client: SesSmtpRelay, message: bytes, n: int) -> None:
        with client.session() as smtp:
            for _ in range(n):
                smtp.send(SENDER, [RCPT], message)

    def naive(message: bytes, n: int) -> None:
        for _ in range(n):
            with smtplib.SMTP(host, port, timeout=10) as c:
                c.starttls(context=context)
                c.login(creds.username, creds.password)
                c.sendmail(SENDER, [RCPT], message)

    def bare(message: bytes, n: int, nodelay: bool = False) -> None:
        with smtplib.SMTP(host, port, timeout=10) as c:
            if nodelay and c.sock is not None:
                c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.starttls(context=context)
            c.login(creds.username, creds.password)
            for _ in range(n):
                c.sendmail(SENDER, [RCPT], message)

    client = relay()
    batch(client, small, 10)  # warm-up
    bare(small, 10)

    # (a) one connection per batch vs one connection per message
    n_batch, n_naive = 200, 40
    batch_rate = _rate(n_batch, lambda: batch(client, small, n_batch))
    naive_rate = _rate(n_naive, lambda: naive(small, n_naive))

    # (b) relay client vs bare smtplib on one connection: interleaved rounds, best of each
    # (the machine is shared, so alternating keeps both sides under the same load)
    n_b, rounds = 100, 5
    relay_rates, bare_rates, bare_nd_rates = [], [], []
    for _ in range(rounds):
        relay_rates.append(_rate(n_b, lambda: batch(client, small, n_b)))
        bare_rates.append(_rate(n_b, lambda: bare(small, n_b)))
        bare_nd_rates.append(_rate(n_b, lambda: bare(small, n_b, nodelay=True)))
    relay_best, bare_best = max(relay_rates), max(bare_rates)
    bare_nd_best = max(bare_nd_rates)

    # (c) 60 KB with and without TCP_NODELAY
    n_c = 40
    no_delay = relay(tcp_nodelay=True)
    nagle = relay(tcp_nodelay=False)
    batch(no_delay, large, 3)
    batch(nagle, large, 3)
    nodelay_rate = _rate(n_c, lambda: batch(no_delay, large, n_c))
    nagle_rate = _rate(n_c, lambda: batch(nagle, large, n_c))

    # the SSL context: why it is built once per adapter
    start = time.perf_counter()
    for _ in range(5):
        ssl.create_default_context()
    context_ms = (time.perf_counter() - start) / 5 * 1000

    return {
        "message_bytes": {"small": len(small), "large": len(large)},
        "a_batch_vs_naive_5kb": {
            "relay_one_connection_msg_s": round(batch_rate, 1),
            "naive_connect_per_message_msg_s": round(naive_rate, 1),
            "speedup": round(batch_rate / naive_rate, 2),
        },
        "b_relay_vs_bare_smtplib_5kb": {
            "relay_msg_s": round(relay_best, 1),
            "bare_smtplib_msg_s": round(bare_best, 1),
            "overhead_pct": round((bare_best / relay_best - 1) * 100, 1),
            "bare_smtplib_tcp_nodelay_msg_s": round(bare_nd_best, 1),
            "overhead_vs_nodelay_bare_pct": round((bare_nd_best / relay_best - 1) * 100, 1),
            "aim_overhead_pct_max": 25,
        },
        "c_60kb_tcp_nodelay": {
            "with_nodelay_msg_s": round(nodelay_rate, 1),
            "without_nodelay_msg_s": round(nagle_rate, 1),
            "ratio": round(nodelay_rate / nagle_rate, 2),
        },
        "ssl_create_default_context_ms": round(context_ms, 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
