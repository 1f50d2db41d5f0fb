"""TLS listeners that take on only as many handshakes as a worker can finish.

asyncio's ``start_server`` accepts every connection the kernel has queued and starts
its TLS handshake at once. When an instance dies, its viewers (thousands) reconnect to
the others within the same second; every handshake then advances a step per loop
turn, a turn takes seconds, every one of them finishes late, and a viewer whose
admission misses ``broker.timeout_seconds`` is closed with 1013 and comes back to pay
for another handshake (``bench/storm.py``: 800–2,500 such retries per run of 5,000).

:func:`start_server` has the same signature and, for TLS, accepts a connection only
while fewer than ``limit`` handshakes hold a slot in this worker; the others wait in
the kernel's accept queue (``server.BACKLOG``), where a waiting connection costs the
process nothing. Handshakes then finish in the order the clients came, at the rate the
CPU allows, and the loop stays quick enough for the admissions that follow them.

A handshake holds its slot until it finishes or fails, with two exceptions, so that
clients that connect and then say nothing cannot keep the door shut:

- while slots are held, every :data:`TICK_SECONDS` the listener checks that its loop
  keeps time; when it does (the worker has CPU to spare), handshakes older than
  :data:`STALLED_SECONDS` are waiting on their clients, not on the worker, and give
  their slots back. This also keeps a worker busy while a slow client population
  answers: in ``bench/storm.py`` it took the storm from 20–22 s to 14–17 s;
- whatever the loop does, no handshake holds a slot longer than :data:`SLOT_SECONDS`
  (give or take a tick: the same tick releases both).

Hypercorn calls ``asyncio.start_server`` from its worker (``hypercorn.asyncio.run``);
:func:`gateway.hypercorn_patches.gate_tls_handshakes` points that one call here, with
``tls.handshakes_in_flight``. Plain listeners (TLS ends at a proxy) are asyncio's own.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("gateway.accept")

#: The longest one handshake keeps the others waiting.
SLOT_SECONDS = 1.0
#: How often the listener checks whether its event loop keeps time.
TICK_SECONDS = 0.05
#: A tick at most this late means the loop is idle enough to take more connections.
IDLE_LAG_SECONDS = 0.02
#: On such a tick, a handshake this old is waiting on its client, not on this
#: worker's CPU: it gives its slot back.
STALLED_SECONDS = 0.25
#: After the process ran out of file descriptors or memory, accepting resumes this
#: much later (asyncio waits the same second).
RESOURCE_PAUSE_SECONDS = 1.0
#: What accept() raises when the process or the system is out of a resource.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: How handshakes end when the client is not a TLS client, leaves or is too slow
#: (ssl.SSLError, ConnectionError and TimeoutError are OSErrors).
HANDSHAKE_FAILURES = (OSError, EOFError)
#: asyncio's default StreamReader buffer limit.
STREAM_LIMIT = 2**16

ClientConnected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def start_server(
    client_connected_cb: ClientConnected,
    *,
    sock: socket.socket,
    backlog: int = 100,
    ssl: ssl.SSLContext | None = None,
    ssl_handshake_timeout: float | None = None,
    handshakes: int,
) -> Any:
    """``asyncio.start_server`` as Hypercorn's worker calls it, with at most
    ``handshakes`` TLS handshakes in progress (a plain listener is asyncio's own)."""
    if ssl is None:
        return await asyncio.start_server(client_connected_cb, sock=sock, backlog=backlog)
    server = GatedServer(
        client_connected_cb,
        sock,
        ssl,
        limit=handshakes,
        handshake_timeout=ssl_handshake_timeout,
        backlog=backlog,
    )
    server.start()
    return server


class HandshakeCounts:
    """This process's TLS handshakes, for ``/metrics`` (every gated listener adds here)."""

    __slots__ = ("failed", "in_progress")

    def __init__(self) -> None:
        #: Accepted, handshake not yet finished or failed.
        self.in_progress = 0
        #: Ended without a TLS session: not TLS, the client left, or too slow.
        self.failed = 0


#: The process's counts (a worker is one process; its listeners share them).
counts = HandshakeCounts()


class _Slot:
    """One accepted connection on its way through the handshake."""

    __slots__ = ("conn", "handed")

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        #: The loop has the socket (it builds the transport before its first await).
        self.handed = False


class GatedServer:
    """A listening socket whose TLS handshakes are bounded; asyncio's Server API as far
    as Hypercorn uses it (``close``, ``wait_closed``, ``sockets``)."""

    def __init__(
        self,
        client_connected_cb: ClientConnected,
        sock: socket.socket,
        context: ssl.SSLContext,
        *,
        limit: int,
        handshake_timeout: float | None = None,
        backlog: int = 100,
        slot_seconds: float = SLOT_SECONDS,
        stalled_seconds: float = STALLED_SECONDS,
        idle_lag: float = IDLE_LAG_SECONDS,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._callback = client_connected_cb
        self._sock = sock
        self._context = context
        self._limit = limit
        self._handshake_timeout = handshake_timeout
        self._backlog = backlog
        self._slot_seconds = slot_seconds
        self._stalled_seconds = stalled_seconds
        self._idle_lag = idle_lag
        #: Slots held, with when each was taken: oldest first (a dict keeps insertion
        #: order). A slot leaves it when its handshake ends or the tick releases it.
        self._slots: dict[_Slot, float] = {}
        self._tick: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        #: Connections accepted so far (tests wait on it).
        self.accepted = 0
        self._handshakes: set[asyncio.Task[None]] = set()
        self._reading = False
        #: Out of file descriptors (or memory): not accepting until this fires.
        self._resume: asyncio.TimerHandle | None = None
        self._closed = asyncio.Event()
        self._serving = False

    @property
    def holding(self) -> int:
        """Handshakes holding a slot."""
        return len(self._slots)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._closed.is_set() else (self._sock,)

    def start(self) -> None:
        self._sock.setblocking(False)
        self._sock.listen(self._backlog)
        self._serving = True
        self._watch()

    def _schedule_tick(self) -> None:
        due = self._loop.time() + TICK_SECONDS
        self._tick = self._loop.call_at(due, self._ticked, due)

    def _ticked(self, due: float) -> None:
        """While slots are held, every TICK_SECONDS: a loop that keeps time has room for
        more handshakes, so slots held by silent or stalled clients go back to the
        queue; a late loop is busy, and only finished handshakes (or slot_seconds)
        let more in."""
        self._tick = None
        try:
            now = self._loop.time()
            oldest_kept = self._slot_seconds
            if now - due <= self._idle_lag:
                oldest_kept = min(oldest_kept, self._stalled_seconds)
            for slot, taken in list(self._slots.items()):
                if now - taken < oldest_kept:
                    break
                self._release(slot)
        finally:
            if self._serving and self._slots:
                self._schedule_tick()

    def is_serving(self) -> bool:
        return self._serving

    def close(self) -> None:
        """Stop accepting, and cancel the handshakes not yet finished: a shutdown
        must not wait the handshake timeout for clients that never finish.
        Connections whose handshake is done belong to the callback."""
        if not self._serving:
            return
        self._serving = False
        self._unwatch()
        if self._tick is not None:
            self._tick.cancel()
        if self._resume is not None:
            self._resume.cancel()
        self._sock.close()
        for task in self._handshakes:
            task.cancel()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)

    def _watch(self) -> None:
        if (
            self._serving
            and not self._reading
            and self._resume is None
            and self.holding < self._limit
        ):
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._reading = True

    def _unwatch(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False

    def _accept(self) -> None:
        while self.holding < self._limit:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the client gave up while it waited in the queue
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRNOS:
                    raise
                log.warning(
                    "accept paused: %s",
                    exc.strerror,
                    extra={"event": "accept_paused", "errno": exc.errno},
                )
                self._unwatch()
                self._resume = self._loop.call_later(RESOURCE_PAUSE_SECONDS, self._resumed)
                return
            self.accepted += 1
            counts.in_progress += 1
            slot = _Slot(conn)
            self._slots[slot] = self._loop.time()
            if self._tick is None:
                self._schedule_tick()
            task = self._loop.create_task(self._handshake(slot))
            self._handshakes.add(task)
            task.add_done_callback(functools.partial(self._finished, slot))
        self._unwatch()  # full: the kernel's queue holds the rest

    def _resumed(self) -> None:
        self._resume = None
        self._watch()

    def _release(self, slot: _Slot) -> None:
        if self._slots.pop(slot, None) is not None:
            self._watch()

    def _finished(self, slot: _Slot, task: asyncio.Task[None]) -> None:
        self._handshakes.discard(task)
        counts.in_progress -= 1
        if not slot.handed:
            slot.conn.close()  # cancelled before it started: the socket is still ours
        self._release(slot)

    async def _handshake(self, slot: _Slot) -> None:
        reader = asyncio.StreamReader(limit=STREAM_LIMIT, loop=self._loop)
        protocol = asyncio.StreamReaderProtocol(reader, self._callback, loop=self._loop)
        slot.handed = True
        try:
            await self._loop.connect_accepted_socket(
                lambda: protocol,
                slot.conn,
                ssl=self._context,
                ssl_handshake_timeout=self._handshake_timeout,
            )
        except asyncio.CancelledError:
            raise  # the loop closes the transport, and the socket with it
        except Exception as exc:
            # A failed handshake (a scanner, a client that left, a timeout). The
            # loop has closed or is closing the transport; this close ends a socket
            # it never took (uvloop holds an I/O reference, so there it only marks
            # the Python object).
            slot.conn.close()
            counts.failed += 1
            if not isinstance(exc, HANDSHAKE_FAILURES):
                log.warning(
                    "TLS handshake failed unexpectedly: %s",
                    type(exc).__name__,
                    extra={"event": "handshake_error", "error": type(exc).__name__},
                )
