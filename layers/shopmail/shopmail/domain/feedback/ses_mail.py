"""Amazon SES notifications that arrive as mail (an SNS topic with an e-mail subscription).

The body is the SNS envelope in JSON (``"Type": "Notification"``, ``"Message": "{...}"``) or
the SES object itself; :func:`shopmail.domain.feedback.ses_events.parse_feedback_event` reads every
shape. Bounced recipients are then judged like any DSN recipient: SES's own bounce type is
not taken for ``hard`` (its ``Permanent`` covers refusals of our mail too), its per-recipient
action, status and diagnostic are.
"""

from __future__ import annotations

import json
import re
from typing import Final

from shopmail.domain.feedback.dsn import strip_type
from shopmail.domain.feedback.model import (
    Classification,
    MessageKind,
    RecipientResult,
)
from shopmail.domain.feedback.reasons import find_smtp_code, find_status, judge
from shopmail.domain.feedback.ses_events import FeedbackEvent, SesEventKind, parse_feedback_event
from shopmail.errors import InvalidEventError

MAX_JSON: Final = 1_000_000
_FOLD: Final = re.compile(r"\r?\n[ \t]")
_MARKERS: Final = ('"notificationType"', '"eventType"', '\\"notificationType\\"', '\\"eventType\\"')
# What SES's bounce sub-types say when a recipient comes without a diagnostic.
_SUB_TYPE_TEXT: Final = {
    "noemail": "the mailbox does not exist",
    "mailboxfull": "mailbox full",
    "messagetoolarge": "message too large",
    "contentrejected": "content rejected",
    "attachmentrejected": "attachment rejected",
}


def looks_like_ses(body: str) -> bool:
    """Whether ``body`` may be an SES notification in JSON (cheap test)."""
    head = body[:200].lstrip()
    return head.startswith("{") and any(marker in body[:MAX_JSON] for marker in _MARKERS)


def _bounce_rows(event: FeedbackEvent) -> tuple[RecipientResult, ...]:
    default_action = "failed" if (event.bounce_type or "").lower() == "permanent" else "delayed"
    context = _SUB_TYPE_TEXT.get((event.bounce_sub_type or "").replace(" ", "").lower(), "")
    rows: list[RecipientResult] = []
    for rcpt in event.recipients:
        diagnostic = " ".join(strip_type(rcpt.diagnostic or "").split())[:1000]
        action = (rcpt.action or default_action).lower()
        status = find_status(rcpt.status or "") or find_status(diagnostic)
        verdict = judge(diagnostic, status, None, action, context, address=rcpt.address)
        rows.append(
            verdict.row(
                rcpt.address,
                action,
                status=status,
                smtp_code=find_smtp_code(diagnostic),
                diagnostic=diagnostic,
            )
        )
    return tuple(rows)


def read_ses_mail(body: str, defects: list[str]) -> Classification | None:
    """The classification of an SES notification mailed as JSON (``None`` if it is not one).

    Parameters
    ----------
    body:
        The message's text.
    defects:
        Receives a description of an unreadable notification.
    """
    # long lines of the JSON come folded ("\n " inside strings): unfold before reading
    text = _FOLD.sub("", body[:MAX_JSON]).lstrip()
    try:
        # an SNS e-mail subscription puts an unsubscribe footer after the JSON: read the
        # first JSON value and ignore what follows it
        payload, _end = json.JSONDecoder(strict=False).raw_decode(text)
        event = parse_feedback_event(payload)
    except (ValueError, InvalidEventError) as exc:  # JSONDecodeError is a ValueError
        defects.append(f"SesNotificationUnreadable: {type(exc).__name__}")
        return None
    if event.kind == SesEventKind.BOUNCE:
        rows = _bounce_rows(event)
        failed = [r for r in rows if r.action == "failed"]
        first = failed[0] if failed else (rows[0] if rows else None)
        return Classification(
            kind=MessageKind.BOUNCE if failed or not rows else MessageKind.DELAY,
            recipients=rows,
            original_message_id=event.our_message_id,
            reason=first.reason if first else None,
            hard=first.hard if first else None,
            detector="ses",
        )
    if event.kind == SesEventKind.COMPLAINT:
        return Classification(
            kind=MessageKind.COMPLAINT,
            recipients=tuple(RecipientResult(a, None, None, None, False) for a in event.addresses),
            feedback_type=(event.complaint_type or "").lower() or None,
            original_message_id=event.our_message_id,
            detector="ses",
            original_rcpt_to=event.addresses,
        )
    if event.kind in (SesEventKind.DELAY, SesEventKind.DELIVERY):
        action = "delayed" if event.kind == SesEventKind.DELAY else "delivered"
        return Classification(
            kind=MessageKind.DELAY
            if event.kind == SesEventKind.DELAY
            else MessageKind.DELIVERY_REPORT,
            recipients=tuple(
                RecipientResult(a, action, None, None, False) for a in event.addresses
            ),
            original_message_id=event.our_message_id,
            detector="ses",
        )
    return None
