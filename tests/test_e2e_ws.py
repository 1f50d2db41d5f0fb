"""End-to-end: the viewer WebSocket of SPEC §4 and §5 against a real `gateway serve` over TLS."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import socket
import ssl
import struct
import time
import unicodedata
import uuid
import warnings
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from .gatewayproc import JWT_SECRET, Gateway, payment

StartGateway = Callable[..., Gateway]
T = TypeVar("T")

#: Generous bound for any single step; a healthy gateway answers in milliseconds.
TIMEOUT = 10.0
#: How long a closing handshake may take (the client itself gives up after TIMEOUT).
CLOSE_SECONDS = 5.0
PROBLEM = "application/problem+json"
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
SESSION_INFO_KEYS = {"sessionId", "connectedAt", "expiresAt", "hasData"}
OTHER_SECRET = "another-secret-" + "x" * 40
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# --- gateways and HTTP helpers --------------------------------------------------------------


def start(start_gateway: StartGateway, overrides: dict[str, dict[str, Any]]) -> Gateway:
    """``start_gateway(overrides)`` with a 1 s WebSocket ping interval, for a quick teardown.

    Hypercorn keeps a closed WebSocket's connection task until its ping loop next wakes
    (``websocket_ping_interval``, 20 s by default) and on SIGTERM waits its graceful
    timeout (4 s here) for such tasks: every gateway a viewer ever left would take 4 s to
    stop. No test here depends on the ping interval; the drain test keeps the default.
    """
    merged = {section: dict(values) for section, values in overrides.items()}
    merged.setdefault("websocket", {}).setdefault("ping_interval_seconds", 1)
    return start_gateway(merged)


@contextlib.asynccontextmanager
async def http(gw: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client for ``gw`` (for gateways started by a test)."""
    async with httpx.AsyncClient(base_url=gw.base, verify=gw.ssl_context, timeout=TIMEOUT) as c:
        yield c


async def new_session(client: httpx.AsyncClient, gw: Gateway) -> dict[str, Any]:
    response = await client.post("/api/token/generate", headers={"X-API-Key": gw.key("owner")})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_payment(
    client: httpx.AsyncClient, gw: Gateway, token: str, data: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(
        "/api/payment",
        headers={"X-API-Key": gw.key("owner")},
        json={"token": token, "data": payment() if data is None else data},
    )


async def publish(
    client: httpx.AsyncClient, gw: Gateway, token: str, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Publish ``data`` (a sample payment by default); the 200 body."""
    response = await post_payment(client, gw, token, data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def clear(
    client: httpx.AsyncClient, gw: Gateway, token: str, reason: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"token": token}
    if reason is not None:
        body["reason"] = reason
    response = await client.post(
        "/api/payment/clear", headers={"X-API-Key": gw.key("owner")}, json=body
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def session_info(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get(f"/api/session/{token}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def no_viewers_left(client: httpx.AsyncClient, token: str, after: str) -> None:
    """Wait until the session counts no viewer (the gateway released the last one)."""
    await poll(
        lambda: session_info(client, token),
        lambda info: info["viewers"] == 0,
        TIMEOUT,
        f"viewer count after {after}",
    )


async def poll(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float, what: str
) -> T:
    """Call ``probe`` until ``done`` holds for its value; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {seconds} s")
        await asyncio.sleep(0.05)


def mint(gw: Gateway, sub: str, *, secret: str = JWT_SECRET, **changes: Any) -> str:
    """A token shaped like the gateway's for session ``sub``, with ``changes`` applied."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": gw.base,
        "aud": "gw-viewer",
        "sub": sub,
        "iat": now,
        "exp": now + 600,
    }
    headers: dict[str, Any] = {"kid": "default", "typ": "gw-view+jwt"}
    algorithm = changes.pop("alg", "HS256")
    for name, value in changes.items():
        (headers if name in ("kid", "typ") else claims)[name] = value
    with warnings.catch_warnings():
        # HS512 with the gateway's 52-byte secret is the point of the alg_not_allowed case.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)


def tamper(token: str) -> str:
    """Change one character in the middle of the signature (the last one may be padding bits)."""
    head, body, signature = token.split(".")
    i = len(signature) // 2
    swapped = "A" if signature[i] != "A" else "B"
    return f"{head}.{body}.{signature[:i]}{swapped}{signature[i + 1 :]}"


# --- WebSocket helpers -----------------------------------------------------------------


def ws_url(gw: Gateway, token: str | None, path: str = "/") -> str:
    return gw.ws_base + path + ("" if token is None else f"?token={quote(token, safe='')}")


def viewer(gw: Gateway, token: str | None, *, path: str = "/", origin: str | None = None) -> Any:
    """``connect(...)`` to the viewer socket of ``gw`` (use with ``async with``)."""
    return connect(
        ws_url(gw, token, path),
        ssl=gw.ssl_context,
        origin=None if origin is None else Origin(origin),
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    )


async def receive_raw(ws: ClientConnection, seconds: float = TIMEOUT) -> tuple[str, dict[str, Any]]:
    """The next server message as text and parsed; checks the common envelope."""
    async with asyncio.timeout(seconds):
        raw = await ws.recv()
    assert isinstance(raw, str), f"expected a text frame, got {raw!r:.80}"
    message: dict[str, Any] = json.loads(raw)
    assert isinstance(message.get("type"), str), raw
    assert isinstance(message.get("payload"), dict), raw
    assert ISO_Z.match(message.get("ts", "")), f"ts missing or not ISO 8601 Z: {raw}"
    return raw, message


async def receive(ws: ClientConnection, seconds: float = TIMEOUT) -> dict[str, Any]:
    return (await receive_raw(ws, seconds))[1]


async def receive_info(ws: ClientConnection) -> dict[str, Any]:
    message = await receive(ws)
    assert message["type"] == "SESSION_INFO", message
    payload: dict[str, Any] = message["payload"]
    return payload


async def close_code(ws: ClientConnection, seconds: float = CLOSE_SECONDS) -> tuple[int, list[Any]]:
    """Read until the server closes; its close code and whatever arrived before.

    The closing handshake must complete (the server closes TCP after the close frames,
    RFC 6455 §7.1.1) within ``seconds``, shorter than the client's own close timeout, so
    a server that sends a close frame and then never finishes is caught, not masked.
    """
    received: list[Any] = []
    closed: ConnectionClosed | None = None
    try:
        async with asyncio.timeout(seconds):
            while closed is None:
                try:
                    received.append(await ws.recv())
                except ConnectionClosed as exc:
                    closed = exc
    except TimeoutError:
        rcvd = ws.protocol.close_rcvd
        raise AssertionError(
            f"no end of connection within {seconds} s; close frame received: "
            f"{None if rcvd is None else rcvd.code}, state {ws.protocol.state.name}"
        ) from None
    assert closed.rcvd is not None, f"closed without a close frame (sent: {closed.sent})"
    return closed.rcvd.code, received


async def assert_nothing_queued(ws: ClientConnection) -> None:
    """PING and expect PONG next: the server sent nothing else before it."""
    await ws.send(json.dumps({"type": "PING"}))
    message = await receive(ws)
    assert message["type"] == "PONG", f"expected PONG, got {message}"
    assert message["payload"] == {}


def parse_time(value: str) -> float:
    assert ISO_Z.match(value), value
    return datetime.fromisoformat(value).timestamp()


@contextlib.asynccontextmanager
async def bystander(gw: Gateway, client: httpx.AsyncClient) -> AsyncIterator[None]:
    """A viewer of another session, connected before the body; after it, it still gets a publish."""
    session = await new_session(client, gw)
    async with viewer(gw, session["token"]) as ws:
        await receive_info(ws)
        yield
        assert (await client.get("/health")).status_code == 200
        answer = await publish(client, gw, session["token"])
        assert answer["delivered"] == 1
        message = await receive(ws)
        assert message["type"] == "PAYMENT_DATA", message
        assert message["payload"]["seq"] == answer["seq"]


def expected_payload(seq: int, data: dict[str, Any]) -> dict[str, Any]:
    """What viewers receive for a valid ``data`` of :func:`gatewayproc.payment`."""
    return {"seq": seq, "currency": "VND", **data}


# --- 1. SESSION_INFO ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/ws"])
async def test_session_info_is_the_first_message(
    client: httpx.AsyncClient, gateway: Gateway, path: str
) -> None:
    """The first message is SESSION_INFO {sessionId, connectedAt, expiresAt, hasData}, no token."""
    session = await new_session(client, gateway)
    token = session["token"]
    before = time.time()
    async with viewer(gateway, token, path=path) as ws:
        raw, message = await receive_raw(ws)
        after = time.time()
        assert message["type"] == "SESSION_INFO"
        assert set(message) == {"type", "ts", "payload"}
        info = message["payload"]
        assert set(info) == SESSION_INFO_KEYS
        assert info["sessionId"] == session["sessionId"]
        assert info["expiresAt"] == session["expiresAt"]
        assert info["hasData"] is False
        assert before - 1 <= parse_time(info["connectedAt"]) <= after + 1
        # Nor any part of it: permessage-deflate must not mix the secret with other bytes.
        for part in token.split("."):
            assert part not in raw
        await assert_nothing_queued(ws)


# --- 2. late join --------------------------------------------------------------------------


async def test_late_joiner_gets_the_current_payment(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """After a publish, a new viewer gets SESSION_INFO (hasData) then the same PAYMENT_DATA."""
    session = await new_session(client, gateway)
    token = session["token"]
    data = payment(orderId="A-1024")
    # Sent untrimmed and decomposed; what is broadcast is trimmed and NFC.
    sent = {**data, "merchant": "  " + unicodedata.normalize("NFD", data["merchant"]) + " "}
    async with viewer(gateway, token) as live:
        await receive_info(live)
        answer = await publish(client, gateway, token, sent)
        live_message = await receive(live)
    assert live_message["type"] == "PAYMENT_DATA"
    assert live_message["payload"] == expected_payload(answer["seq"], data)

    async with viewer(gateway, token) as late:
        info = await receive_info(late)
        assert info["hasData"] is True
        message = await receive(late)
        assert message["type"] == "PAYMENT_DATA"
        assert message["payload"] == expected_payload(answer["seq"], data)
        await assert_nothing_queued(late)


# --- 3. client messages ---------------------------------------------------------------------


async def test_ping_gets_pong_and_bad_messages_get_error(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """PING gets PONG {}; non-JSON and unknown types get ERROR {code, message}, no echo, open."""
    session = await new_session(client, gateway)
    async with viewer(gateway, session["token"]) as ws:
        await receive_info(ws)
        await ws.send(json.dumps({"type": "PING"}))
        pong = await receive(ws)
        assert pong["type"] == "PONG"
        assert pong["payload"] == {}

        bad_inputs = [
            "not json <script>MARKER-one</script>",
            json.dumps({"type": "MARKER-two"}),
            json.dumps(["MARKER-three"]),
            json.dumps({"type": 5, "note": "MARKER-four"}),
        ]
        for bad in bad_inputs:
            await ws.send(bad)
            raw, error = await receive_raw(ws)
            assert error["type"] == "ERROR", error
            assert set(error["payload"]) == {"code", "message"}
            assert isinstance(error["payload"]["code"], str)
            assert isinstance(error["payload"]["message"], str)
            assert "MARKER" not in raw, f"ERROR echoes the client's input: {raw}"
            assert "script" not in raw
        await assert_nothing_queued(ws)


# --- 4. close codes ---------------------------------------------------------------------------


async def test_binary_frame_closes_1003(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """A binary frame closes the connection with 1003; other sessions carry on."""
    session = await new_session(client, gateway)
    async with bystander(gateway, client), viewer(gateway, session["token"]) as ws:
        await receive_info(ws)
        await ws.send(b"\x00\x01binary")
        code, received = await close_code(ws)
        assert code == 1003
        assert received == []


async def test_oversized_message_closes_1009(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """A text message over 4096 characters closes 1009; one of exactly 4096 is accepted."""
    session = await new_session(client, gateway)
    token = session["token"]
    async with bystander(gateway, client):
        async with viewer(gateway, token) as ws:
            await receive_info(ws)
            await ws.send("x" * 4096)  # at the limit: not JSON, so ERROR, and the connection stays
            assert (await receive(ws))["type"] == "ERROR"
            await ws.send("x" * 4097)
            code, received = await close_code(ws)
            assert code == 1009
            assert received == []
        await no_viewers_left(client, token, "the 1009")


async def test_message_limit_counts_characters_not_bytes(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """SPEC §4 counts text in characters: 3,002 characters (6,002 UTF-8 bytes) stay open."""
    session = await new_session(client, gateway)
    async with viewer(gateway, session["token"]) as ws:
        await receive_info(ws)
        await ws.send('"' + "é" * 3000 + '"')  # a JSON string, not an object: ERROR
        assert (await receive(ws))["type"] == "ERROR"
        await ws.send(json.dumps({"type": "PING"}))
        assert (await receive(ws))["type"] == "PONG"


async def test_oversized_fragmented_message_closes_1009(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """Fragments each under 4096 characters but over it together close 1009, and the TCP too.

    Deterministic: the three frames go out in one TLS record, so the server reads them at
    once; the client then answers the close frame and waits for the server to close TCP
    (RFC 6455 §7.1.1), as a browser does before it reports the close.
    """
    session = await new_session(client, gateway)
    token = session["token"]
    raw = RawViewer(gateway, token)
    async with bystander(gateway, client):
        try:
            await asyncio.to_thread(raw.open)
            message = (
                client_frame(0x1, b"x" * 3000, fin=False)
                + client_frame(0x0, b"x" * 3000, fin=False)
                + client_frame(0x0, b"", fin=True)
            )
            assert await asyncio.to_thread(raw.answer_close, message, 1009) == 1009
            assert [m["type"] for m in raw.texts()] == ["SESSION_INFO"]
        finally:
            raw.close()
        await no_viewers_left(client, token, "the 1009")


TOKEN_CASES: dict[str, Callable[[Gateway, str, str], str | None]] = {
    "missing": lambda gw, sid, token: None,
    "empty": lambda gw, sid, token: "",
    "malformed": lambda gw, sid, token: "not-a-jwt",
    "three_garbage_parts": lambda gw, sid, token: "abc.def.ghi",
    "bad_signature": lambda gw, sid, token: tamper(token),
    "other_secret": lambda gw, sid, token: mint(gw, sid, secret=OTHER_SECRET),
    "unknown_kid": lambda gw, sid, token: mint(gw, sid, kid="nope"),
    "wrong_typ": lambda gw, sid, token: mint(gw, sid, typ="JWT"),
    "wrong_aud": lambda gw, sid, token: mint(gw, sid, aud="someone-else"),
    "wrong_iss": lambda gw, sid, token: mint(gw, sid, iss="https://evil.example"),
    "alg_not_allowed": lambda gw, sid, token: mint(gw, sid, alg="HS512"),
    "not_yet_valid": lambda gw, sid, token: mint(gw, sid, iat=int(time.time()) + 300),
}


@pytest.mark.parametrize("case", list(TOKEN_CASES))
async def test_invalid_token_closes_4401(
    client: httpx.AsyncClient, gateway: Gateway, case: str
) -> None:
    """A missing, malformed, badly signed or wrongly claimed token is closed with 4401."""
    session = await new_session(client, gateway)
    token = TOKEN_CASES[case](gateway, session["sessionId"], session["token"])
    async with bystander(gateway, client), viewer(gateway, token) as ws:
        code, received = await close_code(ws)
        assert code == 4401
        assert received == []


async def test_unknown_session_closes_4404(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """A validly signed token naming an unknown session is closed with 4404."""
    token = mint(gateway, str(uuid.uuid4()))
    async with bystander(gateway, client), viewer(gateway, token) as ws:
        code, received = await close_code(ws)
        assert code == 4404
        assert received == []


async def test_expired_token_closes_4410(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """A validly signed token whose exp passed is closed with 4410."""
    session = await new_session(client, gateway)
    now = int(time.time())
    token = mint(gateway, session["sessionId"], iat=now - 120, exp=now - 60)
    async with bystander(gateway, client), viewer(gateway, token) as ws:
        code, received = await close_code(ws)
        assert code == 4410
        assert received == []


async def test_full_session_closes_4403(start_gateway: StartGateway) -> None:
    """A viewer over max_viewers_per_session is closed with 4403; the others keep receiving."""
    gw = start(start_gateway, {"sessions": {"max_viewers_per_session": 2}})
    async with http(gw) as client:
        session = await new_session(client, gw)
        token = session["token"]
        async with (
            bystander(gw, client),
            viewer(gw, token) as first,
            viewer(gw, token) as second,
        ):
            await receive_info(first)
            await receive_info(second)
            async with viewer(gw, token) as third:
                code, received = await close_code(third)
                assert code == 4403
                assert received == []
            # The refused viewer took no place.
            viewers = await poll(
                lambda: session_info(client, token),
                lambda info: info["viewers"] == 2,
                TIMEOUT,
                "viewer count",
            )
            assert viewers["viewers"] == 2
            answer = await publish(client, gw, token)
            assert answer["delivered"] == 2
            for ws in (first, second):
                message = await receive(ws)
                assert message["type"] == "PAYMENT_DATA"
                assert message["payload"]["seq"] == answer["seq"]


REFUSED_ORIGINS: dict[str, Callable[[Gateway], str]] = {
    "other_site": lambda gw: "https://evil.example",
    "null": lambda gw: "null",
    "other_scheme": lambda gw: f"http://localhost:{gw.port}",
    "other_port": lambda gw: f"https://localhost:{gw.port + 1}",
    "default_port": lambda gw: "https://localhost",
    "subdomain": lambda gw: f"https://evil.localhost:{gw.port}",
}


@pytest.mark.parametrize("case", list(REFUSED_ORIGINS))
async def test_foreign_origin_is_refused_403(
    client: httpx.AsyncClient, gateway: Gateway, case: str
) -> None:
    """An Origin other than the gateway's own (or an allowed one) gets HTTP 403 at the handshake."""
    session = await new_session(client, gateway)
    async with bystander(gateway, client):
        with pytest.raises(InvalidStatus) as info:
            async with viewer(gateway, session["token"], origin=REFUSED_ORIGINS[case](gateway)):
                pass
        assert info.value.response.status_code == 403


@pytest.mark.parametrize("own_origin", [True, False], ids=["own_origin", "no_origin"])
async def test_own_origin_and_no_origin_are_allowed(
    client: httpx.AsyncClient, gateway: Gateway, own_origin: bool
) -> None:
    """The gateway's own origin (its viewer page) and a request without Origin are accepted."""
    session = await new_session(client, gateway)
    origin = gateway.base if own_origin else None
    async with viewer(gateway, session["token"], origin=origin) as ws:
        info = await receive_info(ws)
        assert info["sessionId"] == session["sessionId"]


# --- 5. PAYMENT_CLEARED ------------------------------------------------------------------------


async def test_clear_broadcasts_and_drops_the_data(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """Clear sends PAYMENT_CLEARED {seq, reason}; late joiners then get hasData false, no data."""
    session = await new_session(client, gateway)
    token = session["token"]
    async with viewer(gateway, token) as ws:
        await receive_info(ws)
        published = await publish(client, gateway, token)
        assert published["seq"] == 1
        assert (await receive(ws))["type"] == "PAYMENT_DATA"

        cleared = await clear(client, gateway, token, "paid")
        assert cleared == {
            "ok": True,
            "sessionId": session["sessionId"],
            "delivered": 1,
            "seq": published["seq"] + 1,
        }
        message = await receive(ws)
        assert message["type"] == "PAYMENT_CLEARED"
        assert message["payload"] == {"seq": cleared["seq"], "reason": "paid"}

        assert (await session_info(client, token))["hasData"] is False
        async with viewer(gateway, token) as late:
            assert (await receive_info(late))["hasData"] is False
            await assert_nothing_queued(late)

        # A clear without data still answers and broadcasts; the reason defaults to cancelled.
        again = await clear(client, gateway, token)
        assert again["seq"] == cleared["seq"] + 1
        assert again["delivered"] == 1
        message = await receive(ws)
        assert message["payload"] == {"seq": again["seq"], "reason": "cancelled"}


# --- 6. expiry and linger -----------------------------------------------------------------------


async def test_session_expiry_reaches_viewers_connections_and_publishes(
    start_gateway: StartGateway,
) -> None:
    """At expiry a viewer gets SESSION_EXPIRED then 4410; new viewers get 4410, publishes 410."""
    gw = start(
        start_gateway,
        {"sessions": {"ttl_seconds": 2, "sweep_interval_seconds": 0.5, "data_linger_seconds": 1}},
    )
    async with http(gw) as client:
        session = await new_session(client, gw)
        token = session["token"]
        expires_at = parse_time(session["expiresAt"])
        async with viewer(gw, token) as ws:
            await receive_info(ws)
            message = await receive(ws, expires_at - time.time() + TIMEOUT)
            arrived = time.time()
            assert message["type"] == "SESSION_EXPIRED", message
            assert message["payload"] == {
                "sessionId": session["sessionId"],
                "expiredAt": session["expiresAt"],
            }
            assert expires_at - 0.5 <= arrived <= expires_at + 5
            code, received = await close_code(ws)
            assert code == 4410
            assert received == []

        async with viewer(gw, token) as late:
            code, received = await close_code(late)
            assert code == 4410
            assert received == []

        response = await post_payment(client, gw, token)
        assert response.status_code == 410, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 410


LINGER = {"sessions": {"ttl_seconds": 60, "sweep_interval_seconds": 0.5, "data_linger_seconds": 1}}


async def test_data_is_dropped_after_the_linger_without_viewers(
    start_gateway: StartGateway,
) -> None:
    """With no viewer, data is dropped between data_linger and data_linger + one sweep later."""
    gw = start(start_gateway, LINGER)
    linger = LINGER["sessions"]["data_linger_seconds"]
    sweep = LINGER["sessions"]["sweep_interval_seconds"]
    async with http(gw) as client:
        session = await new_session(client, gw)
        token = session["token"]
        started = time.monotonic()
        await publish(client, gw, token)
        await poll(
            lambda: session_info(client, token),
            lambda info: info["hasData"] is False,
            linger + sweep + TIMEOUT,
            "hasData after the linger",
        )
        elapsed = time.monotonic() - started
        assert elapsed >= linger, f"data dropped {elapsed:.2f} s after the publish"
        assert elapsed <= linger + sweep + 2, f"data kept {elapsed:.2f} s after the publish"
        async with viewer(gw, token) as late:
            assert (await receive_info(late))["hasData"] is False
            await assert_nothing_queued(late)


async def test_data_is_kept_while_a_viewer_is_connected(start_gateway: StartGateway) -> None:
    """While a viewer stays connected the data outlives the linger; it lingers after it leaves."""
    gw = start(start_gateway, LINGER)
    linger = LINGER["sessions"]["data_linger_seconds"]
    sweep = LINGER["sessions"]["sweep_interval_seconds"]
    async with http(gw) as client:
        session = await new_session(client, gw)
        token = session["token"]
        async with viewer(gw, token) as ws:
            await receive_info(ws)
            answer = await publish(client, gw, token)
            assert (await receive(ws))["type"] == "PAYMENT_DATA"
            # Watch the whole window in which an unwatched session would lose its data.
            deadline = time.monotonic() + linger + 3 * sweep
            while time.monotonic() < deadline:
                assert (await session_info(client, token))["hasData"] is True
                await asyncio.sleep(0.1)
            async with viewer(gw, token) as late:
                assert (await receive_info(late))["hasData"] is True
                message = await receive(late)
                assert message["type"] == "PAYMENT_DATA"
                assert message["payload"]["seq"] == answer["seq"]
        left = time.monotonic()
        await poll(
            lambda: session_info(client, token),
            lambda info: info["hasData"] is False,
            linger + sweep + TIMEOUT,
            "hasData after the last viewer left",
        )
        elapsed = time.monotonic() - left
        # The linger restarts when the last viewer leaves (the publish was long before);
        # 0.25 s covers the server noticing the leave a little before the client's close returned.
        assert elapsed >= linger - 0.25, f"data dropped {elapsed:.2f} s after the viewer left"
        assert elapsed <= linger + sweep + 2, f"data kept {elapsed:.2f} s after the viewer left"


# --- 7. fan-out ---------------------------------------------------------------------------------


async def test_fan_out_to_200_viewers_in_20_sessions(start_gateway: StartGateway) -> None:
    """200 viewers in 20 sessions each get exactly their session's 3 publishes, once, in order."""
    sessions_count, per_session, publishes = 20, 10, 3
    gw = start(start_gateway, {"sessions": {"max_viewers_per_session": per_session}})
    async with http(gw) as client, contextlib.AsyncExitStack() as stack:
        sessions = await asyncio.gather(*(new_session(client, gw) for _ in range(sessions_count)))
        gate = asyncio.Semaphore(50)  # under Hypercorn's listen backlog of 100

        async def join(token: str) -> ClientConnection:
            async with gate:
                ws: ClientConnection = await stack.enter_async_context(viewer(gw, token))
                await receive_info(ws)
                return ws

        viewers = await asyncio.gather(
            *(join(s["token"]) for s in sessions for _ in range(per_session))
        )

        async def collect(ws: ClientConnection) -> list[dict[str, Any]]:
            return [await receive(ws, 30) for _ in range(publishes)]

        collectors = [asyncio.create_task(collect(ws)) for ws in viewers]

        async def publish_all(index: int, token: str) -> list[dict[str, Any]]:
            sent = []
            for n in range(publishes):
                data = payment(amount=1000 * (index + 1) + n)
                answer = await publish(client, gw, token, data)
                assert answer["delivered"] == per_session, answer
                sent.append({"type": "PAYMENT_DATA", "payload": expected_payload(n + 1, data)})
                assert answer["seq"] == n + 1
            return sent

        expected = await asyncio.gather(
            *(publish_all(i, s["token"]) for i, s in enumerate(sessions))
        )
        async with asyncio.timeout(30):
            received = await asyncio.gather(*collectors)
        for i, messages in enumerate(received):
            got = [{"type": m["type"], "payload": m["payload"]} for m in messages]
            assert got == expected[i // per_session], f"viewer {i}"
        # Nothing more was queued for anyone: no duplicates, nothing from other sessions.
        await asyncio.gather(*(assert_nothing_queued(ws) for ws in viewers))


# --- 8. slow consumer -----------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def big_png_data_uri(size: int = 200_000) -> str:
    """A PNG of about ``size`` bytes of incompressible pixels, as a data URI."""
    header = struct.pack(">IIBBBBB", 256, 256, 8, 2, 0, 0, 0)
    pixels = zlib.compress(os.urandom(size), 0)  # stored blocks: valid zlib, no smaller
    png = (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode()


def client_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One masked client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = bytes([(0x80 if fin else 0) | opcode, 0x80 | length])
    elif length < 1 << 16:
        head = bytes([(0x80 if fin else 0) | opcode, 0x80 | 126]) + struct.pack(">H", length)
    else:
        head = bytes([(0x80 if fin else 0) | opcode, 0x80 | 127]) + struct.pack(">Q", length)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@dataclass
class RawViewer:
    """A hand-made WebSocket client over TLS with a tiny receive buffer that reads on demand.

    Its blocking methods run in a thread (``asyncio.to_thread``).
    """

    gw: Gateway
    token: str
    #: SO_RCVBUF for the TCP socket; None leaves the system default.
    rcvbuf: int | None = None
    sock: Any = None
    buffer: bytes = b""
    frames: list[tuple[int, bytes]] = field(default_factory=list)

    def open(self) -> None:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.rcvbuf is not None:
            # Before connect, so the TCP window scale is agreed for the small buffer.
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        raw.settimeout(TIMEOUT)
        try:
            raw.connect(("127.0.0.1", self.gw.port))
            self.sock = self.gw.ssl_context.wrap_socket(raw, server_hostname="localhost")
        except BaseException:
            raw.close()
            raise
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /?token={self.token} HTTP/1.1\r\n"
            f"Host: localhost:{self.gw.port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        assert status.startswith("HTTP/1.1 101"), head
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        digest = hashlib.sha1((key + WS_GUID).encode()).digest()  # noqa: S324 (RFC 6455 §4.2.2)
        assert headers.get("sec-websocket-accept") == base64.b64encode(digest).decode(), head

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the TCP connection")
        self.buffer += chunk

    def _next_frame(self) -> tuple[int, bytes] | None:
        """Parse one unmasked server frame off the buffer (RFC 6455 §5.2), if complete."""
        buf = self.buffer
        if len(buf) < 2:
            return None
        opcode, length, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
        assert not buf[1] & 0x80, "server frames are never masked"
        if length == 126:
            if len(buf) < 4:
                return None
            (length,) = struct.unpack(">H", buf[2:4])
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,) = struct.unpack(">Q", buf[2:10])
            offset = 10
        if len(buf) < offset + length:
            return None
        self.buffer = buf[offset + length :]
        return opcode, buf[offset : offset + length]

    def read_until_close(self, seconds: float) -> int:
        """Read everything the server sent until its close frame; return the close code."""
        deadline = time.monotonic() + seconds
        while True:
            frame = self._next_frame()
            if frame is None:
                assert time.monotonic() < deadline, "no close frame in time"
                self._fill()
                continue
            self.frames.append(frame)
            if frame[0] == 0x8:
                (code,) = struct.unpack(">H", frame[1][:2])
                return int(code)

    def wait_eof(self, seconds: float) -> None:
        """Wait for the server to close the connection, discarding anything it still sends."""
        self.sock.settimeout(seconds)
        deadline = time.monotonic() + seconds
        try:
            while self.sock.recv(65536):
                assert time.monotonic() < deadline, "the server keeps sending"
        except TimeoutError:
            raise AssertionError(
                f"the server sent its close frame and got ours, but kept the TCP connection "
                f"open for {seconds} s"
            ) from None
        except (ssl.SSLError, ConnectionError):
            pass  # closed without close_notify: closed all the same

    def answer_close(self, data: bytes, reply: int) -> int:
        """Send ``data``, read up to the server's close frame, answer it with ``reply`` and
        wait for the server to close TCP (RFC 6455 §7.1.1); return the server's code."""
        self.sock.sendall(data)
        code = self.read_until_close(TIMEOUT)
        self.sock.sendall(client_frame(0x8, struct.pack(">H", reply)))
        self.wait_eof(CLOSE_SECONDS)
        return code

    def texts(self) -> list[dict[str, Any]]:
        """The text messages received (the gateway sends each in one frame)."""
        return [json.loads(data) for opcode, data in self.frames if opcode == 0x1]

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


async def test_frames_after_the_close_are_drained_and_tcp_is_released(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A binary frame and 30 more frames in one write: 1003, and once the client answers
    the close, the server still closes TCP (Hypercorn hands frames to the app through a
    queue of 10: frames nobody takes would hold the connection forever)."""
    session = await new_session(client, gateway)
    token = session["token"]
    raw = RawViewer(gateway, token)
    async with bystander(gateway, client):
        try:
            await asyncio.to_thread(raw.open)
            ping = client_frame(0x1, json.dumps({"type": "PING"}).encode())
            burst = client_frame(0x2, b"\x00") + ping * 30
            assert await asyncio.to_thread(raw.answer_close, burst, 1000) == 1003
        finally:
            raw.close()
        await no_viewers_left(client, token, "the 1003")


async def test_slow_consumer_is_closed_4408_and_others_get_everything(
    start_gateway: StartGateway,
) -> None:
    """A viewer that never reads is closed with 4408; a reading viewer gets every publish in order.

    Deterministic, not timed: the reading viewer is awaited for each seq before the next
    publish, so its queue never holds more than one message. The raw viewer never reads
    and its receive window is tiny, so at most its receive buffer, the server's kernel send
    buffer (tcp_wmem max, 4 MiB here) and asyncio's write buffer (64 KiB high-water mark)
    can be in flight; then the gateway's writer blocks, the 2-slot queue fills, and the
    next publish overflows it, whatever the timing: about 25 publishes of 200 KB at most,
    within the 60 allowed.
    """
    gw = start(start_gateway, {"websocket": {"send_queue_size": 2}})
    qr = big_png_data_uri()
    async with http(gw) as client:
        session = await new_session(client, gw)
        token = session["token"]
        slow = RawViewer(gw, token, rcvbuf=4096)
        try:
            await asyncio.to_thread(slow.open)
            async with viewer(gw, token) as reader:
                await receive_info(reader)
                await poll(
                    lambda: session_info(client, token),
                    lambda info: info["viewers"] == 2,
                    TIMEOUT,
                    "viewer count",
                )
                delivered: list[int] = []
                for n in range(1, 61):
                    answer = await publish(client, gw, token, payment(qrCode=qr))
                    assert answer["seq"] == n
                    delivered.append(answer["delivered"])
                    message = await receive(reader)
                    assert message["type"] == "PAYMENT_DATA"
                    assert message["payload"]["seq"] == n, "the reading viewer missed a publish"
                    assert message["payload"]["qrCode"] == qr
                    if answer["delivered"] == 1:
                        break
                # Whatever the delivered counts said, the raw viewer must end with 4408.
                code = await asyncio.to_thread(slow.read_until_close, TIMEOUT)
                messages = slow.texts()
            assert code == 4408
            assert messages[0]["type"] == "SESSION_INFO"
            assert all(m["type"] == "PAYMENT_DATA" for m in messages[1:])
            seqs = [m["payload"]["seq"] for m in messages[1:]]
            assert seqs == list(range(1, len(seqs) + 1)), "the slow viewer got a gap"
            assert delivered[0] == 2
            assert delivered[-1] == 1, (
                f"delivered never dropped to 1 in {len(delivered)} publishes, though the slow "
                f"viewer was sent only seq 1..{len(seqs)} before its 4408: {delivered}"
            )
            assert delivered == [2] * (len(delivered) - 1) + [1]
            assert len(seqs) < len(delivered)
        finally:
            slow.close()


# --- 9. drain -------------------------------------------------------------------------------------


async def test_sigterm_closes_viewers_1001_and_exits_0(start_gateway: StartGateway) -> None:
    """On SIGTERM the gateway closes every viewer with 1001 and exits 0 within 10 s."""
    gw = start_gateway()  # the default ping interval: see start()
    async with http(gw) as client:
        sessions = [await new_session(client, gw) for _ in range(2)]
    async with contextlib.AsyncExitStack() as stack:
        viewers = []
        for session in sessions:
            for _ in range(2):
                ws = await stack.enter_async_context(viewer(gw, session["token"]))
                await receive_info(ws)
                viewers.append(ws)
        closes = [asyncio.create_task(close_code(ws, 15)) for ws in viewers]
        started = time.monotonic()
        # In a thread, so that this loop answers the close handshakes meanwhile.
        exit_code = await asyncio.to_thread(gw.stop)
        elapsed = time.monotonic() - started
        results = await asyncio.gather(*closes)
    assert [code for code, _ in results] == [1001] * len(viewers)
    assert all(received == [] for _, received in results)
    assert exit_code == 0, gw.output()[-2000:]
    assert elapsed < 10, f"exit took {elapsed:.1f} s"


# --- 10. disconnects ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "abort"])
async def test_viewer_disconnect_is_noticed(
    client: httpx.AsyncClient, gateway: Gateway, how: str
) -> None:
    """A viewer that closes, or drops TCP without a close frame, no longer counts as a viewer."""
    session = await new_session(client, gateway)
    token = session["token"]
    async with viewer(gateway, token) as ws:
        await receive_info(ws)
        assert (await session_info(client, token))["viewers"] == 1
        if how == "close":
            await ws.close()
        else:
            ws.transport.abort()
    await no_viewers_left(client, token, "the disconnect")
