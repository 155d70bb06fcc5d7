"""A lenient parser of SES feedback events (bounces, complaints, deliveries, delays, rejects).

SES reports what happened to sent mail through several channels, each with its own wrapping:

* EventBridge, default bus (``source: aws.ses``, detail-type ``Email Bounced`` ...): the
  configuration-set event is in ``detail`` (``eventType``).
* Configuration-set event publishing (SNS/Firehose): the object itself, ``eventType``.
* SNS identity notifications: ``notificationType`` (Bounce, Complaint, Delivery).
* Any of these inside an SNS envelope (``Type: Notification`` with ``Message`` a JSON string),
  an SNS Lambda record (``Sns``) or an SQS record (``body`` a JSON string).

:func:`parse_feedback_event` unwraps all of them and returns one frozen
:class:`FeedbackEvent`. Unknown fields are ignored; an event that lacks what is needed
(``mail.messageId``, the type, the recipients of a bounce or complaint) raises
:class:`~shopmail.errors.InvalidEventError` naming the field.

Example
-------
>>> ev = parse_feedback_event({"eventType": "Bounce",
...     "mail": {"messageId": "0102abc", "timestamp": "2026-01-01T00:00:00Z"},
...     "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "feedbackId": "f1",
...                "bouncedRecipients": [{"emailAddress": "a@example.org"}]}})
>>> ev.kind, ev.feedback_id, ev.addresses
('bounce', 'f1', ('a@example.org',))
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from shopmail.domain.addresses import address_hash
from shopmail.domain.feedback.model import MessageKind
from shopmail.domain.outbound.message_ids import MessageRef, parse_message_id
from shopmail.errors import InvalidEventError


class SesEventKind(StrEnum):
    """The SES event types shopmail tells apart (``eventType`` / ``notificationType``)."""

    BOUNCE = MessageKind.BOUNCE.value
    COMPLAINT = MessageKind.COMPLAINT.value
    DELIVERY = "delivery"
    DELAY = MessageKind.DELAY.value
    REJECT = "reject"
    OTHER = "other"


# SES event type -> (kind, key of the type-specific object)
_TYPES: Final[dict[str, tuple[SesEventKind, str]]] = {
    "bounce": (SesEventKind.BOUNCE, "bounce"),
    "complaint": (SesEventKind.COMPLAINT, "complaint"),
    "delivery": (SesEventKind.DELIVERY, "delivery"),
    "deliverydelay": (SesEventKind.DELAY, "deliveryDelay"),
    "reject": (SesEventKind.REJECT, "reject"),
    "send": (SesEventKind.OTHER, "send"),
    "open": (SesEventKind.OTHER, "open"),
    "click": (SesEventKind.OTHER, "click"),
    "renderingfailure": (SesEventKind.OTHER, "failure"),
    "subscription": (SesEventKind.OTHER, "subscription"),
}
# EventBridge detail-type -> SES event type (used when detail lacks eventType)
_DETAIL_TYPES: Final[dict[str, str]] = {
    "email bounced": "Bounce",
    "email complaint received": "Complaint",
    "email delivered": "Delivery",
    "email delivery delayed": "DeliveryDelay",
    "email rejected": "Reject",
    "email sent": "Send",
    "email opened": "Open",
    "email clicked": "Click",
    "email rendering failed": "Rendering Failure",
    "email subscribed": "Subscription",
}
_MAX_UNWRAP = 4
_ID_TEXT = re.compile(r"<?sm\.[^\s<>@]+@[A-Za-z0-9.-]+>?")


@dataclass(frozen=True, slots=True)
class FeedbackRecipient:
    """One recipient an event is about.

    Attributes
    ----------
    address:
        The recipient address (``emailAddress``), stripped.
    action, status, diagnostic:
        Bounce/delay details when SES gives them (``failed``, ``5.1.1``, ``smtp; 550 ...``).
    """

    address: str
    action: str | None = None
    status: str | None = None
    diagnostic: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """One SES feedback event, whatever channel it came through.

    Attributes
    ----------
    kind:
        ``bounce``, ``complaint``, ``delivery``, ``delay``, ``reject`` or ``other``.
    event_type:
        SES's own name (``Bounce``, ``DeliveryDelay``, ``Open`` ...).
    ses_message_id:
        ``mail.messageId``: the id SES returned when the mail was sent (``250 Ok <id>``).
    feedback_id:
        ``bounce.feedbackId`` / ``complaint.feedbackId`` (``None`` for other kinds).
    timestamp:
        When the event happened (the type object's ``timestamp``, else ``mail.timestamp``).
    recipients:
        The recipients the event is about.
    bounce_type, bounce_sub_type:
        ``Permanent`` / ``General`` ... (bounces only).
    complaint_type, complaint_sub_type:
        ``complaintFeedbackType`` (``abuse`` ...) and ``complaintSubType``
        (``None`` | ``OnAccountSuppressionList``), complaints only.
    delay_type:
        ``deliveryDelay.delayType`` (``MailboxFull``, ``TransientCommunicationFailure`` ...).
    reject_reason:
        ``reject.reason`` (rejects only).
    tags:
        ``mail.tags`` (configuration-set events only): name -> values.
    our_message_id:
        The shopmail Message-ID of the mail (from ``mail.headers`` Message-ID / References or
        ``commonHeaders.messageId``) when it carries one.
    source:
        ``mail.source`` (our sender address).
    channel:
        ``eventbridge``, ``event_publishing`` or ``notification``.
    topic_arn:
        The SNS topic the event came through (``None`` when it was not wrapped by SNS).
    bus_source:
        The ``source`` of the EventBridge event it came in (``aws.ses``), if any.
    configuration_set:
        The configuration set SES names in ``mail.tags`` (``ses:configuration-set``).
    """

    kind: str
    event_type: str
    ses_message_id: str
    feedback_id: str | None = None
    timestamp: str = ""
    recipients: tuple[FeedbackRecipient, ...] = ()
    bounce_type: str | None = None
    bounce_sub_type: str | None = None
    complaint_type: str | None = None
    complaint_sub_type: str | None = None
    delay_type: str | None = None
    reject_reason: str | None = None
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    our_message_id: str | None = None
    source: str | None = None
    channel: str = "event_publishing"
    topic_arn: str | None = None
    bus_source: str | None = None
    configuration_set: str | None = None

    @property
    def addresses(self) -> tuple[str, ...]:
        """The recipient addresses, in event order."""
        return tuple(r.address for r in self.recipients)

    @property
    def message_ref(self) -> MessageRef | None:
        """What :attr:`our_message_id` says (kind, aggregate id), when there is one."""
        if not self.our_message_id:
            return None
        return parse_message_id(self.our_message_id)

    @property
    def dedupe_key(self) -> str:
        """A stable key for this event: ``feedbackId`` when SES gives one.

        Deliveries, delays and rejects carry no ``feedbackId``; their key is built from the
        SES message id, the kind, the timestamp and a hash of the recipients (a key holds no
        address and stays short however many recipients there are).
        """
        if self.feedback_id:
            return f"ses-feedback:{self.feedback_id}"
        rcpts = address_hash(",".join(sorted(a.lower() for a in self.addresses)))
        return f"ses-feedback:{self.kind}:{self.ses_message_id}:{self.timestamp}:{rcpts}"


def _str(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _load_json(value: Any, field_name: str) -> Any:
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidEventError(
                f"{field_name} is not valid JSON ({exc.msg})", field=field_name
            ) from exc
    return value


def unwrap(event: Any) -> tuple[Mapping[str, Any], str]:
    """Remove the SQS/SNS/EventBridge wrapping; return the SES object and its channel.

    (:func:`unwrap_with_topic` also returns the SNS topic the event came through.)

    Raises
    ------
    InvalidEventError
        The input is not a JSON object or a wrapper holds invalid JSON.
    """
    obj, channel, _topic = unwrap_with_topic(event)
    return obj, channel


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the wrapping said about where an SES object came from."""

    channel: str = "event_publishing"
    topic_arn: str | None = None
    bus_source: str | None = None


def unwrap_with_topic(event: Any) -> tuple[Mapping[str, Any], str, str | None]:
    """:func:`unwrap`, plus the ``TopicArn`` of an SNS envelope on the way (or ``None``)."""
    obj, envelope = unwrap_envelope(event)
    return obj, envelope.channel, envelope.topic_arn


def unwrap_envelope(event: Any) -> tuple[Mapping[str, Any], Envelope]:
    """:func:`unwrap`, with what the wrappers said (:class:`Envelope`)."""
    obj = _load_json(event, "event")
    channel = "event_publishing"
    topic: str | None = None
    bus_source: str | None = None
    for _ in range(_MAX_UNWRAP):
        if not isinstance(obj, Mapping):
            raise InvalidEventError("the event is not a JSON object", field="event")
        if "eventType" in obj or "notificationType" in obj:
            break
        if "body" in obj and ("receiptHandle" in obj or "messageId" in obj or len(obj) == 1):
            obj = _load_json(obj["body"], "body")
        elif isinstance(obj.get("Sns"), Mapping):
            topic = _str(obj["Sns"].get("TopicArn")) or topic
            obj = _load_json(obj["Sns"].get("Message"), "Sns.Message")
        elif "Message" in obj and ("Type" in obj or "TopicArn" in obj or len(obj) == 1):
            topic = _str(obj.get("TopicArn")) or topic
            obj = _load_json(obj["Message"], "Message")
        elif "detail" in obj:
            channel = "eventbridge"
            bus_source = _str(obj.get("source"))
            detail = _load_json(obj["detail"], "detail")
            if isinstance(detail, Mapping) and not (
                "eventType" in detail or "notificationType" in detail
            ):
                inferred = _DETAIL_TYPES.get(str(obj.get("detail-type", "")).strip().lower())
                if inferred:
                    detail = {**detail, "eventType": inferred}
            obj = detail
        else:
            break
    if not isinstance(obj, Mapping):
        raise InvalidEventError("the event is not a JSON object", field="event")
    if "notificationType" in obj and "eventType" not in obj:
        channel = "notification"
    return obj, Envelope(channel, topic, bus_source)


def _header_values(mail: Mapping[str, Any], names: frozenset[str]) -> list[str]:
    out: list[str] = []
    headers = mail.get("headers")
    if isinstance(headers, list):
        for h in headers:
            if isinstance(h, Mapping) and str(h.get("name", "")).lower() in names:
                value = _str(h.get("value"))
                if value:
                    out.append(value)
    return out


def _our_message_id(mail: Mapping[str, Any]) -> str | None:
    candidates = _header_values(mail, frozenset({"message-id"}))
    common = mail.get("commonHeaders")
    if isinstance(common, Mapping):
        mid = _str(common.get("messageId"))
        if mid:
            candidates.append(mid)
    candidates += _header_values(mail, frozenset({"references", "in-reply-to"}))
    for value in candidates:
        for m in _ID_TEXT.finditer(value):
            if parse_message_id(m.group(0)) is not None:
                return "<" + m.group(0).strip("<>") + ">"
    return None


def _tags(mail: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    raw = mail.get("tags")
    out: dict[str, tuple[str, ...]] = {}
    if isinstance(raw, Mapping):
        for key, values in raw.items():
            if isinstance(values, list):
                out[str(key)] = tuple(v for v in (_str(x) for x in values) if v)
            elif _str(values):
                out[str(key)] = (str(_str(values)),)
    return out


def _recipients(items: Any) -> tuple[FeedbackRecipient, ...]:
    out: list[FeedbackRecipient] = []
    if not isinstance(items, list):
        return ()
    for item in items:
        if isinstance(item, str):
            if item.strip():
                out.append(FeedbackRecipient(item.strip()))
        elif isinstance(item, Mapping):
            address = _str(item.get("emailAddress"))
            if address:
                out.append(
                    FeedbackRecipient(
                        address,
                        action=_str(item.get("action")),
                        status=_str(item.get("status")),
                        diagnostic=_str(item.get("diagnosticCode")),
                    )
                )
    return tuple(out)


def parse_feedback_event(event: Any) -> FeedbackEvent:
    """Parse one SES feedback event in any of its shapes (see module docs).

    Parameters
    ----------
    event
        A mapping or a JSON string: the SES object, or an EventBridge event, SNS envelope, SNS
        Lambda record or SQS record holding it.

    Raises
    ------
    InvalidEventError
        Not a JSON object, no ``eventType``/``notificationType``, no ``mail.messageId``, or a
        bounce/complaint without recipients (``context["field"]`` names the field).
    """
    obj, envelope = unwrap_envelope(event)
    type_field = "eventType" if "eventType" in obj else "notificationType"
    event_type = _str(obj.get(type_field))
    if not event_type:
        raise InvalidEventError("the event has no eventType or notificationType", field="eventType")
    kind, key = _TYPES.get(event_type.replace(" ", "").lower(), (SesEventKind.OTHER, ""))
    mail = obj.get("mail")
    if not isinstance(mail, Mapping):
        raise InvalidEventError("the event has no mail object", field="mail")
    ses_message_id = _str(mail.get("messageId"))
    if not ses_message_id:
        raise InvalidEventError("the event has no mail.messageId", field="mail.messageId")
    detail = obj.get(key) if key else None
    if kind in (SesEventKind.BOUNCE, SesEventKind.COMPLAINT) and not isinstance(detail, Mapping):
        raise InvalidEventError(f"a {event_type} event without its {key} object", field=key)
    detail = detail if isinstance(detail, Mapping) else {}

    tags = _tags(mail)
    recipients: tuple[FeedbackRecipient, ...]
    if kind == SesEventKind.BOUNCE:
        recipients = _recipients(detail.get("bouncedRecipients"))
        if not recipients:
            raise InvalidEventError("a bounce without recipients", field="bounce.bouncedRecipients")
    elif kind == SesEventKind.COMPLAINT:
        recipients = _recipients(detail.get("complainedRecipients"))
        if not recipients:
            raise InvalidEventError(
                "a complaint without recipients", field="complaint.complainedRecipients"
            )
    elif kind == SesEventKind.DELIVERY:
        recipients = _recipients(detail.get("recipients")) or _recipients(mail.get("destination"))
    elif kind == SesEventKind.DELAY:
        recipients = _recipients(detail.get("delayedRecipients")) or _recipients(
            mail.get("destination")
        )
    else:
        recipients = _recipients(mail.get("destination"))

    return FeedbackEvent(
        kind=kind,
        event_type=event_type,
        ses_message_id=ses_message_id,
        feedback_id=_str(detail.get("feedbackId")),
        timestamp=_str(detail.get("timestamp")) or _str(mail.get("timestamp")) or "",
        recipients=recipients,
        bounce_type=_str(detail.get("bounceType")) if kind == SesEventKind.BOUNCE else None,
        bounce_sub_type=_str(detail.get("bounceSubType")) if kind == SesEventKind.BOUNCE else None,
        complaint_type=(
            _str(detail.get("complaintFeedbackType")) if kind == SesEventKind.COMPLAINT else None
        ),
        complaint_sub_type=(
            _str(detail.get("complaintSubType")) if kind == SesEventKind.COMPLAINT else None
        ),
        delay_type=_str(detail.get("delayType")) if kind == SesEventKind.DELAY else None,
        reject_reason=_str(detail.get("reason")) if kind == SesEventKind.REJECT else None,
        tags=tags,
        our_message_id=_our_message_id(mail),
        source=_str(mail.get("source")),
        channel=envelope.channel,
        topic_arn=envelope.topic_arn,
        bus_source=envelope.bus_source,
        configuration_set=(tags.get("ses:configuration-set") or (None,))[0],
    )
