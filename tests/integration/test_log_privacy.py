"""The keys that hold addresses never reach a log: the outbound business key (it ends with the
recipient) and the feedback dedupe key of an SES event without ``feedbackId`` (it was built
from the recipients), in the error context of a claim held by another attempt.

The autouse ``no_addresses_in_logs`` fixture (``tests/integration/conftest.py``) checks every
record of every integration test; these tests make the records that carried the keys happen and
check them explicitly.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from shopmail.adapters.dynamodb_idempotency import DynamoDbIdempotencyStore, key_digest
from shopmail.bootstrap.feedback import build_feedback_service
from shopmail.domain.feedback.ses_events import parse_feedback_event
from shopmail.domain.outbound.contracts import idempotency_key, validate

from tests.fixtures.outbound_aws import OutboundStack
from tests.fixtures.paths import load_event
from tests.integration.conftest import address_leaks


def _errors(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    return [r.__dict__["error"] for r in records if isinstance(r.__dict__.get("error"), dict)]


def test_a_claimed_outbound_key_is_logged_by_its_digest_only(
    outbound_stack: OutboundStack, no_addresses_in_logs: list[logging.LogRecord]
) -> None:
    st = outbound_stack
    event = st.sample("OrderPlaced")
    key = idempotency_key(validate(event))
    assert "@" in key  # the business key names the recipient
    other = DynamoDbIdempotencyStore(st.client("dynamodb"), st.settings.idempotency_table)
    assert other.begin(key, 300)  # another worker holds it
    st.put_event(event)
    assert len(st.deliver()[1]) == 1
    (error,) = [e for e in _errors(no_addresses_in_logs) if e["code"] == "in_progress"]
    assert error["context"]["key"] == key_digest(key)
    assert address_leaks(no_addresses_in_logs) == []


def test_a_claimed_feedback_dedupe_key_holds_no_address(
    outbound_stack: OutboundStack, no_addresses_in_logs: list[logging.LogRecord]
) -> None:
    st = outbound_stack  # its tables and bus serve the feedback function as well
    service = build_feedback_service(st.settings, st.client)
    delivery = load_event("feedback/delivery-eventbridge.json")  # no feedbackId
    record = {"messageId": "m-1", "body": json.dumps(delivery)}
    dedupe_key = parse_feedback_event(record).dedupe_key
    assert "@" not in dedupe_key
    store = DynamoDbIdempotencyStore(st.client("dynamodb"), st.settings.idempotency_table)
    assert store.begin(dedupe_key, 300)
    result = service.handle_batch([record])
    assert result.failures == ["m-1"]
    (error,) = [e for e in no_addresses_in_logs if "feedback record failed" in e.getMessage()]
    assert error.__dict__["context"]["key"] == key_digest(dedupe_key)
    assert address_leaks(no_addresses_in_logs) == []
