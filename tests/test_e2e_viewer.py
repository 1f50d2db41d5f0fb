"""End-to-end: the viewer page (SPEC §2, §4, §5, §11.3) in Debian's Chromium, over TLS.

Each test drives the system Chromium through Playwright's sync API (never a downloaded
browser) against a real ``gateway serve`` subprocess, and leaves a screenshot of the
page in ``tests/artifacts/<test>.png``. The tests are plain sync functions, so no
asyncio loop runs beside Playwright's own (libraries.md §12).

Headless Chromium refuses a screen wake lock unless the context grants the
``screen-wake-lock`` permission: the tests that check the lock grant it, the others
see the page carry on without one.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from gateway import emvco
from gateway.certs import DevCertificate

from .browser import CHROMIUM, CHROMIUM_ARGS, require_chromium, screenshot
from .gatewayproc import Gateway, GatewayAPI, make_gateway, success

StartGateway = Callable[..., Gateway]

PHONE = {"width": 390, "height": 844}
FULL_HD = {"width": 1920, "height": 1080}
#: Long enough for any step of a healthy gateway and browser, short enough to fail fast.
STEP_MS = 10_000
NBSP = "\u00a0"
#: A MoMo "QR đa năng": a VietQR code to the wallet's account at BVBank (SPEC §11.3).
MOMO_ACCOUNT = ("970454", "99MM24155080")
#: A 1×1 PNG: a QR drawn by the checkout page, which names no payee.
PNG_QR = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgAB"
    "SK+kcQAAAABJRU5ErkJggg=="
)


def tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def vietqr(
    amount: int,
    *,
    account: tuple[str, str] = ("970436", "0011004455"),
    name: str | None = "CUA HANG AN",
) -> str:
    """A NAPAS VietQR code paying ``amount`` VND to (BIN, account), tag 59 ``name``."""
    beneficiary = tlv("00", account[0]) + tlv("01", account[1])
    napas = tlv("00", "A000000727") + tlv("01", beneficiary) + tlv("02", "QRIBFTTA")
    fields = [("00", "01"), ("01", "12"), ("38", napas), ("53", "704"), ("54", str(amount))]
    fields += [("58", "VN")] + ([("59", name)] if name is not None else []) + [("60", "HANOI")]
    return emvco.build(fields)


def payment(
    amount: int = 300000,
    *,
    account: tuple[str, str] = ("970436", "0011004455"),
    qr_name: str | None = "CUA HANG AN",
    **extra: Any,
) -> dict[str, Any]:
    """The extension's data for a VietQR code whose tag 59 agrees with the merchant."""
    qr = vietqr(amount, account=account, name=qr_name)
    return {"qrCode": qr, "merchant": "Cửa hàng An", "amount": amount, **extra}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, shared by the module's tests."""
    require_chromium("the viewer tests")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def gw(certs: DevCertificate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway for the tests that need nothing special of it."""
    gateway = make_gateway(certs, workdir=tmp_path_factory.mktemp("viewer-gateway"))
    gateway.start()
    yield gateway
    gateway.stop()


@dataclass
class Viewer:
    """One browser tab on a gateway's viewer page, with what it asked the network for."""

    page: Any
    requests: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def screen(self) -> Any:
        return self.page.locator("main")

    def expect_screen(self, kind: str, timeout: float = STEP_MS) -> None:
        expect(self.screen()).to_have_attribute("data-screen", kind, timeout=timeout)

    def text(self, selector: str) -> str:
        value: str = self.page.locator(selector).inner_text(timeout=STEP_MS)
        return value.replace(NBSP, " ")

    def expect_wake_lock(self, status: str) -> None:
        """The page's own account of its screen wake lock (``data-wake-lock`` on main)."""
        expect(self.screen()).to_have_attribute("data-wake-lock", status, timeout=STEP_MS)


@pytest.fixture
def open_viewer(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Viewer]]:
    """Open ``/qr/<token>`` in a new tab; each tab is screenshotted when the test ends."""
    opened: list[tuple[str, Viewer, Any]] = []

    def open_(
        gateway: Gateway,
        token: str,
        *,
        locale: str = "vi-VN",
        viewport: dict[str, int] = PHONE,
        permissions: list[str] | None = None,
    ) -> Viewer:
        context = browser.new_context(
            ignore_https_errors=True,  # the test CA; the gateway's TLS is real all the same
            locale=locale,
            viewport=viewport,
            service_workers="block",
            permissions=permissions or [],
        )
        page = context.new_page()
        viewer = Viewer(page)
        page.on("request", lambda r: viewer.requests.append(r.url))
        page.on("websocket", lambda ws: viewer.sockets.append(ws.url))
        page.on(
            "console",
            lambda m: viewer.console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: viewer.console_errors.append(str(e)))
        page.goto(f"{gateway.base}/qr/{token}", wait_until="load")
        opened.append((f"{len(opened)}" if opened else "", viewer, context))
        return viewer

    yield open_
    for suffix, viewer, context in opened:
        name = request.node.name + (f"-{suffix}" if suffix else "")
        screenshot(viewer.page, re.sub(r"[^A-Za-z0-9_.-]+", "_", name))
        context.close()


# --- the gateway's API, from the extension's side ----------------------------------------


def send(gateway: Gateway, request: httpx.Request, status: int = 200) -> dict[str, Any]:
    """Send one of the harness's requests (GatewayAPI) from this sync test."""
    with httpx.Client(verify=gateway.ssl_context) as client:
        return success(client.send(request), status)


def new_session(gateway: Gateway) -> str:
    token: str = send(gateway, GatewayAPI(gateway).generate(), 201)["token"]
    return token


def publish(gateway: Gateway, token: str, data: dict[str, Any]) -> dict[str, Any]:
    return send(gateway, GatewayAPI(gateway).payment(token, data))


def clear(gateway: Gateway, token: str, reason: str) -> None:
    send(gateway, GatewayAPI(gateway).clear(token, reason))


def iso_in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


# --- the tests -------------------------------------------------------------------------------


def test_the_page_shows_the_qr_merchant_and_amount_after_a_publish(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """Waiting first; then the QR, merchant, `300.000 ₫`, order id and countdowns."""
    token = new_session(gw)
    viewer = open_viewer(gw, token)
    viewer.expect_screen("waiting")
    expect(viewer.page.get_by_text("Đang chờ thông tin thanh toán…")).to_be_visible()

    publish(gw, token, payment(orderId="A-1024", expiresAt=iso_in(600)))
    viewer.expect_screen("payment")
    qr = viewer.page.locator("svg.qr")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("aria-label", f"Mã QR thanh toán 300.000{NBSP}₫ cho Cửa hàng An")
    assert viewer.text(".merchant") == "Cửa hàng An"
    assert viewer.text(".amount") == "300.000 ₫"
    assert viewer.text(".payee") == "Vietcombank ••••4455"  # SPEC §11.3, under the amount
    expect(viewer.page.locator(".payee-mismatch")).to_have_count(0)  # tag 59 agrees
    assert viewer.text(".order-id") == "A-1024"
    assert re.fullmatch(r"(09:5\d|10:00)", viewer.text(".qr-countdown"))
    assert re.fullmatch(r"(29:5\d|30:00)", viewer.text(".session-countdown"))
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 0.8 * PHONE["width"]  # large on a phone


def test_a_second_publish_replaces_the_qr_with_a_flash(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """A new seq replaces the QR and the amount, and its frame flashes; on a 1080p screen."""
    token = new_session(gw)
    viewer = open_viewer(gw, token, viewport=FULL_HD)
    viewer.expect_screen("waiting")
    publish(gw, token, payment())
    expect(viewer.page.locator('.qr-frame[data-seq="1"]')).to_be_visible(timeout=STEP_MS)
    first = viewer.page.locator("svg.qr path").get_attribute("d")
    expect(viewer.page.locator(".qr-frame--flash")).to_have_count(0)

    publish(gw, token, payment(150000, orderId="A-1025"))
    frame = viewer.page.locator('.qr-frame[data-seq="2"]')
    expect(frame).to_have_class(re.compile(r"\bqr-frame--flash\b"), timeout=STEP_MS)
    expect(viewer.page.get_by_text("Mã mới")).to_be_visible()
    assert viewer.text(".amount") == "150.000 ₫"
    assert viewer.page.locator("svg.qr path").get_attribute("d") != first
    box = viewer.page.locator("svg.qr").bounding_box()
    assert box is not None
    assert box["height"] >= 0.7 * FULL_HD["height"]  # large on 1080p


def test_the_fullscreen_button_takes_the_page_fullscreen_and_goes(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """A customer display offers "Toàn màn hình"; a click makes the page fullscreen and
    the button leaves."""
    token = new_session(gw)
    viewer = open_viewer(gw, token, viewport=FULL_HD)
    publish(gw, token, payment())
    viewer.expect_screen("payment")
    button = viewer.page.get_by_role("button", name="Toàn màn hình")
    expect(button).to_be_visible()
    assert viewer.page.evaluate("document.fullscreenElement") is None
    button.click()
    viewer.page.wait_for_function("document.fullscreenElement === document.documentElement")
    expect(button).to_have_count(0)
    viewer.expect_screen("payment")
    assert viewer.console_errors == []


def test_payment_cleared_hides_the_qr_and_waits_again(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """PAYMENT_CLEARED (paid) takes the QR off the screen: back to waiting, saying why."""
    token = new_session(gw)
    viewer = open_viewer(gw, token)
    publish(gw, token, payment())
    viewer.expect_screen("payment")
    clear(gw, token, "paid")
    viewer.expect_screen("waiting")
    expect(viewer.page.locator(".qr")).to_have_count(0)
    expect(viewer.page.get_by_text("Đã thanh toán. Cảm ơn quý khách!", exact=False)).to_be_visible()


def test_a_qr_whose_expires_at_passed_is_hidden(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """The countdown runs to `expiresAt`; then the QR goes and the page says it expired."""
    token = new_session(gw)
    viewer = open_viewer(gw, token)
    publish(gw, token, payment(expiresAt=iso_in(3)))
    viewer.expect_screen("payment")
    expect(viewer.page.locator(".qr-countdown")).to_have_text(re.compile(r"00:0[1-3]"))
    viewer.expect_screen("qrExpired")
    expect(viewer.page.locator(".qr")).to_have_count(0)
    expect(viewer.page.get_by_text("Mã QR đã hết hạn.")).to_be_visible()


def test_a_wallet_qr_names_the_wallet_and_bank_and_a_png_qr_names_none(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """A MoMo "QR đa năng" shows "MoMo · BVBank ••••5080"; a PNG QR that replaces it has
    no payee (SPEC §11.3), so the line goes."""
    token = new_session(gw)
    viewer = open_viewer(gw, token)
    publish(gw, token, payment(account=MOMO_ACCOUNT, qr_name=None))
    viewer.expect_screen("payment")
    assert viewer.text(".payee") == "MoMo · BVBank ••••5080"
    expect(viewer.page.locator("dt", has_text="Tài khoản nhận")).to_be_visible()
    assert viewer.text(".merchant") == "Cửa hàng An"  # no tag 59: nothing contradicts it

    publish(gw, token, {"qrCode": PNG_QR, "merchant": "Cửa hàng An", "amount": 300000})
    expect(viewer.page.locator('.qr-frame[data-seq="2"] img.qr')).to_be_visible(timeout=STEP_MS)
    expect(viewer.page.locator(".payee")).to_have_count(0)
    assert viewer.text(".merchant") == "Cửa hàng An"


def test_a_qr_that_names_another_payee_than_the_merchant_shows_that_payee(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """Tag 59 "CUA HANG BINH" against merchant "Cửa hàng An": the page names the QR's
    payee, and says it differs from the shop's name, in Vietnamese and in English."""
    token = new_session(gw)
    publish(gw, token, payment(qr_name="CUA HANG BINH", orderId="A-9"))
    vi = open_viewer(gw, token)
    vi.expect_screen("payment")
    assert vi.text(".payee-name") == "CUA HANG BINH"
    expect(vi.page.locator("dt", has_text="Người nhận")).to_be_visible()
    expect(vi.page.locator(".merchant")).to_have_count(0)
    warning = vi.page.get_by_role("alert")
    expect(warning).to_have_text(
        "Tên trong mã QR khác với tên cửa hàng “Cửa hàng An”: "
        "tiền sẽ chuyển cho người nhận ghi ở trên."
    )
    expect(vi.page.locator("svg.qr")).to_have_attribute(
        "aria-label", f"Mã QR thanh toán 300.000{NBSP}₫ cho CUA HANG BINH"
    )
    assert vi.text(".payee") == "Vietcombank ••••4455"

    en = open_viewer(gw, token, locale="en-US")
    en.expect_screen("payment")
    expect(en.page.locator("dt", has_text="Pay to")).to_be_visible()
    assert en.text(".payee-name") == "CUA HANG BINH"
    expect(en.page.get_by_role("alert")).to_contain_text(
        "differs from the shop's name “Cửa hàng An”"
    )


def test_a_late_viewer_gets_the_payment_in_english(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """A browser preferring English gets English; a late joiner sees the held data at once."""
    token = new_session(gw)
    publish(gw, token, payment(orderId="A-1024"))
    viewer = open_viewer(gw, token, locale="en-US")
    viewer.expect_screen("payment")
    assert viewer.page.evaluate("document.documentElement.lang") == "en"
    expect(viewer.page.get_by_text("Scan with MoMo or your banking app")).to_be_visible()
    expect(viewer.page.locator("svg.qr")).to_have_attribute(
        "aria-label", f"Payment QR code: 300.000{NBSP}₫ to Cửa hàng An"
    )
    assert viewer.text(".amount") == "300.000 ₫"


def test_a_bad_token_shows_the_invalid_session_message(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """A token the gateway refuses (4401) ends on the invalid-link screen, no retry."""
    viewer = open_viewer(gw, "not-a-token")
    viewer.expect_screen("invalid")
    expect(viewer.page.get_by_text("Liên kết thanh toán không hợp lệ.")).to_be_visible()
    time.sleep(1.5)  # past the first retry's delay: none is made
    assert len(viewer.sockets) == 1


def test_the_page_loads_only_from_the_gateway_under_a_strict_csp(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """Every request goes to the gateway; the CSP, no-referrer and the asset caching hold."""
    token = new_session(gw)
    page = httpx.get(f"{gw.base}/qr/{token}", verify=gw.ssl_context)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["connection"] == "close"  # no idle TLS socket to hold up a drain
    csp = page.headers["content-security-policy"]
    assert csp == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src data: 'self'; "
        f"manifest-src 'self'; worker-src 'none'; connect-src {gw.ws_base}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )
    assert token not in page.text  # the page reads it from its path
    assert f'<meta name="gateway-ws-url" content="{gw.ws_base}" />' in page.text
    assert "<script>" not in page.text  # no inline script
    scripts = re.findall(r'src="(/qr-assets/[^"]+\.js)"', page.text)
    assert len(scripts) == 1
    asset = httpx.get(f"{gw.base}{scripts[0]}", verify=gw.ssl_context)
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    for missing in ("nope.js", "%2e%2e/index.html", "%2e%2e%2findex.html", "..%5cindex.html"):
        url = f"{gw.base}/qr-assets/{missing}"
        assert httpx.get(url, verify=gw.ssl_context).status_code == 404

    viewer = open_viewer(gw, token)
    publish(gw, token, payment(deeplink="momo://app?action=pay"))
    viewer.expect_screen("payment")
    origins = {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in viewer.requests}
    assert origins == {gw.base}
    assert viewer.sockets == [f"{gw.ws_base}/?token={token}"]
    # Without the permission headless Chromium refuses the wake lock: quietly.
    viewer.expect_wake_lock("refused")
    assert viewer.console_errors == []  # no CSP or Trusted Types violation
    registrations = "navigator.serviceWorker.getRegistrations().then(r => r.length)"
    assert viewer.page.evaluate(registrations) == 0


def test_the_page_is_an_installable_app_within_its_csp(
    gw: Gateway, open_viewer: Callable[..., Viewer], browser: Any, tmp_path: Path
) -> None:
    """The page links its manifest (application/manifest+json), which Chromium fetches and
    parses under the page's CSP: start_url and scope /qr/, display fullscreen, icons of
    192 and 512 px that load; outside incognito Chromium finds nothing against installing."""
    token = new_session(gw)
    page = httpx.get(f"{gw.base}/qr/{token}", verify=gw.ssl_context)
    links = re.findall(r'<link rel="manifest" href="(/qr-assets/[^"]+\.webmanifest)">', page.text)
    assert len(links) == 1
    served = httpx.get(f"{gw.base}{links[0]}", verify=gw.ssl_context)
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/manifest+json"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    manifest = served.json()
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == (
        "/qr/",
        "/qr/",
        "fullscreen",
    )
    assert sorted(icon["sizes"] for icon in manifest["icons"]) == ["192x192", "512x512"]

    viewer = open_viewer(gw, token)
    viewer.expect_screen("waiting")
    cdp = viewer.page.context.new_cdp_session(viewer.page)
    parsed = cdp.send("Page.getAppManifest")
    assert parsed["url"] == f"{gw.base}{links[0]}"
    assert parsed["errors"] == []
    assert parsed["manifest"]["startUrl"] == f"{gw.base}/qr/"
    assert parsed["manifest"]["scope"] == f"{gw.base}/qr/"
    assert parsed["manifest"]["display"] == "kFullscreen"
    # The icons load in the page under its CSP (img-src 'self'), at their declared sizes.
    sizes = viewer.page.evaluate(
        """(srcs) => Promise.all(srcs.map((src) => new Promise((resolve) => {
               const img = new Image();
               img.onload = () => resolve(`${img.naturalWidth}x${img.naturalHeight}`);
               img.onerror = () => resolve("failed");
               img.src = src;
           })))""",
        [icon["src"] for icon in manifest["icons"]],
    )
    assert sizes == [icon["sizes"] for icon in manifest["icons"]]
    assert viewer.console_errors == []  # neither the manifest nor an icon broke the CSP

    # Playwright's contexts are incognito, where nothing installs: ask a profile on disk.
    profile = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        ignore_https_errors=True,
        service_workers="block",
    )
    try:
        tab = profile.new_page()
        tab.goto(f"{gw.base}/qr/{token}", wait_until="load")
        expect(tab.locator("main")).to_have_attribute("data-screen", "waiting")
        errors = profile.new_cdp_session(tab).send("Page.getInstallabilityErrors")
        assert errors["installabilityErrors"] == []
    finally:
        profile.close()


def test_the_installed_apps_start_page_asks_for_a_payment_link(
    gw: Gateway, open_viewer: Callable[..., Viewer]
) -> None:
    """/qr/ (the manifest's start_url): no token, so no socket and no wake lock, and a
    word on what to open."""
    viewer = open_viewer(gw, "", permissions=["screen-wake-lock"])
    viewer.expect_screen("noLink")
    expect(viewer.page.get_by_text("Mở liên kết thanh toán", exact=False)).to_be_visible()
    viewer.expect_wake_lock("off")
    assert viewer.sockets == []
    assert viewer.console_errors == []


def test_a_restarted_gateway_is_reconnected_to_and_the_lost_session_reported(
    start_gateway: StartGateway, open_viewer: Callable[..., Viewer]
) -> None:
    """Memory broker: after a restart the page reconnects, then shows unknown session (4404)."""
    gateway = start_gateway()
    token = new_session(gateway)
    viewer = open_viewer(gateway, token)
    publish(gateway, token, payment())
    viewer.expect_screen("payment")

    assert gateway.stop() == 0  # closes the viewer with 1001
    viewer.expect_screen("reconnecting")
    expect(viewer.page.get_by_text(re.compile(r"Đang kết nối lại \(lần \d+\)"))).to_be_visible()
    expect(viewer.page.locator(".qr")).to_have_count(0)  # not payable as far as it knows
    gateway.start()
    viewer.expect_screen("unknown", timeout=20_000)
    expect(viewer.page.get_by_text("Không tìm thấy phiên thanh toán.")).to_be_visible()
    assert len(viewer.sockets) >= 2


def test_over_redis_a_restarted_gateway_is_reconnected_to_and_shows_the_data_again(
    start_gateway: StartGateway,
    redis_server: Callable[..., Any],
    open_viewer: Callable[..., Viewer],
) -> None:
    """Redis broker: the session outlives the restart, so the page shows the payment again."""
    redis = redis_server()
    gateway = start_gateway({"broker": {"url": redis.url, "timeout_seconds": 1}})
    token = new_session(gateway)
    viewer = open_viewer(gateway, token)
    publish(gateway, token, payment(orderId="A-42"))
    viewer.expect_screen("payment")

    assert gateway.stop() == 0
    viewer.expect_screen("reconnecting")
    expect(viewer.page.locator(".qr")).to_have_count(0)
    gateway.start()
    viewer.expect_screen("payment", timeout=20_000)
    assert viewer.text(".order-id") == "A-42"
    expect(viewer.page.locator(".qr-frame--flash")).to_have_count(0)  # the same seq: no flash


def test_a_frozen_gateway_is_noticed_by_the_heartbeat_and_the_session_resumed(
    start_gateway: StartGateway, open_viewer: Callable[..., Viewer]
) -> None:
    """A link that stops answering is dropped within the idle timeout; the resumed
    connection gets SESSION_INFO and the late-join PAYMENT_DATA again."""
    gateway = start_gateway({"websocket": {"idle_timeout_seconds": 4, "ping_interval_seconds": 1}})
    token = new_session(gateway)
    viewer = open_viewer(gateway, token)
    publish(gateway, token, payment(orderId="A-7"))
    viewer.expect_screen("payment")

    assert gateway.proc is not None
    gateway.proc.send_signal(signal.SIGSTOP)  # no FIN, no close frame: just silence
    try:
        frozen = time.monotonic()
        viewer.expect_screen("reconnecting", timeout=6_000)
        assert time.monotonic() - frozen < 4 + 1  # the idle timeout, plus polling slack
    finally:
        gateway.proc.send_signal(signal.SIGCONT)
    viewer.expect_screen("payment", timeout=20_000)
    assert viewer.text(".order-id") == "A-7"


def test_the_session_expires_and_the_page_says_so(
    start_gateway: StartGateway, open_viewer: Callable[..., Viewer]
) -> None:
    """The screen is kept on while waiting and showing the QR; SESSION_EXPIRED and close
    4410 end on the expired screen, the QR gone and the wake lock released."""
    gateway = start_gateway({"sessions": {"ttl_seconds": 3}})
    token = new_session(gateway)
    viewer = open_viewer(gateway, token, permissions=["screen-wake-lock"])
    viewer.expect_screen("waiting")
    viewer.expect_wake_lock("held")  # waiting for a QR: the screen stays on
    publish(gateway, token, payment())
    viewer.expect_screen("payment")
    viewer.expect_wake_lock("held")
    viewer.expect_screen("expired")
    viewer.expect_wake_lock("off")  # nothing left to show: the screen may sleep
    expect(viewer.page.get_by_text("Phiên thanh toán đã hết hạn.")).to_be_visible()
    expect(viewer.page.locator(".qr")).to_have_count(0)
    time.sleep(1.5)
    assert len(viewer.sockets) == 1  # no retry after 4410


def test_a_full_session_and_a_rate_limit_get_their_own_messages(
    start_gateway: StartGateway, open_viewer: Callable[..., Viewer]
) -> None:
    """4403 says too many screens (and retries); 4429 says to wait, counting down."""
    gateway = start_gateway(
        {
            "sessions": {"max_viewers_per_session": 1},
            "rate_limits": {"ws_connect_per_ip": "2/minute"},
        }
    )
    token = new_session(gateway)
    first = open_viewer(gateway, token)
    first.expect_screen("waiting")
    second = open_viewer(gateway, token)
    second.expect_screen("full")
    expect(second.page.get_by_text("quá nhiều màn hình", exact=False)).to_be_visible()
    third = open_viewer(gateway, token)
    third.expect_screen("rateLimited")
    expect(third.page.get_by_text(re.compile(r"Sẽ thử lại sau \d+ giây\."))).to_be_visible()
