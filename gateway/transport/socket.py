"""A viewer's WebSocket after the upgrade, on the transport itself.

Hypercorn serves the upgrade: the HTTP request, the Origin check, a refusal as a
problem document, the 101. Kept for the connection's whole life, it would also keep
its per-connection machinery: the read loop's task and streams, the HTTP/1.1 and
WebSocket stream objects, the ASGI app task and its queue, the request scope; about
15 KiB of Python objects for each idle screen (README, Performance). Once the 101 is
out, :class:`ViewerSocket` takes the transport over instead
(``gateway/hypercorn_patches.py``, item 11) and speaks the rest of the protocol as a
plain ``asyncio.Protocol``: an idle viewer is this object, its wsproto connection, two
timers and the hub's :class:`~gateway.hub.Viewer`, with no task at all.

It keeps every rule Hypercorn and the patches kept (docs/protocol.md §4.4–4.6):

- a ping every ``websocket.ping_interval_seconds``; nothing received for
  ``websocket.idle_timeout_seconds`` drops the connection without a close frame;
- client pings are answered; a message over ``websocket.max_message_bytes``
  (characters for text, bytes for binary, counted as it arrives) is failed at once
  with 1009; a frame wsproto cannot parse gets its close code (1002, 1007) and the
  connection ends;
- after the gateway's close frame, the connection ends when the client's close frame
  arrives or ``websocket.close_timeout_seconds`` later, and other frames are dropped;
  a client that closes first gets its own code back;
- client messages reach the :class:`~gateway.transport.protocol.ViewerProtocol` in
  order, through a small inbox drained by a task that exists only while messages
  wait; a client that sends faster than that is read no further until it empties.

Broadcasts and replies go out as :class:`DirectSend` writes while the transport is
idle; what has to wait goes through the viewer's queue and a writer task started then,
which waits for the transport to drain (``pause_writing``/``resume_writing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from wsproto.connection import Connection, ConnectionState
from wsproto.events import CloseConnection, Message, Ping

from .. import wire
from ..errors import RateLimited
from ..hub import Farewell, Hub, Outgoing, Viewer
from ..ratelimit import RateLimiter
from .protocol import CLIENT_GONE, TRANSPORT_CLOSES, ViewerProtocol

log = logging.getLogger("gateway.ws")

CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
MESSAGES_RULE = "ws_messages_per_connection"
#: How long a last message (SESSION_EXPIRED) may take to leave before the close.
FINAL_SEND_SECONDS = 2.0
#: A server's ping with no payload (RFC 6455 §5.5.2): what wsproto writes for ``Ping()``.
PING_FRAME = b"\x89\x00"
#: Client messages waiting for the protocol before the socket stops reading: the bound
#: of Hypercorn's own hand-over queue (``max_app_queue_size``).
INBOX_LIMIT = 10
#: Client frames handled in one turn of the event loop before the socket lets the other
#: connections run (an empty pong costs about 7 µs: a turn stays under 2 ms).
FRAMES_PER_TURN = 256


class SocketPolicy:
    """What every viewer socket of a process shares: the limits and the services."""

    __slots__ = (
        "_emptied",
        "close_timeout",
        "hub",
        "idle_timeout",
        "limiter",
        "max_size",
        "open",
        "ping_interval",
        "tasks",
    )

    def __init__(
        self,
        hub: Hub,
        limiter: RateLimiter,
        *,
        max_size: int,
        ping_interval: float | None,
        idle_timeout: float,
        close_timeout: float,
    ) -> None:
        self.hub = hub
        self.limiter = limiter
        self.max_size = max_size
        self.ping_interval = ping_interval
        #: Hypercorn's ``read_timeout`` was whole seconds (docs/protocol.md §4.5).
        self.idle_timeout = float(int(idle_timeout) or 1)
        self.close_timeout = close_timeout
        #: The sockets whose transport is still open, for the drain.
        self.open: set[ViewerSocket] = set()
        #: Each socket's closing task, held until it ends.
        self.tasks: set[asyncio.Task[None]] = set()
        self._emptied: asyncio.Event | None = None

    def closed(self, socket: ViewerSocket) -> None:
        self.open.discard(socket)
        if not self.open and self._emptied is not None:
            self._emptied.set()

    async def wait_closed(self, seconds: float) -> bool:
        """Wait until every socket's transport has closed; False if some remain."""
        if self.open:
            emptied = self._emptied = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await emptied.wait()
            self._emptied = None
        return not self.open


class ViewerSocket(asyncio.Protocol):
    """One viewer's WebSocket from the 101 on (see the module docstring)."""

    __slots__ = (
        "_busy",
        "_closed",
        "_closing",
        "_connection_id",
        "_deadline",
        "_drained",
        "_failed",
        "_idle_timer",
        "_inbox",
        "_inbox_full",
        "_inbox_task",
        "_last_read",
        "_loop",
        "_message",
        "_paused",
        "_ping_timer",
        "_size",
        "_stalled",
        "_writer",
        "client_ip",
        "path",
        "policy",
        "protocol",
        "transport",
        "viewer",
        "ws",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        ws: Connection,
        policy: SocketPolicy,
        *,
        client_ip: str | None,
        path: str,
    ) -> None:
        self.transport: asyncio.Transport | None = transport
        self.ws = ws
        self.policy = policy
        self.client_ip = client_ip
        self.path = path
        self.viewer: Viewer | None = None
        self.protocol: ViewerProtocol | None = None
        self._loop = asyncio.get_running_loop()
        #: Our close frame is out: client frames but its close are dropped.
        self._closing = False
        #: The transport has closed (connection_lost).
        self._closed = False
        #: The code of the close frame the socket sent itself (1002, 1007, 1009).
        self._failed: int | None = None
        #: The transport's buffer is over its high-water mark.
        self._paused = False
        self._drained: asyncio.Future[None] | None = None
        #: A message arriving in fragments, and its length so far (characters for
        #: text, bytes for binary, as Hypercorn counted them).
        self._message: io.StringIO | bytearray | None = None
        self._size = 0
        #: Finished client messages not yet answered: text, or None for binary.
        self._inbox: deque[str | None] | None = None
        self._inbox_task: asyncio.Task[None] | None = None
        #: The inbox holds INBOX_LIMIT messages: nothing more is read or parsed.
        self._inbox_full = False
        #: A pong was written to a full buffer: nothing more is read until it drains.
        self._stalled = False
        #: A batch of frames was handled this turn: the rest waits for the next one.
        self._busy = False
        self._writer: asyncio.Task[None] | None = None
        self._connection_id: str | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._last_read = self._loop.time()
        self._ping_timer: asyncio.TimerHandle | None = None
        if policy.ping_interval is not None:
            self._ping_timer = self._loop.call_later(policy.ping_interval, self._ping)
        self._idle_timer: asyncio.TimerHandle | None = self._loop.call_later(
            policy.idle_timeout, self._idle_check
        )
        policy.open.add(self)

    # --- the connection's life, as the app sees it ------------------------------------

    def serve(self, viewer: Viewer, protocol: ViewerProtocol, opening: Sequence[str]) -> None:
        """Send the first messages and serve ``viewer`` until its farewell; the socket
        then closes as the farewell says, leaves the hub and logs the close."""
        self.viewer = viewer
        self.protocol = protocol
        viewer.done.add_done_callback(self._farewell)
        if self._closed or self._closing:
            viewer.finish(ViewerProtocol.disconnected(self._failed))
            return
        for text in opening:
            self._write(wire.text_frame(text))
        viewer.direct = DirectSend(protocol, self._write_frame)
        viewer.start_writer_lazily(self._start_writer)
        if self._inbox:
            self._start_inbox()

    def close(self, code: int, reason: str) -> bool:
        """Send a close frame with ``code`` (a refusal after the 101, or a farewell);
        False if the connection is closing or closed already."""
        if self._closed or self._closing:
            return False
        self._write(self.ws.send(CloseConnection(code=code, reason=reason)))
        self._begin_closing()
        return True

    def abort(self) -> None:
        """End the connection now, without a close frame."""
        if self.transport is not None and not self._closed:
            self.transport.abort()

    # --- asyncio.Protocol ----------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._closed or self.ws.state is ConnectionState.CLOSED:
            return  # the closing handshake is complete: the transport is closing
        self._last_read = self._loop.time()
        self.ws.receive_data(data)
        self._parse()

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost follows

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_writer()
        if self._stalled:
            self._stalled = False
            self._loop.call_soon(self._read_on)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.transport = None
        for timer in (self._ping_timer, self._idle_timer, self._deadline):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._idle_timer = self._deadline = None
        self._wake_writer()
        self.policy.closed(self)
        if self.viewer is not None:
            self.viewer.finish(ViewerProtocol.disconnected(self._failed))

    # --- what the client sends ----------------------------------------------------------

    def _parse(self) -> None:
        """Handle what wsproto holds while the socket may read (the rest waits there)."""
        try:
            self._handle_events()
        except Exception:
            log.exception("unhandled error", extra={"event": "unhandled_error"})
            self.abort()

    def _handle_events(self) -> None:
        if not self._may_read():
            return  # what arrives while the socket does not read waits in wsproto
        ws = self.ws
        handled = 0
        for event in ws.events():
            handled += 1
            if isinstance(event, CloseConnection):
                self._on_close_frame(event)
                return
            if self._closing:
                continue  # after our close frame: nothing but the client's close matters
            if isinstance(event, Message):
                self._on_message(event)
            elif isinstance(event, Ping):
                self._write(ws.send(event.response()))
                if self._paused:
                    # Its pong joins a full buffer: the client does not read, and is not
                    # read either until it does (as Hypercorn's read loop waited for the
                    # drain), so its pings cannot pile pongs up in memory.
                    self._stalled = True
                    self._sync_reading()
            if handled >= FRAMES_PER_TURN:
                # A flood of cheap frames (empty pongs or fragments) would hold the
                # loop, and every other viewer, for a whole read or several: the rest
                # waits for the next turn.
                self._busy = True
                self._sync_reading()
                self._loop.call_soon(self._next_turn)
                return
            if not self._may_read():
                return  # the inbox is full, or the client owes a drain: the rest waits

    def _next_turn(self) -> None:
        self._busy = False
        self._read_on()

    def _may_read(self) -> bool:
        """Whether to read and parse more: not before the loop's next turn after a
        batch; otherwise always while closing (for the client's close frame), and
        while the inbox has room and no pong waits on a full buffer."""
        if self._busy:
            return False
        return self._closing or not (self._inbox_full or self._stalled)

    def _sync_reading(self) -> None:
        transport = self.transport
        if transport is None or self._closed:
            return
        if self._may_read():
            if not transport.is_reading():
                transport.resume_reading()
        elif transport.is_reading():
            transport.pause_reading()

    def _read_on(self) -> None:
        """Room again (the inbox, the client's reading, or the close): handle what
        wsproto kept, then read on unless that filled the room again."""
        if self._closed or not self._may_read():
            return
        self._parse()
        self._sync_reading()

    def _on_close_frame(self, event: CloseConnection) -> None:
        ws = self.ws
        state = ws.state
        if state is ConnectionState.REMOTE_CLOSING:
            self._write(ws.send(event.response()))  # the client closed first: its code back
        elif state is ConnectionState.OPEN:
            # wsproto could not parse a frame: it reports the code the peer earned
            # without changing state. RFC 6455 §7.1.7: fail the connection with it.
            self._write(ws.send(CloseConnection(code=event.code)))
            self._failed = event.code
        # Otherwise the client answered our close frame: the handshake is complete.
        # The transport closes once its buffer is out, within the close timeout; the
        # viewer ends now (it stops counting, and the drain need not wait for it).
        self._begin_closing()
        if self.transport is not None:
            self.transport.close()
        if self.viewer is not None:
            self.viewer.finish(ViewerProtocol.disconnected(self._failed))

    def _on_message(self, event: Message[Any]) -> None:
        """Count a message as it arrives; a whole one goes to :meth:`_finished`.

        Fragments are gathered in one buffer, as Hypercorn's ``WebsocketBuffer`` does, so
        a flood of empty fragments costs nothing but the time to parse them.
        """
        data = event.data
        message = self._message
        if message is None:
            self._size = 0
            if event.message_finished:  # one frame, the usual case
                if len(data) > self.policy.max_size:
                    self._fail(CLOSE_TOO_BIG)
                else:
                    self._finished(data if isinstance(data, str) else bytes(data))
                return
            message = self._message = io.StringIO() if isinstance(data, str) else bytearray()
        self._size += len(data)
        if self._size > self.policy.max_size:
            self._fail(CLOSE_TOO_BIG)
            return
        if isinstance(message, io.StringIO):
            message.write(data)
        else:
            message += data
        if event.message_finished:
            self._message = None
            if isinstance(message, io.StringIO):
                self._finished(message.getvalue())
            else:
                self._finished(bytes(message))

    def _finished(self, message: str | bytes) -> None:
        """A whole message arrived: queue it for the protocol (binary as None: the
        protocol ends the connection for it, whatever it says)."""
        self._take(None if isinstance(message, bytes) else message)

    def _fail(self, code: int) -> None:
        """Close with ``code`` now and tell the viewer; TCP follows the closing handshake."""
        self._message = None
        self._write(self.ws.send(CloseConnection(code=code)))
        self._failed = code
        self._begin_closing()
        if self.viewer is not None:
            self.viewer.finish(ViewerProtocol.disconnected(code))

    def _take(self, text: str | None) -> None:
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(text)
        if len(inbox) >= INBOX_LIMIT and not self._inbox_full:
            self._inbox_full = True
            self._sync_reading()
        if self.protocol is not None and self._inbox_task is None:
            self._start_inbox()

    def _start_inbox(self) -> None:
        viewer = self.viewer
        assert viewer is not None
        task = asyncio.create_task(self._answer(), name="ws-inbox")
        task.add_done_callback(lambda t: _inbox_ended(viewer, t))
        self._inbox_task = task

    async def _answer(self) -> None:
        """Answer the client's messages in order, each counted against
        ``ws_messages_per_connection``; once the viewer has its farewell, drop them."""
        viewer, protocol, inbox = self.viewer, self.protocol, self._inbox
        assert viewer is not None
        assert protocol is not None
        assert inbox is not None
        limiter = self.policy.limiter
        try:
            while inbox:
                text = inbox.popleft()
                if self._inbox_full and len(inbox) < INBOX_LIMIT // 2:
                    self._inbox_full = False
                    self._read_on()
                if viewer.done.done():
                    continue
                if self._connection_id is None:
                    self._connection_id = limiter.connection_id()
                await answer(viewer, protocol, limiter, self._connection_id, text)
        finally:
            self._inbox_task = None
            if not inbox:
                self._inbox = None

    # --- what the gateway sends -----------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self._closed:
            self.transport.write(data)

    def _write_frame(self, frame: bytes) -> bool:
        """Write a whole frame now if the transport is idle and open (DirectSend)."""
        transport = self.transport
        if (
            transport is None
            or self._closing
            or self._paused
            or transport.is_closing()
            or transport.get_write_buffer_size()
        ):
            return False
        try:
            transport.write(frame)
        except Exception:  # the hub delivers to other viewers next: never raise
            return False
        return True

    def _start_writer(self) -> None:
        viewer = self.viewer
        assert viewer is not None
        task = asyncio.create_task(self._send_queued(), name="ws-writer")
        task.add_done_callback(lambda t: task_ended(viewer, t))
        self._writer = task

    async def _send_queued(self) -> None:
        """Send queued messages in order, as the protocol says, at the peer's pace."""
        viewer, protocol = self.viewer, self.protocol
        assert viewer is not None
        assert protocol is not None
        while True:
            item = await viewer.next()
            if protocol.covers(item):
                continue
            if self._closing or self._closed:
                continue  # the viewer has its farewell already: drop it
            self._write(item.frame)
            protocol.sent(item)
            await self._drain()

    async def _drain(self) -> None:
        while self._paused and not self._closed:
            waiter = self._drained = self._loop.create_future()
            try:
                await waiter
            finally:
                self._drained = None

    def _wake_writer(self) -> None:
        waiter = self._drained
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _ping(self) -> None:
        self._ping_timer = None
        if self._closed or self._closing:
            return
        if not self._paused:
            self._write(PING_FRAME)
        interval = self.policy.ping_interval
        if interval is not None:
            self._ping_timer = self._loop.call_later(interval, self._ping)

    def _idle_check(self) -> None:
        """Drop a connection from which nothing arrived for the idle timeout (§4.5)."""
        self._idle_timer = None
        if self._closed:
            return
        left = self._last_read + self.policy.idle_timeout - self._loop.time()
        if left <= 0:
            self.abort()
            return
        self._idle_timer = self._loop.call_later(left, self._idle_check)

    def _begin_closing(self) -> None:
        """Our close frame is out (or the client's is in): drop unanswered messages,
        arm the deadline, and read on for the client's close frame."""
        self._closing = True
        self._inbox_full = False
        if self._inbox is not None:
            self._inbox.clear()  # the inbox task, if any, finds nothing more to answer
        if self._deadline is None and not self._closed:
            self._deadline = self._loop.call_later(self.policy.close_timeout, self.abort)
            self._loop.call_soon(self._read_on)

    # --- the end -------------------------------------------------------------------

    def _farewell(self, done: asyncio.Future[Farewell]) -> None:
        task = asyncio.create_task(self._end(done.result()), name="ws-close")
        tasks = self.policy.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _end(self, farewell: Farewell) -> None:
        """Close as ``farewell`` says: its last message and close frame, each bounded in
        time, after the viewer has left the hub (it stops counting at its close frame)."""
        viewer = self.viewer
        assert viewer is not None
        hub = self.policy.hub
        code: int | None = None if farewell is CLIENT_GONE else farewell.code
        try:
            for task in (self._writer, self._inbox_task):
                if task is not None:
                    task.cancel()
            if farewell is CLIENT_GONE:
                if not self._closing:
                    self.abort()
            elif farewell.code not in TRANSPORT_CLOSES and not self._closing:
                await hub.leave(viewer)
                code = await self._send_farewell(farewell)
        except Exception:
            log.exception("unhandled error", extra={"event": "unhandled_error"})
            self.abort()
        finally:
            viewer.finish(CLIENT_GONE)
            viewer.release()
            # A cancelled task keeps its CancelledError, whose traceback holds this
            # socket: a cycle, unless the socket lets go of its tasks.
            self._writer = self._inbox_task = None
            self.viewer = None
            self.protocol = None
            with contextlib.suppress(Exception):
                await hub.leave(viewer)
            log_close(viewer.session_id, code, self.client_ip, self.path)

    async def _send_farewell(self, farewell: Farewell) -> int | None:
        """Send the last message and the close frame; the close code that went out
        (another one, or None, if the connection began to close meanwhile)."""
        if farewell.final is not None and not (self._closing or self._closed):
            self._write(wire.text_frame(farewell.final))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FINAL_SEND_SECONDS):
                    await self._drain()
        # The deadline closes TCP whether or not the close frame could leave.
        if self.close(farewell.code, farewell.reason):
            return farewell.code
        return self._failed


class DirectSend:
    """A viewer's broadcasts written straight to the transport, framed once for all
    (``Viewer.offer``): no task wakes up, and wsproto never sees them."""

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


def task_ended(viewer: Viewer, task: asyncio.Task[None]) -> None:
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


async def answer(
    viewer: Viewer,
    protocol: ViewerProtocol,
    limiter: RateLimiter,
    connection: str,
    text: str | None,
) -> None:
    """Answer one client message (None: a binary one) as the protocol says, counted
    against ``ws_messages_per_connection`` for ``connection``: a reply, or the viewer's
    farewell."""
    if text is None:
        viewer.finish(protocol.receive_bytes())
        return
    try:
        await limiter.hit(MESSAGES_RULE, connection)
        within_quota = True
    except RateLimited:
        within_quota = False
    reply = protocol.receive_text(text, within_quota=within_quota)
    if isinstance(reply, Farewell):
        viewer.finish(reply)
    else:
        viewer.reply(reply)


def _inbox_ended(viewer: Viewer, task: asyncio.Task[None]) -> None:
    """The inbox task returns whenever the inbox is empty: only a failure ends the viewer."""
    if not task.cancelled() and task.exception() is not None:
        task_ended(viewer, task)


def log_close(session_id: str | None, code: int | None, client_ip: str | None, path: str) -> None:
    """One line per viewer connection; never the token or the query string."""
    log.info(
        "viewer closed",
        extra={
            "event": "ws_closed",
            "session_id": session_id,
            "close_code": code,  # None: the client went away first
            "client_ip": client_ip,
            "path": path,
        },
    )
