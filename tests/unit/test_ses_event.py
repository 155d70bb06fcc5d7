"""The lenient SES receipt event model."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from shopmail.domain.inbound.ses_event import message_id_of, parse_ses_event, parse_ses_record
from shopmail.errors import InvalidEventError

from tests.fixtures.paths import EVENTS, load_event

SAMPLES = sorted(p.stem for p in (EVENTS / "inbound").glob("*.json"))


def _minimal() -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:ses",
                "ses": {
                    "mail": {"messageId": "abc123", "source": "kim@example.org"},
                    "receipt": {"recipients": ["support@shop.example"]},
                },
            }
        ]
    }


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_event_parses(name: str) -> None:
    (record,) = parse_ses_event(load_event(f"inbound/{name}.json"))
    assert record.envelope.recipients
    assert (EVENTS / "inbound" / f"{name}.eml").is_file()


def test_samples_cover_the_issue_list() -> None:
    assert {
        "support",
        "return",
        "order_reply",
        "auto_reply",
        "spam_fail",
        "dmarc_fail",
        "truncated_headers",
    } <= set(SAMPLES)


def test_full_sample_fields() -> None:
    (rec,) = parse_ses_event(load_event("inbound/dmarc_fail.json"))
    assert rec.envelope.message_id == "dmarcfai1e2ic28trm7dfhrc2v0clambda4nb01"
    assert rec.envelope.sender == "billing@paypa1.example"
    assert rec.envelope.recipients == ("invoices@shop.example",)
    assert rec.envelope.verdicts.dmarc == "FAIL"
    assert rec.envelope.verdicts.dmarc_policy == "reject"
    assert rec.envelope.verdicts.dkim == "FAIL"
    assert rec.action.invocation_type == "Event"
    assert rec.destination == ("invoices@shop.example",)


def test_truncated_headers_flag() -> None:
    (rec,) = parse_ses_event(load_event("inbound/truncated_headers.json"))
    assert rec.envelope.headers_truncated is True
    assert "subject" not in rec.common_headers
    assert len(rec.envelope.recipients) == 2


def test_missing_verdicts_default_to_gray() -> None:
    rec = parse_ses_record(_minimal()["Records"][0])
    v = rec.envelope.verdicts
    assert (v.spam, v.virus, v.spf, v.dkim, v.dmarc, v.dmarc_policy) == (
        "GRAY",
        "GRAY",
        "GRAY",
        "GRAY",
        "GRAY",
        None,
    )
    assert rec.common_headers == {}
    assert rec.envelope.timestamp == ""


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("reject", "reject"),
        ("QUARANTINE", "quarantine"),
        ({"status": "REJECT"}, "reject"),
        ({"status": "none"}, "none"),
        ("bogus", None),
        (7, None),
    ],
)
def test_dmarc_policy_string_or_object(policy: Any, expected: str | None) -> None:
    ev = _minimal()
    receipt = ev["Records"][0]["ses"]["receipt"]
    receipt["dmarcVerdict"] = {"status": "FAIL"}
    receipt["dmarcPolicy"] = policy
    (rec,) = parse_ses_event(ev)
    assert rec.envelope.verdicts.dmarc_policy == expected


def test_unknown_verdict_status_is_gray_and_case_insensitive() -> None:
    ev = _minimal()
    receipt = ev["Records"][0]["ses"]["receipt"]
    receipt["spamVerdict"] = {"status": "fail"}
    receipt["virusVerdict"] = {"status": "MAYBE"}
    receipt["spfVerdict"] = "PROCESSING_FAILED"
    (rec,) = parse_ses_event(ev)
    assert rec.envelope.verdicts.spam == "FAIL"
    assert rec.envelope.verdicts.virus == "GRAY"
    assert rec.envelope.verdicts.spf == "PROCESSING_FAILED"


def test_null_sender_and_request_response() -> None:
    ev = _minimal()
    ev["Records"][0]["ses"]["mail"]["source"] = "<>"
    ev["Records"][0]["ses"]["receipt"]["action"] = {
        "type": "Lambda",
        "invocationType": "RequestResponse",
    }
    (rec,) = parse_ses_event(ev)
    assert rec.envelope.sender == ""
    assert rec.action.invocation_type == "RequestResponse"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("Records"), "Records"),
        (lambda e: e.update(Records=[]), "Records"),
        (lambda e: e["Records"][0].pop("ses"), "Records[0].ses"),
        (lambda e: e["Records"][0]["ses"].pop("mail"), "Records[0].ses.mail"),
        (
            lambda e: e["Records"][0]["ses"]["mail"].pop("messageId"),
            "Records[0].ses.mail.messageId",
        ),
        (
            lambda e: e["Records"][0]["ses"]["mail"].update(messageId="../../etc/passwd"),
            "Records[0].ses.mail.messageId",
        ),
        (
            lambda e: e["Records"][0]["ses"]["receipt"].pop("recipients"),
            "Records[0].ses.receipt.recipients",
        ),
        (
            lambda e: e["Records"][0]["ses"]["receipt"].update(recipients=[]),
            "Records[0].ses.receipt.recipients",
        ),
        (
            lambda e: e["Records"][0]["ses"]["receipt"].update(recipients={"a": 1}),
            "Records[0].ses.receipt.recipients",
        ),
        (lambda e: e["Records"][0].update(eventSource="aws:sqs"), "Records[0].eventSource"),
    ],
)
def test_invalid_event_names_the_field(mutate: Any, field: str) -> None:
    ev = copy.deepcopy(_minimal())
    mutate(ev)
    with pytest.raises(InvalidEventError) as info:
        parse_ses_event(ev)
    assert info.value.context["field"] == field
    assert info.value.permanent


def test_not_a_mapping() -> None:
    with pytest.raises(InvalidEventError):
        parse_ses_event(["nope"])


def test_message_id_of_is_best_effort() -> None:
    assert message_id_of(_minimal()) == "abc123"
    assert message_id_of({"Records": []}) is None
    assert message_id_of(None) is None


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_have_the_exact_ses_shape(name: str) -> None:
    event = load_event(f"inbound/{name}.json")
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:ses" and record["eventVersion"] == "1.0"
    mail, receipt = record["ses"]["mail"], record["ses"]["receipt"]
    assert {
        "timestamp",
        "source",
        "messageId",
        "destination",
        "headersTruncated",
        "headers",
        "commonHeaders",
    } <= set(mail)
    assert all(set(h) == {"name", "value"} for h in mail["headers"])
    assert {
        "timestamp",
        "processingTimeMillis",
        "recipients",
        "spamVerdict",
        "virusVerdict",
        "spfVerdict",
        "dkimVerdict",
        "dmarcVerdict",
        "action",
    } <= set(receipt)
    assert receipt["action"]["type"] == "Lambda"
    assert receipt["action"]["invocationType"] == "Event"
    if "dmarcPolicy" in receipt:
        assert receipt["dmarcVerdict"]["status"] == "FAIL"
        assert receipt["dmarcPolicy"] in ("none", "quarantine", "reject")
    # the sample's raw mail starts with the headers the event lists
    raw = (EVENTS / "inbound" / f"{name}.eml").read_bytes()
    assert raw.startswith(f"{mail['headers'][0]['name']}:".encode())
