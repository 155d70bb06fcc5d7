"""A lenient model of the SES receipt-rule Lambda event.

Real SES events differ from the documented samples (see ``ses-inbound.md``): ``commonHeaders``
fields are present only when the header was, ``dmarcPolicy`` is a lower-case string (some
samples use an object), verdicts may be missing, and ``invocationType`` may be ``Event`` or
``RequestResponse``. This model accepts all of that; only what the function really needs
(``mail.messageId`` and ``receipt.recipients``) is required. An event without them raises
:class:`~shopmail.errors.InvalidEventError` naming the field.

Example
-------
>>> rec = parse_ses_record({"eventSource": "aws:ses", "ses": {
...     "mail": {"messageId": "abc123", "source": "a@example.org"},
...     "receipt": {"recipients": ["support@shop.example"]}}})
>>> rec.envelope.recipients, rec.envelope.verdicts.spam
(('support@shop.example',), 'GRAY')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shopmail.domain.message import Envelope, Verdicts
from shopmail.errors import InvalidEventError

_VERDICT_STATUSES = frozenset({"PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"})
_DMARC_POLICIES = frozenset({"none", "quarantine", "reject"})
# SES message ids are lower-case alphanumerics; we accept a safe superset because the id
# becomes part of S3 keys (no "/", no leading dot, no control characters).
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]{0,254}")


@dataclass(frozen=True, slots=True)
class SesAction:
    """The receipt rule action that invoked us (``receipt.action``)."""

    type: str = "Lambda"
    invocation_type: str = "Event"
    function_arn: str = ""
    bucket_name: str = ""
    object_key: str = ""


@dataclass(frozen=True, slots=True)
class SesRecord:
    """One SES receipt record: the envelope plus what else the event tells us."""

    envelope: Envelope
    action: SesAction = field(default_factory=SesAction)
    destination: tuple[str, ...] = ()  # To/Cc addresses from headers (not the envelope)
    common_headers: Mapping[str, Any] = field(default_factory=dict)
    processing_time_ms: int | None = None

    @property
    def message_id(self) -> str:
        """The SES message id (= suffix of the raw object's S3 key)."""
        return self.envelope.message_id


def _status(verdict: Any, name: str) -> str:
    """Read ``{"status": "PASS"}`` leniently: missing or unknown -> ``GRAY``."""
    if isinstance(verdict, Mapping):
        verdict = verdict.get("status")
    if isinstance(verdict, str) and verdict.upper() in _VERDICT_STATUSES:
        return verdict.upper()
    return "GRAY"


def _dmarc_policy(value: Any) -> str | None:
    """``dmarcPolicy`` as a lower-case string; accepts ``"reject"`` or ``{"status": "REJECT"}``."""
    if isinstance(value, Mapping):
        value = value.get("status", value.get("policy"))
    if isinstance(value, str) and value.strip().lower() in _DMARC_POLICIES:
        return value.strip().lower()
    return None


def _str_list(value: Any, path: str, *, required: bool = False) -> tuple[str, ...]:
    if value is None:
        if required:
            raise InvalidEventError(f"{path} is missing", field=path)
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise InvalidEventError(f"{path} must be a list of strings", field=path)
    out = tuple(v.strip() for v in value if isinstance(v, str) and v.strip())
    if required and not out:
        raise InvalidEventError(f"{path} is empty", field=path)
    return out


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidEventError(f"{path} is missing or not an object", field=path)
    return value


def parse_verdicts(receipt: Mapping[str, Any]) -> Verdicts:
    """Build :class:`Verdicts` from ``receipt``; absent verdicts are ``GRAY``."""
    return Verdicts(
        spam=_status(receipt.get("spamVerdict"), "spam"),
        virus=_status(receipt.get("virusVerdict"), "virus"),
        spf=_status(receipt.get("spfVerdict"), "spf"),
        dkim=_status(receipt.get("dkimVerdict"), "dkim"),
        dmarc=_status(receipt.get("dmarcVerdict"), "dmarc"),
        dmarc_policy=_dmarc_policy(receipt.get("dmarcPolicy")),
    )


def parse_ses_record(record: Any, index: int = 0) -> SesRecord:
    """Read one ``Records[i]`` entry of an SES Lambda event.

    Parameters
    ----------
    record
        The record (``{"eventSource": "aws:ses", "ses": {"mail": ..., "receipt": ...}}``).
    index
        Its position in ``Records`` (for field names in errors).

    Returns
    -------
    SesRecord

    Raises
    ------
    InvalidEventError
        When ``ses.mail.messageId`` or ``ses.receipt.recipients`` is missing or unusable; the
        error's ``context["field"]`` names the field.
    """
    rec = _mapping(record, f"Records[{index}]")
    source = rec.get("eventSource", rec.get("EventSource"))
    if source is not None and source != "aws:ses":
        raise InvalidEventError(
            f"Records[{index}].eventSource is {str(source)[:40]!r}, expected 'aws:ses'",
            field=f"Records[{index}].eventSource",
        )
    ses = _mapping(rec.get("ses"), f"Records[{index}].ses")
    mail = _mapping(ses.get("mail"), f"Records[{index}].ses.mail")
    receipt = _mapping(ses.get("receipt"), f"Records[{index}].ses.receipt")

    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise InvalidEventError(
            f"Records[{index}].ses.mail.messageId is missing",
            field=f"Records[{index}].ses.mail.messageId",
        )
    if not _MESSAGE_ID.fullmatch(message_id):
        raise InvalidEventError(
            f"Records[{index}].ses.mail.messageId has unsafe characters",
            field=f"Records[{index}].ses.mail.messageId",
        )
    recipients = _str_list(
        receipt.get("recipients"), f"Records[{index}].ses.receipt.recipients", required=True
    )
    sender = mail.get("source")
    sender = sender.strip() if isinstance(sender, str) else ""
    if sender in ("<>",):
        sender = ""
    timestamp = mail.get("timestamp")
    raw_action = receipt.get("action")
    action_map: Mapping[str, Any] = raw_action if isinstance(raw_action, Mapping) else {}
    action = SesAction(
        type=str(action_map.get("type") or "Lambda"),
        invocation_type=str(action_map.get("invocationType") or "Event"),
        function_arn=str(action_map.get("functionArn") or ""),
        bucket_name=str(action_map.get("bucketName") or ""),
        object_key=str(action_map.get("objectKey") or ""),
    )
    common = mail.get("commonHeaders")
    ptm = receipt.get("processingTimeMillis")
    envelope = Envelope(
        message_id=message_id,
        sender=sender,
        recipients=recipients,
        timestamp=timestamp if isinstance(timestamp, str) else "",
        verdicts=parse_verdicts(receipt),
        headers_truncated=bool(mail.get("headersTruncated", False)),
    )
    return SesRecord(
        envelope=envelope,
        action=action,
        destination=_str_list(mail.get("destination"), f"Records[{index}].ses.mail.destination"),
        common_headers=common if isinstance(common, Mapping) else {},
        processing_time_ms=ptm if isinstance(ptm, int) and not isinstance(ptm, bool) else None,
    )


def parse_ses_event(event: Any) -> tuple[SesRecord, ...]:
    """Read every record of an SES Lambda event (SES sends exactly one per invocation).

    Raises
    ------
    InvalidEventError
        When the event has no ``Records`` list or a record is unusable.
    """
    ev = _mapping(event, "event")
    records = ev.get("Records")
    if not isinstance(records, list) or not records:
        raise InvalidEventError("Records is missing or empty", field="Records")
    return tuple(parse_ses_record(r, i) for i, r in enumerate(records))


def message_id_of(event: Any) -> str | None:
    """Best-effort SES message id of an event, for logs about an invalid event."""
    try:
        mid = event["Records"][0]["ses"]["mail"]["messageId"]
    except (KeyError, IndexError, TypeError):
        return None
    return mid if isinstance(mid, str) and _MESSAGE_ID.fullmatch(mid) else None
