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
I/O.

Right after the 101, the connection is taken over from Hypercorn (the scope extension
``gateway.detach``, gateway/hypercorn_patches.py item 11) and served from then on by a
:class:`~gateway.transport.socket.ViewerSocket` on the transport itself: the admission
below still runs in this ASGI task, which then returns, and an idle viewer holds no
task and none of Hypercorn's per-connection objects (README, Performance).

When Hypercorn cannot hand the connection over (the client's first frames are already
on their way through it, or another server runs the app), it stays Hypercorn's and
this module serves it over ASGI, with the same protocol: a reader task, and a writer
task once a message has had to wait; the connection waits for the viewer's farewell
(client gone, binary frame, slow consumer, expiry, drain), cancels both and closes
with the farewell's code. A broadcast or a reply reaches an idle connection without a
writer task: :class:`~gateway.transport.socket.DirectSend` writes the message's frame
through the server's ``gateway.write_frame`` extension (item 8) while the hub offers
it. Anything the transport cannot take at once, and everything behind it, goes
through the writer and ASGI's ``websocket.send``, so the order and the slow-consumer
bound hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import parse_qsl

from wsproto.connection import Connection

from ..errors import Forbidden, GatewayError, ShuttingDown
from ..hub import Farewell, Viewer
from .problems import PROBLEM_JSON, asgi_headers, problem_body
from .protocol import CLIENT_GONE, TRANSPORT_CLOSES, ViewerProtocol
from .socket import (
    CLOSE_INTERNAL_ERROR,
    FINAL_SEND_SECONDS,
    DirectSend,
    ViewerSocket,
    answer,
    log_close,
    task_ended,
)
from .state import ASGIApp, Receive, Scope, Send, Services

log = logging.getLogger("gateway.ws")

#: docs/protocol.md §4: the token's ``wsUrl`` names ``/``; ``/ws`` is accepted too.
VIEWER_PATHS = frozenset({"/", "/ws"})
#: The scope extension through which the server writes a prepared frame at once
#: (gateway/hypercorn_patches.py); without it every message goes through ASGI's send.
WRITE_FRAME = "gateway.write_frame"
#: The scope extension through which the server hands the connection over after the 101
#: (gateway/hypercorn_patches.py, item 11): ``detach(adopt)`` calls ``adopt(transport,
#: wsproto_connection)`` and makes its result the transport's protocol, or returns None.
DETACH = "gateway.detach"
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

    __slots__ = ("accepted", "client_ip", "receive", "scope", "send", "socket", "svc")

    def __init__(self, svc: Services, scope: Scope, receive: Receive, send: Send) -> None:
        self.svc = svc
        self.scope = scope
        self.receive = receive
        self.send = send
        client = scope.get("client")
        self.client_ip: str | None = client[0] if client else None
        self.accepted = False
        self.socket: ViewerSocket | None = None

    async def run(self) -> None:
        if (await self.receive())["type"] != "websocket.connect":
            return  # the client left before the handshake reached us
        try:
            await self._handshake()
        except Exception:
            log.exception("unhandled error", extra={"event": "unhandled_error"})
            if self.socket is not None:
                self.socket.close(CLOSE_INTERNAL_ERROR, "internal error")
            elif self.accepted:
                with contextlib.suppress(Exception):
                    await self._close(Farewell(CLOSE_INTERNAL_ERROR, "internal error"))
            else:
                await self._deny(GatewayError("an internal error occurred"))
        except asyncio.CancelledError:
            if self.socket is not None and self.socket.viewer is None:
                self.socket.abort()  # shut down before it was served
            raise

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
        # From the 101 on, the connection is the gateway's own (transport/socket.py),
        # unless the server cannot hand it over: then it stays Hypercorn's, below.
        socket = self.socket = self._take_over()
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
            log_close(None, exc.close_code, self.client_ip, self.scope["path"])
            if socket is not None:
                socket.close(exc.close_code, exc.title)
            else:
                await self._send_close(exc.close_code, exc.title)
            return
        protocol = ViewerProtocol(
            viewer.session_id,
            max_chars=svc.settings.websocket.max_message_bytes,
            clock=svc.hub.clock,
        )
        opening = protocol.opening(
            connected_at=viewer.connected_at,
            expires_at=record.expires_at,
            seq=record.seq,
            data=record.data,
        )
        if socket is not None:
            try:
                socket.serve(viewer, protocol, opening)
            except BaseException:
                await svc.hub.leave(viewer)
                raise
            return  # the socket leaves the hub and logs the close when it ends
        code = None
        try:
            code = await self._serve(viewer, protocol, opening)
        finally:
            await svc.hub.leave(viewer)
            log_close(viewer.session_id, code, self.client_ip, self.scope["path"])

    def _take_over(self) -> ViewerSocket | None:
        """Take the connection from the server (gateway/hypercorn_patches.py, item 11);
        None when the server does not offer it, or cannot hand it over now."""
        detach = (self.scope.get("extensions") or {}).get(DETACH)
        policy = self.svc.sockets
        if detach is None or policy is None:
            return None
        client_ip, path = self.client_ip, self.scope["path"]

        def adopt(transport: asyncio.Transport, ws: Connection) -> ViewerSocket:
            return ViewerSocket(transport, ws, policy, client_ip=client_ip, path=path)

        socket: ViewerSocket | None = detach(adopt)
        if socket is None:
            self.svc.hub.sockets_kept += 1
        return socket

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
            *asgi_headers(error),
        ]
        await self.send(
            {"type": "websocket.http.response.start", "status": error.status, "headers": headers}
        )
        await self.send({"type": "websocket.http.response.body", "body": body})

    async def _serve(
        self, viewer: Viewer, protocol: ViewerProtocol, opening: list[str]
    ) -> int | None:
        """Run one viewer connection to its end over ASGI; return the close code sent."""
        svc = self.svc
        for text in opening:
            await self._send_text(text)
        reader = asyncio.create_task(self._read(viewer, protocol), name="ws-reader")
        reader.add_done_callback(lambda t: task_ended(viewer, t))
        writer: asyncio.Task[None] | None = None

        def start_writer() -> None:
            nonlocal writer
            writer = asyncio.create_task(self._write(viewer, protocol), name="ws-writer")
            writer.add_done_callback(lambda t: task_ended(viewer, t))

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
            if not viewer.done.done():
                await answer(viewer, protocol, limiter, connection, event.get("text"))
