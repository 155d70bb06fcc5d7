"""A cheap gate in front of the feedback classifier, with a per-message cache.

The classifier (:func:`shopmail.domain.feedback.classify_message`) costs several times a
parse, so the router must not run it on every message. :class:`GatedClassifier` runs it only
when :func:`looks_like_feedback` sees a sign of a report, bounce or auto-reply (report flags,
null or daemon envelope sender/From, ``Auto-Submitted`` and similar headers, a bounce- or
absence-like subject); everything else is ``none`` without classifying. The result for the
last message is cached, so the router (one context per recipient) and the ``feedback`` route
action share one classification.

Example
-------
>>> gate = GatedClassifier()
>>> router = Router(table, "shop.example", classify=gate)  # doctest: +SKIP
>>> gate.classification(message).kind  # doctest: +SKIP
'bounce'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from shopmail.domain.inbound.parsing import signals

if TYPE_CHECKING:
    from shopmail.domain.feedback.model import Classification
    from shopmail.domain.message import InboundMessage

_SUBJECT_RE: Final = re.compile(
    r"undeliver|not delivered|non[- ]?deliver|delivery (?:status )?notification|deliver(?:y|ed)"
    r" (?:fail|failure|problem|report|error|delay)|failure notice|returned (?:mail|to sender)"
    r"|could not (?:be )?deliver|unable to deliver|cannot be delivered|mail failed"
    r"|message failed|unzustellbar|nicht zustellbar|zustellung|fehlgeschlagen|delayed|bounce"
    r"|out of (?:the )?office|\booo\b|abwesen|automati(?:c|sche|sch|que|ca)|auto[- ]?"
    r"(?:reply|response|antwort|svar)|^\s*auto\s*:|vacation|holiday|urlaub|away from"
    r"|nicht im b\u00fcro|absence|afwezig|thank you for (?:your )?(?:e-?mail|message|contacting)"
    r"|vielen dank f\u00fcr ihre|eingangsbest\u00e4tigung|abuse report|complaint",
    re.IGNORECASE,
)
_AUTO_HEADERS: Final = frozenset(
    {signals.AUTO_SUBMITTED, *signals.AUTO_REPLY_HEADERS, *signals.REPORT_HEADERS}
)
MAX_HEADERS: Final = 200

ClassifyFn = Callable[["InboundMessage"], "Classification"]


def looks_like_feedback(message: InboundMessage) -> bool:
    """Whether ``message`` may be a bounce, delay, complaint, auto-reply or other report.

    Cheap (flags, envelope sender, From, a few header names, the subject); errs on the side
    of ``True``: the classifier makes the real decision.
    """
    flags = message.flags
    if flags.is_dsn or flags.is_arf or flags.is_mdn or flags.auto_submitted:
        return True
    if message.report_type:
        return True
    env = message.envelope
    if env is not None:
        sender = env.sender or ""
        if signals.is_null_sender(sender) or signals.looks_like_daemon(signals.local_part(sender)):
            return True
    for addr in message.from_:
        if signals.looks_like_daemon(addr.address or "") or signals.looks_like_daemon(
            addr.name or ""
        ):
            return True
    for name, value in message.headers[:MAX_HEADERS]:
        low = name.lower()
        if low in _AUTO_HEADERS:
            return True
        if low == "precedence" and signals.is_auto_reply_precedence(value):
            return True
    return bool(_SUBJECT_RE.search(message.subject or ""))


def _default_classify(message: InboundMessage) -> Classification:
    from shopmail.domain.feedback import classify_message  # lazy: not needed by most mail

    return classify_message(message)


class GatedClassifier:
    """The router's ``classify`` callable: a kind, classified only for likely feedback.

    Parameters
    ----------
    classify
        The full classifier (default :func:`shopmail.domain.feedback.classify_message`,
        imported on first use).
    gate
        The cheap pre-check (default :func:`looks_like_feedback`).

    Attributes
    ----------
    calls
        How many times the full classifier ran (observability and tests).
    """

    def __init__(
        self,
        classify: ClassifyFn | None = None,
        gate: Callable[[InboundMessage], bool] = looks_like_feedback,
    ) -> None:
        self._classify = classify or _default_classify
        self._gate = gate
        self._last: InboundMessage | None = None
        self._result: Classification | None = None
        self.calls = 0

    def __call__(self, message: InboundMessage) -> str:
        """The message's kind (``bounce``, ``complaint``, ``auto_reply``, ... or ``none``)."""
        result = self.classification(message)
        return result.kind if result is not None else "none"

    def classification(self, message: InboundMessage) -> Classification | None:
        """The full classification, or ``None`` when the gate says it is ordinary mail.

        Cached for the last message seen (by identity): every recipient and the ``feedback``
        action of one message reuse one run.
        """
        if message is self._last:
            return self._result
        result: Classification | None = None
        if self._gate(message):
            self.calls += 1
            result = self._classify(message)
        self._last, self._result = message, result
        return result

    def full(self, message: InboundMessage) -> Classification:
        """Like :meth:`classification`, but always classifies (for the ``feedback`` action).

        A message the gate let pass is classified anyway when an explicit ``feedback`` action
        asks for it (a user rule may send mail the gate does not recognise).
        """
        result = self.classification(message)
        if result is None:
            self.calls += 1
            result = self._classify(message)
            self._last, self._result = message, result
        return result
