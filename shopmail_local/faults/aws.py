"""AWS faults through botocore's event hooks on the clients shopmail builds.

:func:`install` registers two handlers on one client: ``before-parameter-build`` decides (from
the :class:`~shopmail_local.faults.plan.FaultPlan`) whether this call fails, and
``before-call`` answers it with the error instead of sending it (as a ``ClientError`` reaches
the adapter once botocore's own retries gave up). A ``PutEvents`` partial failure sends only
the surviving entries to the service and merges the failed ones (``ErrorCode``,
``ErrorMessage``) back into the response at ``after-call``, in their places, with
``FailedEntryCount``; the failed entries never reach the bus, as on AWS.

Where the clients come from:

* :func:`faulty_factory` wraps a ``service name -> client`` factory (the seam
  :class:`shopmail.bootstrap.clients.AwsClients` takes): the fault harness and tests;
* :func:`patch_default_clients` makes :meth:`AwsClients.from_settings` (what the Lambda
  handlers use) build faulty clients: ``shopmail run --faults``, which loads the handlers
  in-process. It returns the function that undoes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from shopmail_local.faults.plan import FaultPlan
from shopmail_local.faults.profiles import AwsFault

_CONTEXT_KEY = "shopmail_fault"
ClientFactory = Callable[[str], Any]


class _Raw:
    """The raw body of a fabricated response (botocore reads ``stream``/``read``)."""

    def __init__(self, body: bytes = b"") -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


class AwsFaults:
    """botocore handlers injecting ``plan``'s AWS faults into one client."""

    def __init__(self, plan: FaultPlan, service: str) -> None:
        self.plan = plan
        self.service = service

    def decide(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        """``before-parameter-build``: draw this call's fault, trim a partial ``PutEvents``."""
        fault = self.plan.pick(self.plan.aws_faults(self.service, model.name))
        if fault is None:
            return
        if not fault.partial:
            context[_CONTEXT_KEY] = (fault, None)
            return
        entries = list(params.get("Entries") or [])
        if not entries:
            return
        failed = self.plan.sample(len(entries))
        context[_CONTEXT_KEY] = (fault, (len(entries), failed))
        if len(failed) < len(entries):
            params["Entries"] = [e for i, e in enumerate(entries) if i not in failed]

    def answer(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        """``before-call``: the error response of a failed call (``None``: send it)."""
        decided = context.get(_CONTEXT_KEY)
        if decided is None:
            return None
        fault, partial = decided
        if partial is None:
            return _error(fault, model.name)
        total, failed = partial
        if len(failed) < total:
            return None  # the rest is sent; after-call merges the failed entries back
        context[_CONTEXT_KEY] = None
        entries = [_failed_entry(fault) for _ in range(total)]
        parsed = {
            "FailedEntryCount": total,
            "Entries": entries,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }
        return AWSResponse("https://fault.invalid", 200, HTTPHeaders(), _Raw()), parsed

    def merge(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """``after-call``: put the failed ``PutEvents`` entries back in their places."""
        decided = context.pop(_CONTEXT_KEY, None)
        if decided is None or decided[1] is None or not isinstance(parsed, dict):
            return
        fault, (total, failed) = decided
        sent = iter(parsed.get("Entries") or [])
        merged = [_failed_entry(fault) if i in failed else next(sent, {}) for i in range(total)]
        parsed["Entries"] = merged
        parsed["FailedEntryCount"] = int(parsed.get("FailedEntryCount") or 0) + len(failed)


def _failed_entry(fault: AwsFault) -> dict[str, str]:
    return {"ErrorCode": fault.code, "ErrorMessage": f"{fault.code} (fault injection)"}


def _error(fault: AwsFault, operation: str) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {
        "Error": {"Code": fault.code, "Message": f"{fault.code} (fault injection)"},
        "ResponseMetadata": {"HTTPStatusCode": fault.status},
    }
    return AWSResponse("https://fault.invalid", fault.status, HTTPHeaders(), _Raw()), parsed


def install(client: Any, plan: FaultPlan) -> Any:
    """Register ``plan``'s AWS faults on ``client`` (a boto3 client); return the client."""
    events = client.meta.events
    service = client.meta.service_model.service_name
    service_id = client.meta.service_model.service_id.hyphenize()
    hooks = AwsFaults(plan, service)
    events.register(f"before-parameter-build.{service_id}", hooks.decide)
    events.register(f"before-call.{service_id}", hooks.answer)
    events.register(f"after-call.{service_id}", hooks.merge)
    return client


def faulty_factory(factory: ClientFactory, plan: FaultPlan) -> ClientFactory:
    """``factory`` whose clients carry ``plan``'s AWS faults."""

    def make(service: str) -> Any:
        return install(factory(service), plan)

    return make


def patch_default_clients(plan: FaultPlan) -> Callable[[], None]:
    """Make :meth:`AwsClients.from_settings` build clients with ``plan``'s faults.

    Returns the function that restores the original factory.
    """
    from shopmail.bootstrap import clients

    original = clients.default_client_factory

    def default_client_factory(endpoint_url: str | None = None, region: str | None = None) -> Any:
        return faulty_factory(original(endpoint_url, region), plan)

    clients.default_client_factory = default_client_factory

    def undo() -> None:
        clients.default_client_factory = original

    return undo
