"""What the gateway changes in Hypercorn 0.18, in one place, installed once at start-up.

Hypercorn has no setting for any of these, so :func:`patch_hypercorn` replaces five
names in its modules, each with a subclass that changes as little as it can (and
:func:`gate_tls_handshakes` a sixth, item 7; items 8, 9 and 11 are methods of the
WebSocket stream and the connection, item 12 of the HTTP/1.1 protocol). Each change
has a test that fails when Hypercorn changes under it (``tests/test_hypercorn_patches.py``),
and the end-to-end tests check the behaviour from outside.

1. **HTTP/1.1 only** (README, Security model). Hypercorn answers ``Upgrade: h2c`` with 101
   and switches the connection to HTTP/2 even over TLS with ALPN restricted to
   ``http/1.1``, and treats a request line ``PRI * HTTP/2.0`` as HTTP/2 "prior
   knowledge"; HTTP/2 would then carry WebSockets over RFC 8441, where Hypercorn has
   open bugs (hypercorn#329, #370). :class:`HTTP11Only` never switches: an ``h2c``
   upgrade is ignored and the request answered over HTTP/1.1; a ``PRI`` request is an
   ordinary HTTP/1.x request, which the app refuses with 400. Requests h11 cannot
   parse get 400 too where Hypercorn would answer 501 (an unknown
   ``Transfer-Encoding``): client input never causes a 5xx.
2. **permessage-deflate declined** (hypercorn#307: accepted whenever offered). Each
   viewer would keep a zlib context (about 256 KiB) and every message would be
   compressed, and secrets and client bytes would share one compression context (the
   CRIME/BREACH family). Node's ``ws`` declines it by default for the same costs.
3. **The closing handshake is bounded** (RFC 6455 §7.1.1). Once the gateway has sent
   a close frame, the TCP connection closes when the client's close frame arrives or
   ``websocket_close_timeout`` seconds later, whatever else the client sends; frames
   that arrive meanwhile are dropped. Hypercorn itself waits for the client's close
   frame forever, and a client that ignores it and keeps pinging is never released.
4. **Oversized messages are failed as they arrive**: once a message passes
   ``websocket_max_message_size`` (characters for text, bytes for binary, as
   Hypercorn counts), the connection is closed 1009 and the app is told at once, so
   the viewer stops counting; Hypercorn sent the 1009 but never told the app.
5. **Protocol errors get their close code** (RFC 6455 §7.4.1): a frame wsproto cannot
   parse (bad UTF-8: 1007; reserved bits, an unmasked frame, a bad close code: 1002)
   is answered with a close frame carrying that code before the TCP connection
   closes. Hypercorn closed the TCP connection without one.
6. **A closed connection is freed at once** (bench/churn.py). Hypercorn's keep-alive
   task sleeps ``websocket_ping_interval`` (20 s) before it looks at the connection
   again, and the connection's task group, transport and buffers wait for it; the
   stream's keep-alive is now a timer (item 9), cancelled when it closes. And
   Hypercorn's ``TCPServer`` keeps its protocol, which keeps the ``TCPServer``'s
   ``protocol_send``: a reference cycle, so a finished connection (with uvloop's
   256 KiB TLS read buffer) waited for a full garbage collection, which ``tune_gc``
   makes rare. :class:`ReleasingTCPServer` drops the
   protocol when the connection is over. Without both, 10,000 short TLS viewers left
   the process 500 MiB larger, and glibc kept that heap.
7. **TLS handshakes are bounded per worker** (:mod:`gateway.accept`): Hypercorn's
   worker calls ``asyncio.start_server``, which starts every queued connection's
   handshake at once; a reconnect storm then finished none of them in time.
8. **Prepared frames are written at once.** A broadcast's frame is the same bytes for
   every viewer (a server's frames are unmasked, and every extension is declined), so
   the app frames it once and hands it to each stream's ``write_frame`` (the scope
   extension ``gateway.write_frame``), which writes it straight to the transport, with
   no ASGI message, no wsproto call and no task switch per viewer. It only does so
   while Hypercorn's own send would not wait: no other write in progress, nothing
   left in the transport's buffer, the connection open on both sides. Otherwise it
   writes nothing and says so, and the app sends the message the ordinary way.
9. **Keep-alive pings run on a timer**, not in a task per connection that sleeps
   between pings: a task, its coroutine frames and its sleep cost each idle viewer
   about 2 KiB (tracemalloc, README Performance). Each ping is written as a prepared
   frame (item 8) when the connection is idle; otherwise it waits its turn in a task,
   as Hypercorn's own ping would, one at a time.
10. **Each connection's events reach the app through a lean queue.** Hypercorn hands
    them over through an ``asyncio.Queue`` (``max_app_queue_size``), which is four
    deques of 760 bytes each even when empty: 3 KiB per idle viewer.
    :class:`AppQueue` keeps the same bounded, in-order, cancellation-safe hand-over
    with one list, and :class:`LeanTaskGroup` spawns apps with it.
11. **A WebSocket can be handed over after the 101.** The stream offers the app a
    ``detach(adopt)`` (the scope extension ``gateway.detach``): when the connection is
    quiet (everything the client sent so far has been read and handled, nothing is
    being written or waiting to be, no message half received), it makes
    ``adopt(transport, wsproto_connection)`` the transport's protocol and lets
    Hypercorn's connection end without closing the transport. The viewer socket
    (``gateway/transport/socket.py``) then serves the connection with none of
    Hypercorn's per-connection objects, which are freed; otherwise detach returns
    None and Hypercorn keeps serving it as before.
12. **A response's head and body leave in one write.** Hypercorn writes the head when
    the app sends ``http.response.start``, then the body, then the end of the message
    (no bytes at all with a ``Content-Length``), each through the connection's send
    lock, ``write`` and ``drain``: over TLS, two records and two ``send`` calls for
    every small answer. :class:`HTTP11Only` holds a final response's head until the
    body (or the end of the message) follows, and writes nothing for an event with no
    bytes. The client sees the same bytes, in one TLS record.
13. **The keep-alive timeout is a timer**, not a task per idle connection: see
    :class:`IdleTimer`. A connection still closes ``keep_alive_timeout`` seconds after
    its last answer, or at once when the worker shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from ssl import SSLError
from typing import Any

import h11
from hypercorn import protocol as hypercorn_protocol
from hypercorn.asyncio import run as hypercorn_asyncio_run
from hypercorn.asyncio import tcp_server as hypercorn_tcp_server
from hypercorn.asyncio.task_group import TaskGroup, _handle
from hypercorn.asyncio.tcp_server import MAX_RECV, TCPServer
from hypercorn.config import Config
from hypercorn.events import Closed, RawData
from hypercorn.protocol import h11 as hypercorn_h11
from hypercorn.protocol import ws_stream
from hypercorn.protocol.events import Body, Data, Request, StreamClosed
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import ASGIWebsocketState, FrameTooLargeError, WSStream
from hypercorn.typing import H11SendableEvent
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason

from . import accept
from .deadlines import LazyTimer
from .transport.ws import DETACH, WRITE_FRAME

#: RFC 6455 §7.1.1: how long the gateway waits for the client's close frame.
DEFAULT_CLOSE_TIMEOUT_SECONDS = 5.0
#: The ASGI disconnect code that tells the app the transport closed the connection 1009.
MESSAGE_TOO_BIG = int(CloseReason.MESSAGE_TOO_BIG)
#: A server's ping with no payload (RFC 6455 §5.5.2: FIN, opcode 0x9, unmasked), the
#: bytes wsproto writes for ``Ping()``.
PING_FRAME = b"\x89\x00"


class DeclinedDeflate(PerMessageDeflate):
    """permessage-deflate, offered by every browser, declined (see the module docstring)."""

    def accept(self, offer: str) -> None:
        return None


class HTTP11Only(H11Protocol):
    """Hypercorn's HTTP/1.1 protocol, minus its switches to HTTP/2, writing a response's
    head together with its body (item 12)."""

    #: The head of the response being sent, until its body or its end joins it.
    _head = b""

    async def _send_h11_event(self, event: H11SendableEvent) -> None:
        """Hypercorn's, but a final response's head waits for what follows it, and
        nothing is written for an event that has no bytes (h11's end of a message
        framed by Content-Length)."""
        try:
            data = self.connection.send(event)
        except h11.LocalProtocolError:
            if self.connection.their_state != h11.ERROR:
                raise
            return
        if type(event) is h11.Response:
            self._head += data
            return
        if self._head:
            data, self._head = self._head + data, b""
        if data:
            await self.send(RawData(data=data))

    async def stream_send(self, event: StreamEvent) -> None:
        if isinstance(event, StreamClosed) and self._head:
            head, self._head = self._head, b""
            await self.send(RawData(data=head))
        await super().stream_send(event)

    async def _check_protocol(self, event: h11.Request) -> None:
        # Hypercorn's version answers `Upgrade: h2c` with 101 and raises to switch the
        # connection to HTTP/2 (also on `PRI * HTTP/2.0`); here neither ever happens.
        return None

    async def _send_error_response(self, status_code: int) -> None:
        """A request h11 cannot parse, answered as a problem document and closed.

        h11's hint is 501 for a transfer coding it does not know (RFC 9112 §6.1
        suggests it): a client's bytes get a 4xx here, never a 5xx. Hypercorn's own
        answer has no body; every error of the gateway is RFC 9457 problem details.
        """
        status = 400 if status_code >= 500 else status_code
        title = HTTPStatus(status).phrase
        body = json.dumps(
            {
                "type": f"https://gateway.invalid/problems/http-{status}",
                "title": title,
                "status": status,
                "detail": "the request could not be parsed as HTTP/1.1",
            }
        ).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *self.config.response_headers("h11"),
        ]
        await self._send_h11_event(h11.Response(status_code=status, headers=headers))
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())


class ReleasingTCPServer(TCPServer):
    """Hypercorn's connection, freed by reference counting as soon as it is over, whose
    timed waits run in the connection's own task, and which can hand its transport on
    (item 11): once ``detached``, it neither reads, writes nor closes it.

    Python 3.11's ``asyncio.wait_for`` wraps what it waits for in a task of its own:
    Hypercorn's read loop made one per read, and every idle viewer kept one alive for
    its pending read. The read loop here is Hypercorn's, with one
    :class:`~gateway.deadlines.LazyTimer` per connection in place of a timeout per read
    (a timeout is a timer set and cancelled, about 4 µs with uvloop, for every
    request). Its keep-alive timeout is an :class:`IdleTimer` (item 13).
    """

    detached = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_task = IdleTimer(self)  # type: ignore[assignment]

    #: The connection's read timer (none without a ``read_timeout``).
    _read_timer: LazyTimer | None = None
    #: The task that reads, and whether the timer cancelled its read.
    _reading_task: asyncio.Task[Any] | None = None
    _read_expired = False

    async def _read_data(self) -> None:
        if self.config.read_timeout is not None:
            self._read_timer = LazyTimer(self.config.read_timeout, self._read_time_up)
        timer = self._read_timer
        self._reading_task = asyncio.current_task()
        while not self.reader.at_eof():
            if timer is not None:
                timer.start()
            try:
                data = await self.reader.read(MAX_RECV)
            except asyncio.CancelledError:
                if not self._read_expired:
                    raise
                # As asyncio.timeout: the timer's cancel is taken back and ends the
                # connection, unless the task was also cancelled from elsewhere.
                self._read_expired = False
                task = self._reading_task
                if task is not None and task.uncancel() > 0:
                    raise
                break
            except (ConnectionError, OSError, TimeoutError, SSLError):
                break
            finally:
                if timer is not None:
                    timer.stop()
            if self.detached:
                break  # the stream is closed already; Closed lets the protocol drop it
            await self.protocol.handle(RawData(data))
        await self.protocol.handle(Closed())

    def _read_time_up(self) -> None:
        """A read has waited ``read_timeout`` seconds: it is cancelled, which ends the
        connection as Hypercorn's ``wait_for`` did (and leaves the streams as they
        were, so an answer still being sent is not failed)."""
        if getattr(self.reader, "_buffer", None):
            # Bytes arrived as the time ran out (the read is woken, not yet resumed):
            # the read has them, and the next read has its own time.
            if self._read_timer is not None:
                self._read_timer.start()
        elif self._reading_task is not None:
            self._read_expired = True
            self._reading_task.cancel()

    async def protocol_send(self, event: Any) -> None:
        if not self.detached:
            await super().protocol_send(event)

    async def _close(self) -> None:
        if self.detached:
            await self.idle_task.stop()
        else:
            await super()._close()

    def detach(self, protocol: asyncio.BaseProtocol) -> None:
        """Make ``protocol`` the transport's, and end this connection without closing
        it: its stream protocol is told the connection is lost (which frees what it
        holds and wakes the read loop with an end of stream)."""
        self.detached = True
        writer = self.writer
        transport = writer.transport
        streams: asyncio.BaseProtocol = writer._protocol  # type: ignore[attr-defined]
        # The StreamWriter closes its transport when it is freed (asyncio 3.11.5+):
        # from now on it refers to one that is closed as far as it is concerned.
        writer._transport = _HANDED_OVER  # type: ignore[attr-defined]
        transport.set_protocol(protocol)
        streams.connection_lost(None)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            # The protocol holds self.protocol_send, and the idle timer holds self:
            # cycles only a full collection breaks. Nothing sends once run() has
            # returned, and _close has stopped the timer.
            self.__dict__.pop("protocol", None)
            idle = self.__dict__.pop("idle_task", None)
            if isinstance(idle, IdleTimer):
                idle.cancel()
            if self._read_timer is not None:
                self._read_timer.cancel()
            self._reading_task = None  # the task holds self: a cycle


class IdleTimer:
    """Hypercorn's keep-alive timeout as a timer (item 13): a connection waiting for its
    next request is closed ``keep_alive_timeout`` seconds after its last answer, or at
    once when the worker begins to shut down.

    Hypercorn starts a task for it after every answer (``AsyncioSingleTask`` running
    ``_idle_timeout``, which waits on the worker's ``terminated`` event with a timeout),
    and cancels that task, and waits for it to end, when the next request arrives:
    per request a task, a timeout, a waiter on the event and a turn of the loop. Here
    a request only clears the time the connection fell idle; the one timer a
    connection has, when it fires, closes the connection if it has been idle long
    enough and otherwise waits for the rest. One task per worker
    (:func:`_idle_connections`) closes the idle connections when ``terminated`` is
    set. Same interface: ``restart`` when the connection falls idle, ``stop`` when a
    request arrives or the connection ends; :meth:`cancel` once it is over.
    """

    __slots__ = ("server", "timer")

    def __init__(self, server: TCPServer) -> None:
        self.server = server
        self.timer = LazyTimer(server.config.keep_alive_timeout, self.expire)

    async def restart(self, task_group: Any, action: Any) -> None:
        idle = _idle_connections(self.server.context)
        if idle is None:  # shutting down: Hypercorn's wait would have returned at once
            self.expire()
            return
        idle.add(self)
        self.timer.start()

    async def stop(self) -> None:
        self._busy()

    def _busy(self) -> None:
        self.timer.stop()
        idle: set[IdleTimer] | None = getattr(self.server.context, _IDLE, None)
        if idle is not None:
            idle.discard(self)

    def cancel(self) -> None:
        """The connection is over: drop the timer, which holds the connection."""
        self._busy()
        self.timer.cancel()

    def expire(self) -> None:
        """Close the connection, as Hypercorn's ``_idle_timeout`` does when it ends."""
        self.cancel()
        server = self.server
        try:
            group: asyncio.TaskGroup = server._task_group._task_group
            group.create_task(server._initiate_server_close())
        except (AttributeError, RuntimeError):
            pass  # the connection's task group has finished: it is closed already


#: Where a worker's context keeps its idle connections and the task that closes them.
_IDLE = "_gateway_idle_connections"


def _idle_connections(context: Any) -> set[IdleTimer] | None:
    """The worker's idle connections (None once it is shutting down), with, the first
    time, the one task that closes them all when it begins to."""
    if context.terminated.is_set():
        return None
    idle: set[IdleTimer] | None = getattr(context, _IDLE, None)
    if idle is None:
        idle = set()
        setattr(context, _IDLE, idle)

        async def close_at_shutdown() -> None:
            await context.terminated.wait()
            for timer in list(idle):
                timer.expire()

        context._gateway_idle_closer = asyncio.get_running_loop().create_task(close_at_shutdown())
    return idle


class _HandedOver:
    """What a detached connection's StreamWriter holds instead of the transport it
    handed on: closed, as far as the StreamWriter is concerned."""

    @staticmethod
    def is_closing() -> bool:
        return True

    @staticmethod
    def close() -> None:
        return None


_HANDED_OVER = _HandedOver()


def _quiet(server: TCPServer) -> bool:
    """Whether the connection's read loop is waiting for bytes with none buffered (so
    everything the client sent has been handled) and nothing is left to write."""
    reader = server.reader
    waiter = getattr(reader, "_waiter", None)
    buffered = getattr(reader, "_buffer", None)
    if waiter is None or waiter.done() or buffered is None or buffered or reader.at_eof():
        return False
    writer = server.writer
    if server.send_lock.locked() or not isinstance(
        getattr(writer, "_protocol", None), asyncio.StreamReaderProtocol
    ):
        return False
    transport = server.writer.transport
    return not transport.is_closing() and not transport.get_write_buffer_size()


class BoundedCloseWSStream(WSStream):
    """Hypercorn's WebSocket stream with the closing handshake bounded in time, whose
    keep-alive pings run on a timer that ends with it."""

    #: The next keep-alive ping, while the stream is open (item 9).
    _ping_timer: asyncio.TimerHandle | None = None
    #: A ping waiting its turn behind other writes: cancelled when the stream closes.
    _ping_task: asyncio.Task[Any] | None = None
    _ping_queued = False
    _closed = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Our close frame is out: client frames are dropped, the deadline is armed.
        self._closing = False
        #: The app returned while the close handshake was still open.
        self._app_done = False
        self._deadline: asyncio.TimerHandle | None = None
        #: The code the app is told on disconnect, when the transport closed first.
        self._failed_with: int | None = None
        #: The app has had its disconnect already.
        self._app_told = False
        #: The connection's TCPServer, whose transport :meth:`write_frame` writes to.
        self._server: TCPServer | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self._closed = value
        if value:
            # The scope's write_frame holds this stream: a cycle, broken on close (item 6).
            with contextlib.suppress(AttributeError, KeyError):
                del self.scope["extensions"][WRITE_FRAME]
            with contextlib.suppress(AttributeError, KeyError):
                del self.scope["extensions"][DETACH]
            self._server = None
            if self._ping_timer is not None:
                self._ping_timer.cancel()
                self._ping_timer = None
        task = self._ping_task
        if value and task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _send_pings(self) -> None:
        """Hypercorn's keep-alive (a ping now, then every ``websocket_ping_interval``)
        without a task that sleeps between pings: this returns at once, and a timer of
        the loop sends each ping (item 9)."""
        self._ping()

    def _ping(self) -> None:
        self._ping_timer = None
        server = self._server
        gone = server is not None and server.writer.transport.is_closing()
        if self.closed or self._closing or gone:
            # A connection that ended without its stream hearing of it (its task group
            # aborted) stops here too: the timer holds the stream and its server.
            return
        if not self.write_frame(PING_FRAME) and not self._ping_queued:
            # A write in progress, or bytes still waiting for the peer: the ping waits
            # its turn as Hypercorn's own would (one at most; the next timer skips).
            try:
                self.task_group.spawn(self._send_ping_in_turn)
            except RuntimeError:  # the connection's task group has finished: it is gone
                return
            self._ping_queued = True
        interval = self.config.websocket_ping_interval
        if interval is not None:
            self._ping_timer = asyncio.get_running_loop().call_later(interval, self._ping)

    async def _send_ping_in_turn(self) -> None:
        self._ping_task = asyncio.current_task()
        try:
            await self._send_wsproto_event(Ping())
        finally:
            self._ping_task = None
            self._ping_queued = False

    async def handle(self, event: Any) -> None:
        if isinstance(event, Request):
            await super().handle(event)
            if self.app_put is not None:  # the handshake reached the app
                self._server = _tcp_server_of(self.send)
                # ASGI types extensions as dicts; this one is private to the gateway.
                extensions: dict[str, Any] = self.scope["extensions"]
                extensions[WRITE_FRAME] = self.write_frame
                extensions[DETACH] = self.detach
            return
        if isinstance(event, StreamClosed):
            self._cancel_deadline()
            if self._app_done or self._app_told:
                # Nobody reads the app's queue any more: nothing may be put there.
                self.closed = True
                return
            if self._failed_with is not None and not self.closed and self.app_put is not None:
                self.closed = True
                self._app_told = True
                await self.app_put({"type": "websocket.disconnect", "code": self._failed_with})
                return
        elif isinstance(event, Body | Data) and self._closing and not self.closed:
            # Still read what the client sends, for its close frame; drop the rest.
            if self.connection.state is not ConnectionState.CLOSED:
                self.connection.receive_data(event.data)
                await self._handle_events()
            return
        await super().handle(event)

    async def app_send(self, message: Any) -> None:
        if self._closing and not self.closed:
            if message is None:
                # The app is done but the client has not answered our close yet: the
                # connection stays open until it does or the deadline passes.
                self._app_done = True
                self._release_app_queue()
                return
            if message["type"] in ("websocket.send", "websocket.close"):
                return  # the close frame is out: nothing more may follow it
        if (
            message is not None
            and message["type"] == "websocket.close"
            and self.state is ASGIWebsocketState.CONNECTED
            and not self.closed
        ):
            # Before the frame is written: frames arriving while the write waits are
            # already the client's last words.
            self._begin_closing()
        await super().app_send(message)

    def write_frame(self, frame: bytes) -> bool:
        """Write a complete server frame now, without waiting; False, writing nothing,
        unless the connection is open and idle.

        The app's prepared broadcast frames (item 8) come here instead of through
        ``app_send``. Idle means what Hypercorn's own send would not wait on: no
        write holds the connection's send lock (it waits for the peer to drain), no
        bytes are left in the transport's buffer, and neither side has begun to close.
        A write that is only waiting for the lock may be overtaken: such a waiter is a
        control frame (a ping or pong, whose order does not matter) or a close, which
        changes the stream's state before it waits and so refuses this write; the
        viewer's own writer is never idle while it sends (``Viewer._idle``).
        A frame written here is the bytes wsproto would write for the message; a server
        frame changes nothing in wsproto's state.
        """
        server = self._server
        if (
            server is None
            or self.state is not ASGIWebsocketState.CONNECTED
            or self.closed
            or self._closing
            or self.connection.state is not ConnectionState.OPEN
            or server.send_lock.locked()
        ):
            return False
        try:
            transport = server.writer.transport
            if transport.is_closing() or transport.get_write_buffer_size():
                return False
            transport.write(frame)
        except Exception:  # the caller delivers to other viewers next: never raise
            return False
        return True

    def detach(
        self, adopt: Callable[[asyncio.Transport, Any], asyncio.BaseProtocol]
    ) -> asyncio.BaseProtocol | None:
        """Hand the open connection to ``adopt(transport, wsproto_connection)``'s
        protocol (item 11) and return it; None, changing nothing, unless the connection
        is open and quiet: nothing the client sent is waiting to be read or handled
        (no message half received, none queued for the app), nothing is being written,
        and no ping waits its turn. The stream is then closed without a word to the
        app or the client; its ping timer stops (the new protocol keeps its own).
        """
        server = self._server
        queue = getattr(self.app_put, "__self__", None)
        if (
            server is None
            or not isinstance(server, ReleasingTCPServer)
            or self.state is not ASGIWebsocketState.CONNECTED
            or self.closed
            or self._closing
            or self.connection.state is not ConnectionState.OPEN
            or self._ping_task is not None
            or self.buffer.value is not None
            or not isinstance(queue, AppQueue)
            or not queue.empty()
            or not _quiet(server)
        ):
            return None
        transport = server.writer.transport
        protocol = adopt(transport, self.connection)  # type: ignore[arg-type]
        self.closed = True  # before the hand-over: this stream writes nothing more
        server.detach(protocol)
        return protocol

    async def _handle_events(self) -> None:
        for event in self.connection.events():
            if isinstance(event, CloseConnection):
                await self._on_close_frame(event)
                return
            if self._closing:
                continue  # after our close frame: nothing but the client's close matters
            if isinstance(event, Message):
                try:
                    self.buffer.extend(event)
                except FrameTooLargeError:
                    await self._fail(MESSAGE_TOO_BIG)
                    continue
                if event.message_finished:
                    assert self.app_put is not None
                    await self.app_put(self.buffer.to_message())
                    self.buffer.clear()
            elif isinstance(event, Ping):
                await self._send_wsproto_event(event.response())

    async def _on_close_frame(self, event: CloseConnection) -> None:
        state = self.connection.state
        if state is ConnectionState.REMOTE_CLOSING:
            await self._send_wsproto_event(event.response())  # the client closed first
        elif state is ConnectionState.OPEN:
            # wsproto could not parse a frame (ParseFailed): it reports the close code
            # the peer earned without changing state. RFC 6455 §7.1.7: fail the
            # connection, with that code in our close frame.
            await self._send_wsproto_event(CloseConnection(code=event.code))
            if self._failed_with is None and self.state is ASGIWebsocketState.CONNECTED:
                self._failed_with = event.code
        # Otherwise the client answered our close frame: the handshake is complete.
        await self.send(StreamClosed(stream_id=self.stream_id))

    async def _fail(self, code: int) -> None:
        """Close with ``code`` and tell the app now; TCP follows the closing handshake."""
        self.buffer.clear()
        self._begin_closing()
        await self._send_wsproto_event(CloseConnection(code=code))
        self._failed_with = code
        if self.app_put is not None and not self._app_told:
            # The app stops counting this viewer now; it hears of no further frame.
            self._app_told = True
            await self.app_put({"type": "websocket.disconnect", "code": code})

    def _begin_closing(self) -> None:
        self._closing = True
        if self._deadline is None and not self.closed:
            timeout = getattr(self.config, "websocket_close_timeout", DEFAULT_CLOSE_TIMEOUT_SECONDS)
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(timeout, self._deadline_passed)

    def _deadline_passed(self) -> None:
        self._deadline = None
        if not self.closed:
            # RuntimeError: the connection's task group has finished already.
            with contextlib.suppress(RuntimeError):
                self.task_group.spawn(self._close_transport)

    async def _close_transport(self) -> None:
        if not self.closed:
            await self.send(StreamClosed(stream_id=self.stream_id))

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _release_app_queue(self) -> None:
        """Empty the finished app's receive queue, so no put waits on it forever.

        Hypercorn hands client frames to the app through a bounded queue
        (``max_app_queue_size``); a frame put while the queue was full waits for the
        app to read, which a finished app never does, and that wait would hold the
        connection's read loop, and the connection, forever.
        """
        queue = getattr(self.app_put, "__self__", None)
        if isinstance(queue, AppQueue | asyncio.Queue):
            while not queue.empty():
                queue.get_nowait()


class AppQueue:
    """The bounded queue through which Hypercorn hands a connection's events to its app
    (item 10): ``asyncio.Queue``'s ``put``, ``get``, ``get_nowait`` and ``empty``, with
    the same order, bound and cancellation rules, held in one list; the lists of
    waiting getters and putters exist only while someone waits."""

    __slots__ = ("_getters", "_items", "_maxsize", "_putters")

    def __init__(self, maxsize: int = 0) -> None:
        self._items: list[Any] = []
        self._maxsize = maxsize
        self._getters: list[asyncio.Future[None]] | None = None
        self._putters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self._maxsize <= len(self._items)

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        if self.full():
            raise asyncio.QueueFull
        self._items.append(item)
        _wake_next(self._getters)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.pop(0)
        _wake_next(self._putters)
        return item

    async def put(self, item: Any) -> None:
        while self.full():
            if self._putters is None:
                self._putters = []
            await _wait_in_line(self._putters, lambda: not self.full())
        self.put_nowait(item)

    async def get(self) -> Any:
        while not self._items:
            if self._getters is None:
                self._getters = []
            await _wait_in_line(self._getters, lambda: bool(self._items))
        return self.get_nowait()


async def _wait_in_line(line: list[asyncio.Future[None]], ready: Callable[[], bool]) -> None:
    """Wait to be woken, as ``asyncio.Queue`` does: a waiter cancelled after it was woken
    passes the wake-up on to the next in line, so none is lost."""
    waiter = asyncio.get_running_loop().create_future()
    line.append(waiter)
    try:
        await waiter
    except BaseException:
        waiter.cancel()
        with contextlib.suppress(ValueError):
            line.remove(waiter)
        if ready() and not waiter.cancelled():
            _wake_next(line)
        raise


def _wake_next(line: list[asyncio.Future[None]] | None) -> None:
    while line:
        waiter = line.pop(0)
        if not waiter.done():
            waiter.set_result(None)
            break


class LeanTaskGroup(TaskGroup):
    """Hypercorn's per-connection task group, whose apps receive through an
    :class:`AppQueue` (item 10); otherwise Hypercorn's ``spawn_app``, line for line."""

    async def spawn_app(
        self,
        app: Any,
        config: Config,
        scope: Any,
        send: Callable[[Any], Awaitable[None]],
    ) -> Callable[[Any], Awaitable[None]]:
        app_queue = AppQueue(config.max_app_queue_size)

        def _call_soon(func: Callable[..., Any], *args: Any) -> Any:
            future = asyncio.run_coroutine_threadsafe(func(*args), self._loop)
            return future.result()

        self.spawn(
            _handle,
            app,
            config,
            scope,
            app_queue.get,
            send,
            functools.partial(self._loop.run_in_executor, None),
            _call_soon,
        )
        return app_queue.put


def _tcp_server_of(send: Any) -> TCPServer | None:
    """The TCPServer under a stream: its ``send`` is ``H11Protocol.stream_send``, whose
    own ``send`` is ``TCPServer.protocol_send`` (None if Hypercorn wires it otherwise)."""
    protocol = getattr(send, "__self__", None)
    server = getattr(getattr(protocol, "send", None), "__self__", None)
    return server if isinstance(server, TCPServer) else None


def patch_hypercorn() -> None:
    """Install the gateway's changes into Hypercorn's modules (idempotent).

    Raises :class:`RuntimeError` when Hypercorn no longer has the names replaced
    here, so an upgrade that moved them fails at start-up rather than silently
    bringing back what these changes prevent.
    """
    targets = (
        (hypercorn_protocol, "H11Protocol", HTTP11Only),
        (hypercorn_h11, "WSStream", BoundedCloseWSStream),
        (ws_stream, "PerMessageDeflate", DeclinedDeflate),
        (hypercorn_asyncio_run, "TCPServer", ReleasingTCPServer),
        (hypercorn_tcp_server, "TaskGroup", LeanTaskGroup),
    )
    for module, name, replacement in targets:
        current = getattr(module, name, None)
        where = f"{module.__name__}.{name}"
        if current is None:
            raise RuntimeError(f"{where} is gone: review gateway/hypercorn_patches.py")
        if current is not replacement and not issubclass(replacement, current):
            raise RuntimeError(f"{where} changed: review gateway/hypercorn_patches.py")
        setattr(module, name, replacement)


class AsyncioWithGatedTLS:
    """The ``asyncio`` module as ``hypercorn.asyncio.run`` sees it: the same, except that
    its listeners bound their TLS handshakes (:mod:`gateway.accept`)."""

    def __init__(self, handshakes: int) -> None:
        self.start_server = functools.partial(accept.start_server, handshakes=handshakes)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


def gate_tls_handshakes(handshakes: int) -> None:
    """Hypercorn's TLS listeners run at most ``handshakes`` handshakes at once per
    worker (``tls.handshakes_in_flight``); call before serving."""
    current = getattr(hypercorn_asyncio_run, "asyncio", None)
    if current is not asyncio and not isinstance(current, AsyncioWithGatedTLS):
        raise RuntimeError(
            "hypercorn.asyncio.run no longer imports asyncio: review gateway/accept.py"
        )
    setattr(hypercorn_asyncio_run, "asyncio", AsyncioWithGatedTLS(handshakes))  # noqa: B010
