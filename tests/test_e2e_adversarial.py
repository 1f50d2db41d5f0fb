"""End-to-end attacks: each asserts the exact outcome and that other sessions kept working."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Callable

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .gatewayproc import HIGH_LIMITS, Gateway, payment


async def bystander(client: httpx.AsyncClient, gw: Gateway) -> tuple[ClientConnection, str]:
    """A viewer of a fresh session, connected before the attack, and its token."""
    session = await client.new_session()
    ws = await connect(session["wsUrl"], ssl=gw.ssl_context)
    assert json.loads(await ws.recv())["type"] == "SESSION_INFO"
    return ws, session["token"]


async def bystander_still_receives(
    client: httpx.AsyncClient, gw: Gateway, ws: ClientConnection, token: str
) -> None:
    response = await client.post(
        "/api/payment", headers={"X-API-Key": gw.key()}, json={"token": token, "data": payment()}
    )
    assert response.status_code == 200, response.text
    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert message["payload"]["seq"] == response.json()["seq"]
    await ws.close()


TRICKS = {"RLO": "\u202e", "ZWSP": "\u200b", "NUL": "\x00", "BOM": "\ufeff", "PUA": "\ue000"}
FIELDS = {
    "merchant": lambda t: f"Cửa{t}hàng",
    "description": lambda t: f"Bàn{t}7",
    "orderId": lambda t: f"A{t}1",
    "currency": lambda t: f"VN{t}D",
    "deeplink": lambda t: f"momo://pay{t}?x=1",
    "expiresAt": lambda t: f"2030-01-01T00:00:00{t}Z",
}


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("trick", sorted(TRICKS))
async def test_unicode_tricks_in_every_string_field_are_422(
    client: httpx.AsyncClient, gateway: Gateway, field: str, trick: str
) -> None:
    """RLO, zero-width, NUL, BOM and private-use characters in any string field are 422 on it."""
    session = await client.new_session()
    data = payment(**{field: FIELDS[field](TRICKS[trick])})
    response = await client.post(
        "/api/payment",
        headers={"X-API-Key": gateway.key()},
        json={"token": session["token"], "data": data},
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["data", field]]


async def test_unicode_tricks_inside_an_emvco_payload_are_422(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A zero-width character hidden in an EMVCo QR (even with a matching CRC) is refused."""
    from gateway import emvco

    qr = emvco.build([("00", "01"), ("01", "12"), ("53", "704"), ("59", "AN\u200bX")])
    session = await client.new_session()
    response = await client.post(
        "/api/payment",
        headers={"X-API-Key": gateway.key()},
        json={"token": session["token"], "data": payment(qrCode=qr, amount=1000)},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["data", "qrCode"]


MALFORMED = [
    b"",
    b"null",
    b"[]",
    b'"string"',
    b"1e999999",
    b"[" * 10000 + b"]" * 10000,
    b'{"token": "t", "data": ' + b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"}",
    b'{"token": "t", "token": "u", "data": {}}',
    b'{"token": 1, "data": []}',
    b'{"token": "t", "data": {"amount": 99999999999999999999999999}}',
    b"\xef\xbb\xbf{}",
    b'{"token": "\\ud800", "data": {}}',
]


@pytest.mark.parametrize("body", MALFORMED, ids=range(len(MALFORMED)))
async def test_malformed_json_of_every_shape_is_400_or_422(
    client: httpx.AsyncClient, gateway: Gateway, body: bytes
) -> None:
    """Empty, deep, huge-number, duplicate-key, BOM and surrogate bodies get 400 or 422."""
    response = await client.post(
        "/api/payment",
        headers={"X-API-Key": gateway.key(), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/health")).status_code == 200


async def test_a_thousand_connects_from_one_ip_are_cut_at_the_limit(
    start_gateway: Callable[..., Gateway],
) -> None:
    """1,000 WebSocket connects from one IP: 60 are served, the rest closed 4429; others live.

    The quota is 60 per hour, so however long a loaded machine takes, no window rolls
    over during the test (the sliding-window counter would then admit a few more).
    """
    gw = start_gateway(
        {
            "rate_limits": {**HIGH_LIMITS, "ws_connect_per_ip": "60/hour"},
            "sessions": {"max_viewers_per_session": 1000},
        }
    )
    async with gw.client() as client:
        session = await client.new_session()
        watcher = await connect(session["wsUrl"], ssl=gw.ssl_context)
        assert json.loads(await watcher.recv())["type"] == "SESSION_INFO"
        outcomes: dict[str, int] = {}
        gate = asyncio.Semaphore(50)

        async def attempt() -> None:
            async with gate:
                try:
                    async with connect(session["wsUrl"], ssl=gw.ssl_context) as ws:
                        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        outcome = first["type"]
                except ConnectionClosed as closed:
                    outcome = str(closed.rcvd.code if closed.rcvd else None)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

        async with asyncio.timeout(120):
            await asyncio.gather(*(attempt() for _ in range(1000)))
        # The watcher took one of the 60 places.
        assert outcomes == {"SESSION_INFO": 59, "4429": 941}
        await bystander_still_receives(client, gw, watcher, session["token"])


async def test_payment_flood_from_one_ip_is_429_for_that_ip_only(
    start_gateway: Callable[..., Gateway],
) -> None:
    """Publishes over payment_per_ip get 429; the process keeps serving the rest."""
    gw = start_gateway({"rate_limits": {**HIGH_LIMITS, "payment_per_ip": "5/minute"}})
    async with gw.client() as client:
        session = await client.new_session()
        statuses = []
        for _ in range(8):
            response = await client.post(
                "/api/payment",
                headers={"X-API-Key": gw.key()},
                json={"token": session["token"], "data": payment()},
            )
            statuses.append(response.status_code)
        assert statuses == [200] * 5 + [429] * 3
        assert response.headers["ratelimit-policy"] == '"payment_per_ip";q=5;w=60'
        assert (await client.get("/health")).status_code == 200


async def test_fragmented_messages_are_reassembled_and_limited(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A PING sent in fragments gets PONG; fragments adding up past the limit close 1009."""
    ws_watch, token = await bystander(client, gateway)
    session = await client.new_session()
    async with connect(session["wsUrl"], ssl=gateway.ssl_context) as ws:
        await ws.recv()
        await ws.send(iter(['{"type"', ':"PI', 'NG"}']))
        assert json.loads(await ws.recv())["type"] == "PONG"
        await ws.send(iter(["x" * 1000] * 5))  # 5,000 characters > 4,096
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    await bystander_still_receives(client, gateway, ws_watch, token)


async def test_slowloris_holding_headers_open_is_dropped_and_blocks_nobody(
    start_gateway: Callable[..., Gateway],
) -> None:
    """A client that stops mid-headers is dropped after the idle timeout; others are served."""
    gw = start_gateway({"websocket": {"ping_interval_seconds": 0.5, "idle_timeout_seconds": 2}})
    async with gw.client() as client:
        watcher, token = await bystander(client, gw)
        holders = []
        for _ in range(20):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", gw.port, ssl=gw.ssl_context, server_hostname="localhost"
            )
            writer.write(b"POST /api/payment HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            await writer.drain()
            holders.append((reader, writer))
        # While they hang, the gateway serves everyone else.
        assert (await client.get("/health")).status_code == 200
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(15):
            for reader, _ in holders:
                while await reader.read(65536):
                    pass
        assert loop.time() - started <= 10
        for _, writer in holders:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
    # A fresh client: the idle timeout also closed the first one's keep-alive connection.
    async with gw.client() as client:
        await bystander_still_receives(client, gw, watcher, token)


async def test_token_of_another_tenant_cannot_publish_or_clear(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A key publishing with another key's session token gets 403, and the session is unharmed."""
    ws, token = await bystander(client, gateway)
    for path, body in (
        ("/api/payment", {"token": token, "data": payment()}),
        ("/api/payment/clear", {"token": token}),
    ):
        response = await client.post(path, headers={"X-API-Key": gateway.key("other")}, json=body)
        assert response.status_code == 403
    await bystander_still_receives(client, gateway, ws, token)


async def test_tls_handshake_garbage_does_not_hurt_the_listener(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """Plain HTTP and random bytes on the TLS port are dropped; the listener keeps serving."""
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256)) * 4):
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(junk)
        await writer.drain()
        async with asyncio.timeout(10):
            await reader.read(65536)
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()
    ctx = ssl.create_default_context(cafile=str(gateway.certs.ca_file))
    async with httpx.AsyncClient(verify=ctx) as fresh:
        assert (await fresh.get(f"{gateway.base}/health")).status_code == 200
