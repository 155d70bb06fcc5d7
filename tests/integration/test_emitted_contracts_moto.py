"""Inbound events as they arrive on the moto bus (real adapters, PutEvents, a rule into SQS)
match their contracts: the detail against ``events/schemas/emitted/`` and the whole event
against the schema registry's draft-4 document of its detail-type. (Outbound and feedback
events are checked the same way by the fixtures of ``test_outbound_e2e.py`` and
``test_feedback_moto.py``, which observe them on the bus.)"""

from __future__ import annotations

import pytest

from tests.fixtures.emitted import assert_bus_event
from tests.fixtures.inbound_aws import Stack

CASES = [
    ("support", None, "SupportMessageReceived"),
    ("support", "kontakt@shop.example", "SupportMessageReceived"),
    ("support", "orders@shop.example", "OrderInquiryReceived"),
    ("support", "billing@shop.example", "InvoiceMailReceived"),
    ("support", "who-is-this@shop.example", "MessageReceived"),
    ("return", None, "ReturnMailReceived"),
    ("order_reply", None, "CustomerReplied"),
    ("auto_reply", None, "AutoReplyReceived"),
    ("spam_fail", None, "MessageQuarantined"),
]


@pytest.mark.parametrize(("sample", "recipient", "detail_type"), CASES)
def test_inbound_event_on_the_bus_matches_its_contract(
    inbound_stack: Stack, sample: str, recipient: str | None, detail_type: str
) -> None:
    event = inbound_stack.put_sample(sample)
    if recipient is not None:
        event["Records"][0]["ses"]["receipt"]["recipients"] = [recipient]
    inbound_stack.handle(event)
    observed = inbound_stack.drain(inbound_stack.observed_url)  # drain checks them too
    assert [e["detail-type"] for e in observed] == [detail_type]
    (bus_event,) = observed
    assert bus_event["source"] == "shopmail.inbound" and bus_event["detail"]["version"] == 1
    assert_bus_event(bus_event)
