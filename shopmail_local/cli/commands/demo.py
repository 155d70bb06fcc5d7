"""``shopmail demo``: a scripted tour against the running local stack (``make run``).

Endpoints, ports, the state folder and the mail domain come from the running stack's state
file (``.local/stack.json``) unless given.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shopmail_local.cli.common import DEFAULT_ENDPOINT, add_command, find_stack, state_dir
from shopmail_local.demo import ORDER_EVENT, DemoConfig, run_demo


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    p = add_command(
        subparsers,
        "demo",
        "scripted tour: order, customer reply, return with attachment, bounce",
        (
            "Runs against a stack started by `make run`: places an order (confirmation in the "
            "outbox), replies to it as the customer (routed with the order id), sends a return "
            "with an attachment and bounces a mail (suppression entry). Exit status 1 when a "
            "step fails."
        ),
        wrap=True,
    )
    p.add_argument(
        "--endpoint", default=None, help=f"moto server (default: the stack's, {DEFAULT_ENDPOINT})"
    )
    p.add_argument("--smtp-host", default=None)
    p.add_argument("--smtp-port", type=int, default=None, help="SES-inbound emulator")
    p.add_argument("--inbox", default=None, help="web inbox URL")
    p.add_argument("--state", type=Path, default=None, help="the stack's state folder")
    p.add_argument("--ca-file", type=Path, default=None, help="default: STATE/certs/ca.pem")
    p.add_argument("--domain", default="", help="mail domain (default: the SES identity)")
    p.add_argument("--bus", default=None, help="default: the stack's (shop)")
    p.add_argument("--region", default=None, help="default: the stack's (eu-west-1)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per wait")
    p.add_argument("--event", type=Path, default=ORDER_EVENT, help="the OrderPlaced event")
    p.set_defaults(func=run)


def config_from(args: argparse.Namespace) -> DemoConfig:
    """The tour's configuration: the arguments, else the stack file, else the defaults."""
    folder = state_dir(args.state)
    stack = find_stack(folder)
    defaults = DemoConfig()

    def pick(given: Any, key: str, fallback: Any) -> Any:
        if given not in (None, ""):
            return given
        value = stack.get(key) if stack is not None else None
        return value if value not in (None, "") else fallback

    web = stack.port("web") if stack else 0
    inbound = stack.port("inbound") if stack else 0
    return DemoConfig(
        endpoint=pick(args.endpoint, "endpoint", defaults.endpoint),
        smtp_host=pick(args.smtp_host, "host", defaults.smtp_host),
        smtp_port=args.smtp_port or inbound or defaults.smtp_port,
        inbox_url=args.inbox
        or (stack.get("web_url") if stack and web else None)
        or defaults.inbox_url,
        state_dir=folder,
        ca_file=args.ca_file,
        domain=args.domain or (str(stack.get("mail_domain") or "") if stack else ""),
        bus=pick(args.bus, "bus", defaults.bus),
        region=pick(args.region, "region", defaults.region),
        timeout=args.timeout,
        event_file=args.event,
    )


def run(args: argparse.Namespace) -> int:
    """Run the tour; 0 when every step passed."""
    results = run_demo(config_from(args))
    return 0 if results and all(r.ok for r in results) and len(results) == 5 else 1
