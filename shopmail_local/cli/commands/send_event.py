"""``shopmail send-event FILE.json``: put an event on the local shop bus.

The stack is found through its state file (``.local/stack.json``, see ``shopmail run``):
endpoint, region, bus and fake credentials come from there unless ``--endpoint`` /
``AWS_ENDPOINT_URL`` name another one. When the stack is not running the command says so in
one line and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shopmail.config import env_setting

from shopmail_local.cli.common import (
    AwsTarget,
    add_command,
    aws_target,
    cli_errors,
    find_stack,
    to_entry,
)

__all__ = ["register", "run", "to_entry"]


def register(subparsers: Any) -> None:
    """Add the ``send-event`` sub-command."""
    p = add_command(
        subparsers,
        "send-event",
        "put an event (EventBridge JSON) on the local shop bus",
        (
            "FILE holds an EventBridge event ({source, detail-type, detail}) or a PutEvents "
            "entry ({Source, DetailType, Detail}), or a list of them."
        ),
        wrap=True,
    )
    p.add_argument("file", type=Path)
    p.add_argument(
        "--bus", default=None, help="event bus (default: SHOP_EVENT_BUS_NAME, the stack's, shop)"
    )
    p.add_argument(
        "--endpoint",
        default=None,
        help="the local moto server (default: AWS_ENDPOINT_URL, else the running stack's)",
    )
    p.add_argument("--region", default=None, help="default: AWS_REGION or the stack's region")
    p.add_argument("--state", type=Path, default=None, help="the stack's state folder")
    p.set_defaults(func=run)


def _target(args: argparse.Namespace) -> AwsTarget:
    return aws_target(args.endpoint, args.region, args.state, local_only=True)


def _bus(args: argparse.Namespace) -> str:
    if args.bus:
        return str(args.bus)
    if env_setting("event_bus_name"):
        return env_setting("event_bus_name")
    stack = find_stack(args.state)
    return str(stack.get("bus") or "shop") if stack is not None else "shop"


@cli_errors("shopmail send-event", _target)
def run(args: argparse.Namespace) -> int:
    """Put the event(s) and print the event ids."""
    bus = _bus(args)
    try:
        data = json.loads(args.file.read_text(encoding="utf-8"))
        events = data if isinstance(data, list) else [data]
        entries = [to_entry(e, bus) for e in events]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"{args.file}: not an event ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    target = _target(args)
    target.require_reachable()
    client = target.client("events")
    failed = 0
    for i in range(0, len(entries), 10):
        resp = client.put_events(Entries=entries[i : i + 10])
        for entry, result in zip(entries[i : i + 10], resp["Entries"], strict=False):
            if "EventId" in result:
                print(f"{entry['DetailType']} -> {entry['EventBusName']}: {result['EventId']}")
            else:
                failed += 1
                print(f"{entry['DetailType']}: {result.get('ErrorMessage')}", file=sys.stderr)
    return 1 if failed else 0
