"""``shopmail dlq list|show|redrive [--queue inbound|outbound|feedback|erasure]``: the
dead-letter queues of the local or a deployed stack (``--stack NAME``).

Every queue has one body format (see ``shopmail.domain.dead_letters``): outbound, feedback and
erasure entries hold the original event as their consumer reads it; inbound entries are Lambda
invocation records (the SES event in ``requestPayload``). The reason of each entry comes from
its ``shopmail.*`` attributes (shopmail's own dead letters), EventBridge's ``ERROR_CODE`` /
``ERROR_MESSAGE``, the invocation record, or the redrive policy.

``list`` and ``show`` change nothing (messages are received and made visible again at once).
``redrive`` sends each entry back: outbound to the priority or bulk queue by its detail-type,
feedback and erasure to their queues, inbound to the inbound function (deployed: an
asynchronous ``Invoke``; local: the inbound use case in-process, as the local stack runs it),
and deletes it from the dead-letter queue once it is back. An entry that cannot go back
(truncated, unreadable) stays.

Output: ``list`` one line per entry (``--json``: one JSON object per line); ``show`` the entry
as JSON; ``redrive`` one JSON line per entry (``status``: ``redriven``, ``would_redrive``
with ``--dry-run``, ``dead_lettered_again`` (local inbound: it failed again, the new entry has
the new reason), ``kept`` with a ``reason``) and a summary on stderr; exit 1 when an entry was
kept or not found.

Examples::

    shopmail dlq list
    shopmail dlq show 3f1c...-... --queue outbound
    shopmail dlq redrive --queue outbound --dry-run
    shopmail dlq list --stack shopmail-prod --json
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shopmail.domain.dead_letters import DeadLetterEntry
from shopmail.domain.erasure.report import DeadLetterQueueName

from shopmail_local.cli.common import (
    CommandError,
    StackOutputs,
    add_command,
    add_stack_arguments,
    stack_cli_errors,
    usage_of,
)

QUEUES = tuple(str(q) for q in DeadLetterQueueName)
#: Where each queue's entries go back to (template outputs).
REDRIVE_TARGETS = {
    "outbound": "OutboundQueueUrl",
    "feedback": "FeedbackQueueUrl",
    "erasure": "ErasureQueueUrl",
}


def register(subparsers: Any) -> None:
    """Add the ``dlq`` sub-command."""
    p = add_command(subparsers, "dlq", "list, show or redrive dead-letter entries", __doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--queue", choices=QUEUES, help="one queue (default: every queue)")
    add_stack_arguments(common)
    sub = p.add_subparsers(dest="dlq_command", metavar="SUBCOMMAND")

    ls = sub.add_parser("list", parents=[common], help="one line per entry, with its reason")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.add_argument("--max", type=int, default=100, help="at most N entries per queue")
    ls.set_defaults(func=run_list)

    show = sub.add_parser("show", parents=[common], help="one entry with its body")
    show.add_argument("message_id", metavar="MESSAGE_ID")
    show.set_defaults(func=run_show)

    redrive = sub.add_parser("redrive", parents=[common], help="send entries back")
    redrive.add_argument("--id", dest="ids", action="append", default=[], metavar="MESSAGE_ID")
    redrive.add_argument("--max", type=int, default=100, help="at most N entries per queue")
    redrive.add_argument("--dry-run", action="store_true", help="say what would go, move nothing")
    redrive.set_defaults(func=run_redrive)

    p.set_defaults(func=usage_of(p))


def _queues(stack: StackOutputs, only: str | None) -> dict[str, Any]:
    from shopmail.bootstrap.erasure import dead_letter_queues

    queues = dead_letter_queues(stack.settings(), stack.clients())
    if only is not None and only not in queues:
        raise CommandError(f"stack {stack.name} has no {only} dead-letter queue")
    return {name: q for name, q in queues.items() if only is None or name == only}


def _line(queue: str, entry: DeadLetterEntry) -> str:
    fields = (queue, entry.message_id, entry.failed_at, str(entry.origin), entry.code, entry.reason)
    return "\t".join(f or "-" for f in fields)


@stack_cli_errors("shopmail dlq list")
def run_list(args: argparse.Namespace) -> int:
    """Print every entry with its reason."""
    stack = StackOutputs.from_args(args)
    stack.target.require_reachable()
    total = 0
    for name, queue in _queues(stack, args.queue).items():
        for entry in queue.entries(max(args.max, 0)):
            total += 1
            if args.json:
                print(json.dumps({"queue": name, **entry.summary()}, ensure_ascii=False))
            else:
                print(_line(name, entry))
    print(f"{total} dead-letter entr{'y' if total == 1 else 'ies'} ({stack.name})", file=sys.stderr)
    return 0


@stack_cli_errors("shopmail dlq show")
def run_show(args: argparse.Namespace) -> int:
    """Print one entry (summary, body, attributes) as JSON."""
    stack = StackOutputs.from_args(args)
    stack.target.require_reachable()
    for name, queue in _queues(stack, args.queue).items():
        for entry in queue.entries(None):
            if entry.message_id == args.message_id:
                try:
                    body: Any = json.loads(entry.body)
                except ValueError:
                    body = entry.body
                shown = {
                    "queue": name,
                    **entry.summary(),
                    "attributes": dict(entry.attributes),
                    "body": body,
                }
                print(json.dumps(shown, indent=2, ensure_ascii=False))
                return 0
    print(f"shopmail dlq show: no entry {args.message_id} ({stack.name})", file=sys.stderr)
    return 1


class _InboundRedrive:
    """Sends an inbound entry's SES event to the inbound function again."""

    def __init__(self, stack: StackOutputs) -> None:
        self.stack = stack
        self._service: Any = None

    def __call__(self, event: Any) -> str:
        if not self.stack.local:
            self.stack.target.client("lambda").invoke(
                FunctionName=self.stack.output("InboundFunctionName"),
                InvocationType="Event",
                Payload=json.dumps(event).encode("utf-8"),
            )
            return "redriven"
        if self._service is None:
            from shopmail.bootstrap.inbound import build_inbound_service
            from shopmail.config import Settings

            local = self.stack.target.stack
            env = (local.get("environment") if local is not None else None) or {}
            settings = Settings.from_env({str(k): str(v) for k, v in env.items()})
            self._service = build_inbound_service(settings, self.stack.clients())
        result = self._service.handle_event(event)
        return "dead_lettered_again" if result.dead_lettered else "redriven"


def _redrive_one(
    name: str, entry: DeadLetterEntry, stack: StackOutputs, inbound: _InboundRedrive
) -> str:
    from shopmail.domain.outbound.contracts import PRIORITY_TYPES

    assert entry.redrive_body is not None
    if name == "inbound":
        return inbound(json.loads(entry.redrive_body))
    output = REDRIVE_TARGETS[name]
    if name == "outbound" and entry.detail_type in PRIORITY_TYPES:
        output = "OutboundPriorityQueueUrl"
    stack.target.client("sqs").send_message(
        QueueUrl=stack.output(output), MessageBody=entry.redrive_body
    )
    return "redriven"


@stack_cli_errors("shopmail dlq redrive")
def run_redrive(args: argparse.Namespace) -> int:
    """Send entries back where they came from (see the module docs)."""
    stack = StackOutputs.from_args(args)
    stack.target.require_reachable()
    inbound = _InboundRedrive(stack)
    counts: dict[str, int] = {}
    wanted = set(args.ids)
    for name, queue in _queues(stack, args.queue).items():
        with queue.held(None if wanted else max(args.max, 0)) as messages:
            for message in messages:
                entry = queue.read(message)
                if wanted and entry.message_id not in wanted:
                    continue
                wanted.discard(entry.message_id)
                line: dict[str, Any] = {"queue": name, "messageId": entry.message_id}
                if entry.redrive_body is None:
                    line.update(status="kept", reason="the entry holds no input to send back")
                elif args.dry_run:
                    line.update(status="would_redrive", detailType=entry.detail_type)
                else:
                    line["status"] = _redrive_one(name, entry, stack, inbound)
                    queue.delete(message)
                counts[line["status"]] = counts.get(line["status"], 0) + 1
                print(json.dumps(line, ensure_ascii=False))
    for missing in sorted(wanted):
        counts["not_found"] = counts.get("not_found", 0) + 1
        print(json.dumps({"messageId": missing, "status": "not_found"}))
    print(json.dumps({"summary": counts, "stack": stack.name}), file=sys.stderr)
    return 1 if counts.get("kept") or counts.get("not_found") else 0
