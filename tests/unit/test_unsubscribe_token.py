"""One-click unsubscribe tokens: sign, verify, expiry, tampering, key rotation, the link."""

from __future__ import annotations

import base64
import json

import pytest
from shopmail.config import Settings
from shopmail.domain.outbound.contracts import validate
from shopmail.domain.outbound.mime_build import build_message
from shopmail.domain.outbound.rendering import render
from shopmail.domain.outbound.unsubscribe import (
    MIN_KEY_BYTES,
    SigningKeys,
    Stream,
    TokenProblem,
    sign_token,
    unsubscribe_link,
    verify_token,
    with_unsubscribe_url,
)
from shopmail.errors import ConfigurationError, InvalidTokenError

from tests.fixtures.paths import load_event

KEYS = SigningKeys(b"k" * 40)
NOW = 1_800_000_000
LATER = NOW + 86400
ADDRESS = "kim.doe+news@example.com"


def _problem(token: str, keys: SigningKeys = KEYS, now: float = NOW) -> str:
    with pytest.raises(InvalidTokenError) as info:
        verify_token(token, keys, now=now)
    assert info.value.permanent and info.value.code == "invalid_token"
    return info.value.problem


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_a_signed_token_names_address_stream_and_expiry() -> None:
    token = sign_token(ADDRESS, Stream.MARKETING, LATER, KEYS)
    parsed = verify_token(token, KEYS, now=NOW)
    assert (parsed.address, parsed.stream, parsed.expires_at) == (ADDRESS, "marketing", LATER)
    version, address, stream, expires, mac = token.split(".")
    assert version == "1" and stream == "marketing" and expires == str(LATER)
    assert base64.urlsafe_b64decode(address + "==").decode() == ADDRESS
    assert len(base64.urlsafe_b64decode(mac + "==")) == 32  # a whole HMAC-SHA-256


def test_a_token_expires() -> None:
    token = sign_token(ADDRESS, Stream.MARKETING, LATER, KEYS)
    assert verify_token(token, KEYS, now=LATER - 1).address == ADDRESS
    assert _problem(token, now=LATER) == TokenProblem.EXPIRED
    assert _problem(token, now=LATER + 10**6) == TokenProblem.EXPIRED


@pytest.mark.parametrize("part", [1, 3, 4])
def test_changing_any_signed_part_or_the_mac_is_forgery(part: int) -> None:
    parts = sign_token(ADDRESS, Stream.MARKETING, LATER, KEYS).split(".")
    replacement = {1: _b64("someone.else@example.com"), 3: str(LATER + 999), 4: _b64("x" * 32)}
    parts[part] = replacement[part]
    assert _problem(".".join(parts)) == TokenProblem.FORGED


def test_an_expired_token_made_to_look_fresh_is_forged_not_accepted() -> None:
    parts = sign_token(ADDRESS, Stream.MARKETING, NOW - 10, KEYS).split(".")
    parts[3] = str(LATER)
    assert _problem(".".join(parts)) == TokenProblem.FORGED


def test_another_stream_or_version_is_refused() -> None:
    token = sign_token(ADDRESS, Stream.MARKETING, LATER, KEYS)
    assert _problem(token.replace(".marketing.", ".transactional.")) == TokenProblem.MALFORMED
    assert _problem("2" + token[1:]) == TokenProblem.MALFORMED


@pytest.mark.parametrize(
    "token", ["", "1", "1.a.marketing.1", "1.!!.marketing.1.x", "1.a.marketing.soon.x", "x" * 5000]
)
def test_malformed_tokens_are_refused_without_crashing(token: str) -> None:
    assert _problem(token) == TokenProblem.MALFORMED


def test_a_token_signed_with_another_key_is_forged() -> None:
    token = sign_token(ADDRESS, Stream.MARKETING, LATER, SigningKeys(b"o" * 40))
    assert _problem(token) == TokenProblem.FORGED


def test_rotation_accepts_current_and_previous_only() -> None:
    old, new, newer = b"o" * 40, b"n" * 40, b"w" * 40
    before = sign_token(ADDRESS, Stream.MARKETING, LATER, SigningKeys(old))
    rotated = SigningKeys(new, (old,))
    after = sign_token(ADDRESS, Stream.MARKETING, LATER, rotated)
    assert verify_token(before, rotated, now=NOW).address == ADDRESS  # mail sent before
    assert verify_token(after, rotated, now=NOW).address == ADDRESS
    assert verify_token(after, SigningKeys(new), now=NOW).address == ADDRESS  # signed by new
    assert _problem(before, SigningKeys(newer, (new,))) == TokenProblem.FORGED  # old dropped


def test_keys_from_the_secret() -> None:
    current, previous = "c" * 64, "p" * 64
    keys = SigningKeys.from_secret(json.dumps({"current": current, "previous": previous}))
    assert keys.current == current.encode() and keys.previous == (previous.encode(),)
    listed = SigningKeys.from_secret(json.dumps({"current": current, "previous": [previous]}))
    assert listed.accepted == keys.accepted
    assert SigningKeys.from_secret(current).accepted == (current.encode(),)
    for bad in (json.dumps({"previous": previous}), "[]", '{"current": 5}',
                json.dumps({"current": current, "previous": 7})):  # fmt: skip
        with pytest.raises(ConfigurationError):
            SigningKeys.from_secret(bad)
    with pytest.raises(ConfigurationError):
        SigningKeys(b"x" * (MIN_KEY_BYTES - 1))


def test_the_link_carries_token_and_locale_and_is_a_safe_https_url() -> None:
    token = sign_token(ADDRESS, Stream.MARKETING, LATER, KEYS)
    link = unsubscribe_link("https://abc.lambda-url.eu-west-1.on.aws/", token, "de-DE")
    assert link == f"https://abc.lambda-url.eu-west-1.on.aws/?t={token}&l=de-DE"
    assert unsubscribe_link("https://x.example/u?a=1", token).endswith(f"?a=1&t={token}")


def test_marketing_mail_gets_the_link_in_the_header_and_the_footer() -> None:
    raw = load_event("outbound/CheckoutAbandoned.json")
    raw["detail"].pop("unsubscribeUrl")
    event = validate(raw)
    token = sign_token(event.recipient, Stream.MARKETING, LATER, KEYS)
    link = unsubscribe_link("https://abc.lambda-url.eu-west-1.on.aws/", token, event.locale)
    linked = with_unsubscribe_url(event, link)
    settings = Settings()
    rendered = render(linked, settings)
    built = build_message(linked, rendered, settings)
    head = built.raw.split(b"\r\n\r\n", 1)[0].decode()
    assert f"List-Unsubscribe: <{link}>" in head
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head
    assert link in rendered.text and link.replace("&", "&amp;") in rendered.html
    assert event.data.get("unsubscribeUrl") is None  # the original event is unchanged
