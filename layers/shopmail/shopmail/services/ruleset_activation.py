"""Activate the stack's SES receipt rule set (CloudFormation custom resource logic).

CloudFormation cannot activate a receipt rule set and only one set is active per account and
region. The template's ``RuleSetActivation`` custom resource (guarded by the ``ActivateRuleSet``
parameter) calls :func:`handle_request`:

- ``Create``: activate the named set (unless ``Activate`` is ``"false"``).
- ``Update``: activate the new set; when activation is switched off, deactivate the old set if
  it is still the active one.
- ``Delete``: deactivate the set **only if it is still the active one** (an active set cannot
  be deleted; another stack's or the operator's set is never touched).

The function never raises: every outcome, including failures, is an :class:`ActivationResult`
that the handler sends back to CloudFormation (a stack must never hang waiting for it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

logger = logging.getLogger(__name__)

#: Prefix of the physical resource id; the rule set name follows it.
PHYSICAL_ID_PREFIX = "receipt-rule-set-activation:"

Status = Literal["SUCCESS", "FAILED"]


class ReceiptRuleSets(Protocol):
    """The SES receipt-rule-set operations the activation needs (port)."""

    def active_rule_set(self) -> str | None:
        """Name of the active rule set, or ``None`` when none is active."""
        ...

    def activate(self, name: str) -> None:
        """Make ``name`` the active rule set."""
        ...

    def deactivate(self) -> None:
        """Leave no rule set active."""
        ...


@dataclass(frozen=True)
class ActivationResult:
    """The outcome to report to CloudFormation.

    Attributes
    ----------
    status
        ``SUCCESS`` or ``FAILED``.
    physical_resource_id
        ``receipt-rule-set-activation:<name>``; a new name on update means replacement.
    reason
        A short human-readable explanation (shown in the stack events).
    data
        ``RuleSetName`` and ``Activated`` (``"true"``/``"false"``), readable with ``Fn::GetAtt``.
    """

    status: Status
    physical_resource_id: str
    reason: str
    data: Mapping[str, str] = field(default_factory=dict)


def _flag(value: Any, default: bool = True) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1", "yes"}


def _physical_id(name: str) -> str:
    return f"{PHYSICAL_ID_PREFIX}{name}"


def _name_from_physical_id(physical_id: str | None) -> str | None:
    if physical_id and physical_id.startswith(PHYSICAL_ID_PREFIX):
        return physical_id[len(PHYSICAL_ID_PREFIX) :] or None
    return None


def _deactivate_if_active(rule_sets: ReceiptRuleSets, name: str | None) -> bool:
    """Deactivate ``name`` only if it is the active set; return whether it was deactivated."""
    if not name:
        return False
    active = rule_sets.active_rule_set()
    if active != name:
        logger.info("rule set not active, left alone", extra={"rule_set": name, "active": active})
        return False
    rule_sets.deactivate()
    logger.info("rule set deactivated", extra={"rule_set": name})
    return True


def handle_request(request: Mapping[str, Any], rule_sets: ReceiptRuleSets) -> ActivationResult:
    """Carry out one CloudFormation custom-resource request.

    Parameters
    ----------
    request
        The custom-resource event: ``RequestType`` (``Create``/``Update``/``Delete``),
        ``ResourceProperties`` with ``RuleSetName`` and optional ``Activate`` (default true),
        ``PhysicalResourceId`` and ``OldResourceProperties`` on update/delete.
    rule_sets
        The SES receipt rule sets (adapter or fake).

    Returns
    -------
    ActivationResult
        Never raises; a failure is a ``FAILED`` result with the reason.

    Example
    -------
    >>> class Fake:
    ...     active = None
    ...     def active_rule_set(self): return self.active
    ...     def activate(self, name): self.active = name
    ...     def deactivate(self): self.active = None
    >>> fake = Fake()
    >>> handle_request({"RequestType": "Create",
    ...                 "ResourceProperties": {"RuleSetName": "shop-inbound"}}, fake).status
    'SUCCESS'
    >>> fake.active
    'shop-inbound'
    """
    request_type = str(request.get("RequestType", ""))
    props = request.get("ResourceProperties") or {}
    old_props = request.get("OldResourceProperties") or {}
    name = str(props.get("RuleSetName") or "")
    activate = _flag(props.get("Activate"))
    current_physical = request.get("PhysicalResourceId")
    physical = current_physical if isinstance(current_physical, str) else _physical_id(name)
    try:
        if request_type == "Delete":
            target = _name_from_physical_id(physical) or name or None
            done = _deactivate_if_active(rule_sets, target)
            reason = "deactivated" if done else "not the active rule set; left unchanged"
            return ActivationResult("SUCCESS", physical, reason, {"RuleSetName": target or ""})
        if not name:
            return ActivationResult(
                "FAILED", physical or "none", "ResourceProperties.RuleSetName is required"
            )
        physical = _physical_id(name)
        if request_type == "Create":
            if activate:
                rule_sets.activate(name)
                logger.info("rule set activated", extra={"rule_set": name})
                return ActivationResult("SUCCESS", physical, "activated", _data(name, True))
            return ActivationResult(
                "SUCCESS", physical, "activation left to the operator", _data(name, False)
            )
        if request_type == "Update":
            old_name = str(old_props.get("RuleSetName") or "") or _name_from_physical_id(
                current_physical if isinstance(current_physical, str) else None
            )
            if activate:
                rule_sets.activate(name)
                logger.info("rule set activated", extra={"rule_set": name})
                # A renamed set: CloudFormation sends Delete for the old physical id next.
                return ActivationResult("SUCCESS", physical, "activated", _data(name, True))
            done = _deactivate_if_active(rule_sets, old_name) or (
                old_name != name and _deactivate_if_active(rule_sets, name)
            )
            reason = "deactivated" if done else "activation left to the operator"
            return ActivationResult("SUCCESS", physical, reason, _data(name, False))
        return ActivationResult(
            "FAILED", physical or "none", f"unsupported RequestType {request_type!r}"
        )
    except Exception as exc:  # reported to CloudFormation, never raised (the stack must not hang)
        logger.exception("rule set activation failed", extra={"request_type": request_type})
        reason = f"{type(exc).__name__}: {exc}"[:500]
        return ActivationResult("FAILED", physical or "none", reason)


def _data(name: str, activated: bool) -> dict[str, str]:
    return {"RuleSetName": name, "Activated": "true" if activated else "false"}
