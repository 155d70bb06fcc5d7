"""The web inbox's HTML check of outbound mail (pure)."""

from __future__ import annotations

from shopmail_local.stack.html_check import (
    GMAIL_CLIP_BYTES,
    Level,
    check_html,
    contrast_ratio,
    parse_color,
)


def _levels(html: str, check: str) -> list[str]:
    return [f.level.value for f in check_html(html).by_check(check)]


def test_size_is_measured_in_utf8_bytes_against_gmails_102_kb() -> None:
    assert GMAIL_CLIP_BYTES == 102 * 1024
    small = check_html("<p>hallo</p>")
    assert small.size_bytes == len(b"<p>hallo</p>")
    assert _levels("<p>hallo</p>", "size") == ["ok"]
    # 'ä' is two bytes in UTF-8: 52,225 characters are 104,450 bytes, just over the limit
    over = "<p>" + "ä" * 52_225 + "</p>"
    assert len(over) < GMAIL_CLIP_BYTES < len(over.encode())
    assert _levels(over, "size") == ["fail"]
    near = "<p>" + "x" * int(GMAIL_CLIP_BYTES * 0.95) + "</p>"
    assert _levels(near, "size") == ["warn"]
    exact = "x" * GMAIL_CLIP_BYTES
    assert _levels(exact, "size") == ["warn"]  # at the limit: not clipped yet


def test_images_need_an_alt_attribute_but_may_be_decorative() -> None:
    report = check_html(
        '<img src="logo.png" alt="Shop"><img src="spacer.gif" alt=""><img src="hero.jpg">'
    )
    assert report.image_count == 3
    findings = report.by_check("images")
    assert [f.level for f in findings] == [Level.WARN]
    assert "hero.jpg" in findings[0].message
    assert _levels('<img src="a.png" alt="A"><IMG SRC="b.png" ALT="">', "images") == ["ok"]
    assert "data: image" in check_html('<img src="data:image/png;base64,AAAA">').findings[1].message


def test_links_are_checked() -> None:
    html = (
        '<a href="https://shop.example/orders/1">Bestellung</a>'
        '<a href="javascript:void(0)">click</a>'
        '<a href="http://shop.example/plain">plain</a>'
        '<a href="#">top</a>'
        "<a>no href</a>"
        '<a href="https://localhost:8025/x">dev</a>'
        '<a href="https://shop.example/logo"><img src="l.png" alt="Shop"></a>'
        '<a href="https://shop.example/empty"> </a>'
        '<a href="mailto:support@shop.example">Mail</a>'
    )
    report = check_html(html)
    problems = {link.href: link.problem for link in report.links}
    assert problems["https://shop.example/orders/1"] == ""
    assert problems["https://shop.example/logo"] == ""  # the image's alt text is the link text
    assert problems["mailto:support@shop.example"] == ""
    assert "javascript" in problems["javascript:void(0)"]
    assert "http://" in problems["http://shop.example/plain"]
    assert problems["#"] == "goes nowhere"
    assert problems[""] == "no href"
    assert "localhost" in problems["https://localhost:8025/x"]
    assert "no link text" in problems["https://shop.example/empty"]
    levels = [f.level for f in report.by_check("links")]
    assert levels.count(Level.FAIL) == 2  # javascript: and localhost
    assert report.worst == Level.FAIL
    assert _levels('<a href="https://shop.example">ok</a>', "links") == ["ok"]


def test_dark_mode_declarations_unbacked_colours_and_contrast() -> None:
    plain = check_html('<p style="color:#333333">Text</p>')
    messages = [f.message for f in plain.by_check("dark-mode")]
    assert any("no color-scheme" in m for m in messages)
    assert any("no prefers-color-scheme" in m for m in messages)
    assert any("without a background" in m for m in messages)

    good = check_html(
        '<html><head><meta name="color-scheme" content="light dark">'
        "<style>@media (prefers-color-scheme: dark) { body { background:#111 } }</style></head>"
        '<body style="background-color:#ffffff"><p style="color:#222222">Text</p></body></html>'
    )
    assert [f.level for f in good.by_check("dark-mode")] == [Level.OK, Level.OK]

    low = check_html('<td bgcolor="#ffffff"><span style="color: #cccccc">grau</span></td>')
    assert any("contrast 1.6:1" in f.message for f in low.by_check("dark-mode"))


def test_colours_and_contrast() -> None:
    assert parse_color("#fff") == (255, 255, 255)
    assert parse_color(" RGB(0, 128, 255) ") == (0, 128, 255)
    assert parse_color("rgba(0,0,0,0)") is None
    assert parse_color("black !important") == (0, 0, 0)
    assert parse_color("inherit") is None
    assert round(contrast_ratio((0, 0, 0), (255, 255, 255)), 1) == 21.0
    assert contrast_ratio((10, 10, 10), (10, 10, 10)) == 1.0


def test_broken_html_never_raises() -> None:
    for html in ("", "<", "<a href='x", "<table><tr><td>" * 500, "<img src=x alt>", "\x00<p>"):
        report = check_html(html)
        assert report.by_check("size")
