"""When feedback about our mail suppresses an address: only for the address's own fault.

A suppression is a promise to the shop: the address is never mailed again (but for the bypass
types), so only evidence that *the address itself* is dead may cause one. Everything that is
about our side (our IP or domain on a blocklist, our sender, relay or authentication refusals),
about the message (content, spam or virus verdicts, size) or about the path (network, DNS,
expiry, rate limits) is recorded and counted per recipient domain and reason, and never
suppresses the recipient.

The decision for one recipient of a bounce (:func:`decide`), in this order:

1. A complaint suppresses (class ``complaint``), except an ARF ``not-spam`` report.
2. Deliveries and delays never suppress (a delay is not a bounce; SES reports the final
   bounce separately).
3. SES's own verdicts that already name the address: ``Permanent/NoEmail`` and an address on
   SES's suppression lists (``Permanent/Suppressed``, ``OnAccountSuppressionList``) suppress.
4. A permanent failure whose evidence says the address is dead (``hard``, decided by the
   classifier from the SMTP stage, the full enhanced status, the reply code and the diagnostic
   text) suppresses (class ``hard_bounce``). SES's ``Permanent/General`` is read the same way:
   its diagnostic decides, and one that names a cause outside the address does not suppress.
5. A failure for a reason that *can* mean a dead address when it persists (a mailbox that is
   full or disabled for weeks, a recipient reported unknown in a 4xx) is counted; N of them
   within the window suppress (class ``transient_bounces``).
6. Everything else is ignored for the recipient (and counted as a non-address bounce).

* ``user_unknown``, ``host_unknown``, ``mailbox_disabled``, ``syntax``: suppress when hard;
  otherwise ``user_unknown`` and ``mailbox_disabled`` are counted*, the others ignored;
* ``mailbox_full``: counted (permanent or transient; hard only if the classifier says so);
* ``blocked``, ``spam_detected``, ``virus_detected``, ``content_rejected``,
  ``message_too_large``, ``auth_failure``, ``policy``, ``relay_denied``, ``rate_limited``,
  ``network``, ``system``, ``expired``, ``other``: ignored (suppress only if hard).

``*`` ``host_unknown`` (a DNS answer that may be temporary) and ``syntax`` (a protocol error
unless hard) are not counted. The classifier sets ``hard`` only for address reasons; the policy
acts on its verdict for every reason, so ``hard`` is exactly what suppresses.

Example
-------
>>> decide(RecipientReport("a@example.org", FeedbackKind.BOUNCE, reason="user_unknown",
...     hard=True)).action
<PolicyAction.SUPPRESS: 'suppress'>
>>> decide(RecipientReport("a@example.org", FeedbackKind.BOUNCE, reason="blocked",
...     hard=False)).action
<PolicyAction.IGNORE: 'ignore'>
>>> threshold_reached(["2026-01-01T00:00:00Z"] * 3, "2026-01-02T00:00:00Z", 3, 30)
True
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from shopmail.domain.feedback.report import FeedbackKind, RecipientReport
from shopmail.domain.suppression.entries import _RANK, SuppressionClass
from shopmail.domain.suppression.entries import keeps as keeps  # lives with the entries


class PolicyAction(StrEnum):
    """What a piece of feedback does to an address."""

    SUPPRESS = "suppress"  # now
    COUNT = "count"  # a transient bounce: N within the window suppress
    IGNORE = "ignore"  # never for this address (counted as a non-address bounce)


#: Reasons that say the address itself is dead when the failure is permanent.
ADDRESS_REASONS: Final = frozenset({"user_unknown", "host_unknown", "mailbox_disabled", "syntax"})
#: Reasons that can mean a dead address when they persist: counted towards the threshold.
COUNTED_REASONS: Final = frozenset({"mailbox_full", "mailbox_disabled", "user_unknown"})
#: SES bounce sub-types that name the address itself.
_SES_ADDRESS_SUBTYPES: Final = frozenset({"noemail", "suppressed", "onaccountsuppressionlist"})
#: SES transient sub-types about the content, never the address.
_SES_CONTENT_SUBTYPES: Final = frozenset(
    {"messagetoolarge", "contentrejected", "attachmentrejected"}
)


@dataclass(frozen=True, slots=True)
class SuppressionDecision:
    """What to do with an address after a piece of feedback.

    Attributes
    ----------
    action:
        :class:`PolicyAction`.
    suppression_class:
        The class written (for ``count``: once the threshold is reached); ``None`` for
        ``ignore``.
    reason:
        A short log-safe reason (``user_unknown``, ``Permanent/General``, ``abuse`` ...).
    """

    action: PolicyAction
    suppression_class: SuppressionClass | None
    reason: str

    @property
    def suppresses(self) -> bool:
        """Whether the decision can lead to a suppression (now or after counting)."""
        return self.action is not PolicyAction.IGNORE


def _ignore(reason: str) -> SuppressionDecision:
    return SuppressionDecision(PolicyAction.IGNORE, None, reason)


def _suppress(cls: SuppressionClass, reason: str) -> SuppressionDecision:
    return SuppressionDecision(PolicyAction.SUPPRESS, cls, reason)


def _count(reason: str) -> SuppressionDecision:
    return SuppressionDecision(PolicyAction.COUNT, SuppressionClass.TRANSIENT_BOUNCES, reason)


def decide_complaint(feedback_type: str | None) -> SuppressionDecision:
    """The decision for a complaint (SES or ARF); ``not-spam`` reports are ignored."""
    ftype = (feedback_type or "complaint").strip().lower()
    if ftype == "not-spam":
        return _ignore(ftype)
    return _suppress(SuppressionClass.COMPLAINT, ftype)


def decide_reason(reason: str | None, *, permanent: bool, hard: bool | None) -> SuppressionDecision:
    """The decision for a bounce of ``reason`` (rows 4-6 of the module's table).

    Parameters
    ----------
    reason
        The coarse reason (``None``: unknown, read as ``other``).
    permanent
        Whether the failure was permanent (``action: failed``, 5xx).
    hard
        The classifier's verdict that the address itself is dead.
    """
    name = reason or "other"
    if permanent and hard is True:
        return _suppress(SuppressionClass.HARD_BOUNCE, name)
    if name in COUNTED_REASONS:
        return _count(name)
    return _ignore(name)


def _decide_ses_bounce(report: RecipientReport) -> SuppressionDecision:
    btype = (report.bounce_type or "Undetermined").strip()
    sub = (report.bounce_sub_type or "Undetermined").strip()
    label = f"{btype}/{sub}"
    sub_key = sub.replace(" ", "").lower()
    if btype.lower() == "permanent":
        if sub_key in _SES_ADDRESS_SUBTYPES:
            return _suppress(SuppressionClass.HARD_BOUNCE, label)
        if report.reason not in (None, "other") and report.hard is not True:
            # SES's "General" with a diagnostic that names a cause outside the address
            return decide_reason(report.reason, permanent=True, hard=False)
        return _suppress(SuppressionClass.HARD_BOUNCE, label)
    if sub_key in _SES_CONTENT_SUBTYPES:
        return _ignore(label)
    if sub_key == "mailboxfull":
        return _count("mailbox_full")
    return decide_reason(report.reason, permanent=False, hard=False)


def decide(report: RecipientReport) -> SuppressionDecision:
    """The decision for one recipient of verified or trusted feedback (see the module docs)."""
    if report.kind is FeedbackKind.COMPLAINT:
        return decide_complaint(report.complaint_type)
    if report.kind is not FeedbackKind.BOUNCE:
        return _ignore(str(report.kind))
    if report.bounce_type is not None:
        return _decide_ses_bounce(report)
    return decide_reason(report.reason, permanent=True, hard=report.hard)


def replaceable_by(new_class: SuppressionClass) -> frozenset[str]:
    """The stored classes an entry of ``new_class`` replaces (the complement of
    :func:`keeps` for known classes; an unknown class is kept, like ``manual``)."""
    return frozenset(str(c) for c, rank in _RANK.items() if rank < _RANK[new_class])


def parse_timestamp(value: str | dt.datetime | None) -> dt.datetime | None:
    """An aware UTC datetime from an ISO 8601 string (``Z`` allowed); ``None`` when unreadable."""
    if isinstance(value, dt.datetime):
        stamp = value
    else:
        text = (value or "").strip()
        if not text:
            return None
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            stamp = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC)


def within_window(
    stamps: Iterable[str | dt.datetime], now: str | dt.datetime, window_days: int
) -> int:
    """How many of ``stamps`` fall within ``window_days`` before ``now`` (unreadable: skipped)."""
    end = parse_timestamp(now)
    if end is None:
        raise ValueError("now is not a timestamp")
    start = end - dt.timedelta(days=window_days)
    count = 0
    for raw in stamps:
        stamp = parse_timestamp(raw)
        if stamp is not None and start <= stamp <= end + dt.timedelta(minutes=5):
            count += 1
    return count


def threshold_reached(
    stamps: Iterable[str | dt.datetime],
    now: str | dt.datetime,
    threshold: int,
    window_days: int,
) -> bool:
    """Whether ``threshold`` transient bounces (``stamps``) fall within the window."""
    return within_window(stamps, now, window_days) >= max(1, threshold)
