"""The viewer page's routes (gateway/transport/pages.py), through Quart's test client."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.config import JWTKey, Settings, parse_settings
from gateway.transport.pages import IDLE_TIMEOUT_META, WS_URL_META, build_page, ws_origin

KEYS = (JWTKey(kid="default", secret=b"k" * 32),)
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def settings(**server: object) -> Settings:
    return parse_settings({"server": server, "websocket": {"idle_timeout_seconds": 45}})


async def test_the_page_is_the_same_html_for_every_token_with_the_settings_filled_in() -> None:
    """GET /qr/<token>: the built page, the ws URL and idle timeout in its meta tags, no token."""
    client = create_app(settings(), KEYS).test_client()
    response = await client.get(f"/qr/{TOKEN}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    body = await response.get_data(as_text=True)
    assert TOKEN not in body
    assert '<meta name="gateway-ws-url" content="wss://localhost:3001" />' in body
    assert '<meta name="gateway-idle-timeout" content="45" />' in body
    other = await (await client.get("/qr/another")).get_data(as_text=True)
    assert other == body


async def test_the_page_headers_forbid_referrers_caching_framing_and_foreign_origins() -> None:
    """no-referrer, no-store, DENY, and a CSP whose connect-src is the gateway's WS origin."""
    client = create_app(settings(ws_public_url="wss://ws.pay.example/gw"), KEYS).test_client()
    response = await client.get(f"/qr/{TOKEN}")
    headers = response.headers
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"
    csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["img-src"] == "data: 'self'"
    assert csp["manifest-src"] == "'self'"
    assert csp["worker-src"] == "'none'"
    assert csp["connect-src"] == "wss://ws.pay.example"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["require-trusted-types-for"] == "'script'"


async def test_assets_are_cached_for_a_year_and_nothing_else_is_served() -> None:
    """The hashed files under /qr-assets/ only; traversal and unknown names get 404."""
    client = create_app(settings(), KEYS).test_client()
    body = await (await client.get(f"/qr/{TOKEN}")).get_data(as_text=True)
    script = body.split('src="', 1)[1].split('"', 1)[0]
    assert script.startswith("/qr-assets/")
    asset = await client.get(script)
    assert asset.status_code == 200
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for path in ("/qr-assets/nope.js", "/qr-assets/%2e%2e/index.html", "/qr-assets/"):
        assert (await client.get(path)).status_code == 404


async def test_the_page_without_a_token_is_the_installed_apps_start() -> None:
    """GET /qr/ (the manifest's start_url), and /qr unredirected: the same HTML and headers."""
    client = create_app(settings(), KEYS).test_client()
    page = await client.get(f"/qr/{TOKEN}")
    for path in ("/qr/", "/qr"):
        start = await client.get(path)
        assert start.status_code == 200
        assert await start.get_data() == await page.get_data()
        for header in ("Content-Security-Policy", "Cache-Control", "Referrer-Policy", "Connection"):
            assert start.headers[header] == page.headers[header]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_the_manifest_and_its_icons_are_served_as_assets() -> None:
    """The page links a web app manifest (application/manifest+json) that starts at /qr/,
    claims /qr/ and lists 192 and 512 pixel icons, each a hashed asset of that size."""
    client = create_app(settings(), KEYS).test_client()
    body = await (await client.get(f"/qr/{TOKEN}")).get_data(as_text=True)
    links = re.findall(
        r'<link rel="manifest" href="(/qr-assets/manifest-[^"]+\.webmanifest)">', body
    )
    assert len(links) == 1
    response = await client.get(links[0])
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    manifest = json.loads(await response.get_data(as_text=True))
    assert manifest["start_url"] == manifest["scope"] == manifest["id"] == "/qr/"
    assert manifest["display"] == "fullscreen"
    assert manifest["name"]
    assert manifest["short_name"]
    sizes = []
    for icon in manifest["icons"]:
        assert icon["src"].startswith("/qr-assets/")
        image = await client.get(icon["src"])
        assert image.status_code == 200
        assert image.mimetype == "image/png"
        width, height = png_size(await image.get_data())
        assert icon["sizes"] == f"{width}x{height}"
        sizes.append(width)
    assert sorted(sizes) == [192, 512]
    icon_link = re.search(
        r'<link rel="icon" type="image/png" sizes="192x192" href="([^"]+)">', body
    )
    assert icon_link is not None
    assert icon_link[1] in {icon["src"] for icon in manifest["icons"]}


def test_ws_origin_is_the_serialized_origin_of_the_ws_public_url() -> None:
    """Scheme and host lowercased, the port kept, any path dropped."""
    assert ws_origin(settings()) == "wss://localhost:3001"
    assert ws_origin(settings(public_url="http://127.0.0.1:8080")) == "ws://127.0.0.1:8080"
    assert ws_origin(settings(ws_public_url="WSS://WS.Pay.Example/gw")) == "wss://ws.pay.example"


def test_a_missing_or_foreign_build_stops_start_up(tmp_path: Path) -> None:
    """No index.html, or one without the meta tags to fill, is a start-up error."""
    with pytest.raises(RuntimeError, match="npm ci && npm run build"):
        build_page(settings(), tmp_path)
    (tmp_path / "index.html").write_text(f"<html>{WS_URL_META}</html>")
    with pytest.raises(RuntimeError, match="gateway-idle-timeout"):
        build_page(settings(), tmp_path)
    (tmp_path / "index.html").write_text(f"<html>{WS_URL_META}{IDLE_TIMEOUT_META}</html>")
    with pytest.raises(RuntimeError, match="qr-assets is missing"):
        build_page(settings(), tmp_path)
    (tmp_path / "qr-assets").mkdir()
    page = build_page(settings(ws_public_url='wss://x.example/"><script>'), tmp_path)
    assert b"<script>" not in page.html
    assert b'content="wss://x.example/&quot;&gt;&lt;script&gt;"' in page.html
