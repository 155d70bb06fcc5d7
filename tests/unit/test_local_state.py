"""The local stack's state folder survives a restart."""

from __future__ import annotations

from pathlib import Path

from shopmail_local.stack.state import StateStore

RAW = b"From: a@shop.example\r\nTo: b@example.com\r\nSubject: Hallo\r\n\r\nbody\r\n"


def test_outbox_and_logs_survive_a_new_store(tmp_path: Path) -> None:
    first = StateStore(tmp_path)
    key = first.add_relayed(RAW, outbox=True)
    first.add_relayed(RAW.replace(b"Hallo", b"Loop"), outbox=False)
    first.log_relay({"key": key, "subject": "Hallo"})
    first.log_event({"source": "shop", "event": {"detail-type": "OrderPlaced"}})

    again = StateStore(tmp_path)
    assert [m.message()["Subject"] for m in again.iter_outbox()] == ["Hallo"]
    stored = again.get_relayed(key)
    assert stored is not None and stored.raw == RAW
    assert [r["subject"] for r in again.relay_log()] == ["Hallo"]
    assert again.event_log()[0]["event"]["detail-type"] == "OrderPlaced"
    assert len(list(again.relay.keys())) == 2


def test_unknown_or_unsafe_keys_and_torn_lines(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    assert store.get_relayed("nope") is None
    assert store.get_relayed("../outbox") is None
    assert store.get_relayed(".hidden") is None
    store.log_inbound({"kind": "received", "message_id": "m1"})
    with (tmp_path / "inbound.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"kind": "recei')  # a crash mid-write
    assert [r["message_id"] for r in store.inbound_log()] == ["m1"]
