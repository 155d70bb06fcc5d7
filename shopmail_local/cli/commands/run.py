"""``shopmail run``: the whole system offline (moto, SES emulators, event plumbing, web inbox)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from shopmail_local.stack.runner import RunConfig


def register(subparsers: Any) -> None:
    """Add the ``run`` sub-command."""
    p = subparsers.add_parser(
        "run",
        help="start the offline stack (moto, SES inbound + relay emulators, web inbox)",
        description="Start everything on 127.0.0.1; Ctrl-C stops it cleanly.",
    )
    defaults = RunConfig()
    p.add_argument("--state", type=Path, default=defaults.state_dir, help="state folder")
    p.add_argument("--template", type=Path, default=defaults.template)
    p.add_argument("--moto-port", type=int, default=defaults.moto_port)
    p.add_argument("--inbound-port", type=int, default=defaults.inbound_port)
    p.add_argument("--relay-port", type=int, default=defaults.relay_port)
    p.add_argument("--web-port", type=int, default=defaults.web_port)
    p.add_argument(
        "--ports",
        metavar="MOTO,INBOUND,RELAY,WEB",
        help="all four ports at once, e.g. 4566,2525,2587,8025",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override (repeatable), e.g. MailDomain=shop.example",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the stack, print the banner, wait for Ctrl-C, stop."""
    from shopmail_local.stack.runner import LocalStack

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("werkzeug", "botocore", "urllib3", "mail.log", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    params: dict[str, str] = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"--param {item!r}: expected NAME=VALUE", file=sys.stderr)
            return 2
        params[name] = value
    if args.ports:
        try:
            args.moto_port, args.inbound_port, args.relay_port, args.web_port = (
                int(x) for x in args.ports.split(",")
            )
        except ValueError:
            print("--ports expects four comma-separated numbers", file=sys.stderr)
            return 2
    config = RunConfig(
        state_dir=args.state.resolve(),
        template=args.template.resolve(),
        moto_port=args.moto_port,
        inbound_port=args.inbound_port,
        relay_port=args.relay_port,
        web_port=args.web_port,
        parameters=params,
    )
    stack = LocalStack(config)
    started = time.monotonic()
    try:
        stack.start()
    except OSError as exc:
        stack.stop()
        print(
            f"cannot start: {exc} (is another stack running? ports are configurable)",
            file=sys.stderr,
        )
        return 1
    except BaseException:  # includes Ctrl-C during start-up
        stack.stop()
        raise
    print(stack.banner())
    print(f"(ready in {time.monotonic() - started:.1f} s)", flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("stopping ...", flush=True)
        stack.stop()
    return 0
