"""Reply stripping: keep only the new text of a reply (German and English mail clients).

Removed: quoted lines (``>``), quote headers ("On ... wrote:", "Am ... schrieb ...:", also
when wrapped over two or three lines) together with the quoted text that follows them, Outlook
header blocks ("From:/Sent:/To:/Subject:", "Von:/Gesendet:/An:/Betreff:", optionally bold
``*From:*``) and "-----Original Message-----" / "-----Ursprüngliche Nachricht-----" with all that
follows, ``-- `` signatures, a trailing "Sent from my iPhone" style line and a trailing mailing-list
footer (an underscore rule and a few lines). Inline replies
(new text between quoted blocks after a quote header) are kept.
"""

from __future__ import annotations

import re

_MAX_HEADER_LINES = 3
_QUOTE_HEADERS = (
    re.compile(r"^On\b.{0,300}\bwrote\s*:$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^Am\b.{0,300}\bschrieb\b.{0,300}:$", re.DOTALL),
    re.compile(r"^Le\b.{0,300}\ba\s+écrit\s*:$", re.IGNORECASE | re.DOTALL),
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|original-nachricht|"
    r"originalnachricht|message d'origine)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_BLOCK_FROM = re.compile(r"^\s*\*?(from|von|de)\*?\s*:", re.IGNORECASE)
_BLOCK_FIELD = re.compile(
    r"^\s*\*?(sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|à|objet)\*?\s*:",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^\s*[-_=]{5,}\s*$")
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(sent from my [^,.;:!?]{1,50}|sent from (mail|outlook) for [^,.;:!?]{1,40}|"
    r"von meinem [^,.;:!?]{1,40} gesendet|gesendet von meinem [^,.;:!?]{1,40}|"
    r"get outlook for [^,.;:!?]{1,40})\s*$",
    re.IGNORECASE,
)
_FOOTER_RULE = re.compile(r"^\s*_{20,}\s*$")
_FOOTER_LINES = 6
_BLANK_RUN = re.compile(r"\n{3,}")


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _quote_header_length(lines: list[str], start: int) -> int:
    """Number of lines (1-3) forming a quote header at ``start``, or 0."""
    first = lines[start].strip()
    if not first or _is_quoted(first) or first.split(" ", 1)[0] not in {"On", "Am", "Le", "on"}:
        return 0
    joined = ""
    for count in range(1, _MAX_HEADER_LINES + 1):
        if start + count > len(lines):
            break
        part = lines[start + count - 1].strip()
        if count > 1 and not part:
            break
        joined = f"{joined} {part}".strip()
        if any(pattern.match(joined) for pattern in _QUOTE_HEADERS):
            return count
    return 0


def _is_header_block(lines: list[str], start: int) -> bool:
    """An Outlook-style block: a From:/Von: line followed by Sent:/To:/Subject: ... lines."""
    if not _BLOCK_FROM.match(lines[start]):
        return False
    fields = sum(1 for line in lines[start + 1 : start + 7] if _BLOCK_FIELD.match(line))
    return fields >= 2


def _next_content(lines: list[str], start: int) -> int:
    while start < len(lines) and not lines[start].strip():
        start += 1
    return start


def strip_reply(text: str) -> str:
    """Return only the new text of a reply.

    Parameters
    ----------
    text
        The plain-text body of a reply (any line endings).

    Returns
    -------
    str
        The text the sender wrote, without quotes, quote headers, forwarded original
        messages or signatures; leading and trailing blank lines removed.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        header = _quote_header_length(lines, index)
        if header:
            after = _next_content(lines, index + header)
            if after < len(lines) and _is_quoted(lines[after]):
                index += header  # the quote follows; inline replies after it are kept
                continue
            break  # the original follows unquoted: everything from here is old text
        if _ORIGINAL_MESSAGE.match(line) or _is_header_block(lines, index):
            while out and (not out[-1].strip() or _SEPARATOR.match(out[-1])):
                out.pop()
            break
        if _is_quoted(line):
            index += 1
            continue
        if line in {"-- ", "--"}:
            break
        out.append(line)
        index += 1
    while out and not out[-1].strip():
        out.pop()
    if out and _MOBILE_SIGNATURE.match(out[-1]):
        out.pop()
    # A mailing-list footer: an underscore rule followed by a few lines at the very end.
    for back in range(1, min(len(out), _FOOTER_LINES + 1) + 1):
        if _FOOTER_RULE.match(out[-back]):
            del out[-back:]
            break
    result = "\n".join(line.rstrip() for line in out)
    return _BLANK_RUN.sub("\n\n", result).strip("\n")
