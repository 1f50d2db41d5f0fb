"""End-to-end: TLS policy, CORS, metrics and heartbeats of a real gateway."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import ssl
import warnings
from collections.abc import Callable

import httpx
import pytest
from websockets.asyncio.client import connect

from .gatewayproc import Gateway, free_port


def tls_context(gateway: Gateway, version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(gateway.certs.ca_file))
    with warnings.catch_warnings():
        # Python deprecates TLS 1.1 (DeprecationWarning); offering it is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        # Let this client offer the old protocol; the server must be the one refusing.
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


async def handshake(gateway: Gateway, ctx: ssl.SSLContext) -> ssl.SSLObject:
    _, writer = await asyncio.open_connection(
        "127.0.0.1", gateway.port, ssl=ctx, server_hostname="localhost"
    )
    obj = writer.get_extra_info("ssl_object")
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await writer.wait_closed()
    return obj  # type: ignore[no-any-return]


async def test_tls_1_1_is_refused(gateway: Gateway) -> None:
    """A client limited to TLS 1.1 cannot complete a handshake."""
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as refused:
        await handshake(gateway, tls_context(gateway, ssl.TLSVersion.TLSv1_1))
    # The server's alert, not a client that could not offer TLS 1.1 at all.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value).upper()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_tls_1_2_and_1_3_are_served_with_strong_ciphers(
    gateway: Gateway, version: ssl.TLSVersion
) -> None:
    """TLS 1.2 and 1.3 complete with an AEAD suite and ALPN http/1.1."""
    ctx = tls_context(gateway, version)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    obj = await handshake(gateway, ctx)
    cipher, protocol, _ = obj.cipher()  # type: ignore[misc]
    assert protocol == ("TLSv1.2" if version == ssl.TLSVersion.TLSv1_2 else "TLSv1.3")
    assert "GCM" in cipher or "CHACHA20" in cipher
    assert obj.selected_alpn_protocol() == "http/1.1"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_no_session_tickets_are_issued(gateway: Gateway, version: ssl.TLSVersion) -> None:
    """Session tickets are off (Mozilla intermediate): none arrives, even after a response.

    A TLS 1.3 ticket arriving while a two-thread client (websockets' sync client) sends
    its upgrade request could lose the request; without tickets there is nothing to race.
    """
    ctx = tls_context(gateway, version)
    raw = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := tls.recv(65536):
            response += chunk
        assert response.startswith(b"HTTP/1.1 200")
        session = tls.session
        assert session is not None
        assert not session.has_ticket


async def test_cors_is_off_by_default(client: httpx.AsyncClient) -> None:
    """With cors.allowed_origins empty, no page origin gets CORS headers."""
    response = await client.options(
        "/api/payment",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_only_listed_origins(start_gateway: Callable[..., Gateway]) -> None:
    """A listed Origin gets CORS headers (with the rate-limit headers exposed); others none."""
    gw = start_gateway({"cors": {"allowed_origins": ["https://shop.example"]}})
    async with gw.client() as client:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key",
        }
        ok = await client.options(
            "/api/payment", headers={"Origin": "https://shop.example", **preflight}
        )
        assert ok.headers["access-control-allow-origin"] == "https://shop.example"
        assert "x-api-key" in ok.headers["access-control-allow-headers"].lower()
        simple = await client.get("/health", headers={"Origin": "https://shop.example"})
        assert "retry-after" in simple.headers["access-control-expose-headers"].lower()
        evil = await client.options(
            "/api/payment", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in evil.headers
        session = (await client.post("/api/token/generate", headers={"X-API-Key": gw.key()})).json()
    # CORS does not touch the viewer socket: no Origin is still allowed.
    async with connect(session["wsUrl"], ssl=gw.ssl_context) as ws:
        assert json.loads(await ws.recv())["type"] == "SESSION_INFO"


async def test_metrics_need_stats_scope(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """/metrics answers 401 without a key, 403 without stats:read, Prometheus text with it."""
    assert (await client.get("/metrics")).status_code == 401
    assert (
        await client.get("/metrics", headers={"X-API-Key": gateway.key("other")})
    ).status_code == 403
    await client.get("/health")
    response = await client.get("/metrics", headers={"X-API-Key": gateway.key("stats")})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "gateway_connections",
        "gateway_sessions",
        "gateway_publishes_total",
        "gateway_deliveries_total",
        "gateway_slow_consumers_total",
        "gateway_viewer_sockets_kept_total",
        'gateway_rate_limited_total{rule="payment_per_token"}',
        "gateway_tls_handshakes_in_progress",
        "gateway_tls_handshakes_failed_total",
        "gateway_http_request_duration_seconds_bucket",
    ):
        assert name in text


async def test_metrics_bind_serves_them_apart(start_gateway: Callable[..., Gateway]) -> None:
    """With metrics.bind, /metrics is served there without auth and not on the main port."""
    port = free_port()
    gw = start_gateway({"metrics": {"bind": f"127.0.0.1:{port}"}})
    async with httpx.AsyncClient(verify=gw.ssl_context) as client:
        main = await client.get(f"{gw.base}/metrics", headers={"X-API-Key": gw.key("stats")})
        assert main.status_code == 404
        apart = await client.get(f"http://127.0.0.1:{port}/metrics")
        assert apart.status_code == 200
        assert "gateway_connections" in apart.text


async def test_silent_connection_is_dropped_and_answering_one_kept(
    start_gateway: Callable[..., Gateway],
) -> None:
    """A socket that sends nothing is dropped after idle_timeout; one answering pings stays."""
    gw = start_gateway({"websocket": {"ping_interval_seconds": 0.5, "idle_timeout_seconds": 2}})
    async with gw.client() as client:
        session = (await client.post("/api/token/generate", headers={"X-API-Key": gw.key()})).json()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", gw.port, ssl=gw.ssl_context, server_hostname="localhost"
    )
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /?token={session['token']} HTTP/1.1\r\nHost: localhost\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    # The client keeps its own pings off, but answers the server's pings (as browsers do).
    async with connect(session["wsUrl"], ssl=gw.ssl_context, ping_interval=None) as alive:
        await alive.recv()
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(10):
            while await reader.read(65536):
                pass  # the upgrade response, SESSION_INFO and pings, until EOF
        silent_for = loop.time() - started
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()
        assert 1.5 <= silent_for <= 6
        await alive.send('{"type":"PING"}')
        assert json.loads(await alive.recv())["type"] == "PONG"


async def test_sigterm_exits_in_time_despite_a_silent_keep_alive_peer(
    start_gateway: Callable[..., Gateway],
) -> None:
    """An idle keep-alive peer that never answers the TLS close cannot delay exit past 10 s."""
    gw = start_gateway()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", gw.port, ssl=gw.ssl_context, server_hostname="localhost"
    )
    writer.write(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    # From here on this peer reads nothing: the server's close_notify goes unanswered.
    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await loop.run_in_executor(None, gw.stop)
    assert code == 0
    assert loop.time() - started < 10
    writer.transport.abort()
