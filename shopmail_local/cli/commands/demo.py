"""``shopmail demo``: a scripted tour against the running local stack (``make run``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shopmail_local.demo import ORDER_EVENT, REPO, DemoConfig, run_demo


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo",
        help="scripted tour: order, customer reply, return with attachment, bounce",
        description=(
            "Runs against a stack started by `make run`: places an order (confirmation in the "
            "outbox), replies to it as the customer (routed with the order id), sends a return "
            "with an attachment and bounces a mail (suppression entry). Exit status 1 when a "
            "step fails."
        ),
    )
    p.add_argument("--endpoint", default="http://127.0.0.1:4566", help="moto server")
    p.add_argument("--smtp-host", default="127.0.0.1")
    p.add_argument("--smtp-port", type=int, default=2525, help="SES-inbound emulator")
    p.add_argument("--inbox", default="http://127.0.0.1:8025", help="web inbox URL")
    p.add_argument("--state", type=Path, default=REPO / ".local", help="the stack's state folder")
    p.add_argument("--ca-file", type=Path, default=None, help="default: STATE/certs/ca.pem")
    p.add_argument("--domain", default="", help="mail domain (default: the SES identity)")
    p.add_argument("--bus", default="shop")
    p.add_argument("--region", default="eu-west-1")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per wait")
    p.add_argument("--event", type=Path, default=ORDER_EVENT, help="the OrderPlaced event")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the tour; 0 when every step passed."""
    config = DemoConfig(
        endpoint=args.endpoint,
        smtp_host=args.smtp_host,
        smtp_port=args.smtp_port,
        inbox_url=args.inbox,
        state_dir=args.state,
        ca_file=args.ca_file,
        domain=args.domain,
        bus=args.bus,
        region=args.region,
        timeout=args.timeout,
        event_file=args.event,
    )
    results = run_demo(config)
    return 0 if results and all(r.ok for r in results) and len(results) == 5 else 1
