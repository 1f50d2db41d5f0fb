"""End-to-end: the viewer socket's transport against a real `gateway serve` (SPEC §11.4).

What Hypercorn did unpatched and the gateway no longer does: a client that ignores the
gateway's close frame was never released; a message announcing 2^62 bytes was held
until the idle timeout; protocol errors ended without a close frame; `Upgrade: h2c`
switched a TLS connection to HTTP/2. Each test sends the bad input from a hand-made
client and checks that a bystander viewer of another session carried on.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from .gatewayproc import Gateway
from .wsclient import (
    TIMEOUT,
    RawViewer,
    StartGateway,
    bystander,
    client_frame,
    no_viewers_left,
    start,
)

#: The closing-handshake deadline of the gateways started here (the default is 5 s).
CLOSE_TIMEOUT = 1.0
#: How long after its close frame the gateway may take to close TCP: the deadline, plus
#: a wide margin for a loaded machine (a gateway without the deadline never closes).
CUT_OFF_WITHIN = CLOSE_TIMEOUT + 4.0
PING = client_frame(0x1, json.dumps({"type": "PING"}).encode())


def quick_close(start_gateway: StartGateway, **sections: dict[str, Any]) -> Gateway:
    """A gateway whose closing handshake times out after CLOSE_TIMEOUT."""
    overrides: dict[str, dict[str, Any]] = {k: dict(v) for k, v in sections.items()}
    overrides.setdefault("websocket", {})["close_timeout_seconds"] = CLOSE_TIMEOUT
    return start(start_gateway, overrides)


@dataclass
class Ignored:
    """What a client that never answers the close frame saw."""

    code: int
    #: Seconds from the gateway's close frame to the end of the TCP connection.
    cut_off_after: float


def ignore_close(raw: RawViewer, first: bytes, *, keep_sending: bytes) -> Ignored:
    """Send ``first``, read up to the server's close frame, then never answer it: send
    ``keep_sending`` every 0.1 s (keeping the idle timeout away) until the server closes
    the TCP connection, which it must do within CUT_OFF_WITHIN."""
    if first:
        raw.sock.sendall(first)
    code = raw.read_until_close(TIMEOUT)
    closed_at = time.monotonic()
    raw.sock.settimeout(0.1)
    while True:
        elapsed = time.monotonic() - closed_at
        assert elapsed < CUT_OFF_WITHIN, f"TCP still open {elapsed:.1f} s after the close frame"
        try:
            raw.sock.sendall(keep_sending)
            if raw.sock.recv(65536) == b"":
                break
        except TimeoutError:
            continue
        except (ssl.SSLError, ConnectionError):
            break
    return Ignored(code, time.monotonic() - closed_at)


# --- the closing handshake is bounded (RFC 6455 §7.1.1) ---------------------------------------


CAUSES = {
    # name: (how the client provokes the close, what it sends once the close frame is out)
    "4401 bad token": ("bad-token", b""),
    "1003 binary frame": ("valid", client_frame(0x2, b"\x00")),
    "4429 message flood": ("valid", PING * 25),
}


@pytest.mark.parametrize("cause", sorted(CAUSES))
@pytest.mark.parametrize("keeps_sending", ["pings", "messages"])
async def test_a_client_that_ignores_the_close_frame_is_cut_off(
    start_gateway: StartGateway, cause: str, keeps_sending: str
) -> None:
    """After the gateway's close frame, a client that never answers it and keeps sending
    WebSocket pings (or messages) loses the TCP connection at the closing-handshake
    deadline, and stops counting as a viewer at once."""
    gw = quick_close(start_gateway, rate_limits={"ws_messages_per_connection": "20/10 seconds"})
    how, first = CAUSES[cause]
    keep = client_frame(0x9, b"hi") if keeps_sending == "pings" else PING
    async with gw.client() as client, bystander(gw, client):
        session = await client.new_session()
        token = session["token"] if how == "valid" else session["token"][:-4] + "AAAA"
        raw = RawViewer(gw, token)
        try:
            await asyncio.to_thread(raw.open)
            outcome = await asyncio.to_thread(ignore_close, raw, first, keep_sending=keep)
        finally:
            raw.close()
        assert outcome.code == int(cause.split()[0])
        assert outcome.cut_off_after >= CLOSE_TIMEOUT * 0.5, "closed before the client could answer"
        assert (await client.session_info(session["token"]))["viewers"] == 0


async def test_connections_closed_4403_do_not_pile_up(start_gateway: StartGateway) -> None:
    """A full session's refusals (4403) that the client ignores are each cut off at the
    deadline: one address cannot hold connections past max_viewers_per_session."""
    gw = quick_close(start_gateway, sessions={"max_viewers_per_session": 1})
    async with gw.client() as client:
        session = await client.new_session()
        keeper = RawViewer(gw, session["token"])
        refused = [RawViewer(gw, session["token"]) for _ in range(4)]
        try:
            await asyncio.to_thread(keeper.open)
            for raw in refused:
                await asyncio.to_thread(raw.open)
            outcomes = await asyncio.gather(
                *(
                    asyncio.to_thread(ignore_close, raw, b"", keep_sending=client_frame(0x9, b""))
                    for raw in refused
                )
            )
            assert [o.code for o in outcomes] == [4403] * 4
            assert (await client.session_info(session["token"]))["viewers"] == 1
        finally:
            for raw in (keeper, *refused):
                raw.close()


async def test_a_client_that_answers_the_close_is_released_at_once(
    start_gateway: StartGateway,
) -> None:
    """The TCP connection closes as soon as the client's close frame arrives, long before
    the closing-handshake deadline (5 s by default)."""
    gw = start(start_gateway, {})
    async with gw.client() as client:
        session = await client.new_session()
        raw = RawViewer(gw, session["token"])
        try:
            await asyncio.to_thread(raw.open)
            started = time.monotonic()
            code = await asyncio.to_thread(raw.answer_close, client_frame(0x2, b"\x00"), 1000)
            assert code == 1003
            assert time.monotonic() - started < 4.0, "TCP was held until the deadline"
        finally:
            raw.close()


# --- messages over the limit are closed as they arrive (§11.4) --------------------------------


def announce(opcode: int, length: int, payload: bytes) -> bytes:
    """A masked frame header announcing ``length`` bytes, followed by ``payload`` only."""
    mask = b"\x01\x02\x03\x04"
    head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack(">Q", length) + mask
    return head + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


ANNOUNCED = {
    "ascii text": (0x1, b"a" * (4 * 4096 + 16)),
    "4-byte characters": (0x1, "\U0001f600".encode() * 4100),
    "binary": (0x2, b"\x00" * (4 * 4096 + 16)),
}


@pytest.mark.parametrize("kind", sorted(ANNOUNCED))
async def test_a_frame_announcing_2_62_bytes_is_closed_1009_once_the_limit_is_passed(
    gateway: Gateway, client: httpx.AsyncClient, kind: str
) -> None:
    """A frame that announces 2^62 bytes is closed 1009 once 4 × max_message_bytes bytes of it
    arrived (no text of that many bytes fits in 4096 characters), without waiting for the
    rest; the viewer stops counting before the client even answers."""
    opcode, payload = ANNOUNCED[kind]
    async with bystander(gateway, client):
        session = await client.new_session()
        raw = RawViewer(gateway, session["token"])
        try:
            await asyncio.to_thread(raw.open)
            await asyncio.to_thread(raw.sock.sendall, announce(opcode, 2**62, payload))
            code = await asyncio.to_thread(raw.read_until_close, TIMEOUT)
            assert code == 1009
            await no_viewers_left(client, session["token"], "the 1009")
            raw.sock.sendall(client_frame(0x8, struct.pack(">H", 1009)))
            await asyncio.to_thread(raw.wait_eof, TIMEOUT)
        finally:
            raw.close()


# --- protocol errors get their close code (RFC 6455 §7.4.1) -----------------------------------


def unmasked(opcode: int, payload: bytes) -> bytes:
    return bytes([0x80 | opcode, len(payload)]) + payload


VIOLATIONS = {
    "invalid UTF-8 text": (client_frame(0x1, b"\xff\xfe"), 1007),
    "invalid UTF-8 in fragments": (
        client_frame(0x1, b"\xe2\x82", fin=False) + client_frame(0x0, b"\x28"),
        1007,
    ),
    "RSV1 without an extension": (bytes([0xC1]) + client_frame(0x1, b"{}")[1:], 1002),
    "unmasked client frame": (unmasked(0x1, b"{}"), 1002),
    "reserved opcode 0x3": (client_frame(0x3, b""), 1002),
    "fragmented ping": (client_frame(0x9, b"", fin=False), 1002),
    "close code 999": (client_frame(0x8, struct.pack(">H", 999)), 1002),
    "close code 1005 on the wire": (client_frame(0x8, struct.pack(">H", 1005)), 1002),
    "close frame of one byte": (client_frame(0x8, b"\x03"), 1002),
    "continuation without a start": (client_frame(0x0, b"x"), 1002),
}


@pytest.mark.parametrize("violation", sorted(VIOLATIONS))
async def test_protocol_errors_are_closed_with_their_code(
    gateway: Gateway, client: httpx.AsyncClient, violation: str
) -> None:
    """A frame that breaks RFC 6455 gets a close frame with 1002 (or 1007 for bad UTF-8)
    before the TCP connection ends; the viewer is released and others carry on."""
    frame, expected = VIOLATIONS[violation]
    async with bystander(gateway, client):
        session = await client.new_session()
        raw = RawViewer(gateway, session["token"])
        try:
            await asyncio.to_thread(raw.open)
            await asyncio.to_thread(raw.sock.sendall, frame)
            assert await asyncio.to_thread(raw.read_until_close, TIMEOUT) == expected
            await asyncio.to_thread(raw.wait_eof, TIMEOUT)
        finally:
            raw.close()
        await no_viewers_left(client, session["token"], violation)


# --- HTTP/1.1 only (§11.4) ----------------------------------------------------------------------

H2C_UPGRADE = (
    b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
)
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def exchange(gw: Gateway, data: bytes, *, tls: bool) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers until it closes
    the connection or is quiet for a second."""
    raw = socket.create_connection(("127.0.0.1", gw.port), timeout=TIMEOUT)
    try:
        sock = gw.ssl_context.wrap_socket(raw, server_hostname="localhost") if tls else raw
    except BaseException:
        raw.close()
        raise
    with sock:
        sock.sendall(data)
        sock.settimeout(1.0)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ssl.SSLError, ConnectionError):
            pass
    return answer


async def test_an_h2c_upgrade_is_answered_over_http_1_1(gateway: Gateway) -> None:
    """`Upgrade: h2c` on the TLS port gets the resource over HTTP/1.1, never 101."""
    answer = await asyncio.to_thread(exchange, gateway, H2C_UPGRADE, tls=True)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"101" not in answer.split(b"\r\n", 1)[0]
    assert answer.endswith(b'{"status":"ok"}')


async def test_http2_prior_knowledge_is_refused(gateway: Gateway) -> None:
    """The HTTP/2 connection preface gets an HTTP/1.1 400, not an HTTP/2 SETTINGS frame."""
    answer = await asyncio.to_thread(exchange, gateway, H2_PREFACE, tls=True)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"http-1-1-only" in answer


async def test_http2_is_refused_over_plain_http_too(start_gateway: StartGateway) -> None:
    """Behind a TLS-terminating proxy (no TLS here) neither h2c nor prior knowledge works."""
    gw = start_gateway(tls=False)
    upgrade = await asyncio.to_thread(exchange, gw, H2C_UPGRADE, tls=False)
    assert upgrade.startswith(b"HTTP/1.1 200"), upgrade[:200]
    preface = await asyncio.to_thread(exchange, gw, H2_PREFACE, tls=False)
    assert preface.startswith(b"HTTP/1.1 400"), preface[:200]


# --- replies are bounded by the message quota, not the send queue (§11.4) ---------------------


def read_texts(raw: RawViewer, count: int) -> list[dict[str, Any]]:
    """Read ``count`` text messages after SESSION_INFO; fail on a close frame."""
    texts: list[dict[str, Any]] = []
    raw.sock.settimeout(TIMEOUT)
    while len(texts) < count + 1:
        frame = raw._next_frame()
        if frame is None:
            raw._fill()
            continue
        opcode, data = frame
        assert opcode != 0x8, f"closed {struct.unpack('>H', data[:2])[0]} after {len(texts)}"
        if opcode == 0x1:
            texts.append(json.loads(data))
    return texts[1:]


async def test_a_ping_burst_within_the_quota_is_answered_not_closed_4408(
    start_gateway: StartGateway,
) -> None:
    """With a send queue of 2 and a quota of 20 messages, a viewer that reads promptly and
    sends 18 PINGs in one write gets 18 PONGs; the 21st message is 4429, never 4408."""
    gw = start(
        start_gateway,
        {
            "websocket": {"send_queue_size": 2},
            "rate_limits": {"ws_messages_per_connection": "20/10 seconds"},
        },
    )
    async with gw.client() as client, bystander(gw, client):
        session = await client.new_session()
        raw = RawViewer(gw, session["token"])
        try:
            await asyncio.to_thread(raw.open)
            raw.sock.sendall(PING * 18)
            answers = await asyncio.to_thread(read_texts, raw, 18)
            assert [m["type"] for m in answers] == ["PONG"] * 18
            code = await asyncio.to_thread(raw.answer_close, PING * 3, 1000)
            assert code == 4429
        finally:
            raw.close()


UNPARSEABLE = {
    "unknown transfer coding": (
        b"POST /api/payment HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
    ),
    "garbage request line": (b"GARBAGE\r\n\r\n", 400),
    "a header without a colon": (b"GET /health HTTP/1.1\r\nHost x\r\n\r\n", 400),
    "a request head over 16 KiB": (
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 17000,
        431,
    ),
}


@pytest.mark.parametrize("case", sorted(UNPARSEABLE))
async def test_a_request_the_http_layer_cannot_parse_gets_a_4xx_problem(
    gateway: Gateway, case: str
) -> None:
    """What h11 cannot parse is answered by the HTTP layer as a problem document, 4xx only
    (an unknown transfer coding would be 501 by RFC 9112; client input never gets a 5xx)."""
    data, status = UNPARSEABLE[case]
    answer = await asyncio.to_thread(exchange, gateway, data, tls=True)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d" % status), head
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == status
