"""A mail with more attachments than one message may store: the first
``MAX_ATTACHMENTS`` go to S3, and the published event says how many were left out."""

from __future__ import annotations

from email.message import EmailMessage

from shopmail.domain.inbound.attachment_keys import MAX_ATTACHMENTS

from tests.fixtures.inbound_aws import BUCKET, Stack


def test_attachments_beyond_the_limit_are_flagged_in_the_event(inbound_stack: Stack) -> None:
    event = inbound_stack.put_sample("return")
    mid = event["Records"][0]["ses"]["mail"]["messageId"]
    mail = EmailMessage()
    mail["From"] = "Kim Meyer <kim.meyer@example.org>"
    mail["To"] = "returns@shop.example"
    mail["Subject"] = "Retoure ORD-100234, alle Belege"
    mail["Message-ID"] = "<many-attachments@mail.example.org>"
    mail.set_content("Anbei alle Belege.")
    extra = 3
    for n in range(MAX_ATTACHMENTS + extra):
        mail.add_attachment(f"receipt {n}".encode(), "text", "plain", filename=f"beleg-{n}.txt")
    inbound_stack.client("s3").put_object(Bucket=BUCKET, Key=f"inbound/{mid}", Body=mail.as_bytes())

    assert inbound_stack.handle(event)["dead_lettered"] == 0
    (published,) = inbound_stack.drain(inbound_stack.observed_url)
    detail = published["detail"]
    assert detail["attachmentsTruncated"] is True
    assert detail["attachmentsNotStored"] == extra
    listed = inbound_stack.client("s3").list_objects_v2(
        Bucket=BUCKET, Prefix=f"attachments/{mid}/", MaxKeys=1000
    )
    assert listed["KeyCount"] == MAX_ATTACHMENTS
