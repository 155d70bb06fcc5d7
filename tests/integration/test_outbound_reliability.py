"""Nothing lost, nothing doubled: the outbound function under bad items, relay outages and
connections lost after the final dot (moto server over HTTP, the SES-like relay over TCP).

Lambda's SQS event source is played by :meth:`OutboundStack.deliver`; the queue has the
template's redrive (``maxReceiveCount``); time passing is :meth:`OutboundStack.elapse`.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from shopmail.adapters.dynamodb_idempotency import COMPLETED
from shopmail.adapters.s3_attachments import S3AttachmentFetcher
from shopmail.bootstrap.outbound import build_outbound_service
from shopmail.domain.outbound.retry_schedule import retry_delay, time_covered
from shopmail.errors import ServiceUnavailableError

from tests.fixtures.outbound_aws import INVOICE_BUCKET, OutboundStack

DAY = 24 * 3600


def order(st: OutboundStack, n: int) -> dict[str, Any]:
    event = st.sample("OrderPlaced")
    event["detail"]["order"]["id"] = f"ORD-{n}"
    return event


def invoice(st: OutboundStack, n: int = 1, **pdf: str) -> dict[str, Any]:
    event = st.sample("InvoiceIssued")
    event["detail"]["invoice"]["number"] = f"RE-{n}"
    event["detail"]["invoice"]["pdf"].update(pdf)
    return event


def put_events(st: OutboundStack, events: list[dict[str, Any]]) -> None:
    for event in events:
        st.put_event(event)


def detail_types(st: OutboundStack) -> list[str]:
    return sorted(e["detail-type"] for e in st.observed())


def idempotency_items(st: OutboundStack) -> dict[str, dict[str, Any]]:
    items = st.client("dynamodb").scan(TableName=st.settings.idempotency_table)["Items"]
    return {i["id"]["S"]: i for i in items}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@contextmanager
def s3_refuses(client: Any, key_part: str, status: int, code: str) -> Iterator[list[str]]:
    """Fault: S3 answers ``status``/``code`` to GetObject of keys containing ``key_part``."""
    hits: list[str] = []

    def answer(params: dict[str, Any], **_: Any) -> Any:
        if key_part not in params.get("url_path", ""):
            return None
        hits.append(params["url_path"])
        response = AWSResponse("https://s3.invalid", status, {}, _Raw(b""))
        parsed = {
            "Error": {"Code": code, "Message": code},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return response, parsed

    client.meta.events.register("before-call.s3.GetObject", answer)
    try:
        yield hits
    finally:
        client.meta.events.unregister("before-call.s3.GetObject", answer)


def _s3_of(st: OutboundStack) -> Any:
    fetcher = st.service.ports.attachments
    assert isinstance(fetcher, S3AttachmentFetcher)
    return fetcher._s3.client  # the real boto3 client behind the lazy proxy


# --- one bad item never holds back its batch ----------------------------------------------


def test_missing_invoice_pdf_waits_alone_and_is_sent_once_uploaded(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    bill = invoice(st)
    put_events(st, [order(st, n) for n in range(9)] + [bill])
    records, failed = st.deliver()
    assert len(records) == 10
    assert len(st.relay.messages) == 9  # the nine others went out
    (late,) = failed
    assert st.scheduler is not None
    (delay,) = st.scheduler.delays(late)
    assert delay == retry_delay(1)  # waits, does not hammer
    assert st.dead_letter_entries() == []
    assert detail_types(st) == ["EmailSent"] * 9

    pdf = bill["detail"]["invoice"]["pdf"]
    st.client("s3").put_object(Bucket=INVOICE_BUCKET, Key=pdf["key"], Body=b"%PDF-1.4 late")
    st.elapse()
    _, failed = st.deliver()
    assert failed == [] and len(st.relay.messages) == 10
    assert b"application/pdf" in st.relay.messages[-1].data


def test_invoice_pdf_still_missing_after_the_wait_fails_alone_with_its_reason(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    bill = invoice(st)
    bill_time = datetime.now(UTC) - timedelta(seconds=st.settings.invoice_wait_seconds + 5)
    st.client("events").put_events(
        Entries=[
            {
                "EventBusName": "shop",
                "Source": "shop",
                "DetailType": "InvoiceIssued",
                "Detail": json.dumps(bill["detail"]),
                "Time": bill_time,
            }
        ]
    )
    st.put_event(order(st, 1))
    _, failed = st.deliver()
    assert failed == []
    (dead,) = st.dead_letter_entries()
    assert dead.code == "invalid_event"
    assert "INVOICE_WAIT_SECONDS" in dead.reason
    assert detail_types(st) == ["EmailFailed", "EmailSent"]
    assert len(st.relay.messages) == 1


def test_invoice_pdf_access_denied_fails_that_item_only_and_raises_the_alarm(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    bill = invoice(st)
    put_events(st, [order(st, n) for n in range(9)] + [bill])
    with s3_refuses(_s3_of(st), "RE-2026-000451", 403, "AccessDenied") as hits:
        _, failed = st.deliver()
    assert hits  # the real adapter got S3's 403
    assert len(failed) == 1 and len(st.relay.messages) == 9
    assert st.metrics is not None and st.metrics.get("ConfigurationError") == [1.0]
    assert st.dead_letter_entries() == []


def test_invoice_from_another_bucket_fails_once_and_the_batch_goes_on(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    put_events(st, [order(st, 1), invoice(st, bucket="someone-elses-bucket"), order(st, 2)])
    _, failed = st.deliver()
    assert failed == [] and len(st.relay.messages) == 2
    (dead,) = st.dead_letter_entries()
    assert dead.code == "invalid_event"
    assert "is not the invoice bucket" in dead.reason
    assert detail_types(st) == ["EmailFailed", "EmailSent", "EmailSent"]
    st.elapse()
    assert st.deliver() == ([], [])  # handled: never delivered again


def test_key_outside_the_invoice_prefix_fails_once(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    st.put_event(invoice(st, key="private/salaries.pdf"))
    _, failed = st.deliver()
    assert failed == []
    (dead,) = st.dead_letter_entries()
    assert "outside the invoice prefix" in dead.reason


def test_s3_throttling_is_retried_with_backoff(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    bill = invoice(st)
    pdf = bill["detail"]["invoice"]["pdf"]
    st.client("s3").put_object(Bucket=INVOICE_BUCKET, Key=pdf["key"], Body=b"%PDF-1.4")
    st.put_event(bill)
    with s3_refuses(_s3_of(st), "RE-2026-000451", 503, "SlowDown"):
        _, first = st.deliver()
        st.elapse()
        _, second = st.deliver()
    assert first == second != []
    assert st.scheduler is not None
    assert st.scheduler.delays(first[0]) == [retry_delay(1), retry_delay(2)]  # growing
    st.elapse()
    assert st.deliver()[1] == [] and len(st.relay.messages) == 1


# --- outages wait, they do not dead-letter -------------------------------------------------


def test_a_24_hour_relay_outage_loses_nothing_and_then_sends_everything_once(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    sm = st.client("secretsmanager")
    good = sm.get_secret_value(SecretId=st.settings.smtp_secret_arn)["SecretString"]
    rotated = json.dumps({"AccessKeyId": st.relay.access_key_id, "SecretAccessKey": "revoked"})
    sm.put_secret_value(SecretId=st.settings.smtp_secret_arn, SecretString=rotated)
    put_events(st, [order(st, n) for n in range(3)])

    waited = 0
    deliveries = 0
    while waited < DAY:  # the relay answers 535 for a whole day
        records, failed = st.deliver()
        assert len(records) == 3 and sorted(failed) == sorted(r["messageId"] for r in records)
        deliveries += 1
        counts = {int(r["attributes"]["ApproximateReceiveCount"]) for r in records}
        assert counts == {deliveries}
        assert st.scheduler is not None
        waited += min(st.scheduler.calls[-1][i].delay_seconds for i in range(3))
        st.elapse()
    assert deliveries > 5  # the old maxReceiveCount: everything would be dead-lettered by now
    assert waited == time_covered(deliveries + 1)
    assert st.metrics is not None and st.metrics.get("ConfigurationError") == [1.0]
    assert st.dead_letter_entries() == [] and st.relay.messages == []

    sm.put_secret_value(SecretId=st.settings.smtp_secret_arn, SecretString=good)
    records, failed = st.deliver()
    assert failed == [] and len(records) == 3
    assert len(st.relay.messages) == 3
    assert detail_types(st) == ["EmailSent"] * 3
    assert st.deliver() == ([], []) and st.dead_letter_entries() == []


def test_daily_quota_keeps_the_mail_queued_and_counts_the_alarm(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    st.relay.server.daily_quota = 0
    put_events(st, [order(st, n) for n in range(2)])
    for n in range(1, 8):
        _, failed = st.deliver()
        assert len(failed) == 2
        assert st.metrics is not None and st.metrics.get("QuotaExceeded") == [1.0]
        assert st.scheduler is not None
        assert {p.delay_seconds for p in st.scheduler.calls[-1]} == {retry_delay(n)}
        st.elapse()
    assert st.dead_letter_entries() == []
    st.relay.server.daily_quota = None
    assert st.deliver()[1] == [] and len(st.relay.messages) == 2


def test_unreachable_relay_stops_the_batch_after_one_reconnect(
    outbound_stack: OutboundStack,
) -> None:
    import socket

    st = outbound_stack
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings = replace(st.settings, smtp_port=closed_port, smtp_timeout=2.0)
    service = build_outbound_service(settings, st.client)
    assert st.scheduler is not None
    service.ports = replace(service.ports, retries=st.scheduler)
    st.service = service
    put_events(st, [order(st, n) for n in range(4)])
    _, failed = st.deliver()
    assert len(failed) == 4
    assert st.metrics is not None and st.metrics.get("RelayUnavailable") == [1.0]
    assert st.metrics.get("OutboundStopped") == [4.0]
    assert st.dead_letter_entries() == []


def test_a_4xx_for_one_message_backs_off_instead_of_hammering(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    put_events(st, [order(st, 1), order(st, 2)])
    st.relay.script("data", "451 Temporary local problem - please try later")
    _, failed = st.deliver()
    assert len(failed) == 1 and len(st.relay.messages) == 1  # the batch went on
    for _ in range(2):
        st.elapse()
        st.relay.script("data", "451 Temporary local problem - please try later")
        assert st.deliver()[1] == failed
    assert st.scheduler is not None
    assert st.scheduler.delays(failed[0]) == [retry_delay(n) for n in (1, 2, 3)]
    st.elapse()
    assert st.deliver()[1] == [] and len(st.relay.messages) == 2


def test_last_delivery_dead_letters_with_the_reason_instead_of_a_silent_redrive(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    st.service.settings = replace(st.settings, outbound_max_receive_count=3)
    st.relay.server.daily_quota = 0
    st.put_event(order(st, 1))
    for _ in range(2):
        assert len(st.deliver()[1]) == 1
        st.elapse()
    _, failed = st.deliver()
    assert failed == []  # handled: dead-lettered by the function, with the reason
    (dead,) = st.dead_letter_entries()
    assert dead.code == "retries_exhausted"
    assert "Daily message quota" in dead.reason
    assert dead.detail_type == "OrderPlaced"
    (failed_event,) = st.observed()
    assert failed_event["detail"]["code"] == "retries_exhausted"


# --- one ambiguity rule ----------------------------------------------------------------------

FAULTS_AFTER_THE_DOT: list[dict[str, Any]] = [
    {"drop": True, "deliver": True},  # accepted, then the connection was reset
    {"drop": True, "close": True, "deliver": True},  # accepted, then closed
    {"drop": True},  # reset before the relay accepted it
    {"drop": True, "close": True},  # closed before the relay accepted it
    {"delay": 1.5},  # no reply before the client's timeout (the client hangs up)
]


def test_connection_lost_after_the_final_dot_never_doubles_a_mail(
    outbound_stack: OutboundStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The duplicate window, measured: every kind of loss after the final dot, repeatedly,
    with re-deliveries; no business event gets two mails, every doubtful one is flagged."""
    st = outbound_stack
    st.service = build_outbound_service(replace(st.settings, smtp_timeout=0.5), st.client)
    assert st.scheduler is not None
    st.service.ports = replace(st.service.ports, retries=st.scheduler)
    rounds = 4
    events = [order(st, n) for n in range(rounds * len(FAULTS_AFTER_THE_DOT))]
    for n, event in enumerate(events):
        st.relay.script("data", **FAULTS_AFTER_THE_DOT[n % len(FAULTS_AFTER_THE_DOT)])
        st.put_event(event)
        assert st.deliver(max_messages=1)[1] == []  # handled at once, nothing retried
    for event in events:  # every event delivered again (a re-publish)
        st.put_event(event)
    while st.deliver()[0]:
        pass

    per_order: dict[str, int] = {}
    for m in st.relay.messages:
        per_order[_order_of(m.data)] = per_order.get(_order_of(m.data), 0) + 1
    sent = [e["detail"] for e in st.observed() if e["detail-type"] == "EmailSent"]
    assert len(sent) == len(events) and all(d["ambiguous"] for d in sent)
    assert max(per_order.values()) == 1  # duplicates: 0
    delivered = len(per_order)
    assert delivered == rounds * 2  # reset or close after the relay accepted it
    records = idempotency_items(st)
    assert all(i["status"]["S"] == COMPLETED for i in records.values())
    assert st.dead_letter_entries() == []
    with capsys.disabled():
        print(
            f"\nafter-the-dot faults: {len(events)}, mails per event at most 1 (duplicates 0), "
            f"flagged ambiguous: {len(sent)}, delivered: {delivered}, "
            f"not delivered (flagged): {len(events) - delivered}"
        )


def _mid(raw: bytes) -> str:
    from email.parser import BytesHeaderParser

    return str(BytesHeaderParser().parsebytes(raw)["Message-ID"])


def _order_of(raw: bytes) -> str:
    from shopmail.domain.outbound.message_ids import parse_message_id

    ref = parse_message_id(_mid(raw))
    assert ref is not None
    return ref.aggregate_id


def test_the_duplicate_window_after_250_measured(
    outbound_stack: OutboundStack, capsys: Any
) -> None:
    """What remains: the time from the relay's 250 to the COMPLETED record (a crash inside it
    sends the mail again). Measured, not asserted; the mail goes out exactly once."""
    st = outbound_stack
    accepted_at: dict[str, float] = {}
    done_at: dict[str, float] = {}
    st.relay.server.on_message = lambda env, raw, mid: accepted_at.setdefault(
        _mid(raw), time.perf_counter()
    )
    store = st.service.ports.idempotency
    complete = store.complete

    def timed_complete(key: str, data: Any = None) -> None:
        complete(key, data)
        if data and data.get("outcome") == "sent" and not data.get("announced"):
            done_at.setdefault(str(data["messageId"]), time.perf_counter())

    store.complete = timed_complete  # type: ignore[method-assign]
    put_events(st, [order(st, n) for n in range(20)])
    while st.deliver()[0]:
        pass
    assert len(st.relay.messages) == 20 and set(done_at) == set(accepted_at)
    window = sorted((done_at[m] - accepted_at[m]) * 1000 for m in accepted_at)
    with capsys.disabled():
        print(
            f"\n250 -> idempotency record COMPLETED over {len(window)} mails (moto over HTTP): "
            f"median {statistics.median(window):.1f} ms, max {window[-1]:.1f} ms"
        )


# --- the idempotency record after 250 ---------------------------------------------------------


def test_one_failed_complete_after_250_is_retried_and_nothing_is_resent(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    store = st.service.ports.idempotency
    complete = store.complete
    calls: list[dict[str, Any]] = []

    def flaky(key: str, data: Any = None) -> None:
        calls.append(dict(data or {}))
        if len(calls) in (1, 3):  # the first write after 250, and the "announced" mark
            raise ServiceUnavailableError("dynamodb PutItem failed transiently (Throttling)")
        complete(key, data)

    store.complete = flaky  # type: ignore[method-assign]
    st.put_event(order(st, 1))
    assert st.deliver()[1] == []
    assert [c.get("announced", False) for c in calls] == [False, False, True]
    (item,) = idempotency_items(st).values()
    assert item["status"]["S"] == COMPLETED  # recorded by the second attempt
    assert st.metrics is not None and "OutboundUnrecorded" not in st.metrics
    st.put_event(order(st, 1))  # a re-publish: recognised, not sent again
    st.elapse()
    assert st.deliver()[1] == []
    assert len(st.relay.messages) == 1  # the mail is never sent again
    # without the "announced" mark the re-delivery announces once more (harmless)
    assert detail_types(st) == ["EmailSent", "EmailSent"]


def test_complete_failing_twice_after_250_is_not_retried_into_a_duplicate(
    outbound_stack: OutboundStack,
) -> None:
    st = outbound_stack
    store = st.service.ports.idempotency
    complete = store.complete

    def down(key: str, data: Any = None) -> None:
        if data and data.get("outcome") == "sent" and not data.get("announced"):
            raise ServiceUnavailableError("dynamodb PutItem failed transiently (InternalError)")
        complete(key, data)

    store.complete = down  # type: ignore[method-assign]
    st.put_event(order(st, 1))
    _, failed = st.deliver()
    assert failed == []  # a retry would find the claim expired and send it again
    assert len(st.relay.messages) == 1
    assert st.metrics is not None and st.metrics.get("OutboundUnrecorded") == [1.0]


# --- bounded keys ------------------------------------------------------------------------------


def test_over_long_version_is_refused_once_with_the_field(outbound_stack: OutboundStack) -> None:
    st = outbound_stack
    event = order(st, 1)
    event["detail"]["version"] = "v" * 3000  # the key would pass DynamoDB's 2 KB limit
    st.put_event(event)
    _, failed = st.deliver()
    assert failed == []
    (dead,) = st.dead_letter_entries()
    assert dead.code == "invalid_event"
    assert "detail.version" in dead.reason
    assert detail_types(st) == ["EmailFailed"]
    assert idempotency_items(st) == {}


def test_a_key_dynamodb_refuses_is_permanent_with_a_reason(outbound_stack: OutboundStack) -> None:
    from shopmail.adapters.dynamodb_idempotency import DynamoDbIdempotencyStore
    from shopmail.errors import StoreRejectedError

    st = outbound_stack
    store = DynamoDbIdempotencyStore(st.client("dynamodb"), st.settings.idempotency_table)
    with pytest.raises(StoreRejectedError) as info:
        store.begin("k" * 2100, 30)
    assert info.value.permanent and "ValidationException" in info.value.context["code"]
