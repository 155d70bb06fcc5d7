"""The signed one-click unsubscribe link (RFC 8058) of every marketing mail.

:class:`UnsubscribeLinks` makes the link of each marketing mail (a token per mail, see
:mod:`shopmail.domain.outbound.unsubscribe`) and puts it into the event before rendering, so
the footer link and the ``List-Unsubscribe`` header both point to the endpoint that
:class:`~shopmail.services.unsubscribe.UnsubscribeService` answers. Its own module: the
outbound function needs the links, not the endpoint's pages. The token code is imported by the
first marketing mail: a container that sends transactional mail only never loads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shopmail.config import Settings
    from shopmail.domain.outbound.contracts import ShopEvent
    from shopmail.domain.outbound.unsubscribe import Stream
    from shopmail.ports import SigningKeySource


class UnsubscribeLinks:
    """Puts a signed unsubscribe link into every marketing mail.

    Parameters
    ----------
    base_url
        The endpoint (``UNSUBSCRIBE_BASE_URL``).
    keys
        The token keys.
    token_days
        How long a link works (``UNSUBSCRIBE_TOKEN_DAYS``).
    clock
        Epoch seconds (tests).
    """

    def __init__(
        self,
        base_url: str,
        keys: SigningKeySource,
        token_days: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url
        self.keys = keys
        self.token_days = token_days
        self._clock = clock

    def link(self, address: str, locale: str = "", stream: Stream | None = None) -> str:
        """The link for ``address`` leaving ``stream`` (default: marketing), valid
        ``token_days`` from now."""
        from shopmail.domain.outbound.unsubscribe import Stream, sign_token, unsubscribe_link

        expires = int(self._clock()) + self.token_days * 86400
        token = sign_token(address, stream or Stream.MARKETING, expires, self.keys.keys())
        return unsubscribe_link(self.base_url, token, locale)

    def renderer(self, render: Callable[[ShopEvent, Settings], Any]) -> Callable[..., Any]:
        """``render`` that gives marketing mail this endpoint's link (the shop's
        ``unsubscribeUrl``, if any, is replaced: only this endpoint honours RFC 8058)."""

        def render_with_link(event: ShopEvent, settings: Settings, **kwargs: Any) -> Any:
            if event.email_class == "marketing":
                from shopmail.domain.outbound.unsubscribe import with_unsubscribe_url

                event = with_unsubscribe_url(event, self.link(event.recipient, event.locale))
            return render(event, settings, **kwargs)

        return render_with_link
