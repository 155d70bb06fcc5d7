"""One-click unsubscribe (RFC 8058): the endpoint's use case and the links in marketing mail.

:class:`UnsubscribeService` answers the endpoint (a Lambda function URL; the offline stack
serves the same handler):

* ``GET``/``HEAD`` with a valid token shows the confirmation page (a button that POSTs); it
  never changes anything, so link scanners and previews unsubscribe nobody;
* ``POST`` with a valid token and the body ``List-Unsubscribe=One-Click`` (what RFC 8058 mail
  clients send, and what the page's button sends) publishes ``EmailUnsubscribed`` (source
  ``shopmail.unsubscribe``) and writes an ``unsubscribe`` suppression entry, which blocks the
  marketing stream only; an address already suppressed as strongly or more (a hard bounce,
  a complaint, an erasure) keeps its entry; an address already unsubscribed is answered the
  same page and nothing is published again;
* a missing, malformed or forged token is refused (400/403), an expired one too (410);
  a store that fails answers 503 (the client may retry: the event is published before the
  entry is written, so a retry never loses it, at worst repeats it).

:class:`UnsubscribeLinks` (in :mod:`shopmail.services.unsubscribe_links`, imported here too)
makes the link of each marketing mail; the outbound function imports only that module, not
the endpoint's pages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

from shopmail.domain.addresses import domain_of
from shopmail.domain.outbound.unsubscribe import (
    Stream,
    TokenProblem,
    verify_token,
)
from shopmail.domain.outbound.unsubscribe_page import (
    HttpRequest,
    HttpResponse,
    PageState,
    page_language,
    unsubscribe_page,
)
from shopmail.domain.suppression.entries import (
    UNSUBSCRIBE,
    SuppressionEntry,
    keeps,
    suppression_key,
)
from shopmail.domain.times import iso_utc
from shopmail.errors import ConfigurationError, InvalidTokenError, ShopmailError
from shopmail.ports import EventPublisher, SigningKeySource, SuppressionList
from shopmail.services.unsubscribe_links import UnsubscribeLinks

__all__ = ["UnsubscribeLinks", "UnsubscribeService", "error_response", "request_of"]

log = logging.getLogger(__name__)

SOURCE: Final = "shopmail.unsubscribe"
DETAIL_TYPE: Final = "EmailUnsubscribed"
DETAIL_VERSION: Final = 1
_ALLOWED: Final = "GET, HEAD, POST"


class UnsubscribeService:
    """The unsubscribe endpoint (see the module docs).

    Parameters
    ----------
    keys
        The token keys.
    suppression
        The suppression list.
    publisher
        The shop bus.
    clock
        Epoch seconds (tests).
    """

    def __init__(
        self,
        keys: SigningKeySource,
        suppression: SuppressionList,
        publisher: EventPublisher,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.suppression = suppression
        self.publisher = publisher
        self._clock = clock

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request (never raises for bad input; a store failure answers 503)."""
        language = page_language(request)
        if request.method not in ("GET", "HEAD", "POST"):
            page = unsubscribe_page(PageState.INVALID, language, status=405)
            return HttpResponse(page.status, page.body, {**page.headers, "Allow": _ALLOWED})
        try:
            token = verify_token(request.token, self.keys.keys(), now=self._clock())
        except InvalidTokenError as exc:
            log.info("unsubscribe refused: %s", exc.reason, extra={"problem": exc.problem})
            if exc.problem == TokenProblem.EXPIRED:
                return unsubscribe_page(PageState.EXPIRED, language)
            status = 403 if exc.problem == TokenProblem.FORGED else 400
            return unsubscribe_page(PageState.INVALID, language, status=status)
        except ShopmailError as exc:  # the secret: configuration or transient
            return self._failed(exc, language)
        page_args: dict[str, Any] = {"address": token.address}
        if request.method != "POST":
            return unsubscribe_page(
                PageState.CONFIRM, language, token=request.token, locale=request.locale, **page_args
            )
        if not request.one_click:
            log.info("unsubscribe POST without List-Unsubscribe=One-Click refused")
            return unsubscribe_page(PageState.INVALID, language)
        try:
            self._unsubscribe(
                token.address, token.stream, "page" if request.via_page else "one-click"
            )
        except ShopmailError as exc:
            return self._failed(exc, language)
        return unsubscribe_page(PageState.DONE, language, **page_args)

    def _unsubscribe(self, address: str, stream: Stream, method: str) -> None:
        existing = self.suppression.get(address)
        if existing is not None and existing.suppression_class == UNSUBSCRIBE:
            log.info("unsubscribe: %s already unsubscribed", domain_of(address))
            return
        now = self._clock()
        kept = keeps(existing, UNSUBSCRIBE)
        now_class = existing.suppression_class if kept and existing else str(UNSUBSCRIBE)
        self.publisher.publish(
            DETAIL_TYPE,
            {
                "version": DETAIL_VERSION,
                "recipient": address,
                "stream": str(stream),
                "method": method,
                "unsubscribedAt": iso_utc(now),
                "suppressionClass": existing.suppression_class
                if kept and existing
                else "unsubscribe",
                "previousSuppressionClass": existing.suppression_class if existing else None,
            },
            SOURCE,
        )
        if not kept:
            self.suppression.put(
                SuppressionEntry(
                    address=suppression_key(address),
                    suppression_class=UNSUBSCRIBE,
                    reason=f"unsubscribed ({method})",
                    since=iso_utc(now),
                    source="unsubscribe",
                )
            )
        log.info(
            "unsubscribed at %s (%s)",
            domain_of(address),
            method,
            extra={"suppression_class": now_class},
        )

    @staticmethod
    def _failed(exc: ShopmailError, language: str) -> HttpResponse:
        if isinstance(exc, ConfigurationError):
            log.error("alarm: unsubscribe endpoint misconfigured: %s", exc.reason)
        else:
            log.warning("unsubscribe failed, the client may retry: %s", exc.reason)
        return _retry_later(language)


def _retry_later(language: str) -> HttpResponse:
    page = unsubscribe_page(PageState.ERROR, language)
    return HttpResponse(page.status, page.body, {**page.headers, "Retry-After": "120"})


def request_of(event: Any) -> HttpRequest:
    """The request in a Lambda function URL event (payload format 2.0)."""
    return HttpRequest.from_function_url_event(event)


def error_response(request: HttpRequest) -> HttpResponse:
    """The 503 page (when the endpoint cannot even be composed)."""
    return _retry_later(page_language(request))
