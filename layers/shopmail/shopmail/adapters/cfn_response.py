"""Send a CloudFormation custom-resource response (the ``cfnresponse`` protocol, via urllib).

CloudFormation waits (up to an hour) until the function PUTs a JSON document to the request's
pre-signed ``ResponseURL``. This module does that with the standard library only.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

_ALLOWED_SCHEMES = frozenset({"https", "http"})


def response_body(
    request: Mapping[str, Any],
    status: str,
    physical_resource_id: str,
    reason: str = "",
    data: Mapping[str, Any] | None = None,
    *,
    no_echo: bool = False,
) -> dict[str, Any]:
    """Build the response document for one custom-resource request.

    Parameters
    ----------
    request
        The custom-resource event (``StackId``, ``RequestId``, ``LogicalResourceId``).
    status
        ``SUCCESS`` or ``FAILED``.
    physical_resource_id
        The resource's physical id (a changed id on update means replacement).
    reason
        Shown in the stack events (required by CloudFormation for ``FAILED``).
    data
        Values readable with ``Fn::GetAtt``.
    """
    if status not in {"SUCCESS", "FAILED"}:
        raise ValueError(f"status must be SUCCESS or FAILED, not {status!r}")
    return {
        "Status": status,
        "Reason": reason or status,
        "PhysicalResourceId": physical_resource_id,
        "StackId": request.get("StackId", ""),
        "RequestId": request.get("RequestId", ""),
        "LogicalResourceId": request.get("LogicalResourceId", ""),
        "NoEcho": no_echo,
        "Data": dict(data or {}),
    }


def send_response(url: str, body: Mapping[str, Any], *, timeout: float = 10.0) -> int:
    """PUT ``body`` as JSON to the pre-signed ``ResponseURL``; return the HTTP status.

    The pre-signed S3 URL is signed without a content type, so the header is sent empty.

    Raises
    ------
    ValueError
        When the URL is not http(s).
    urllib.error.URLError
        When the response cannot be delivered.
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in _ALLOWED_SCHEMES:
        raise ValueError(f"ResponseURL scheme {scheme!r} is not allowed")
    payload = json.dumps(body).encode("utf-8")
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=payload,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(payload))},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
        status = int(resp.status)
    logger.info(
        "custom resource response sent",
        extra={"status": body.get("Status"), "http_status": status},
    )
    return status
