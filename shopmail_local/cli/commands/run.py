"""``shopmail run``: the whole system offline (moto, SES emulators, event plumbing, web inbox)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from shopmail_local.faults import ProfileError, load_profile, profile_names
from shopmail_local.stack.release import PASSWORD_ENV, ReleaseTarget, ReleaseTls, parse_host_port
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
        "--unsubscribe-port",
        type=int,
        default=defaults.unsubscribe_port,
        help="the one-click unsubscribe endpoint (HTTPS)",
    )
    p.add_argument(
        "--ports",
        metavar="MOTO,INBOUND,RELAY,WEB[,UNSUBSCRIBE]",
        help="the ports at once, e.g. 4566,2525,2587,8025 (or 4566,2525,2587,8025,8026)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override (repeatable), e.g. MailDomain=shop.example",
    )
    p.add_argument(
        "--reset",
        action="store_true",
        help="start from an empty state: mail, logs and the saved AWS data are removed "
        "(the local CA is kept)",
    )
    p.add_argument(
        "--faults",
        default=defaults.faults,
        metavar="PROFILE",
        help="inject faults into the functions' AWS calls and the SES relay: "
        f"{', '.join(profile_names())} or a .toml profile (default: none)",
    )
    p.add_argument(
        "--fault-seed", type=int, default=defaults.fault_seed, help="seed of the fault profile"
    )
    rel = p.add_argument_group(
        "release",
        "send a mail from the web inbox to a real address through a real SMTP server "
        "(off unless --release-smtp is given)",
    )
    rel.add_argument("--release-smtp", metavar="HOST:PORT", help="the SMTP server to release to")
    rel.add_argument(
        "--release-tls",
        choices=[t.value for t in ReleaseTls],
        default=ReleaseTls.STARTTLS.value,
        help="starttls (default), tls (implicit TLS) or none",
    )
    rel.add_argument(
        "--release-user", default="", help=f"AUTH user (password from ${PASSWORD_ENV})"
    )
    rel.add_argument("--release-ca-file", default="", help="CA bundle for the server's certificate")
    rel.add_argument(
        "--release-allow",
        default="",
        metavar="REGEX",
        help="addresses mail may be released to (full match, case-insensitive)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def release_target(args: argparse.Namespace) -> ReleaseTarget | None:
    """The release server of the arguments (``None`` when release is off).

    Raises
    ------
    ValueError
        For a bad ``--release-smtp`` or ``--release-allow``.
    """
    import re

    if not args.release_smtp:
        return None
    host, port = parse_host_port(args.release_smtp)
    if args.release_allow:
        try:
            re.compile(args.release_allow)
        except re.error as exc:
            raise ValueError(f"--release-allow is not a regular expression: {exc}") from exc
    password = os.environ.get(PASSWORD_ENV, "")
    if args.release_user and not password:
        raise ValueError(f"--release-user needs the password in ${PASSWORD_ENV}")
    return ReleaseTarget(
        host=host,
        port=port,
        tls=ReleaseTls(args.release_tls),
        username=args.release_user,
        password=password,
        ca_file=args.release_ca_file,
        allow=args.release_allow,
    )


def run(args: argparse.Namespace) -> int:
    """Start the stack, print the banner, wait for Ctrl-C, stop."""
    from shopmail_local.stack.runner import LocalStack, StateFolderInUseError

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
            ports = [int(x) for x in args.ports.split(",")]
            if len(ports) not in (4, 5):
                raise ValueError(args.ports)
        except ValueError:
            print("--ports expects four or five comma-separated numbers", file=sys.stderr)
            return 2
        args.moto_port, args.inbound_port, args.relay_port, args.web_port = ports[:4]
        if len(ports) == 5:
            args.unsubscribe_port = ports[4]
    try:
        release = release_target(args)
        load_profile(args.faults)
    except (ValueError, ProfileError) as exc:
        print(f"shopmail run: {exc}", file=sys.stderr)
        return 2
    config = RunConfig(
        state_dir=args.state.resolve(),
        template=args.template.resolve(),
        moto_port=args.moto_port,
        inbound_port=args.inbound_port,
        relay_port=args.relay_port,
        web_port=args.web_port,
        unsubscribe_port=args.unsubscribe_port,
        parameters=params,
        reset=args.reset,
        release=release,
        faults=args.faults,
        fault_seed=args.fault_seed,
    )
    stack = LocalStack(config)
    started = time.monotonic()
    try:
        stack.start()
    except StateFolderInUseError as exc:
        stack.stop()
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
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
    signal.signal(signal.SIGHUP, on_signal)  # terminal closed: still a clean stop
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("stopping ... (saving the AWS data for the next start)", flush=True)
        stack.stop()
        print(f"stopped; state kept in {config.state_dir} (`shopmail run --reset` clears it)")
    return 0
