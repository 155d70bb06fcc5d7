"""``shopmail render EVENT.json [--locale de]``: print the exact MIME message that would be sent.

Attachments named by the event (the invoice PDF in S3) are read from ``--attachments DIR``
(by the key's file name) when given; otherwise a small placeholder PDF stands in and a note
goes to stderr. ``--date`` fixes the Date header (default: now) so the output is reproducible.
``--shop-config FILE`` and ``--templates DIR`` (else ``SHOP_CONFIG``, ``TEMPLATES_LOCATION``)
render the mail as that shop's deployed functions would: its name as the From display name,
its colours, logo, legal block and links, its overridden templates.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from shopmail.domain.outbound.mime_build import Attachment
from shopmail.domain.outbound.rendering import AttachmentRef
from shopmail.errors import ShopmailError

from shopmail_local.cli.common import add_shop_options, load_shop_event, shop_mail

PLACEHOLDER_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``render`` sub-command."""
    p = subparsers.add_parser("render", help="print the MIME message an outbound event would send")
    p.add_argument(
        "event", help="EventBridge event JSON file (e.g. events/outbound/OrderPlaced.json)"
    )
    p.add_argument("--locale", help="override the customer locale (de, en, de-DE, ...)")
    p.add_argument("--date", help="Date header as ISO 8601 (default: now)")
    p.add_argument("--attachments", metavar="DIR", help="folder holding the attachment files")
    add_shop_options(p)
    p.set_defaults(func=run)


def fetch_attachments(
    refs: tuple[AttachmentRef, ...], folder: str | None
) -> tuple[list[Attachment], list[str]]:
    """Read each referenced attachment from ``folder`` (placeholder when absent)."""
    attachments: list[Attachment] = []
    notes: list[str] = []
    for ref in refs:
        path = Path(folder) / Path(ref.key).name if folder else None
        if path is not None and path.is_file():
            data = path.read_bytes()
        else:
            data = PLACEHOLDER_PDF
            notes.append(f"s3://{ref.bucket}/{ref.key} not available locally: placeholder PDF")
        attachments.append(Attachment(ref.filename, data, ref.content_type))
    return attachments, notes


def run(args: argparse.Namespace) -> int:
    """Render, build and print the message; exit 1 on an invalid event or template."""
    event = load_shop_event(args.event, args.locale)
    if event is None:
        return 1
    settings, mail = shop_mail(args.shop_config, args.templates)
    try:
        mail.template_dir()
        mail.shop()
    except ShopmailError as exc:
        print(f"shopmail render: error: {exc.reason}", file=sys.stderr)
        return 1
    try:
        date = (
            datetime.fromisoformat(args.date.replace("Z", "+00:00"))
            if args.date
            else datetime.now(UTC)
        )
    except ValueError:
        print(f"--date {args.date!r} is not ISO 8601", file=sys.stderr)
        return 2
    try:
        rendered = mail.render(event, settings)
        attachments, notes = fetch_attachments(rendered.attachments_refs, args.attachments)
        built = mail.build(event, rendered, settings, attachments=attachments, date=date)
    except ShopmailError as exc:
        print(f"{args.event}: {exc.code}: {exc.reason}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    sys.stdout.buffer.write(built.raw)
    sys.stdout.flush()
    return 0
