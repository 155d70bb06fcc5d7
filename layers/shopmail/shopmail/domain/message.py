"""The inbound message model: frozen dataclasses, no behaviour beyond small accessors.

``InboundMessage`` is what the parser (``shopmail.domain.inbound.parsing``) builds from raw bytes
plus the SES envelope; routing, loop checks and the feedback classifier read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from functools import cached_property
from typing import Literal

from shopmail.domain.addresses import domain_of

VerdictStatus = str  # PASS | FAIL | GRAY | PROCESSING_FAILED | DISABLED


@dataclass(frozen=True, slots=True)
class Address:
    """A decoded mailbox: display name and address (``""`` when absent)."""

    name: str
    address: str

    @property
    def domain(self) -> str:
        """Lower-cased domain part (``""`` when the address has none)."""
        return domain_of(self.address)

    @property
    def local_part(self) -> str:
        """The part before the last ``@``."""
        return self.address.rpartition("@")[0] if "@" in self.address else self.address


@dataclass(frozen=True, slots=True)
class Verdicts:
    """SES receipt verdicts; ``GRAY`` when unknown (e.g. offline)."""

    spam: VerdictStatus = "GRAY"
    virus: VerdictStatus = "GRAY"
    spf: VerdictStatus = "GRAY"
    dkim: VerdictStatus = "GRAY"
    dmarc: VerdictStatus = "GRAY"
    dmarc_policy: str | None = None  # none | quarantine | reject (only when DMARC failed)


@dataclass(frozen=True, slots=True)
class Envelope:
    """What SES knows about the SMTP transaction (from the Lambda event, not the headers)."""

    message_id: str  # SES message id = S3 key suffix
    sender: str  # envelope MAIL FROM; "" for the null sender
    recipients: tuple[str, ...]  # envelope RCPT TO matched by the rule
    timestamp: str = ""
    verdicts: Verdicts = field(default_factory=Verdicts)
    headers_truncated: bool = False


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment or inline part, described (its bytes are decoded on demand)."""

    index: int  # position of the part in a depth-first walk of the MIME tree
    filename: str  # safe file name (no path, no control characters), never empty
    content_type: str
    size: int  # decoded size in bytes
    sha256: str  # hex digest of the decoded bytes
    disposition: Literal["attachment", "inline"] = "attachment"
    content_id: str | None = None
    original_filename: str | None = None


@dataclass(frozen=True, slots=True)
class MessageFlags:
    """Flags that routing and loop checks need."""

    auto_submitted: bool = False  # Auto-Submitted present and not "no", X-Autoreply, ...
    is_list: bool = False  # List-Id / List-Unsubscribe / List-Post
    is_bulk: bool = False  # Precedence: bulk | list | junk
    is_dsn: bool = False  # multipart/report; report-type=delivery-status
    is_arf: bool = False  # multipart/report; report-type=feedback-report
    is_mdn: bool = False  # multipart/report; report-type=disposition-notification
    suppress_auto_response: bool = False  # X-Auto-Response-Suppress All/AutoReply/OOF


@dataclass(frozen=True)
class InboundMessage:
    """A parsed message.

    ``tree`` is the underlying ``email.message.Message`` (compat32 tree), kept for on-demand
    decoding of attachments and for the feedback classifier; it is excluded from equality.
    """

    subject: str = ""
    from_: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    sender: tuple[Address, ...] = ()
    date: datetime | None = None
    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # decoded (name, value), original order
    text: str = ""  # text/plain, or the HTML turned into text
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    attached_messages: tuple[InboundMessage, ...] = ()  # nested message/rfc822
    defects: tuple[str, ...] = ()
    flags: MessageFlags = field(default_factory=MessageFlags)
    content_type: str = "text/plain"
    report_type: str | None = None  # for multipart/report
    size: int = 0  # raw size in bytes
    envelope: Envelope | None = None
    tree: Message | None = field(default=None, compare=False, repr=False)

    @cached_property
    def _header_index(self) -> dict[str, list[str]]:
        """``{lower-case name: its decoded values in order}``, built on the first lookup.

        Routing and the loop guard ask a message for a dozen fields; each lookup is then a
        dictionary access instead of a scan of every field. (A frozen dataclass without
        slots keeps a ``cached_property`` in its ``__dict__``; fields and equality are
        unaffected.)
        """
        index: dict[str, list[str]] = {}
        for key, value in self.headers:
            index.setdefault(key.lower(), []).append(value)
        return index

    def header(self, name: str) -> str | None:
        """First decoded value of header ``name`` (case-insensitive), or ``None``."""
        values = self._header_index.get(name.lower())
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        """All decoded values of header ``name`` (case-insensitive)."""
        return list(self._header_index.get(name.lower(), ()))
