"""The viewer WebSocket of docs/protocol.md §4, as plain ASGI in front of the Quart app.

Viewer sockets are the gateway's hot path: every broadcast is one send per viewer, and
thousands of idle screens each hold a connection. Quart's websocket layer costs both:
each ``websocket.send`` yields to the loop once (``asyncio.sleep(0)``) and fires a
signal before Hypercorn sees the message, and each connection carries a request
context, a receive queue and a task of its own. This module speaks ASGI to Hypercorn
directly for the two viewer paths and hands everything else to Quart
(``app.asgi_app = ViewerSockets(app.asgi_app, services)``, the way Quart documents for
ASGI middleware). Measured with the team's benchmark: fan-out server CPU −17 % and a
lower p99 from the send path alone (README, Performance).

The Origin is checked before accepting (HTTP 403 refuses a cross-site page); token and
session errors are reported after accepting, with close codes a browser can read. The
conversation's rules are a :class:`~gateway.transport.protocol.ViewerProtocol`, without
I/O; this module only moves events between it, the hub and Hypercorn. Each connection
runs a reader task, and a writer task once a message has had to wait; the connection
waits for the viewer's farewell (client gone, binary frame, slow consumer, expiry,
drain), cancels both and closes with the farewell's code.

A broadcast or a reply reaches an idle connection without a writer task:
:class:`DirectSend` writes the message's frame through the server's
``gateway.write_frame`` extension (gateway/hypercorn_patches.py, item 8) while the hub
offers it (a broadcast's frame is built once for all its viewers). Anything the
transport cannot take at once, and everything behind it, goes through the writer and
ASGI's ``websocket.send`` as before, so the order and the slow-consumer bound hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ..errors import Forbidden, GatewayError, RateLimited, ShuttingDown
from ..hub import Farewell, Outgoing, Viewer
from .problems import PROBLEM_JSON, problem_body
from .protocol import CLIENT_GONE, TRANSPORT_CLOSES, ViewerProtocol
from .state import Services

log = logging.getLogger("gateway.ws")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: Quart's ``asgi_app``, typed by its own (stricter) ASGI TypedDicts.
ASGIApp = Callable[..., Awaitable[None]]

#: docs/protocol.md §4: the token's ``wsUrl`` names ``/``; ``/ws`` is accepted too.
VIEWER_PATHS = frozenset({"/", "/ws"})
CLOSE_INTERNAL_ERROR = 1011
#: How long a last message (SESSION_EXPIRED) may take to leave before the close.
FINAL_SEND_SECONDS = 2.0
MESSAGES_RULE = "ws_messages_per_connection"
#: The scope extension through which the server writes a prepared frame at once
#: (gateway/hypercorn_patches.py); without it every message goes through ASGI's send.
WRITE_FRAME = "gateway.write_frame"
DENIAL_HEADERS = (
    (b"content-type", PROBLEM_JSON.encode()),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)


def origin_allowed(origin: str | None, allowed: frozenset[str]) -> bool:
    """No Origin: a non-browser client. Otherwise an exact match, or ``*`` configured."""
    return origin is None or "*" in allowed or origin in allowed


class ViewerSockets:
    """ASGI middleware: viewer WebSockets here, everything else to ``app``."""

    def __init__(self, app: ASGIApp, svc: Services) -> None:
        self.app = app
        self.svc = svc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] in VIEWER_PATHS:
            await ViewerConnection(self.svc, scope, receive, send).run()
        else:
            await self.app(scope, receive, send)


class ViewerConnection:
    """One viewer socket from handshake to close."""

    __slots__ = ("accepted", "client_ip", "receive", "scope", "send", "svc")

    def __init__(self, svc: Services, scope: Scope, receive: Receive, send: Send) -> None:
        self.svc = svc
        self.scope = scope
        self.receive = receive
        self.send = send
        client = scope.get("client")
        self.client_ip: str | None = client[0] if client else None
        self.accepted = False

    async def run(self) -> None:
        if (await self.receive())["type"] != "websocket.connect":
            return  # the client left before the handshake reached us
        try:
            await self._handshake()
        except Exception:
            log.exception("unhandled error", extra={"event": "unhandled_error"})
            if self.accepted:
                with contextlib.suppress(Exception):
                    await self._close(Farewell(CLOSE_INTERNAL_ERROR, "internal error"))
            else:
                await self._deny(GatewayError("an internal error occurred"))

    async def _handshake(self) -> None:
        svc = self.svc
        if not origin_allowed(self._header(b"origin"), svc.ws_origins):
            await self._deny(Forbidden("this Origin may not open viewer connections"))
            return
        if svc.hub.draining:
            await self._deny(ShuttingDown())
            return
        await self.send({"type": "websocket.accept"})
        self.accepted = True
        # Over Redis the broker counts this connect in the admission's own round trip.
        quota = svc.limiter.quota("ws_connect_per_ip", self.client_ip or "-")
        try:
            try:
                claims = svc.tokens.verify(self._token())
            except GatewayError:
                await quota.take()  # a bad token counts too; over the quota, 4429 wins
                raise
            viewer, record = await svc.hub.join(claims.session_id, (quota,))
        except GatewayError as exc:
            self._log_close(None, exc.close_code)
            await self._send_close(exc.close_code, exc.title)
            return
        code = None
        try:
            code = await self._serve(viewer, record.seq, record.data, record.expires_at)
        finally:
            await svc.hub.leave(viewer)
            self._log_close(viewer, code)

    def _header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key.lower() == name:
                return bytes(value).decode("latin-1")
        return None

    def _token(self) -> str:
        query = bytes(self.scope.get("query_string", b"")).decode("utf-8", "replace")
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name == "token":
                return value
        return ""

    async def _deny(self, error: GatewayError) -> None:
        """Answer the handshake with an HTTP problem (ASGI's websocket.http.response)."""
        if "websocket.http.response" not in (self.scope.get("extensions") or {}):
            await self.send({"type": "websocket.close", "code": 1008})
            return
        body = problem_body(error)
        headers = [
            *DENIAL_HEADERS,
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in error.headers().items()),
        ]
        await self.send(
            {"type": "websocket.http.response.start", "status": error.status, "headers": headers}
        )
        await self.send({"type": "websocket.http.response.body", "body": body})

    def _log_close(self, viewer: Viewer | None, code: int | None) -> None:
        """One line per viewer connection; never the token or the query string."""
        log.info(
            "viewer closed",
            extra={
                "event": "ws_closed",
                "session_id": viewer.session_id if viewer else None,
                "close_code": code,  # None: the client went away first
                "client_ip": self.client_ip,
                "path": self.scope["path"],
            },
        )

    async def _serve(
        self, viewer: Viewer, seq: int, data: str | None, expires_at: float
    ) -> int | None:
        """Run one viewer connection to its end; return the close code sent, if any."""
        svc = self.svc
        protocol = ViewerProtocol(
            viewer.session_id,
            max_chars=svc.settings.websocket.max_message_bytes,
            clock=svc.hub.clock,
        )
        opening = protocol.opening(
            connected_at=viewer.connected_at, expires_at=expires_at, seq=seq, data=data
        )
        for text in opening:
            await self._send_text(text)
        reader = asyncio.create_task(self._read(viewer, protocol), name="ws-reader")
        reader.add_done_callback(lambda t: _task_ended(viewer, t))
        writer: asyncio.Task[None] | None = None

        def start_writer() -> None:
            nonlocal writer
            writer = asyncio.create_task(self._write(viewer, protocol), name="ws-writer")
            writer.add_done_callback(lambda t: _task_ended(viewer, t))

        write_frame = (self.scope.get("extensions") or {}).get(WRITE_FRAME)
        if write_frame is None:
            start_writer()
        else:
            # Messages go straight out while the connection is idle; the writer task
            # exists only once one has had to wait.
            viewer.direct = DirectSend(protocol, write_frame)
            viewer.start_writer_lazily(start_writer)
        try:
            farewell = await viewer.done
            if writer is not None:
                writer.cancel()
            if farewell is CLIENT_GONE:
                return None
            if farewell.code in TRANSPORT_CLOSES:
                return farewell.code  # its close frame is out and the client is gone
            # Leave before closing: a viewer that does not read may never let the close
            # frame out, and it must stop counting (delivered, viewers, max_viewers) at once.
            await svc.hub.leave(viewer)
            with contextlib.suppress(Exception):
                await self._close(farewell)
            # The reader goes on until the client's disconnect (its close reply, or the
            # closing-handshake deadline): Hypercorn hands frames over through a small
            # queue, and a connection whose frames nobody takes is never released.
            await reader
            return farewell.code
        finally:
            # Nothing reaches this viewer from here on (a publish arriving while the
            # tasks below end would start a writer nobody cancels), and the connection
            # is freed by reference counting as soon as it ends.
            viewer.finish(CLIENT_GONE)
            viewer.release()
            tasks = (reader,) if writer is None else (reader, writer)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_text(self, text: str) -> None:
        await self.send({"type": "websocket.send", "text": text})

    async def _send_close(self, code: int, reason: str) -> None:
        await self.send({"type": "websocket.close", "code": code, "reason": reason})

    async def _close(self, farewell: Farewell) -> None:
        """Send the last message and the close frame, each bounded in time.

        A peer that stopped reading never drains them. The close frame is still
        attempted after a last message that could not leave: handing it to Hypercorn
        starts the closing-handshake deadline, after which the TCP connection closes
        whatever the peer does (``websocket.close_timeout_seconds``).
        """
        if farewell.final is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FINAL_SEND_SECONDS):
                    await self._send_text(farewell.final)
        async with asyncio.timeout(FINAL_SEND_SECONDS):
            await self._send_close(farewell.code, farewell.reason)

    async def _write(self, viewer: Viewer, protocol: ViewerProtocol) -> None:
        """Send queued messages in order, as the protocol says (it skips covered ones)."""
        send = self.send
        outgoing = protocol.outgoing
        while True:
            text = outgoing(await viewer.next())
            if text is not None:
                # Inline rather than _send_text: one coroutine frame less per viewer per send.
                await send({"type": "websocket.send", "text": text})

    async def _read(self, viewer: Viewer, protocol: ViewerProtocol) -> None:
        """Feed what the client sends to the protocol; queue its replies, or end with its
        farewell. Messages are counted against ``ws_messages_per_connection`` here.

        Once the viewer has its farewell, frames are read and dropped until the client's
        disconnect (its close frame, or the closing-handshake deadline), which is when
        this returns.
        """
        limiter = self.svc.limiter
        connection = limiter.connection_id()
        while True:
            event = await self.receive()
            if event["type"] != "websocket.receive":  # websocket.disconnect
                viewer.finish(protocol.disconnected(event.get("code")))
                return
            if viewer.done.done():
                continue
            text = event.get("text")
            if text is None:
                viewer.finish(protocol.receive_bytes())
                continue
            try:
                await limiter.hit(MESSAGES_RULE, connection)
                within_quota = True
            except RateLimited:
                within_quota = False
            answer = protocol.receive_text(text, within_quota=within_quota)
            if isinstance(answer, Farewell):
                viewer.finish(answer)
            else:
                viewer.reply(answer)


class DirectSend:
    """A viewer's broadcasts written straight to the transport, framed once for all
    (``Viewer.offer``): no task wakes up, and neither ASGI nor wsproto sees them."""

    __slots__ = ("protocol", "write_frame")

    def __init__(self, protocol: ViewerProtocol, write_frame: Callable[[bytes], bool]) -> None:
        self.protocol = protocol
        self.write_frame = write_frame

    def __call__(self, item: Outgoing) -> bool:
        """True when the viewer has the message; False, with nothing written or
        recorded, when the transport cannot take it now (a write in progress or waiting
        for the peer, bytes still buffered, the connection closing): the item is then
        queued for the writer task."""
        if self.protocol.covers(item):
            return True
        if not self.write_frame(item.frame):
            return False
        self.protocol.sent(item)
        return True


def _task_ended(viewer: Viewer, task: asyncio.Task[None]) -> None:
    """A reader or writer that stops by itself must not leave the connection waiting."""
    if task.cancelled() or viewer.done.done():
        return
    error = task.exception()
    if error is not None:
        log.warning(
            "viewer task failed",
            extra={"event": "ws_task_failed", "error": type(error).__name__},
        )
    viewer.finish(Farewell(CLOSE_INTERNAL_ERROR, "internal error"))
