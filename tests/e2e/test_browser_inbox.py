"""The web inbox in a real headless browser (Debian's chromium via Selenium + chromedriver).

Screenshots are kept under ``test-artifacts/`` (gitignored) for the CI job to upload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from shopmail.domain.outbound.message_ids import parse_message_id

from shopmail_local.cli.main import main as cli
from shopmail_local.stack.runner import LocalStack
from tests.fixtures.e2e_stack import deliver, handler_missing, inbound_records, wait_until
from tests.fixtures.paths import EVENTS

ORDER_ID = "ORD-100234"
ORDER_NUMBER = "100234"


def _base(stack: LocalStack) -> str:
    return f"http://127.0.0.1:{stack.config.web_port}"


def _confirmation(stack: LocalStack) -> dict[str, Any] | None:
    for r in stack.state.relay_log():
        ref = parse_message_id(str(r.get("message_id", "")))
        if ref and ref.kind == "orderplaced" and ref.aggregate_id == ORDER_ID:
            return r
    return None


def _shot(driver: Any, path: Path) -> Path:
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"
    assert path.stat().st_size > 1000
    return path


def test_order_confirmation_renders_in_the_web_inbox(
    e2e_stack: LocalStack, browser: Any, artifacts_dir: Path
) -> None:
    event = EVENTS / "outbound" / "OrderPlaced.json"
    assert cli(["send-event", str(event), "--endpoint", e2e_stack.endpoint]) == 0
    record = wait_until(lambda: _confirmation(e2e_stack), timeout=30)
    assert record is not None, (
        "no order confirmation was relayed within 30 s; outbound handler: "
        + (handler_missing(e2e_stack, "OutboundFunction") or "loaded")
    )
    assert record["outbox"] == ["juergen.mueller@example.com"]

    browser.get(_base(e2e_stack) + "/")
    link = WebDriverWait(browser, 15).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, f'a[href="/mail/{record["key"]}"]'))
    )
    assert link.text == record["subject"]
    _shot(browser, artifacts_dir / "browser-inbox-index.png")

    link.click()
    WebDriverWait(browser, 15).until(ec.url_contains(f"/mail/{record['key']}"))
    headers = browser.find_element(By.TAG_NAME, "table").text
    assert record["message_id"] in headers
    frame = browser.find_element(By.CSS_SELECTOR, 'iframe[title="rendered HTML part"]')
    assert frame.get_attribute("sandbox") == ""  # scripts and remote loads stay blocked
    browser.execute_script("arguments[0].scrollIntoView(true);", frame)
    _shot(browser, artifacts_dir / "browser-order-confirmation.png")

    browser.switch_to.frame(frame)
    body = WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.TAG_NAME, "body")))
    text = body.text
    assert ORDER_NUMBER in text, text[:500]
    assert "Espressobohnen" in text  # an order line is rendered
    browser.switch_to.default_content()

    browser.get(_base(e2e_stack) + f"/mail/{record['key']}/html")
    assert ORDER_NUMBER in browser.find_element(By.TAG_NAME, "body").text
    _shot(browser, artifacts_dir / "browser-order-confirmation-html.png")


def test_inbound_page_shows_a_customer_reply_with_its_route(
    e2e_stack: LocalStack,
    browser: Any,
    artifacts_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    eml = EVENTS / "inbound" / "order_reply.eml"
    message_id = deliver(e2e_stack, capsys, eml, "orders@shop.example")
    decided = inbound_records(e2e_stack, message_id, "decision")
    assert decided, "the inbound handler recorded no routing decision"
    assert decided[0]["route"] == "customer-reply"
    published = wait_until(
        lambda: [
            r
            for r in e2e_stack.state.event_log()
            if r["event"].get("detail-type") == "CustomerReplied"
            and r["event"]["detail"].get("messageId") == message_id
        ]
    )
    assert published, "no CustomerReplied event reached the bus"
    assert published[0]["event"]["detail"]["orderId"] == ORDER_ID

    browser.get(_base(e2e_stack) + "/inbound")
    strong = WebDriverWait(browser, 15).until(
        ec.presence_of_element_located((By.XPATH, "//strong[text()='customer-reply']"))
    )
    assert strong.is_displayed()
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Re: Ihre Bestellung wurde versandt" in page
    assert "CustomerReplied" in page
    _shot(browser, artifacts_dir / "browser-inbound-customer-reply.png")


def _demo_config(stack: LocalStack) -> Any:
    from shopmail_local.demo import DemoConfig

    cfg = stack.config
    return DemoConfig(
        endpoint=stack.endpoint,
        smtp_port=cfg.inbound_port,
        inbox_url=_base(stack),
        state_dir=cfg.state_dir,
        timeout=30,
    )


def test_order_timeline_of_the_demo_order_links_confirmation_and_reply(
    e2e_stack: LocalStack, browser: Any, artifacts_dir: Path
) -> None:
    from shopmail_local.demo import run_demo

    results = run_demo(_demo_config(e2e_stack), echo=lambda line: None)
    by_name = {r.name: r for r in results}
    assert by_name["order"].ok and by_name["reply"].ok, [r.summary for r in results]
    order_id = by_name["order"].facts["order_id"]
    confirmation_key = by_name["order"].facts["key"]
    reply_id = by_name["reply"].facts["ses_message_id"]

    browser.get(_base(e2e_stack) + "/orders")
    WebDriverWait(browser, 15).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, f'a[href="/orders/{order_id}"]'))
    ).click()
    WebDriverWait(browser, 15).until(ec.url_contains(f"/orders/{order_id}"))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.timeline tr.entry")
    kinds = [r.get_attribute("class").split()[-1] for r in rows]
    links = [r.find_element(By.TAG_NAME, "a").get_attribute("href") for r in rows]
    assert any(h.endswith(f"/mail/{confirmation_key}") for h in links), links
    assert any(h.endswith(f"/inbound/{reply_id}") for h in links), links
    assert kinds.index("outbound") < kinds.index("inbound")  # the reply comes after
    assert "event" in kinds  # OrderPlaced and CustomerReplied on the bus
    _shot(browser, artifacts_dir / "browser-order-timeline.png")

    reply_link = browser.find_element(By.CSS_SELECTOR, f'a[href="/inbound/{reply_id}"]')
    reply_link.click()
    WebDriverWait(browser, 15).until(ec.url_contains(f"/inbound/{reply_id}"))
    assert browser.find_element(By.XPATH, "//strong[text()='customer-reply']").is_displayed()
    assert "Lieferadresse" in browser.find_element(By.TAG_NAME, "body").text  # the stored mail


def test_search_box_filters_the_inbox(
    e2e_stack: LocalStack, browser: Any, artifacts_dir: Path
) -> None:
    event = EVENTS / "outbound" / "CustomerRegistered.json"
    assert cli(["send-event", str(event), "--endpoint", e2e_stack.endpoint]) == 0

    def welcome() -> dict[str, Any] | None:
        return next(
            (
                r
                for r in e2e_stack.state.relay_log()
                if (ref := parse_message_id(str(r.get("message_id", ""))))
                and ref.kind == "customerregistered"
            ),
            None,
        )

    other = wait_until(welcome, timeout=30)
    assert other is not None, "no welcome mail was relayed"
    confirmation = _confirmation(e2e_stack) or wait_until(lambda: _confirmation(e2e_stack), 30)
    if confirmation is None:  # this test run alone: place the order first
        assert cli(["send-event", str(EVENTS / "outbound" / "OrderPlaced.json"),
                    "--endpoint", e2e_stack.endpoint]) == 0  # fmt: skip
        confirmation = wait_until(lambda: _confirmation(e2e_stack), timeout=30)
    assert confirmation is not None

    browser.get(_base(e2e_stack) + "/")
    box = WebDriverWait(browser, 15).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "header input[name=q]"))
    )
    box.send_keys(ORDER_ID)
    box.submit()
    WebDriverWait(browser, 15).until(ec.url_contains("q=" + ORDER_ID))
    hrefs = [
        a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "table.mails a")
    ]
    assert any(h.endswith(f"/mail/{confirmation['key']}") for h in hrefs), hrefs
    assert not any(h.endswith(f"/mail/{other['key']}") for h in hrefs), hrefs
    assert (
        browser.find_element(By.CSS_SELECTOR, "header input[name=q]").get_attribute("value")
        == ORDER_ID
    )
    _shot(browser, artifacts_dir / "browser-search.png")


def test_a_mail_arriving_while_the_page_is_open_appears_live(
    e2e_stack: LocalStack, browser: Any, artifacts_dir: Path
) -> None:
    browser.get(_base(e2e_stack) + "/")
    WebDriverWait(browser, 15).until(
        lambda d: d.execute_script("return document.body.dataset.stream") == "open"
    )
    browser.execute_script("window.shopmailMarker = 'still the same page';")
    event = EVENTS / "outbound" / "PasswordResetRequested.json"
    assert cli(["send-event", str(event), "--endpoint", e2e_stack.endpoint]) == 0

    def reset_mail() -> dict[str, Any] | None:
        return next(
            (
                r
                for r in e2e_stack.state.relay_log()
                if (ref := parse_message_id(str(r.get("message_id", ""))))
                and ref.kind == "passwordresetrequested"
            ),
            None,
        )

    record = wait_until(reset_mail, timeout=30)
    assert record is not None, "no password-reset mail was relayed"
    WebDriverWait(browser, 20).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f'a[href="/mail/{record["key"]}"]'))
    )
    # the list was updated in place: no reload (the marker survives) and the counter moved
    assert browser.execute_script("return window.shopmailMarker") == "still the same page"
    assert int(browser.execute_script("return document.body.dataset.updates || '0'")) >= 1
    _shot(browser, artifacts_dir / "browser-live-update.png")


def test_message_view_tabs_and_html_check(
    e2e_stack: LocalStack, browser: Any, artifacts_dir: Path
) -> None:
    record = _confirmation(e2e_stack)
    if record is None:
        assert cli(["send-event", str(EVENTS / "outbound" / "OrderPlaced.json"),
                    "--endpoint", e2e_stack.endpoint]) == 0  # fmt: skip
        record = wait_until(lambda: _confirmation(e2e_stack), timeout=30)
    assert record is not None
    browser.get(_base(e2e_stack) + f"/mail/{record['key']}")
    frame = WebDriverWait(browser, 15).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, 'iframe[title="rendered HTML part"]'))
    )
    headers_panel = browser.find_element(By.CSS_SELECTOR, "section.tab[data-tab=headers]")
    assert not headers_panel.is_displayed()  # only the HTML tab shows at first
    check = browser.find_element(By.TAG_NAME, "aside").text
    assert "HTML check" in check and "Gmail clips above 102 KB" in check
    _shot(browser, artifacts_dir / "browser-tab-html.png")

    browser.find_element(By.CSS_SELECTOR, "nav.tabs a[data-tab=headers]").click()
    WebDriverWait(browser, 5).until(ec.visibility_of(headers_panel))
    assert not frame.is_displayed()
    assert "X-SES-MESSAGE-TAGS" in headers_panel.text
    assert browser.current_url.endswith("#tab-headers")
    _shot(browser, artifacts_dir / "browser-tab-headers.png")

    browser.find_element(By.CSS_SELECTOR, "nav.tabs a[data-tab=raw]").click()
    raw = browser.find_element(By.CSS_SELECTOR, "section.tab[data-tab=raw] pre.raw")
    WebDriverWait(browser, 5).until(ec.visibility_of(raw))
    assert "Content-Type: multipart/alternative" in raw.text
    _shot(browser, artifacts_dir / "browser-tab-raw.png")

    browser.find_element(By.CSS_SELECTOR, "nav.tabs a[data-tab=text]").click()
    text = browser.find_element(By.CSS_SELECTOR, "section.tab[data-tab=text] pre.text-part")
    WebDriverWait(browser, 5).until(ec.visibility_of(text))
    assert ORDER_NUMBER in text.text
    assert not headers_panel.is_displayed()
    browser.refresh()  # the chosen tab survives a reload (#tab-text)
    WebDriverWait(browser, 5).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "section.tab[data-tab=text]"))
    )
    _shot(browser, artifacts_dir / "browser-tab-text.png")
