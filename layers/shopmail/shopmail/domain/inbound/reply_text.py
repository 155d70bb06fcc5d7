"""Reply stripping: keep only the new text of a reply.

The mail clients' markers are known in German, English, French, Italian, Spanish, Dutch, Polish
and Russian:

* quoted lines (``>``);
* **quote headers**, also when wrapped over two or three lines, with the quoted text after
  them: Gmail, Apple Mail, Thunderbird, Yahoo and Android attributions such as "On ... wrote:",
  "Am ... schrieb ...:", "Le ... a écrit :", "Il giorno ... ha scritto:", "El ... escribió:",
  "Op ... schreef ...:", "Op ... heeft ... het volgende geschreven:", "W dniu ... pisze:",
  "... napisał(a):", "Wiadomość napisana przez ... w dniu ...:", "... написал(а):",
  "... пишет:" and Gmail's Russian "пн, 2 мар. 2026 г. в 09:00, ...:". A quote header carries
  a date with its year, a time or an address, which tells it from a sentence such as
  "Am Montag schrieb ich:";
* **header blocks** of Outlook, GMX/WEB.DE and Android mail ("From:/Sent:/To:/Subject:" and
  "Von:/Gesendet:/An:/Betreff:", "De :/Envoyé :/À :/Objet :", "Da:/Inviato:/A:/Oggetto:",
  "De:/Enviado:/Para:/Asunto:", "Van:/Verzonden:/Aan:/Onderwerp:", "Od:/Wysłano:/Do:/Temat:",
  "От:/Отправлено:/Кому:/Тема:", optionally bold ``*From:*``): a From line with at least two
  other fields, or a Sent/Date line directly followed by a From line; with all that follows;
* "-----Original Message-----" lines and their translations, with all that follows;
* ``-- `` signatures, a trailing "Sent from my iPhone" style line ("Von meinem iPhone
  gesendet", "Envoyé de mon iPhone", "Inviato da iPhone", "Enviado desde mi iPhone",
  "Verzonden vanaf mijn iPhone", "Wysłane z iPhone'a", "Отправлено с iPhone", "Get Outlook for
  Android" and their kin) and a trailing mailing-list footer (an underscore rule and a few
  lines).

Inline replies (new text between quoted blocks after a quote header) are kept.
"""

from __future__ import annotations

import re
from typing import Final

_MAX_HEADER_LINES: Final = 3
_FLAGS: Final = re.IGNORECASE | re.DOTALL

# Quote headers (the joined 1-3 lines, stripped). Each needs _SIGNAL somewhere as well.
_QUOTE_HEADERS: Final = (
    # Clients that put the verb last: Gmail, Apple Mail, Thunderbird, Yahoo, Android
    # (en, fr, it, es, pl, ru; also "Shop <orders@shop.example> wrote:").
    re.compile(
        r"^.{1,400}?(?<![^\W\d_])(?:wrote|a\s+écrit|ha\s+scritto|escribió|"
        r"pisze|napisał(?:\(a\)|a)?|написал(?:\(а\)|а)?|пишет)\s*:$",
        _FLAGS,
    ),
    # German and Dutch put the name after the verb: "Am ... schrieb Shop <...>:",
    # "Op ... schreef Shop <...>:"; Yahoo / Apple Mail: "... hat ... Folgendes geschrieben:",
    # "... heeft ... het volgende geschreven:".
    re.compile(r"^(?:Am|Op)\s.{0,400}?\b(?:schrieb|schreef)\b.{0,300}:$", re.DOTALL),
    re.compile(r"^.{1,400}?\b(?:Folgendes\s+geschrieben|het\s+volgende\s+geschreven)\s*:$", _FLAGS),
    # Apple Mail (pl): "Wiadomość napisana przez Shop <...> w dniu 02.03.2026, o godz. 09:00:"
    re.compile(r"^Wiadomość\s+napisana\s+przez\s.{1,300}?\sw\s+dniu\s.{1,100}:$", _FLAGS),
    # Gmail (ru): "пн, 2 мар. 2026 г. в 09:00, Shop <orders@shop.example>:"
    re.compile(r"^(?:пн|вт|ср|чт|пт|сб|вс),\s.{1,80}?\d{4}\s*г\..{1,300}:$", _FLAGS),
)
# A date with a year, a time or an address: what every client puts into its quote header.
#: How the first line of a wrapped quote header starts when it carries no date, time or address.
_OPENER: Final = re.compile(r"^(?:On|Am|Le|Il|El|Op|W dniu|Dnia|Użytkownik|Wiadomość)\b", re.I)
_SIGNAL: Final = re.compile(
    r"@|\d{1,2}[:.]\d{2}\b|\b(?:19|20)\d{2}\b|\d{1,2}[./-]\d{1,2}[./-]\d{2}"
)

_ORIGINAL_MESSAGE: Final = re.compile(
    r"^\s*-{2,}\s*(?:original message|ursprüngliche nachricht|original-nachricht|"
    r"original nachricht|originalnachricht|message d'origine|message d’origine|"
    r"message original|messaggio originale|mensaje original|oorspronkelijk bericht|"
    r"origineel bericht|oryginalna wiadomość|wiadomość oryginalna|исходное сообщение)"
    r"\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FIELD_END: Final = r"\*?\s*:"
_BLOCK_FROM: Final = re.compile(rf"^\s*\*?(?:from|von|de|da|van|od|от){_FIELD_END}", re.I)
_BLOCK_SENT: Final = re.compile(
    rf"^\s*\*?(?:sent|date|gesendet|datum|envoyé|inviato|data|enviado(?: el)?|fecha|"
    rf"verzonden|wysłano|wysłane|отправлено|дата){_FIELD_END}",
    re.IGNORECASE,
)
_BLOCK_FIELD: Final = re.compile(
    rf"^\s*\*?(?:sent|date|to|subject|cc|bcc|reply-to|"
    rf"gesendet|datum|an|betreff|kopie|antwort an|"
    rf"envoyé|à|a|objet|copie à|répondre à|"
    rf"inviato|data|oggetto|"
    rf"enviado(?: el)?|fecha|para|asunto|"
    rf"verzonden|aan|onderwerp|"
    rf"wysłano|wysłane|do|temat|dw|kopia|"
    rf"отправлено|дата|кому|тема|копия){_FIELD_END}",
    re.IGNORECASE,
)
_SEPARATOR: Final = re.compile(r"^\s*[-_=]{5,}\s*$")
_DEVICE: Final = r"[^,.;:!?]{1,50}"
_MOBILE_SIGNATURE: Final = re.compile(
    r"^\s*(?:"
    rf"sent from my {_DEVICE}|sent from (?:mail|outlook|yahoo mail) for {_DEVICE}|"
    rf"sent from yahoo mail on {_DEVICE}|get outlook for {_DEVICE}|"
    rf"von meinem {_DEVICE} gesendet|gesendet von meinem {_DEVICE}|"
    rf"gesendet (?:von|mit) (?:der |dem )?(?:outlook|mail|gmx|web\.de){_DEVICE}|"
    rf"outlook für {_DEVICE} herunterladen|"
    rf"envoyé (?:de|depuis) mon {_DEVICE}|envoyé à partir de {_DEVICE}|"
    rf"(?:télécharger|obtenir) outlook pour {_DEVICE}|"
    rf"inviato da(?:l mio)? {_DEVICE}|scarica outlook per {_DEVICE}|"
    rf"enviado desde mi {_DEVICE}|enviado desde outlook para {_DEVICE}|"
    rf"obtener outlook para {_DEVICE}|"
    rf"(?:verzonden|verstuurd) (?:vanaf|met|vanuit) (?:mijn )?{_DEVICE}|"
    rf"outlook voor {_DEVICE} downloaden|"
    rf"wysłane z (?:mojego |aplikacji |mojej )?{_DEVICE}|wysłano z {_DEVICE}|"
    rf"pobierz (?:aplikację )?outlook dla {_DEVICE}|"
    r"отправлено (?:с|из) [^,;:!?]{1,50}"
    r")\.?\s*$",
    re.IGNORECASE,
)
_FOOTER_RULE: Final = re.compile(r"^\s*_{20,}\s*$")
_FOOTER_LINES: Final = 6
_BLANK_RUN: Final = re.compile(r"\n{3,}")


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _quote_header_length(lines: list[str], start: int, next_colon: list[int]) -> int:
    """Number of lines (1-3) forming a quote header at ``start``, or 0.

    ``next_colon[i]`` is the first line from ``i`` on that ends with a colon, as every quote
    header does (``len(lines)``: none).
    """
    stop = min(len(lines), start + _MAX_HEADER_LINES)
    if next_colon[start] >= stop:
        return 0
    first = lines[start].strip()
    if not first or _is_quoted(first) or not (_SIGNAL.search(first) or _OPENER.match(first)):
        return 0
    joined = ""
    for count in range(1, stop - start + 1):
        part = lines[start + count - 1].strip()
        if count > 1 and (not part or _is_quoted(part)):
            break
        joined = f"{joined} {part}".strip()
        if (
            joined.endswith(":")
            and _SIGNAL.search(joined)
            and any(pattern.match(joined) for pattern in _QUOTE_HEADERS)
        ):
            return count
    return 0


def _is_header_block(lines: list[str], start: int) -> bool:
    """An Outlook-style block of header fields (see the module docs)."""
    line = lines[start]
    if ":" not in line:
        return False
    if _BLOCK_FROM.match(line):
        fields = sum(1 for ln in lines[start + 1 : start + 7] if _BLOCK_FIELD.match(ln))
        return fields >= 2
    if _BLOCK_SENT.match(line) and start + 1 < len(lines) and _BLOCK_FROM.match(lines[start + 1]):
        fields = sum(1 for ln in lines[start + 2 : start + 7] if _BLOCK_FIELD.match(ln))
        return fields >= 1
    return False


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
    next_colon = [len(lines)] * (len(lines) + 1)
    for number in range(len(lines) - 1, -1, -1):
        next_colon[number] = (
            number if lines[number].rstrip().endswith(":") else next_colon[number + 1]
        )
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        # Each check below is called only where it can hold (a colon-ended line within the
        # next three for a quote header, a colon in the line for a header block): most lines
        # of a reply pass none of them.
        header = (
            _quote_header_length(lines, index, next_colon)
            if next_colon[index] < index + _MAX_HEADER_LINES
            else 0
        )
        if header:
            after = _next_content(lines, index + header)
            if after < len(lines) and _is_quoted(lines[after]):
                index += header  # the quote follows; inline replies after it are kept
                continue
            break  # the original follows unquoted: everything from here is old text
        if ("--" in line and _ORIGINAL_MESSAGE.match(line)) or (
            ":" in line and _is_header_block(lines, index)
        ):
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
