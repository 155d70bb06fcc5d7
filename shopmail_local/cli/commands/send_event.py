"""``shopmail send-event FILE.json``: put an event on the local shop bus."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``send-event`` sub-command."""
    p = subparsers.add_parser(
        "send-event",
        help="put an event (EventBridge JSON) on the local shop bus",
        description=(
            "FILE holds an EventBridge event ({source, detail-type, detail}) or a PutEvents "
            "entry ({Source, DetailType, Detail}), or a list of them."
        ),
    )
    p.add_argument("file", type=Path)
    p.add_argument("--bus", default=os.environ.get("SHOP_EVENT_BUS_NAME", "shop"))
    p.add_argument(
        "--endpoint",
        default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        help="the local moto server (default: %(default)s)",
    )
    p.add_argument("--region", default=os.environ.get("AWS_REGION", "eu-west-1"))
    p.set_defaults(func=run)


def to_entry(event: dict[str, Any], bus: str) -> dict[str, Any]:
    """A PutEvents entry from an event in either shape."""
    if "DetailType" in event or "Source" in event:
        detail = event.get("Detail", {})
        return {
            "Source": event["Source"],
            "DetailType": event["DetailType"],
            "Detail": detail if isinstance(detail, str) else json.dumps(detail),
            "EventBusName": event.get("EventBusName", bus),
        }
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event.get("detail", {})),
        "EventBusName": bus,
        "Resources": list(event.get("resources") or []),
    }


def run(args: argparse.Namespace) -> int:
    """Put the event(s) and print the event ids."""
    import boto3

    try:
        data = json.loads(args.file.read_text(encoding="utf-8"))
        events = data if isinstance(data, list) else [data]
        entries = [to_entry(e, args.bus) for e in events]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"{args.file}: not an event ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    make: Any = boto3.client
    client = make(
        "events",
        region_name=args.region,
        endpoint_url=args.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - local moto server
    )
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
