"""End-to-end: the rate limits of SPEC §6, their 429/4429 answers, and the client IP rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .gatewayproc import HIGH_LIMITS, Gateway, payment


def limits(**rules: str) -> dict[str, dict[str, Any]]:
    return {"rate_limits": {**HIGH_LIMITS, **rules}}


def check_429(response: httpx.Response, rule: str, quota: int, window: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    retry = int(response.headers["retry-after"])
    assert 1 <= retry <= window
    assert response.headers["ratelimit-policy"] == f'"{rule}";q={quota};w={window}'
    assert response.headers["ratelimit"] == f'"{rule}";r=0;t={retry}'


async def test_token_generation_per_ip_is_429_with_headers(
    start_gateway: Callable[..., Gateway],
) -> None:
    """The fourth token request in a minute from one IP gets 429 with Retry-After and RateLimit."""
    gw = start_gateway(limits(token_generate_per_ip="3/minute"))
    async with gw.client() as client:
        for _ in range(3):
            assert (await client.generate()).status_code == 201
        check_429(await client.generate(), "token_generate_per_ip", 3, 60)
        assert (await client.get("/health")).status_code == 200


async def test_token_generation_per_key_is_429(start_gateway: Callable[..., Gateway]) -> None:
    """A key over token_generate_per_key gets 429 naming that rule."""
    gw = start_gateway(limits(token_generate_per_key="2/hour"))
    async with gw.client() as client:
        for _ in range(2):
            assert (await client.generate()).status_code == 201
        check_429(await client.generate(), "token_generate_per_key", 2, 3600)
        other = await client.post("/api/token/generate", headers={"X-API-Key": gw.key("other")})
        assert other.status_code == 201


async def test_payments_per_token_are_limited_per_session(
    start_gateway: Callable[..., Gateway],
) -> None:
    """Publishes over payment_per_token get 429 for that session only."""
    gw = start_gateway(limits(payment_per_token="2/minute"))
    async with gw.client() as client:
        first, second = (await client.generate()).json(), (await client.generate()).json()
        headers = {"X-API-Key": gw.key()}
        for _ in range(2):
            ok = await client.post(
                "/api/payment", headers=headers, json={"token": first["token"], "data": payment()}
            )
            assert ok.status_code == 200
        over = await client.post(
            "/api/payment/clear", headers=headers, json={"token": first["token"]}
        )
        check_429(over, "payment_per_token", 2, 60)
        fine = await client.post(
            "/api/payment", headers=headers, json={"token": second["token"], "data": payment()}
        )
        assert fine.status_code == 200


async def test_websocket_connects_per_ip_close_4429(start_gateway: Callable[..., Gateway]) -> None:
    """The connection over ws_connect_per_ip completes the handshake and is closed with 4429."""
    gw = start_gateway(limits(ws_connect_per_ip="2/minute"))
    async with gw.client() as client:
        session = (await client.generate()).json()
    for _ in range(2):
        async with connect(session["wsUrl"], ssl=gw.ssl_context) as ws:
            assert json.loads(await ws.recv())["type"] == "SESSION_INFO"
    async with connect(session["wsUrl"], ssl=gw.ssl_context) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4429


async def test_messages_per_connection_close_4429_before_answering(
    start_gateway: Callable[..., Gateway],
) -> None:
    """The message over ws_messages_per_connection is refused with close 4429, unanswered."""
    gw = start_gateway(limits(ws_messages_per_connection="3/10 seconds"))
    async with gw.client() as client:
        session = (await client.generate()).json()
    async with connect(session["wsUrl"], ssl=gw.ssl_context) as ws:
        await ws.recv()
        for _ in range(3):
            await ws.send('{"type":"PING"}')
            assert json.loads(await ws.recv())["type"] == "PONG"
        await ws.send('{"type":"PING"}')
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4429


async def test_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(
    start_gateway: Callable[..., Gateway],
) -> None:
    """With proxy.trusted_hops = 0, X-Forwarded-For is ignored: one IP, one bucket."""
    gw = start_gateway(limits(token_generate_per_ip="2/minute"))
    async with gw.client() as client:
        for i in range(2):
            response = await client.generate(**{"X-Forwarded-For": f"203.0.113.{i}"})
            assert response.status_code == 201
        spoofed = await client.generate(**{"X-Forwarded-For": "198.51.100.7"})
        check_429(spoofed, "token_generate_per_ip", 2, 60)


async def test_trusted_proxy_hop_gives_each_client_its_bucket(
    start_gateway: Callable[..., Gateway],
) -> None:
    """With proxy.trusted_hops = 1, the last X-Forwarded-For address is the client IP."""
    gw = start_gateway({**limits(token_generate_per_ip="1/minute"), "proxy": {"trusted_hops": 1}})
    async with gw.client() as client:
        a = await client.generate(**{"X-Forwarded-For": "10.9.9.9, 203.0.113.1"})
        b = await client.generate(**{"X-Forwarded-For": "10.9.9.9, 203.0.113.2"})
        assert (a.status_code, b.status_code) == (201, 201)
        again = await client.generate(**{"X-Forwarded-For": "203.0.113.1"})
        check_429(again, "token_generate_per_ip", 1, 60)
