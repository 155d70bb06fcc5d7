"""Fault harness: shop events and inbound mail through the real handlers under faults.

``python -m bench.faults --events 1000 --mails 1000 --profile chaos --seed 1`` prints the
faults x outcomes tables (``--json`` for JSON) and exits 1 when an input was lost, doubled,
dead-lettered without a reason or never settled (see :mod:`shopmail_local.faults.harness`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from shopmail_local.faults import profile_names
from shopmail_local.faults.harness import run_harness


def main(argv: list[str] | None = None) -> int:
    """Run the harness; exit status 1 on a violation."""
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--events", type=int, default=1000, help="shop events (outbound)")
    parser.add_argument("--mails", type=int, default=1000, help="inbound mails")
    parser.add_argument(
        "--profile", default="chaos", help=f"one of {', '.join(profile_names())} or a .toml file"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON report to FILE")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the functions' logs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL, force=True)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if not args.verbose:  # the functions' JSON logs (Powertools reads the level on import)
        os.environ["POWERTOOLS_LOG_LEVEL"] = "CRITICAL"
    report = run_harness(args.events, args.mails, args.profile, args.seed)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out, indent=2)
    return 1 if report.violations() else 0


if __name__ == "__main__":
    sys.exit(main())
