"""An HTML check of an outbound mail, shown beside it in the web inbox.

Four checks, each a list of findings (``ok``, ``info``, ``warn``, ``fail``):

- **size**: Gmail clips a message whose HTML is larger than 102 KB (it shows "[Message
  clipped]" and hides the rest, tracking pixels and unsubscribe links included). Measured on the
  decoded HTML part in UTF-8 bytes against 102 x 1024 bytes; ``warn`` from 90 % on.
- **images**: ``<img>`` without an ``alt`` attribute (screen readers and clients that block
  images show nothing); ``alt=""`` marks a decorative image and is fine.
- **links**: ``javascript:`` links (``fail``), links without ``href``, empty or ``#`` targets,
  plain ``http://`` links, links to ``localhost`` / loopback addresses, links with no text.
- **dark mode**: whether the mail declares ``color-scheme`` and has a
  ``prefers-color-scheme: dark`` style block, text colours set without a background behind
  them (clients that darken backgrounds leave such text unreadable), and colour pairs whose
  WCAG contrast ratio is below 4.5:1.

Pure and tolerant: malformed HTML gives findings about what could be read, never an error.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from enum import StrEnum
from html.parser import HTMLParser

GMAIL_CLIP_BYTES = 102 * 1024
SIZE_WARN_RATIO = 0.9
MIN_CONTRAST = 4.5
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
    | {"param", "source", "track", "wbr"}
)
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]")  # noqa: S104
_NAMED = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "silver": (192, 192, 192),
    "yellow": (255, 255, 0),
    "orange": (255, 165, 0),
    "navy": (0, 0, 128),
    "maroon": (128, 0, 0),
    "purple": (128, 0, 128),
    "teal": (0, 128, 128),
    "lightgray": (211, 211, 211),
    "lightgrey": (211, 211, 211),
    "darkgray": (169, 169, 169),
    "darkgrey": (169, 169, 169),
    "whitesmoke": (245, 245, 245),
}
_HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})\b")
_RGB = re.compile(r"rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*(?:,\s*([\d.]+)\s*)?\)")
_DARK_QUERY = re.compile(r"prefers-color-scheme\s*:\s*dark", re.IGNORECASE)
_COLOR_SCHEME_CSS = re.compile(r"(?:^|[;{\s])color-scheme\s*:", re.IGNORECASE)

Rgb = tuple[int, int, int]


class Level(StrEnum):
    """How serious a finding is."""

    OK = "ok"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One result of one check."""

    check: str
    level: Level
    message: str


@dataclass(frozen=True)
class LinkInfo:
    """One ``<a>`` of the mail."""

    href: str
    text: str
    problem: str = ""


@dataclass(frozen=True)
class HtmlReport:
    """Everything :func:`check_html` found."""

    size_bytes: int
    limit_bytes: int
    findings: tuple[Finding, ...]
    links: tuple[LinkInfo, ...] = ()
    image_count: int = 0

    @property
    def worst(self) -> Level:
        """The most serious level among the findings."""
        order = [Level.OK, Level.INFO, Level.WARN, Level.FAIL]
        return max((f.level for f in self.findings), key=order.index, default=Level.OK)

    def by_check(self, check: str) -> list[Finding]:
        """The findings of one check (``size``, ``images``, ``links``, ``dark-mode``)."""
        return [f for f in self.findings if f.check == check]


def parse_color(value: str) -> Rgb | None:
    """``#abc``, ``#aabbcc``, ``rgb(...)`` or a common colour name -> RGB (else ``None``)."""
    v = value.strip().lower()
    m = _HEX.search(v)
    if m:
        h = m.group(1)
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    m = _RGB.search(v)
    if m:
        if m.group(4) is not None and float(m.group(4)) == 0:
            return None  # fully transparent
        r, g, b = (min(int(m.group(i)), 255) for i in (1, 2, 3))
        return r, g, b
    word = v.split()[0] if v.split() else ""
    return _NAMED.get(word)


def _luminance(rgb: Rgb) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: Rgb, b: Rgb) -> float:
    """The WCAG 2 contrast ratio of two colours (1.0 to 21.0)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _style(attrs: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for decl in attrs.get("style", "").split(";"):
        name, sep, value = decl.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


@dataclass
class _Frame:
    tag: str
    background: Rgb | None
    color: Rgb | None


@dataclass
class _Link:
    href: str | None
    text: list[str] = field(default_factory=list)
    has_img_alt: bool = False


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[_Frame] = []
        self.images_without_alt: list[str] = []
        self.image_count = 0
        self.links: list[_Link] = []
        self._open_link: _Link | None = None
        self.css: list[str] = []
        self._in_style = False
        self.color_scheme_meta = False
        self.unbacked_text_colors = 0
        self.low_contrast: list[tuple[str, float]] = []

    def _background(self) -> Rgb | None:
        for frame in reversed(self.stack):
            if frame.background is not None:
                return frame.background
        return None

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k.lower(): (v or "") for k, v in attrs_list}
        present = {k.lower() for k, _ in attrs_list}
        style = _style(attrs)
        if tag == "style":
            self._in_style = True
        if tag == "meta" and attrs.get("name", "").lower() in (
            "color-scheme",
            "supported-color-schemes",
        ):
            self.color_scheme_meta = True
        if tag == "img":
            self.image_count += 1
            if "alt" not in present:
                src = attrs.get("src", "")
                self.images_without_alt.append("data: image" if src.startswith("data:") else src)
            elif self._open_link is not None and attrs.get("alt", "").strip():
                self._open_link.has_img_alt = True
        if tag == "a":
            self._open_link = _Link(attrs.get("href") if "href" in present else None)
            self.links.append(self._open_link)
        background = parse_color(
            style.get("background-color") or style.get("background") or attrs.get("bgcolor", "")
        )
        color = parse_color(style.get("color", "") or attrs.get("color", ""))
        if color is not None:
            behind = background or self._background()
            if behind is None:
                self.unbacked_text_colors += 1
            else:
                ratio = contrast_ratio(color, behind)
                if ratio < MIN_CONTRAST:
                    self.low_contrast.append((tag, ratio))
        if tag not in _VOID:
            self.stack.append(_Frame(tag, background, color))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        if tag == "a":
            self._open_link = None
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)
        elif self._open_link is not None:
            self._open_link.text.append(data)


def _link_problem(link: _Link) -> tuple[Level, str] | None:
    if link.href is None:
        return Level.WARN, "no href"
    href = link.href.strip()
    scheme = urllib.parse.urlsplit(href).scheme.lower()
    if scheme == "javascript":
        return Level.FAIL, "javascript: link (mail clients remove it)"
    if href in ("", "#"):
        return Level.WARN, "goes nowhere"
    if scheme in ("mailto", "tel", "sms", "cid"):
        return None
    host = (urllib.parse.urlsplit(href).hostname or "").lower()
    if host in _LOOPBACK_HOSTS or host.startswith("127."):
        return Level.FAIL, "points to this machine (localhost)"
    if scheme == "http":
        return Level.WARN, "plain http:// (use https://)"
    if scheme not in ("https", ""):
        return Level.WARN, f"unusual scheme {scheme}:"
    if not "".join(link.text).strip() and not link.has_img_alt:
        return Level.WARN, "no link text (and no image alt text)"
    return None


def check_html(html: str) -> HtmlReport:
    """Run the four checks on an HTML mail body.

    Parameters
    ----------
    html
        The decoded HTML part.

    Returns
    -------
    HtmlReport
        Size, findings per check and the links found.

    Examples
    --------
    >>> report = check_html('<p>Hi</p><img src="logo.png">')
    >>> [f.level.value for f in report.by_check("images")]
    ['warn']
    """
    size = len(html.encode("utf-8", "replace"))
    scanner = _Scanner()
    try:
        scanner.feed(html)
        scanner.close()
    except Exception as exc:  # HTMLParser is lenient; a crash must not break the page
        findings = [Finding("parse", Level.WARN, f"HTML could not be read fully: {exc}")]
    else:
        findings = []
    findings += _size_findings(size)
    findings += _image_findings(scanner)
    link_infos, link_findings = _link_findings(scanner)
    findings += link_findings
    findings += _dark_mode_findings(scanner)
    return HtmlReport(
        size, GMAIL_CLIP_BYTES, tuple(findings), tuple(link_infos), scanner.image_count
    )


def _size_findings(size: int) -> list[Finding]:
    kb = size / 1024
    if size > GMAIL_CLIP_BYTES:
        return [
            Finding(
                "size",
                Level.FAIL,
                f"HTML is {kb:.1f} KB: over Gmail's 102 KB, Gmail clips the message",
            )
        ]
    if size >= GMAIL_CLIP_BYTES * SIZE_WARN_RATIO:
        return [Finding("size", Level.WARN, f"HTML is {kb:.1f} KB: close to Gmail's 102 KB clip")]
    return [Finding("size", Level.OK, f"HTML is {kb:.1f} KB (Gmail clips above 102 KB)")]


def _image_findings(scanner: _Scanner) -> list[Finding]:
    if not scanner.image_count:
        return [Finding("images", Level.OK, "no images")]
    if not scanner.images_without_alt:
        return [Finding("images", Level.OK, f"all {scanner.image_count} image(s) have alt text")]
    return [
        Finding("images", Level.WARN, f"image without alt attribute: {src[:120] or '(no src)'}")
        for src in scanner.images_without_alt
    ]


def _link_findings(scanner: _Scanner) -> tuple[list[LinkInfo], list[Finding]]:
    infos: list[LinkInfo] = []
    findings: list[Finding] = []
    for link in scanner.links:
        text = " ".join("".join(link.text).split())[:120]
        problem = _link_problem(link)
        infos.append(LinkInfo(link.href or "", text, problem[1] if problem else ""))
        if problem is not None:
            level, why = problem
            findings.append(Finding("links", level, f"{why}: {(link.href or '')[:160]!r}"))
    if not findings:
        findings.append(
            Finding("links", Level.OK, f"{len(scanner.links)} link(s), none suspicious")
        )
    return infos, findings


def _dark_mode_findings(scanner: _Scanner) -> list[Finding]:
    css = "\n".join(scanner.css)
    out: list[Finding] = []
    if scanner.color_scheme_meta or _COLOR_SCHEME_CSS.search(css):
        out.append(Finding("dark-mode", Level.OK, "declares color-scheme"))
    else:
        out.append(
            Finding(
                "dark-mode",
                Level.INFO,
                "no color-scheme declared: clients choose how to darken the mail",
            )
        )
    if _DARK_QUERY.search(css):
        out.append(Finding("dark-mode", Level.OK, "has a prefers-color-scheme: dark style block"))
    else:
        out.append(Finding("dark-mode", Level.INFO, "no prefers-color-scheme: dark styles"))
    if scanner.unbacked_text_colors:
        out.append(
            Finding(
                "dark-mode",
                Level.WARN,
                f"{scanner.unbacked_text_colors} element(s) set a text colour without a "
                "background behind them: unreadable where a client darkens only the background",
            )
        )
    for tag, ratio in scanner.low_contrast[:20]:
        out.append(
            Finding("dark-mode", Level.WARN, f"<{tag}> text contrast {ratio:.1f}:1 (below 4.5:1)")
        )
    return out
