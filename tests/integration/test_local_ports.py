"""The stack's port check: TIME-WAIT connections never block a restart, a listener does."""

from __future__ import annotations

import socket
import time

import pytest

from shopmail_local.stack.runner import check_ports_free
from tests.fixtures.e2e_stack import free_ports


def _leave_time_wait(port: int) -> None:
    """Accept one connection on ``port`` and close it server-side first (-> TIME-WAIT)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn, _ = listener.accept()
    conn.close()  # the server closes first, as HTTP/1.0 servers do after each response
    time.sleep(0.05)
    client.close()
    listener.close()


def _plain_bind_fails(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def test_time_wait_connections_do_not_block_the_port_check() -> None:
    (port,) = free_ports(1)
    _leave_time_wait(port)
    # the situation of the bug: a bind without SO_REUSEADDR fails for a minute
    assert _plain_bind_fails(port), "no TIME-WAIT connection was left behind"
    check_ports_free({"web": port})  # does not raise


def test_a_real_listener_is_reported_as_in_use() -> None:
    (port,) = free_ports(1)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        with pytest.raises(OSError, match=rf"web port 127\.0\.0\.1:{port} is in use"):
            check_ports_free({"moto": 0, "web": port})
