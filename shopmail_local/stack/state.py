"""Local state of the offline stack under one folder (default ``.local/`` in the repository).

Layout::

    .local/
      relay/       Maildir: every mail the local SES relay accepted (raw, as sent)
      outbox/      Maildir: accepted mail not looped back or simulated ("the internet")
      relay.jsonl  one line per accepted mail (SES id, envelope, disposition, Maildir key)
      inbound.jsonl  one line per inbound delivery (recipients, rule, handler outcome)
      events.jsonl   one line per event seen on the buses (observer queue)

A clean restart keeps the folders and logs (and moto's data, see ``snapshot.py``), so the web
inbox still shows earlier mail; ``shopmail run --reset`` (or an unclean stop) clears them
together with moto's data so the pages never disagree. Every append bumps
:attr:`StateStore.version` and wakes :meth:`StateStore.wait_for_change` (the web inbox's
live updates).
"""

from __future__ import annotations

import json
import mailbox
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StoredMail:
    """A mail kept in one of the Maildirs."""

    key: str
    raw: bytes

    def message(self) -> Message:
        """The parsed message (``email.policy.default``)."""
        return BytesParser(policy=default_policy).parsebytes(self.raw)


class StateStore:
    """The stack's files: Maildirs for relayed mail and JSON-lines logs (thread-safe appends).

    Parameters
    ----------
    root
        The state folder; created if missing.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._version = 0
        self._last: list[tuple[int, str, dict[str, Any]]] = []
        self.relay = mailbox.Maildir(self.root / "relay", create=True)
        self.outbox = mailbox.Maildir(self.root / "outbox", create=True)

    # ------------------------------------------------------------------ changes
    @property
    def version(self) -> int:
        """Increases by one with every record appended through this store."""
        return self._version

    def _notify(self, log_name: str, entry: Mapping[str, Any]) -> None:
        ident = {
            k: str(entry[k])
            for k in ("key", "message_id", "ses_message_id", "kind")
            if entry.get(k) not in (None, "")
        }
        with self._changed:
            self._version += 1
            self._last.append((self._version, log_name, ident))
            del self._last[:-100]
            self._changed.notify_all()

    def wait_for_change(
        self, since: int, timeout: float
    ) -> tuple[int, list[tuple[int, str, dict[str, Any]]]]:
        """Wait until :attr:`version` exceeds ``since`` (or ``timeout`` seconds pass).

        Returns
        -------
        tuple
            The current version and the changes after ``since`` (``(version, log, ids)``;
            ids are keys and message ids only, never addresses or bodies).
        """
        with self._changed:
            self._changed.wait_for(lambda: self._version > since, timeout)
            return self._version, [c for c in self._last if c[0] > since]

    def clear(self) -> None:
        """Remove every stored mail and log (the folders stay)."""
        with self._lock:
            for box in ("relay", "outbox"):
                for sub in ("new", "cur", "tmp"):
                    for f in (self.root / box / sub).glob("*"):
                        f.unlink(missing_ok=True)
            for name in ("relay.jsonl", "inbound.jsonl", "events.jsonl"):
                (self.root / name).unlink(missing_ok=True)
            self.relay = mailbox.Maildir(self.root / "relay", create=True)
            self.outbox = mailbox.Maildir(self.root / "outbox", create=True)
        self._notify("reset", {})

    def is_empty(self) -> bool:
        """No stored mail and no log records."""
        if any(self.relay.keys()) or any(self.outbox.keys()):
            return False
        return not any(
            (self.root / n).exists() and (self.root / n).stat().st_size
            for n in ("relay.jsonl", "inbound.jsonl", "events.jsonl")
        )

    # ------------------------------------------------------------------ Maildirs
    def add_relayed(self, raw: bytes, *, outbox: bool) -> str:
        """Store a mail the relay accepted; also in the outbox if ``outbox``. Return its key."""
        with self._lock:
            key = str(self.relay.add(raw))
            if outbox:
                self.outbox.add(raw)
        return key

    def get_relayed(self, key: str) -> StoredMail | None:
        """The relayed mail with ``key`` (None if unknown)."""
        if "/" in key or key.startswith("."):
            return None
        try:
            with self.relay.get_file(key) as fh:
                return StoredMail(key, fh.read())
        except (KeyError, FileNotFoundError):
            return None

    def outbox_keys(self) -> list[str]:
        """Keys of the mail in the outbox Maildir."""
        return sorted(self.outbox.keys())

    # ------------------------------------------------------------------ logs
    def _append(self, name: str, record: Mapping[str, Any]) -> dict[str, Any]:
        entry = {"ts": time.time(), **record}
        line = json.dumps(entry, default=str, ensure_ascii=False)
        with self._lock, (self.root / name).open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        self._notify(name.removesuffix(".jsonl"), entry)
        return entry

    def _read(self, name: str) -> list[dict[str, Any]]:
        path = self.root / name
        if not path.exists():
            return []
        out = []
        with self._lock:
            lines = path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line after a crash
        return out

    def log_relay(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Record a mail the relay accepted (``ses_message_id``, ``mail_from``, ``rcpt_tos``,
        ``disposition``, ``key``, ``subject``)."""
        return self._append("relay.jsonl", record)

    def log_inbound(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Record an inbound delivery and the handler's outcome."""
        return self._append("inbound.jsonl", record)

    def log_event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Record an event seen on a bus."""
        return self._append("events.jsonl", record)

    def relay_log(self) -> list[dict[str, Any]]:
        """Every relay record, oldest first."""
        return self._read("relay.jsonl")

    def inbound_log(self) -> list[dict[str, Any]]:
        """Every inbound record, oldest first."""
        return self._read("inbound.jsonl")

    def event_log(self) -> list[dict[str, Any]]:
        """Every bus event record, oldest first."""
        return self._read("events.jsonl")

    def iter_outbox(self) -> Iterator[StoredMail]:
        """The outbox mail."""
        for key in self.outbox_keys():
            with self.outbox.get_file(key) as fh:
                yield StoredMail(key, fh.read())
