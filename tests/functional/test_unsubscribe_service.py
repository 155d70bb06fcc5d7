"""The unsubscribe use case on in-memory ports: GET never changes state, POST unsubscribes from
marketing only, refused tokens, stronger entries kept, failures answered 503."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from shopmail.domain.outbound.unsubscribe import SigningKeys, Stream, sign_token
from shopmail.domain.outbound.unsubscribe_page import HttpRequest
from shopmail.domain.suppression.entries import (
    HARD_BOUNCE,
    SuppressionEntry,
    effective_entry,
    is_blocked,
    suppression_keys,
)
from shopmail.errors import ConfigurationError, ServiceUnavailableError
from shopmail.services.unsubscribe import UnsubscribeLinks, UnsubscribeService

from tests.fixtures.inbound_fakes import FakePublisher
from tests.fixtures.paths import EVENTS

NOW = 1_800_000_000.0
KIM = "kim@example.com"
SCHEMA = fastjsonschema.compile(
    json.loads(Path(EVENTS / "schemas" / "emitted" / "EmailUnsubscribed.json").read_text())
)


class Keys:
    def __init__(self, keys: SigningKeys) -> None:
        self.value = keys
        self.fail: Exception | None = None

    def keys(self) -> SigningKeys:
        if self.fail is not None:
            raise self.fail
        return self.value


class Suppressions:
    """Both forms, as the DynamoDB adapter reads them."""

    def __init__(self) -> None:
        self.items: dict[str, SuppressionEntry] = {}
        self.fail: Exception | None = None

    def get(self, address: str) -> SuppressionEntry | None:
        if self.fail is not None:
            raise self.fail
        return effective_entry(*(self.items.get(k) for k in suppression_keys(address)))

    def put(self, entry: SuppressionEntry) -> None:
        self.items[entry.address] = entry

    def delete(self, address: str) -> bool:
        return self.items.pop(address, None) is not None


class World:
    def __init__(self) -> None:
        self.keys = Keys(SigningKeys(b"s" * 64))
        self.suppression = Suppressions()
        self.publisher = FakePublisher()
        self.service = UnsubscribeService(
            self.keys, self.suppression, self.publisher, clock=lambda: NOW
        )

    def token(self, address: str = KIM, expires: float = NOW + 3600) -> str:
        return sign_token(address, Stream.MARKETING, int(expires), self.keys.value)

    def call(self, method: str, token: str, body: str = "List-Unsubscribe=One-Click") -> Any:
        return self.service.handle(HttpRequest(method, {"t": token, "l": "en"}, {}, body))


@pytest.fixture
def w() -> World:
    return World()


def test_get_shows_the_confirmation_and_changes_nothing(w: World) -> None:
    for method in ("GET", "HEAD"):
        page = w.call(method, w.token(), body="")
        assert page.status == 200 and 'method="post"' in page.body
    assert w.suppression.items == {} and w.publisher.events == []


def test_post_unsubscribes_from_marketing_only_and_publishes_once(w: World) -> None:
    page = w.call("POST", w.token())
    assert page.status == 200 and "You have been unsubscribed" in page.body
    entry = w.suppression.items[KIM]
    assert entry.suppression_class == "unsubscribe" and entry.source == "unsubscribe"
    assert is_blocked(entry, "marketing", "CheckoutAbandoned", ())
    assert not is_blocked(entry, "transactional", "OrderPlaced", ())
    ((kind, detail, source),) = w.publisher.events
    assert (kind, source) == ("EmailUnsubscribed", "shopmail.unsubscribe")
    SCHEMA(detail)
    assert detail["recipient"] == KIM and detail["method"] == "one-click"
    assert detail["previousSuppressionClass"] is None
    assert w.call("POST", w.token()).status == 200  # a client posting twice
    assert len(w.publisher.events) == 1


def test_the_page_button_is_recorded_as_such(w: World) -> None:
    w.call("POST", w.token(), body="List-Unsubscribe=One-Click&via=page")
    assert w.publisher.events[0][1]["method"] == "page"


def test_a_stronger_suppression_is_kept_and_still_announced(w: World) -> None:
    w.suppression.put(SuppressionEntry(KIM, HARD_BOUNCE, "5.1.1"))
    assert w.call("POST", w.token()).status == 200
    assert w.suppression.items[KIM].suppression_class == HARD_BOUNCE
    detail = w.publisher.events[0][1]
    SCHEMA(detail)
    assert detail["suppressionClass"] == detail["previousSuppressionClass"] == "hard_bounce"


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda w: "", 400),
        (lambda w: "garbage", 400),
        (lambda w: w.token().rsplit(".", 1)[0] + ".AAAA", 403),
        (lambda w: sign_token("eve@example.com", Stream.MARKETING, 1, w.keys.value), 410),
        (lambda w: sign_token(KIM, Stream.MARKETING, int(NOW + 60), SigningKeys(b"x" * 64)), 403),
    ],
    ids=["missing", "malformed", "forged-mac", "expired", "other-key"],
)
def test_refused_tokens_change_nothing(w: World, make: Any, status: int) -> None:
    for method in ("GET", "POST"):
        assert w.call(method, make(w)).status == status
    assert w.suppression.items == {} and w.publisher.events == []


def test_a_post_without_the_one_click_body_is_refused(w: World) -> None:
    assert w.call("POST", w.token(), body="").status == 400
    assert w.suppression.items == {}


def test_other_methods_are_refused(w: World) -> None:
    page = w.call("DELETE", w.token())
    assert page.status == 405 and page.headers["Allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize(
    "error",
    [ServiceUnavailableError("dynamodb throttled"), ConfigurationError("no secret")],
)
def test_store_failures_answer_503_and_a_retry_succeeds(w: World, error: Exception) -> None:
    w.suppression.fail = error
    page = w.call("POST", w.token())
    assert page.status == 503 and page.headers["Retry-After"]
    w.suppression.fail = None
    assert w.call("POST", w.token()).status == 200
    assert w.suppression.items[KIM].suppression_class == "unsubscribe"
    w.keys.fail = ConfigurationError("secret gone")
    assert w.call("GET", w.token()).status == 503


def test_a_failed_publish_writes_nothing_so_the_retry_announces_it(w: World) -> None:
    w.publisher.fail = [ServiceUnavailableError("events throttled")]
    assert w.call("POST", w.token()).status == 503
    assert w.suppression.items == {}
    assert w.call("POST", w.token()).status == 200
    assert w.publisher.types() == ["EmailUnsubscribed"] and KIM in w.suppression.items


def test_links_are_fresh_tokens_for_the_recipient(w: World) -> None:
    links = UnsubscribeLinks("https://u.example/", w.keys, 90, clock=lambda: NOW)
    link = links.link(KIM, "fr-FR")
    token = link.split("t=", 1)[1].split("&", 1)[0]
    assert link.endswith("&l=fr-FR")
    assert w.call("POST", token).status == 200
    assert int(token.split(".")[3]) == int(NOW) + 90 * 86400
