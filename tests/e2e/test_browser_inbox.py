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
from tests.fixtures.e2e_stack import handler_missing, wait_until
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
    code = cli(
        [
            "deliver", str(eml), "--to", "orders@shop.example",
            "--port", str(e2e_stack.config.inbound_port), "--ca-file", e2e_stack.ca_file,
        ]
    )  # fmt: skip
    assert code == 0
    message_id = capsys.readouterr().out.split()[-1]
    decided = wait_until(
        lambda: [
            r
            for r in e2e_stack.state.inbound_log()
            if r.get("message_id") == message_id and r.get("kind") == "decision"
        ]
    )
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
