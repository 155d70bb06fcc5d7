"""``shopmail replay [--queue-url URL] [--max N] [--dry-run]``: re-drive inbound dead letters.

Reads the inbound dead-letter queue (``--queue-url``, else ``INBOUND_DLQ_URL``), takes the
original SES event from each entry (``event`` of entries the service wrote, or
``requestPayload`` of Lambda's on-failure destination records), runs the inbound service on it
in-process with the same settings and adapters as the function (environment as in Lambda;
``AWS_ENDPOINT_URL`` points at a local moto server), and deletes the entry when the run
succeeded. Actions that completed before the failure are skipped (idempotency records), so a
replay only does what is still missing.

Per entry one JSON line on stdout: ``status`` is ``replayed``, ``dead_lettered_again`` (a
permanent error again: the service wrote a new entry with the new reason and the old one is
deleted), ``failed`` (a transient error: the entry stays), ``unreadable`` (stays) or
``would_replay`` (``--dry-run``: nothing runs, nothing is deleted); an entry the run itself
wrote for an event it already replayed is left alone (``skipped``). Exit code 1 when any entry
failed or was unreadable.

Against the local stack nothing has to be exported: without ``AWS_ENDPOINT_URL`` and AWS
credentials in the environment, the running stack's state file (``.local/stack.json``) gives
the endpoint, the run's credentials and the functions' environment (``INBOUND_DLQ_URL``, table
and bucket names). A missing queue or a stopped stack prints one line and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from shopmail.config import Settings
from shopmail.errors import ShopmailError

from shopmail_local.cli.common import aws_target, cli_errors

SqsClient = Any
ServiceFactory = Callable[[Settings], Any]


def register(subparsers: Any) -> None:
    """Add the ``replay`` sub-command."""
    p = subparsers.add_parser(
        "replay", help="re-drive inbound dead-letter entries", description=__doc__
    )
    p.add_argument("--queue-url", help="the inbound DLQ (default: INBOUND_DLQ_URL)")
    p.add_argument("--max", type=int, default=100, help="at most N entries (default 100)")
    p.add_argument("--dry-run", action="store_true", help="list entries, change nothing")
    p.add_argument("--state", help="the local stack's state folder (default: .local)")
    p.set_defaults(func=run)


def use_local_stack(state: str | None = None) -> bool:
    """Take the running local stack's endpoint, credentials and environment when nothing else
    is configured (no ``AWS_ENDPOINT_URL``, no AWS credentials); return whether it did.

    Variables already set are kept.
    """
    target = aws_target(None, None, state)
    if target.stack is None or not target.local:
        return False
    env = target.stack.get("environment") or {}
    key, secret = target.stack.credentials
    wanted = {
        **{str(k): str(v) for k, v in env.items() if isinstance(v, (str, int))},
        "AWS_ENDPOINT_URL": target.stack.endpoint,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": target.stack.region,
        "AWS_DEFAULT_REGION": target.stack.region,
    }
    for name, value in wanted.items():
        if value:
            os.environ.setdefault(name, value)
    return True


def original_event(body: str) -> Mapping[str, Any] | None:
    """The SES event inside a dead-letter message body (``None`` when there is none)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, Mapping):
        return None
    for key in ("event", "requestPayload"):
        event = data.get(key)
        if isinstance(event, Mapping) and event.get("Records"):
            return event
    if data.get("Records"):
        return data
    return None


def _ses_id(event: Mapping[str, Any]) -> str | None:
    try:
        value = event["Records"][0]["ses"]["mail"]["messageId"]
    except (KeyError, IndexError, TypeError):
        return None
    return str(value)


def _default_service(settings: Settings) -> Any:
    from shopmail.bootstrap.inbound import inbound_service

    return inbound_service(settings)


def _sqs(settings: Settings) -> SqsClient:
    from shopmail.bootstrap.clients import AwsClients

    return AwsClients.from_settings(settings).sqs()


def replay(
    sqs: SqsClient,
    queue_url: str,
    service: Any,
    *,
    max_entries: int = 100,
    dry_run: bool = False,
    out: Any = None,
) -> dict[str, int]:
    """Re-drive up to ``max_entries`` entries of ``queue_url`` through ``service``.

    Returns
    -------
    dict
        Count per status.
    """
    out = out or sys.stdout
    counts: dict[str, int] = {}
    seen: set[str] = set()
    handled: set[str | None] = set()
    keep: list[str] = []  # receipt handles to make visible again at the end
    done = 0
    while done < max_entries:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_entries - done),
            VisibilityTimeout=120,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for msg in fresh:
            seen.add(msg["MessageId"])
            done += 1
            event = original_event(msg.get("Body", ""))
            line: dict[str, Any] = {"sqsMessageId": msg["MessageId"]}
            if event is None:
                status = "unreadable"
                line["reason"] = "no SES event in the entry"
                keep.append(msg["ReceiptHandle"])
            else:
                line["messageId"] = _ses_id(event)
                if line["messageId"] in handled:  # written again by this run: leave it
                    status = "skipped"
                    line["reason"] = "already replayed in this run"
                    keep.append(msg["ReceiptHandle"])
                elif dry_run:
                    status = "would_replay"
                    keep.append(msg["ReceiptHandle"])
                else:
                    handled.add(line["messageId"])
                    try:
                        result = service.handle_event(event)
                    except ShopmailError as exc:
                        status = "failed"
                        line["reason"] = exc.reason
                        keep.append(msg["ReceiptHandle"])
                    else:
                        status = "dead_lettered_again" if result.dead_lettered else "replayed"
                        line["result"] = result.to_dict()
                        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
            line["status"] = status
            counts[status] = counts.get(status, 0) + 1
            print(json.dumps(line, ensure_ascii=False), file=out)
            if done >= max_entries:
                break
    for handle in keep:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return counts


def _target(args: argparse.Namespace) -> Any:
    return aws_target(None, None, getattr(args, "state", None))


@cli_errors("shopmail replay", _target)
def run(
    args: argparse.Namespace,
    service_factory: ServiceFactory | None = None,
) -> int:
    """Run ``shopmail replay``."""
    if use_local_stack(getattr(args, "state", None)):
        _target(args).require_reachable()
    settings = Settings.from_env()
    queue_url = args.queue_url or settings.inbound_dlq_url
    if not queue_url:
        print("replay: no queue (use --queue-url or set INBOUND_DLQ_URL)", file=sys.stderr)
        return 2
    service = None if args.dry_run else (service_factory or _default_service)(settings)
    counts = replay(
        _sqs(settings), queue_url, service, max_entries=max(args.max, 0), dry_run=args.dry_run
    )
    print(json.dumps({"summary": counts}), file=sys.stderr)
    return 1 if counts.get("failed") or counts.get("unreadable") else 0
