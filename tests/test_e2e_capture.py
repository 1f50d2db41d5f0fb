"""End-to-end: capture by decoding, through the real extension in Debian's Chromium.

Shops' own checkout pages (``extension/test/fixtures/capture/``, made by
``npm run fixtures`` from real-format payloads) have no adapter: the extension finds
their QR codes, decodes them and publishes the EMVCo payload itself. Each test clicks
the extension's action on a page (``Extensions.triggerAction``: Chrome opens the real
popup and grants ``activeTab``, as for a user's click), drives the popup where the user
must choose, and checks what a real ``gateway serve`` delivers to viewer WebSockets:
the QR, the amount, the merchant and the ``payee`` the gateway derives from the code
(SPEC §11.3). The harness (Chromium, fixture server, TLS) is test_e2e_extension's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from . import test_e2e_extension as harness
from .gatewayproc import Gateway

Browser = harness.Browser
STEP_MS = harness.STEP_S * 1000
PAYLOADS: dict[str, str] = json.loads(
    (harness.FIXTURES / "capture" / "payloads.json").read_text(encoding="utf-8")
)

# The harness's fixtures, used here under the same names.
chromium = harness.chromium
fixture_server = harness.fixture_server
launch = harness.launch
gw = harness.gw

pytestmark = pytest.mark.timeout(120)


def payee(
    provider: str, bank_bin: str | None, bank: str | None, account: str, name: str | None
) -> dict[str, Any]:
    return {
        "provider": provider,
        "bankBin": bank_bin,
        "bankName": bank,
        "account": account,
        "merchantName": name,
    }


def popup_for(browser: harness.Browser, tab_id: int) -> Any:
    """The popup of a tab, opened as a page (the one the click opened is not scriptable)."""
    return browser.page(f"popup.html?tab={tab_id}")


def captured_by_click(browser: harness.Browser, page: Any) -> int:
    """Clicks the action on ``page`` and returns its tab once the page was decoded."""
    browser.click_action(page)
    tab_id = browser.tab_id(page)
    browser.wait_scanned(tab_id)
    return tab_id


def test_a_click_captures_a_png_a_canvas_and_an_svg_code_with_their_payees(
    gw: Gateway, launch: Callable[..., harness.Browser]
) -> None:
    """A bank VietQR <img>, a MoMo code drawn on a <canvas>, a VNPay-QR inline SVG."""
    browser = launch()
    browser.configure(gw)
    cases = [
        (
            "bank.html",
            "bank",
            250000,
            "CUA HANG AN",
            payee("VIETQR", "970436", "Vietcombank", "••••4455", "CUA HANG AN"),
            {"orderId": "HD2048", "description": "Thanh toan HD2048"},
        ),
        (
            "momo-canvas.html",
            "momo",
            150000,
            "QUAN BINH",
            payee("MOMO", "970454", "BVBank", "••••5080", "QUAN BINH"),
            {"description": "Thanh toan MoMo"},
        ),
        (
            "vnpay-svg.html",
            "vnpay",
            89000,  # the code says 89000.00
            "SIEU THI MINH",
            payee("VNPAY", None, None, "••••5678", "SIEU THI MINH"),
            {"orderId": "INV778", "description": "Mua hang"},
        ),
    ]
    sessions = set()
    for path, key, amount, merchant, expected_payee, extra in cases:
        page = browser.shop(path)
        tab_id = captured_by_click(browser, page)
        state = browser.wait_tab_live(tab_id, amount)
        sessions.add(state["session"]["sessionId"])
        got = browser.viewer(gw, state["session"]).next("PAYMENT_DATA")["payload"]
        assert got["qrCode"] == PAYLOADS[key], path
        assert (got["amount"], got["merchant"]) == (amount, merchant), path
        for field, value in extra.items():
            assert got[field] == value, (path, field)
        assert got["payee"] == expected_payee, path
        assert browser.badge(tab_id) == "LIVE"
    assert len(sessions) == 3  # one viewer session per tab

    popup = popup_for(browser, tab_id)
    expect(popup.locator("#live-payee")).to_have_text("VNPay-QR · ••••5678 · SIEU THI MINH")
    expect(popup.locator("#live-amount")).to_contain_text("89.000")
    harness.screenshot(popup, "popup-captured")


def test_the_popup_picks_one_of_two_codes_and_refuses_an_amount_the_code_does_not_ask(
    gw: Gateway, launch: Callable[..., harness.Browser]
) -> None:
    """Two payment codes (a PNG and a CSS background): nothing until the user picks one."""
    browser = launch()
    browser.configure(gw)
    page = browser.shop("two-codes.html")
    tab_id = captured_by_click(browser, page)
    assert browser.wait_scanned(tab_id)["need"] == "pick"

    popup = popup_for(browser, tab_id)
    codes = popup.locator("#codes li")
    expect(codes).to_have_count(2)
    expect(codes.nth(0)).to_contain_text("250.000")
    expect(codes.nth(0)).to_contain_text("VietQR · Vietcombank ••••4455 · CUA HANG AN")
    expect(codes.nth(0)).to_contain_text("Chuyển khoản ngân hàng")
    expect(codes.nth(1)).to_contain_text("ZaloPay · BVBank ••••1234")
    harness.screenshot(popup, "popup-pick")

    # The bank code asks for 250.000 ₫; the cashier typed another amount: refused.
    codes.nth(0).locator("input").check()
    expect(popup.locator("#amount")).to_have_value("250000")
    popup.fill("#amount", "200000")
    popup.click("#publish")
    expect(popup.locator("#choose-error")).to_contain_text("asks for 250.000")
    expect(popup.locator("#choose-error")).to_contain_text("Nothing was published")
    assert harness.requests_to(gw, "/api/") == []

    # The ZaloPay code (no merchant name in it: the page's name is used).
    codes.nth(1).locator("input").check()
    expect(popup.locator("#amount")).to_have_value("95000")
    popup.click("#publish")
    state = browser.wait_tab_live(tab_id, 95000)
    got = browser.viewer(gw, state["session"]).next("PAYMENT_DATA")["payload"]
    assert got["qrCode"] == PAYLOADS["zalopay"]
    assert (got["amount"], got["merchant"]) == (95000, "Tiệm Hoa Lan")
    assert got["payee"] == payee("ZALOPAY", "970454", "BVBank", "••••1234", None)
    expect(popup.locator("#codes li").nth(1)).to_have_attribute("data-shown", "true")


def test_a_static_code_asks_for_its_amount(
    gw: Gateway, launch: Callable[..., harness.Browser]
) -> None:
    """A static VietQR: published only with the amount the user types."""
    browser = launch()
    browser.configure(gw)
    page = browser.shop("static.html")
    tab_id = captured_by_click(browser, page)
    popup = popup_for(browser, tab_id)
    expect(popup.locator("#capture")).to_have_attribute("data-need", "amount")
    expect(popup.locator("#scan-status")).to_contain_text("type the amount")
    expect(popup.locator("#amount")).to_have_value("")
    popup.click("#publish")
    expect(popup.locator("#choose-error")).to_contain_text("type the amount to collect")
    harness.screenshot(popup, "popup-amount")

    popup.fill("#amount", "120.000")
    popup.click("#publish")
    state = browser.wait_tab_live(tab_id, 120000)
    got = browser.viewer(gw, state["session"]).next("PAYMENT_DATA")["payload"]
    assert got["qrCode"] == PAYLOADS["static"]
    assert (got["amount"], got["merchant"]) == (120000, "Tiệm Bánh Mì Hòa")
    assert got["payee"] == payee("VIETQR", "970415", "VietinBank", "••••5123", None)


def test_a_login_qr_and_a_damaged_code_publish_nothing_and_the_popup_says_why(
    gw: Gateway, launch: Callable[..., harness.Browser]
) -> None:
    browser = launch()
    browser.configure(gw)
    for path, words, notes in [
        (
            "login.html",
            "not a payment code",
            ["Ignored a QR code that is not a payment code (a link to shop.example)."],
        ),
        ("bad-crc.html", "failed its CRC check", []),
    ]:
        tab_id = captured_by_click(browser, browser.shop(path))
        popup = popup_for(browser, tab_id)
        expect(popup.locator("#scan-problem")).to_contain_text(words)
        expect(popup.locator("#scan-problem")).to_contain_text("Nothing was published")
        expect(popup.locator("#notes li")).to_have_text(notes)
        expect(popup.locator("#state")).to_have_text("Error")
        assert browser.badge(tab_id) == "ERR"
    harness.screenshot(popup, "popup-bad-code")
    assert harness.requests_to(gw, "/api/") == []


def test_always_on_captures_a_granted_site_follows_its_code_and_stops_when_revoked(
    gw: Gateway, launch: Callable[..., harness.Browser]
) -> None:
    """ "Always capture on this site": pages captured as they load, until revoked."""
    browser = launch()
    browser.configure(gw)
    origin = "https://pos.example"
    browser.grant_site(origin)  # the user's "Allow" (Chrome's prompt cannot be clicked here)

    first = browser.shop("pos.html?till=1", host="pos.example")
    first_tab = captured_by_click(browser, first)
    popup = popup_for(browser, first_tab)
    expect(popup.locator("#always")).to_have_text("Always capture on pos.example")
    popup.click("#always")
    expect(popup.locator("#site-on")).to_be_visible()
    expect(popup.locator("#site-list li")).to_have_text([f"{origin}Stop"])
    scripts = browser.worker.evaluate("chrome.scripting.getRegisteredContentScripts()")
    assert [s["matches"] for s in scripts] == [[f"{origin}/*"]]

    # A new page of the site is captured without a click, and follows its next order.
    second = browser.shop("pos.html?till=2", host="pos.example")
    second_tab = browser.tab_id(second)
    state = browser.wait_tab_live(second_tab, 120000)
    viewer = browser.viewer(gw, state["session"])
    got = viewer.next("PAYMENT_DATA")["payload"]
    assert (got["qrCode"], got["orderId"]) == (PAYLOADS["pos1"], "A-2001")
    second.evaluate("window.pos.next()")
    again = viewer.next("PAYMENT_DATA")["payload"]
    assert (again["qrCode"], again["amount"], again["orderId"]) == (
        PAYLOADS["pos2"],
        185000,
        "A-2002",
    )
    assert again["seq"] == got["seq"] + 1
    assert browser.wait_tab_live(second_tab, 185000)["session"] == state["session"]

    # Revoked: the open pages stop (their screens are cleared), new ones are not read.
    popup.locator("#site-list li button.stop").click()
    assert viewer.next("PAYMENT_CLEARED")["payload"]["reason"] == "cancelled"
    expect(popup.locator("#sites")).to_be_hidden()
    assert browser.worker.evaluate("chrome.scripting.getRegisteredContentScripts()") == []
    granted = browser.worker.evaluate(
        "o => chrome.permissions.contains({origins: [o + '/*']})", origin
    )
    assert granted is False
    third = browser.shop("pos.html?till=3", host="pos.example")
    third.wait_for_load_state("load")
    # The content script would read the page at once and then every 2 s: wait one round.
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        tabs = browser.worker.evaluate("chrome.storage.session.get(null)")
        assert len([k for k in tabs if k.startswith("tab:")]) == 2, "a revoked site was read"
        time.sleep(0.25)
