"""End-to-end: the viewer WebSocket of SPEC §4 and §5 against a real `gateway serve` over TLS."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import struct
import time
import unicodedata
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from gateway import emvco
from gateway.schemas import PaymentDataPayload

from .gatewayproc import Gateway, mint, payment
from .wsclient import (
    TIMEOUT,
    RawViewer,
    StartGateway,
    assert_nothing_queued,
    bystander,
    client_frame,
    close_code,
    no_viewers_left,
    parse_time,
    poll,
    receive,
    receive_info,
    receive_raw,
    start,
    tamper,
    viewer,
)

PROBLEM = "application/problem+json"
SESSION_INFO_KEYS = {"sessionId", "connectedAt", "expiresAt", "hasData"}
OTHER_SECRET = "another-secret-" + "x" * 40
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def expected_payload(seq: int, data: dict[str, Any]) -> dict[str, Any]:
    """What viewers receive for a valid ``data`` of :func:`gatewayproc.payment`: its sample
    EMVCo code names no account template, so its payee is plain EMVCo with tag 59."""
    payee = {
        "provider": "EMVCO",
        "bankBin": None,
        "bankName": None,
        "account": None,
        "merchantName": "AN",
    }
    return {"seq": seq, "currency": "VND", **data, "payee": payee}


# --- 1. SESSION_INFO ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/ws"])
async def test_session_info_is_the_first_message(
    client: httpx.AsyncClient, gateway: Gateway, path: str
) -> None:
    """The first message is SESSION_INFO {sessionId, connectedAt, expiresAt, hasData}, no token."""
    session = await client.new_session()
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
    session = await client.new_session()
    token = session["token"]
    data = payment(orderId="A-1024")
    # Sent untrimmed and decomposed; what is broadcast is trimmed and NFC.
    sent = {**data, "merchant": "  " + unicodedata.normalize("NFD", data["merchant"]) + " "}
    async with viewer(gateway, token) as live:
        await receive_info(live)
        answer = await client.publish(token, sent)
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


def momo_multi_purpose(amount: int) -> str:
    """A MoMo "QR đa năng": VietQR to a 99MM… account at BVBank, with amount and purpose."""

    def tlv(*fields: tuple[str, str]) -> str:
        return "".join(f"{tag}{len(value):02d}{value}" for tag, value in fields)

    beneficiary = tlv(("00", "970454"), ("01", "99MM24011M34875080"))
    account = tlv(("00", "A000000727"), ("01", beneficiary), ("02", "QRIBFTTA"))
    return emvco.build(
        [("00", "01"), ("01", "12"), ("38", account), ("53", "704"), ("54", str(amount)),
         ("58", "VN"), ("59", "CUA HANG BINH"), ("62", tlv(("08", "Thanh toan don A-7")))]
    )  # fmt: skip


async def test_payment_data_carries_the_payee_the_qr_names(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A VietQR code's beneficiary reaches viewers as `payee` (live and on late join), read
    from the code, matching the documented PaymentDataPayload schema."""
    session = await client.new_session()
    token = session["token"]
    data = payment(qrCode=momo_multi_purpose(250000), amount=250000)
    expected_payee = {
        "provider": "MOMO",
        "bankBin": "970454",
        "bankName": "BVBank",
        "account": "••••5080",
        "merchantName": "CUA HANG BINH",
    }
    async with viewer(gateway, token) as live:
        await receive_info(live)
        await client.publish(token, data)
        message = await receive(live)
    assert message["payload"]["payee"] == expected_payee
    PaymentDataPayload.model_validate(message["payload"])
    async with viewer(gateway, token) as late:
        await receive_info(late)
        assert (await receive(late))["payload"]["payee"] == expected_payee
    png = await client.publish(token, payment(qrCode=big_png_data_uri(2_000)))
    async with viewer(gateway, token) as after:
        await receive_info(after)
        last = await receive(after)
    assert last["payload"]["seq"] == png["seq"]
    assert "payee" not in last["payload"]


# --- 3. client messages ---------------------------------------------------------------------


async def test_ping_gets_pong_and_bad_messages_get_error(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """PING gets PONG {}; non-JSON and unknown types get ERROR {code, message}, no echo, open."""
    session = await client.new_session()
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
    session = await client.new_session()
    async with bystander(gateway, client), viewer(gateway, session["token"]) as ws:
        await receive_info(ws)
        await ws.send(b"\x00\x01binary")
        code, received = await close_code(ws)
        assert code == 1003
        assert received == []


async def test_oversized_message_closes_1009(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """A text message over 4096 characters closes 1009; one of exactly 4096 is accepted."""
    session = await client.new_session()
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
    session = await client.new_session()
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
    session = await client.new_session()
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
    session = await client.new_session()
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
    session = await client.new_session()
    now = int(time.time())
    token = mint(gateway, session["sessionId"], iat=now - 120, exp=now - 60)
    async with bystander(gateway, client), viewer(gateway, token) as ws:
        code, received = await close_code(ws)
        assert code == 4410
        assert received == []


async def test_full_session_closes_4403(start_gateway: StartGateway) -> None:
    """A viewer over max_viewers_per_session is closed with 4403; the others keep receiving."""
    gw = start(start_gateway, {"sessions": {"max_viewers_per_session": 2}})
    async with gw.client() as client:
        session = await client.new_session()
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
                lambda: client.session_info(token),
                lambda info: info["viewers"] == 2,
                TIMEOUT,
                "viewer count",
            )
            assert viewers["viewers"] == 2
            answer = await client.publish(token)
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
    session = await client.new_session()
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
    session = await client.new_session()
    origin = gateway.base if own_origin else None
    async with viewer(gateway, session["token"], origin=origin) as ws:
        info = await receive_info(ws)
        assert info["sessionId"] == session["sessionId"]


# --- 5. PAYMENT_CLEARED ------------------------------------------------------------------------


async def test_clear_broadcasts_and_drops_the_data(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """Clear sends PAYMENT_CLEARED {seq, reason}; late joiners then get hasData false, no data."""
    session = await client.new_session()
    token = session["token"]
    async with viewer(gateway, token) as ws:
        await receive_info(ws)
        published = await client.publish(token)
        assert published["seq"] == 1
        assert (await receive(ws))["type"] == "PAYMENT_DATA"

        cleared = await client.clear(token, "paid")
        assert cleared == {
            "ok": True,
            "sessionId": session["sessionId"],
            "delivered": 1,
            "seq": published["seq"] + 1,
        }
        message = await receive(ws)
        assert message["type"] == "PAYMENT_CLEARED"
        assert message["payload"] == {"seq": cleared["seq"], "reason": "paid"}

        assert (await client.session_info(token))["hasData"] is False
        async with viewer(gateway, token) as late:
            assert (await receive_info(late))["hasData"] is False
            await assert_nothing_queued(late)

        # A clear without data still answers and broadcasts; the reason defaults to cancelled.
        again = await client.clear(token)
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
    async with gw.client() as client:
        session = await client.new_session()
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

        response = await client.post_payment(token)
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
    async with gw.client() as client:
        session = await client.new_session()
        token = session["token"]
        started = time.monotonic()
        await client.publish(token)
        await poll(
            lambda: client.session_info(token),
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
    async with gw.client() as client:
        session = await client.new_session()
        token = session["token"]
        async with viewer(gw, token) as ws:
            await receive_info(ws)
            answer = await client.publish(token)
            assert (await receive(ws))["type"] == "PAYMENT_DATA"
            # Watch the whole window in which an unwatched session would lose its data.
            deadline = time.monotonic() + linger + 3 * sweep
            while time.monotonic() < deadline:
                assert (await client.session_info(token))["hasData"] is True
                await asyncio.sleep(0.1)
            async with viewer(gw, token) as late:
                assert (await receive_info(late))["hasData"] is True
                message = await receive(late)
                assert message["type"] == "PAYMENT_DATA"
                assert message["payload"]["seq"] == answer["seq"]
        left = time.monotonic()
        await poll(
            lambda: client.session_info(token),
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
    async with gw.client() as client, contextlib.AsyncExitStack() as stack:
        sessions = await asyncio.gather(*(client.new_session() for _ in range(sessions_count)))
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
                answer = await client.publish(token, data)
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


async def test_frames_after_the_close_are_drained_and_tcp_is_released(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A binary frame and 30 more frames in one write: 1003, and once the client answers
    the close, the server still closes TCP (Hypercorn hands frames to the app through a
    queue of 10: frames nobody takes would hold the connection forever)."""
    session = await client.new_session()
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


async def test_every_viewer_of_a_well_behaved_client_is_handed_over(
    start_gateway: StartGateway,
) -> None:
    """A client that waits for the 101 before it speaks, as RFC 6455 §4.1 requires, is
    handed over to the gateway's socket (hypercorn_patches item 11): the count of
    viewers Hypercorn had to keep stays 0, and it is exported."""
    gw = start(start_gateway, {})
    async with gw.client() as client:
        session = await client.new_session()
        for _ in range(3):
            async with viewer(gw, session["token"]) as ws:
                await receive_info(ws)
                await ws.send(json.dumps({"type": "PING"}))
                assert (await receive(ws))["type"] == "PONG"
        response = await client.get("/metrics", headers={"X-API-Key": gw.key("stats")})
    assert "\ngateway_viewer_sockets_kept_total 0.0\n" in response.text


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
    async with gw.client() as client:
        session = await client.new_session()
        token = session["token"]
        slow = RawViewer(gw, token, rcvbuf=4096)
        try:
            await asyncio.to_thread(slow.open)
            async with viewer(gw, token) as reader:
                await receive_info(reader)
                await poll(
                    lambda: client.session_info(token),
                    lambda info: info["viewers"] == 2,
                    TIMEOUT,
                    "viewer count",
                )
                delivered: list[int] = []
                for n in range(1, 61):
                    answer = await client.publish(token, payment(qrCode=qr))
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
    async with gw.client() as client:
        sessions = [await client.new_session() for _ in range(2)]
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
    session = await client.new_session()
    token = session["token"]
    async with viewer(gateway, token) as ws:
        await receive_info(ws)
        assert (await client.session_info(token))["viewers"] == 1
        if how == "close":
            await ws.close()
        else:
            ws.transport.abort()
    await no_viewers_left(client, token, "the disconnect")
