"""The running stack's address card: ``<state>/stack.json`` (written by ``shopmail run``).

Every CLI command that talks to the offline stack reads it to find the moto endpoint, the SMTP
ports, the CA file and the fake credentials, so nobody has to export ``AWS_ENDPOINT_URL``.

Keys (version 1; new keys may be added, existing ones keep their meaning)::

    version        1
    status         "running" | "stopped"
    pid            process id of ``shopmail run``
    generation     random id of this run (the moto snapshot written at a clean stop names it)
    started_at     UNIX time; stopped_at after a clean stop
    endpoint       moto server, e.g. "http://127.0.0.1:4566"
    region         AWS region of the local resources
    aws_access_key_id, aws_secret_access_key   this run's random credentials (moto accepts any)
    host           "127.0.0.1"
    ports          {"moto", "inbound", "relay", "web", "unsubscribe"}
    web_url        the web inbox
    unsubscribe_url   the one-click unsubscribe endpoint (HTTPS, the local CA)
    ca_file        CA certificate of the emulators' STARTTLS
    mail_domain    the SES identity / MailDomain parameter
    bus            the shop's event bus name
    outputs        the template's Outputs (string values only)
    tables, queues, dead_letter_queues   logical id -> name / URL
    environment    the environment the in-process handlers run with
    snapshot       {"generation", "path", "restored", "skipped"}: the moto data of the last
                   clean stop and what was restored from it at start
    faults         {"profile", "seed"}: the fault profile of ``shopmail run --faults``

The file is replaced atomically (write to a temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_NAME = "stack.json"
VERSION = 1


@dataclass(frozen=True)
class StackFile:
    """What ``stack.json`` says (see the module docs for the keys)."""

    path: Path
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``running`` or ``stopped`` ('' when unknown)."""
        return str(self.data.get("status", ""))

    @property
    def endpoint(self) -> str:
        """The moto endpoint URL."""
        return str(self.data.get("endpoint", ""))

    @property
    def region(self) -> str:
        """The region of the local resources."""
        return str(self.data.get("region", "") or "eu-west-1")

    @property
    def host(self) -> str:
        """The address everything binds to."""
        return str(self.data.get("host", "") or "127.0.0.1")

    def port(self, name: str) -> int:
        """The port of ``moto``, ``inbound``, ``relay``, ``web`` or ``unsubscribe`` (0 when
        unknown)."""
        try:
            return int((self.data.get("ports") or {}).get(name) or 0)
        except (TypeError, ValueError):
            return 0

    @property
    def credentials(self) -> tuple[str, str]:
        """The run's access key id and secret for the local moto server (``("", "")`` when
        the file has none: then the environment's credentials are used)."""
        return (
            str(self.data.get("aws_access_key_id") or ""),
            str(self.data.get("aws_secret_access_key") or ""),
        )

    def get(self, key: str, default: Any = None) -> Any:
        """Any other key."""
        return self.data.get(key, default)

    def pid_alive(self) -> bool:
        """Whether the process that wrote the file still exists."""
        try:
            pid = int(self.data.get("pid") or 0)
        except (TypeError, ValueError):
            return False
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def reachable(self, timeout: float = 1.0) -> bool:
        """Whether the moto port accepts a TCP connection right now."""
        port = self.port("moto")
        if not port:
            return False
        try:
            socket.create_connection((self.host, port), timeout=timeout).close()
        except OSError:
            return False
        return True

    def is_running(self) -> bool:
        """``status`` is running, its process exists and moto answers on its port."""
        return self.status == "running" and self.pid_alive() and self.reachable()


def read_stack_file(state_dir: str | Path) -> StackFile | None:
    """The stack file in ``state_dir`` (``None`` when missing or unreadable)."""
    path = Path(state_dir) / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return StackFile(path, data)


def write_stack_file(state_dir: str | Path, data: Mapping[str, Any]) -> Path:
    """Atomically replace ``state_dir/stack.json`` with ``data`` (plus ``version``)."""
    folder = Path(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    body = json.dumps({"version": VERSION, **data}, indent=2, sort_keys=True, default=str)
    fd, tmp = tempfile.mkstemp(prefix=".stack.", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def update_stack_file(state_dir: str | Path, **changes: Any) -> Path:
    """Merge ``changes`` into the stack file (creating it when missing)."""
    current = read_stack_file(state_dir)
    data = dict(current.data) if current is not None else {}
    data.pop("version", None)
    data.update(changes)
    return write_stack_file(state_dir, data)
