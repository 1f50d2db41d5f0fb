"""A TCP proxy between gateways and a real `redis-server` that can hold bytes back.

Redis runs a command as soon as it has read it, whether or not its reply arrives in
time; a proxy that holds replies (or requests) for longer than `broker.timeout_seconds`
produces exactly the unknown outcomes of SPEC §11.6 without touching either side.
It runs its own event loop in a thread, so tests can block while it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Hold:
    """Hold bytes for ``seconds`` once a client's request contains ``pattern``."""

    pattern: bytes
    seconds: float
    #: "replies": the server's answer is held; "requests": the request itself is.
    what: str = "replies"


class _TrackedProtocol(asyncio.StreamReaderProtocol):
    """asyncio's stream protocol, recording its transport as soon as it exists."""

    def __init__(self, registry: set[asyncio.BaseTransport], callback: Any) -> None:
        super().__init__(asyncio.StreamReader(), callback)
        self._registry = registry

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._registry.add(transport)
        super().connection_made(transport)


@dataclass
class RedisProxy:
    """Forwards 127.0.0.1:<port> to a Redis on ``target_port``."""

    target_port: int
    port: int = 0
    holds: list[Hold] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    #: Every socket this proxy ever had, so that none is left to the garbage collector.
    _transports: set[asyncio.BaseTransport] = field(default_factory=set)
    _stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stopping = asyncio.Event()
            self._server = loop.run_until_complete(
                loop.create_server(
                    lambda: _TrackedProtocol(self._transports, self._connection),
                    "127.0.0.1",
                    self.port,
                )
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="redis-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        """Close every connection and the loop (no task or stream is left for the GC)."""
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        # Connection tasks are never cancelled: asyncio 3.11's stream callback calls
        # task.exception() on them, which raises for a cancelled task, and a task
        # cancelled before its first step would never close its socket. Instead every
        # hold ends, every stream is aborted, and each task runs to its end.
        assert self._server is not None
        assert self._stopping is not None
        self._stopping.set()
        self.holds.clear()
        self._server.close()
        for writer in tuple(self._writers):
            writer.transport.abort()
        # Every task of this loop, including connections accepted but not yet started
        # (they see `_stopping` and abort their socket).
        current = asyncio.current_task()
        while others := [t for t in asyncio.all_tasks() if t is not current]:
            await asyncio.gather(*others, return_exceptions=True)
        for transport in self._transports:
            transport.abort()  # type: ignore[attr-defined]
        self._transports.clear()
        await self._server.wait_closed()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the proxy stops."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def hold(self, pattern: bytes, seconds: float, what: str = "replies") -> None:
        """From now on, hold the bytes named by ``what`` after a request with ``pattern``."""
        self.holds.append(Hold(pattern, seconds, what))

    def release(self) -> None:
        self.holds.clear()

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        assert self._stopping is not None
        if self._stopping.is_set():
            client_writer.transport.abort()
            return
        self._writers.add(client_writer)
        await self._relay(client_reader, client_writer)

    async def _relay(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            client_writer.transport.abort()
            self._writers.discard(client_writer)
            return
        self._transports.add(server_writer.transport)
        self._writers.add(server_writer)
        reply_hold_until = [0.0]

        async def upstream() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                await pump_up()

        async def pump_up() -> None:
            while chunk := await client_reader.read(65536):
                for hold in list(self.holds):
                    if hold.pattern in chunk:
                        if hold.what == "replies":
                            reply_hold_until[0] = time.monotonic() + hold.seconds
                        else:
                            # In flight: delivered later even if the client hangs up meanwhile.
                            await self._sleep(hold.seconds)
                server_writer.write(chunk)
                await server_writer.drain()
            server_writer.write_eof()

        async def downstream() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                await pump_down()

        async def pump_down() -> None:
            while chunk := await server_reader.read(65536):
                wait = reply_hold_until[0] - time.monotonic()
                if wait > 0:
                    await self._sleep(wait)
                client_writer.write(chunk)
                await client_writer.drain()
            client_writer.close()

        try:
            await asyncio.gather(upstream(), downstream())
        finally:
            for writer in (client_writer, server_writer):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
                self._writers.discard(writer)
