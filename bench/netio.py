"""The load generator's network clients, written for low CPU per message.

- :class:`HttpPool`: keep-alive HTTP/1.1 connections (one request at a time on each,
  as browsers and undici do), at most ``size`` of them. A request is one
  ``transport.write`` and the response is parsed in ``data_received``: no task, no
  stream objects. httpx costs far more CPU per request and would itself have been
  the limit in the throughput scenario (measured: bench/README.md).
- :class:`ViewerPool` / :class:`Viewer`: WebSocket viewers as plain asyncio
  protocols (RFC 6455 client: handshake with ``Sec-WebSocket-Accept`` check, masked
  client frames, ping → pong, close handshake, fragments). Every ``PAYMENT_DATA`` is
  parsed with orjson and its ``orderId`` (``b-<n>``) and arrival time recorded in
  flat arrays; nothing else is kept per message.

Times are ``time.perf_counter()`` seconds; the load generator is one process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import ssl
import struct
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, cast
from urllib.parse import urlsplit

import orjson

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 64 * 1024
MAX_FRAME = 4 * 1024 * 1024
REQUEST_TIMEOUT = 30.0


def client_ssl_context(*, insecure: bool = False, cafile: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


@dataclass(frozen=True)
class Endpoint:
    """Where to connect: host, port, TLS context, and the Host header value."""

    scheme: str
    host: str
    port: int
    tls: ssl.SSLContext | None  # None: plain TCP

    @classmethod
    def parse(cls, base: str, ctx: ssl.SSLContext | None) -> Endpoint:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--base must be an http:// or https:// URL, got {base!r}")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        return cls(parts.scheme, parts.hostname, port, ctx if tls else None)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def ws_scheme(self) -> str:
        return "wss" if self.tls else "ws"

    async def connect(self, factory: Any) -> tuple[asyncio.BaseTransport, Any]:
        loop = asyncio.get_running_loop()
        return await loop.create_connection(
            factory,
            self.host,
            self.port,
            ssl=self.tls,
            server_hostname=self.host if self.tls else None,
        )


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# --------------------------------------------------------------------------- HTTP


class HttpError(Exception):
    """A transport-level failure of one request (not a non-2xx status)."""


class _HttpConn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.reusable = True
        #: When it went back to the pool (loop time).
        self.idle_since = 0.0
        self._head: tuple[int, int | None, bool] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        _nodelay(transport)

    def send(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.timer = loop.call_later(REQUEST_TIMEOUT, self._timeout)
        assert self.transport is not None
        self.transport.write(data)
        return self.waiter

    def _timeout(self) -> None:
        self._fail(HttpError(f"no response in {REQUEST_TIMEOUT:g} s"))
        if self.transport is not None:
            self.transport.abort()

    def _done(self, result: tuple[int, bytes]) -> None:
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            self._parse()
        except (ValueError, IndexError) as exc:
            self._fail(HttpError(f"bad HTTP response: {exc}"))
            if self.transport is not None:
                self.transport.abort()

    def _parse(self) -> None:
        buf = self.buf
        if self._head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise ValueError("response head too large")
                return
            lines = bytes(buf[:end]).split(b"\r\n")
            del buf[: end + 4]
            status = int(lines[0].split(b" ", 2)[1])
            length: int | None = None
            chunked = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection" and b"close" in value.lower():
                    self.reusable = False
            if 100 <= status < 200:  # an interim response: the real one follows
                self._parse()
                return
            if length is None and not chunked:
                self.reusable = False  # the body ends when the server closes
            self._head = (status, length, chunked)
        status, length, chunked = self._head
        if chunked:
            body = self._chunked()
            if body is None:
                return
        elif length is not None:
            if len(buf) < length:
                return
            body = bytes(buf[:length])
            del buf[:length]
        else:
            return  # read until the connection closes
        self._head = None
        self._done((status, body))

    def _chunked(self) -> bytes | None:
        buf = self.buf
        pos = 0
        parts: list[bytes] = []
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            if size == 0:  # the last chunk, then optional trailers and an empty line
                end = buf.find(b"\r\n\r\n", eol)
                if end < 0:
                    return None
                del buf[: end + 4]
                return b"".join(parts)
            if len(buf) < eol + 2 + size + 2:
                return None
            parts.append(bytes(buf[eol + 2 : eol + 2 + size]))
            pos = eol + 2 + size + 2

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        if self._head is not None and self._head[1] is None and not self._head[2]:
            self._done((self._head[0], bytes(self.buf)))
        else:
            self._fail(HttpError(f"connection closed: {exc or 'by the server'}"))

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()


#: An idle connection older than this is closed rather than reused: servers close idle
#: keep-alive connections after about 5 s (Hypercorn, Node), and a request sent just
#: as they do fails with "closed by the server" (browsers and httpx expire them too).
IDLE_REUSE_SECONDS = 2.0


class HttpPool:
    """At most ``size`` keep-alive connections to one server."""

    def __init__(self, endpoint: Endpoint, size: int, headers: dict[str, str]) -> None:
        self.endpoint = endpoint
        self.size = size
        self._sem = asyncio.Semaphore(size)
        self._idle: list[_HttpConn] = []
        self._all: set[_HttpConn] = set()
        fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._fixed = f"Host: {endpoint.host_header}\r\n{fixed}"

    def request_bytes(self, method: str, path: str, body: bytes | None = None) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed}"
        if body is None:
            return (head + "\r\n").encode("latin-1")
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode("latin-1") + body

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request; return (status, body). Raises :class:`HttpError` on a failure."""
        data = self.request_bytes(method, path, body)
        async with self._sem:
            conn = None
            now = asyncio.get_running_loop().time()
            while self._idle:
                candidate = self._idle.pop()
                if not candidate.closed and now - candidate.idle_since < IDLE_REUSE_SECONDS:
                    conn = candidate
                    break
                candidate.close()
                self._all.discard(candidate)
            if conn is None:
                try:
                    _, proto = await self.endpoint.connect(_HttpConn)
                except (OSError, ssl.SSLError) as exc:
                    raise HttpError(f"connect: {exc}") from None
                conn = proto
                self._all.add(conn)
            try:
                return await conn.send(data)
            finally:
                if conn.closed or not conn.reusable or conn.waiter is not None:
                    conn.close()
                    self._all.discard(conn)
                else:
                    conn.idle_since = asyncio.get_running_loop().time()
                    self._idle.append(conn)

    async def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any, bytes]:
        raw = None if body is None else orjson.dumps(body)
        status, text = await self.request(method, path, raw)
        try:
            parsed = orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            parsed = None
        return status, parsed, text

    def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()


# ---------------------------------------------------------------------- WebSocket


def _mask(payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    if n == 0:
        return key
    pad = key * (n // 4 + 1)
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(pad[:n], "big")).to_bytes(n, "big")
    return key + masked


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, unfragmented client frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + _mask(payload)


CLOSE_NORMAL = client_frame(0x8, struct.pack("!H", 1000))


@dataclass
class Recorder:
    """Arrival of each matched PAYMENT_DATA: the publish number and the time."""

    seqs: array[int] = field(default_factory=lambda: array("q"))
    times: array[float] = field(default_factory=lambda: array("d"))


class ViewerPool:
    """Many :class:`Viewer` connections and what they received."""

    def __init__(self, endpoint: Endpoint, sessions: int, *, connect_timeout: float = 15.0):
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self.viewers: list[Viewer] = []
        self.live = [0] * sessions  # viewers ready and not closed, per session
        self.rec = Recorder()
        self.max_seq = 0  # the highest publish number sent; set by the publisher
        self.received = 0
        self.unexpected = 0  # PAYMENT_DATA whose orderId this run did not send
        self.bad_frames = 0  # not JSON, binary, or a protocol error
        self.first_not_info = 0  # first message was not SESSION_INFO
        self.other: dict[str, int] = {}  # other message types, by type
        self.closes = 0  # server closed a ready viewer before we closed it
        self.close_codes: dict[str, int] = {}
        self.connect_errors = 0
        self.connect_error_sample: str | None = None
        self.first_recv = 0.0
        self.last_recv = 0.0
        self.closing = False

    async def open(self, session: int, path: str) -> bool:
        """Connect one viewer and wait for its SESSION_INFO; False (counted) on failure."""
        viewer = Viewer(self, session, path)
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self.endpoint.connect(lambda: viewer)
                await viewer.ready
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, ValueError) as exc:
            self.connect_errors += 1
            if self.connect_error_sample is None:
                self.connect_error_sample = str(exc) or type(exc).__name__
            viewer.abort()
            return False
        self.viewers.append(viewer)
        return True

    async def open_many(self, targets: list[tuple[int, str]], in_flight: int) -> int:
        """Open viewers for ``(session index, path)`` pairs, ``in_flight`` handshakes at once."""
        it = iter(targets)
        opened = 0

        async def worker() -> None:
            nonlocal opened
            for session, path in it:
                if await self.open(session, path):
                    opened += 1

        await asyncio.gather(*(worker() for _ in range(min(in_flight, len(targets)) or 1)))
        return opened

    def record(self, payload: bytes, t: float) -> None:
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.bad_frames += 1
            return
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind != "PAYMENT_DATA":
            key = str(kind)[:40]
            self.other[key] = self.other.get(key, 0) + 1
            return
        body = msg.get("payload")
        oid = body.get("orderId") if isinstance(body, dict) else None
        n = 0
        if isinstance(oid, str) and oid.startswith("b-") and oid[2:].isdigit():
            n = int(oid[2:])
        if 0 < n <= self.max_seq:
            self.rec.seqs.append(n)
            self.rec.times.append(t)
            self.received += 1
            if not self.first_recv:
                self.first_recv = t
            self.last_recv = t
        else:
            self.unexpected += 1

    def server_closed(self, viewer: Viewer, code: int) -> None:
        if self.closing:
            return
        self.closes += 1
        key = str(code)
        self.close_codes[key] = self.close_codes.get(key, 0) + 1

    def close_all(self) -> None:
        self.closing = True
        for viewer in self.viewers:
            viewer.close()

    async def wait_closed(self, within: float = 5.0) -> None:
        """Wait for the TCP connections to end, then abort what is left."""
        deadline = perf_counter() + within
        while perf_counter() < deadline and any(not v.lost for v in self.viewers):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        for viewer in self.viewers:
            viewer.abort()


class Viewer(asyncio.Protocol):
    """One WebSocket viewer of one session."""

    __slots__ = (
        "accept",
        "buf",
        "closed",
        "fragments",
        "lost",
        "path",
        "pool",
        "ready",
        "session",
        "state",
        "transport",
    )

    def __init__(self, pool: ViewerPool, session: int, path: str) -> None:
        self.pool = pool
        self.session = session
        self.path = path
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.state = 0  # 0 handshake, 1 waiting for SESSION_INFO, 2 ready, 3 closed
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready.add_done_callback(_retrieve)
        self.accept = b""
        self.fragments: list[bytes] | None = None
        self.closed = False  # a close frame was sent or received
        self.lost = False

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        _nodelay(transport)
        key = base64.b64encode(os.urandom(16))
        self.accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())  # noqa: S324 (RFC 6455)
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\n"
            f"Host: {self.pool.endpoint.host_header}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode(
                "latin-1"
            )
        )

    def data_received(self, data: bytes) -> None:
        t = perf_counter()
        self.buf += data
        if self.state == 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self._fail("handshake response too large")
                return
            head = bytes(self.buf[:end])
            del self.buf[: end + 4]
            if not self._handshake_ok(head):
                return
            self.state = 1
        self._frames(t)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.state == 2 and not self.closed:
            self.pool.server_closed(self, 1006)
        self._leave()
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before SESSION_INFO: {exc or ''}"))

    # -- protocol

    def _handshake_ok(self, head: bytes) -> bool:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or parts[1] != b"101":
            self._fail(f"HTTP {parts[1].decode(errors='replace') if len(parts) > 1 else '?'}")
            return False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-accept" and value.strip() == self.accept:
                return True
        self._fail("bad Sec-WebSocket-Accept")
        return False

    def _frames(self, t: float) -> None:
        buf = self.buf
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if b1 & 0x80 or length > MAX_FRAME:
                self.pool.bad_frames += 1
                self._fail("masked or oversized frame from the server")
                return
            end = pos + head + length
            if end > n:
                break
            payload = bytes(buf[pos + head : end])
            pos = end
            self._frame(b0, payload, t)
            if self.state == 3:
                return
        if pos:
            del buf[:pos]

    def _frame(self, b0: int, payload: bytes, t: float) -> None:
        opcode = b0 & 0x0F
        fin = b0 & 0x80
        if opcode == 0x1 or opcode == 0x2:
            if not fin:
                self.fragments = [payload]
                return
            if opcode == 0x2:
                self.pool.bad_frames += 1
                return
            self._message(payload, t)
        elif opcode == 0x0:
            if self.fragments is None:
                self.pool.bad_frames += 1
                return
            self.fragments.append(payload)
            if fin:
                whole = b"".join(self.fragments)
                self.fragments = None
                self._message(whole, t)
        elif opcode == 0x9:
            self._write(client_frame(0xA, payload))
        elif opcode == 0x8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if not self.closed and self.state == 2:
                self.pool.server_closed(self, code)
            if not self.ready.done():
                self.ready.set_exception(ConnectionError(f"closed with {code} before SESSION_INFO"))
            if not self.closed:
                self.closed = True
                self._write(client_frame(0x8, payload[:2]))
            self._leave()
            self.state = 3
            if self.transport is not None:
                self.transport.close()

    def _message(self, payload: bytes, t: float) -> None:
        if self.state == 2:
            self.pool.record(payload, t)
            return
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            msg = None
        if isinstance(msg, dict) and msg.get("type") == "SESSION_INFO":
            self.state = 2
            self.pool.live[self.session] += 1
            if not self.ready.done():
                self.ready.set_result(None)
        else:
            self.pool.first_not_info += 1

    def _leave(self) -> None:
        if self.state == 2:
            self.pool.live[self.session] -= 1
        self.state = 3

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        self._leave()
        self.abort()

    # -- used by the load generator

    def send_text(self, text: str) -> None:
        self._write(client_frame(0x1, text.encode()))

    def close(self) -> None:
        """Start the close handshake (1000) and close the TCP connection once written."""
        if not self.closed:
            self.closed = True
            self._write(CLOSE_NORMAL)
        self._leave()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _retrieve(fut: asyncio.Future[None]) -> None:
    """Mark a failure as seen: the opener may have given up waiting (timeout)."""
    if not fut.cancelled():
        fut.exception()


def ws_path(ws_url: str) -> str:
    """The path and query of a ``wsUrl`` (its scheme and host are replaced by --base's)."""
    parts = urlsplit(ws_url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def spread(sessions: int, per_session: int) -> Iterable[int]:
    """Session indexes for ``sessions × per_session`` viewers, one of each session in turn."""
    for _ in range(per_session):
        yield from range(sessions)
