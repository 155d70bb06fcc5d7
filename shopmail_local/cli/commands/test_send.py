"""``shopmail test-send TYPE --to ADDRESS [--stack NAME]``: one mail through the whole pipeline.

Puts the sample event ``events/outbound/TYPE.json`` on the stack's shop bus (recipient
``--to``, a fresh aggregate id ``test-...`` so it is never a duplicate), then watches the bus
(a temporary rule and queue, removed at the end) for what shopmail says about it:
``EmailSent`` (the SES message id), ``EmailFailed`` or ``EmailSuppressed``, and then the
delivery, bounce, complaint or delay event of that SES message. SES's mailbox simulator
addresses (``success@``, ``bounce@``, ``complaint@simulator.amazonses.com``) work from the
SES sandbox too.

Works against the running local stack or a deployed one (``--stack NAME``; region and
credentials from the usual AWS variables; the caller needs ``events:PutRule/PutTargets/
RemoveTargets/DeleteRule`` and ``sqs:CreateQueue/SetQueueAttributes/ReceiveMessage/
DeleteQueue`` for the temporary watch).

Output: one JSON line per step (``published``, the outbound event, the feedback event) and a
summary line ``{"outcome": ...}``: ``delivered``, ``bounced``, ``complained``, ``delayed``,
``sent`` (no feedback within ``--timeout``), ``failed``, ``suppressed`` or ``timeout``.
Exit 0 when a delivery, bounce, complaint or delay came back; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from shopmail.domain.outbound.contracts import EVENT_TYPES, validate
from shopmail.errors import ShopmailError

from shopmail_local.cli.common import (
    REPO,
    CommandError,
    StackOutputs,
    add_command,
    add_stack_arguments,
    stack_cli_errors,
)
from shopmail_local.stack.provision import service_policy

SAMPLES = REPO / "events" / "outbound"
WATCHED_SOURCES = ("shopmail.outbound", "shopmail.feedback")
#: Outbound events that end the test without a mail.
NO_MAIL = {"EmailFailed": "failed", "EmailSuppressed": "suppressed"}
#: Feedback events and the outcome they mean.
FEEDBACK = {
    "EmailDelivered": "delivered",
    "EmailBounced": "bounced",
    "EmailComplained": "complained",
    "EmailDelayed": "delayed",
}


def register(subparsers: Any) -> None:
    """Add the ``test-send`` sub-command."""
    p = add_command(
        subparsers,
        "test-send",
        "send one sample mail through the (deployed) pipeline and report what happened",
        __doc__,
    )
    p.add_argument("type", metavar="TYPE", help="a detail-type with a sample, e.g. OrderPlaced")
    p.add_argument("--to", required=True, metavar="ADDRESS", help="the recipient")
    p.add_argument("--locale", help="the mail's locale (default: the sample's)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    add_stack_arguments(p)
    p.set_defaults(func=run)


def _set(detail: dict[str, Any], path: str, value: str) -> None:
    node = detail
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def sample_event(detail_type: str, to: str, locale: str | None = None) -> dict[str, Any]:
    """The sample event of ``detail_type`` for ``to`` with a fresh aggregate (and version).

    Raises
    ------
    CommandError
        No sample for the type, or the event does not validate (e.g. ``--to`` is no address).
    """
    spec = EVENT_TYPES.get(detail_type)
    sample = SAMPLES / f"{detail_type}.json"
    if spec is None or not sample.is_file():
        known = ", ".join(sorted(p.stem for p in SAMPLES.glob("*.json")))
        raise CommandError(f"no sample event for {detail_type!r}", f"one of: {known}")
    event = json.loads(sample.read_text(encoding="utf-8"))
    detail = event["detail"]
    marker = f"test-{secrets.token_hex(6)}"
    detail.setdefault("recipient", {})["email"] = to
    _set(detail, spec.aggregate, marker)
    if spec.version:
        _set(detail, spec.version, marker)
    if locale:
        detail["locale"] = locale
    try:
        validate({**event, "id": marker})
    except ShopmailError as exc:
        raise CommandError(f"the test event does not validate: {exc.reason}") from exc
    return event


@contextmanager
def watch_bus(stack: StackOutputs, bus: str) -> Iterator[tuple[Any, str]]:
    """A temporary queue receiving shopmail's events on ``bus``; removed at exit."""
    sqs = stack.target.client("sqs")
    events = stack.target.client("events")
    name = f"shopmail-test-send-{secrets.token_hex(4)}"
    url = sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "3600"})[
        "QueueUrl"
    ]
    try:
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        rule_arn = events.put_rule(
            Name=name,
            EventBusName=bus,
            EventPattern=json.dumps({"source": list(WATCHED_SOURCES)}),
            State="ENABLED",
        )["RuleArn"]
        policy = service_policy(
            "events.amazonaws.com",
            "sqs:SendMessage",
            Resource=arn,
            Condition={"ArnEquals": {"aws:SourceArn": rule_arn}},
        )
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "watch", "Arn": arn}])
        try:
            yield sqs, url
        finally:
            events.remove_targets(Rule=name, EventBusName=bus, Ids=["watch"])
            events.delete_rule(Name=name, EventBusName=bus)
    finally:
        sqs.delete_queue(QueueUrl=url)


def _ses_id(detail: Mapping[str, Any]) -> str:
    return str(detail.get("sesMessageId") or detail.get("ses_message_id") or "")


def _ours(detail: Mapping[str, Any], aggregate: str, event_id: str) -> bool:
    ids = {detail.get("aggregateId"), detail.get("eventId"), detail.get("sourceEventId")}
    return aggregate in ids or event_id in ids


class Follower:
    """What the bus says about one test event, in the order it matters.

    The feedback of a message can reach the watch queue before the outbound ``EmailSent`` that
    names its SES message id (outbound publishes at the end of its batch, SES publishes as soon
    as the mail is accepted; EventBridge keeps no order): feedback events are held until the SES
    id is known, then matched.
    """

    def __init__(self, aggregate: str, event_id: str) -> None:
        self.aggregate, self.event_id = aggregate, event_id
        self.outcome, self.ses_id = "timeout", ""
        self._held: list[tuple[str, Mapping[str, Any]]] = []

    @property
    def done(self) -> bool:
        """An end was reached: feedback, failed or suppressed."""
        return self.outcome not in ("timeout", "sent")

    def see(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Take one bus event; return the steps it completes (to print, in order)."""
        kind, detail = str(event.get("detail-type")), event.get("detail") or {}
        if self.done:
            return []
        if kind == "EmailSent" and _ours(detail, self.aggregate, self.event_id):
            self.outcome, self.ses_id = "sent", _ses_id(detail)
            steps = [{"step": kind, "detail": detail}]
            held, self._held = self._held, []
            for held_kind, held_detail in held:
                steps += self._feedback(held_kind, held_detail)
            return steps
        if kind in NO_MAIL and _ours(detail, self.aggregate, self.event_id):
            self.outcome = NO_MAIL[kind]
            return [{"step": kind, "detail": detail}]
        if kind in FEEDBACK:
            if not self.ses_id:
                self._held.append((kind, detail))
                return []
            return self._feedback(kind, detail)
        return []

    def _feedback(self, kind: str, detail: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.done or _ses_id(detail) != self.ses_id:
            return []
        self.outcome = FEEDBACK[kind]
        return [{"step": kind, "detail": detail}]


@stack_cli_errors("shopmail test-send")
def run(args: argparse.Namespace) -> int:
    """Publish the test event and follow it (see the module docs)."""
    event = sample_event(args.type, args.to, args.locale)
    stack = StackOutputs.from_args(args)
    stack.target.require_reachable()
    bus = stack.output("ShopEventBusName")
    source = stack.outputs.get("ShopEventSource") or "shop"
    aggregate = str(EVENT_TYPES[args.type].aggregate)
    marker: Any = event["detail"]
    for part in aggregate.split("."):
        marker = marker[part]
    with watch_bus(stack, bus) as (sqs, url):
        put = stack.target.client("events").put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": args.type,
                    "Detail": json.dumps(event["detail"]),
                    "EventBusName": bus,
                }
            ]
        )["Entries"][0]
        if "EventId" not in put:
            raise CommandError(f"PutEvents refused the event: {put.get('ErrorMessage')}")
        event_id = str(put["EventId"])
        print(json.dumps({"step": "published", "eventId": event_id, "aggregateId": marker}))
        follow = Follower(str(marker), event_id)
        deadline = time.monotonic() + max(args.timeout, 1.0)
        while time.monotonic() < deadline and not follow.done:
            for message in sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", []):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                for step in follow.see(json.loads(message["Body"])):
                    print(json.dumps(step, ensure_ascii=False))
        outcome, ses_id = follow.outcome, follow.ses_id
    summary = {"type": args.type, "eventId": event_id, "sesMessageId": ses_id or None}
    print(json.dumps({**summary, "outcome": outcome, "stack": stack.name}))
    return 0 if outcome in FEEDBACK.values() else 1


__all__ = ["Follower", "register", "run", "sample_event"]
