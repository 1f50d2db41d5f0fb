"""WebSocket and HTTP helpers for end-to-end tests against a real `gateway serve`.

High-level clients (websockets, httpx) for most tests, and :class:`RawViewer`, a
hand-made client over TLS for the frames and timings a library will not produce.
"""

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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from .gatewayproc import Gateway, GatewayClient

StartGateway = Callable[..., Gateway]
T = TypeVar("T")

#: Generous bound for any single step; a healthy gateway answers in milliseconds.
TIMEOUT = 10.0
#: How long a closing handshake may take (the client itself gives up after TIMEOUT).
CLOSE_SECONDS = 5.0
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# --- gateways and HTTP helpers --------------------------------------------------------------


def start(start_gateway: StartGateway, overrides: dict[str, dict[str, Any]]) -> Gateway:
    """``start_gateway(overrides)``: a gateway of one test, with these settings."""
    return start_gateway({section: dict(values) for section, values in overrides.items()})


async def no_viewers_left(client: GatewayClient, token: str, after: str) -> None:
    """Wait until the session counts no viewer (the gateway released the last one)."""
    await poll(
        lambda: client.session_info(token),
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
async def bystander(gw: Gateway, client: GatewayClient) -> AsyncIterator[None]:
    """A viewer of another session, connected before the body; after it, it still gets a publish."""
    session = await client.new_session()
    async with viewer(gw, session["token"]) as ws:
        await receive_info(ws)
        yield
        assert (await client.get("/health")).status_code == 200
        answer = await client.publish(session["token"])
        assert answer["delivered"] == 1
        message = await receive(ws)
        assert message["type"] == "PAYMENT_DATA", message
        assert message["payload"]["seq"] == answer["seq"]


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
