"""The gateway's changes to Hypercorn rest on names and shapes of Hypercorn 0.18: these
tests fail when an upgrade moves them, before any behaviour silently comes back.

The behaviour itself (HTTP/1.1 only, the bounded closing handshake, 1009 as the message
arrives, 1002/1007 close frames, no permessage-deflate) is tested from outside against
`gateway serve`: tests/test_e2e_wire.py and tests/test_conformance.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gc
import inspect
import json
import socket
import ssl
import time
import types
from collections.abc import AsyncIterator, Callable, Iterator
from types import ModuleType
from typing import Any
from wsgiref.handlers import format_date_time

import pytest
from hypercorn import protocol as hypercorn_protocol
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.asyncio import run as hypercorn_asyncio_run
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.asyncio import tcp_server as hypercorn_tcp_server
from hypercorn.asyncio.task_group import TaskGroup
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config
from hypercorn.events import Closed, RawData, Updated
from hypercorn.protocol import h11 as hypercorn_h11
from hypercorn.protocol import ws_stream
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import Handshake, WSStream
from websockets.asyncio.client import connect
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

from gateway import hypercorn_patches, wire
from gateway.app import create_app
from gateway.certs import DevCertificate
from gateway.config import JWTKey, parse_settings
from gateway.deadlines import LazyTimer
from gateway.hub import Viewer
from gateway.hypercorn_patches import (
    PING_FRAME,
    AppQueue,
    BoundedCloseWSStream,
    DeclinedDeflate,
    HTTP11Only,
    LeanTaskGroup,
    ReleasingTCPServer,
    patch_hypercorn,
)
from gateway.server import GatewayConfig
from gateway.transport.socket import ViewerSocket
from gateway.transport.ws import DETACH, WRITE_FRAME

TARGETS: list[tuple[ModuleType, str, type]] = [
    (hypercorn_protocol, "H11Protocol", HTTP11Only),
    (hypercorn_h11, "WSStream", BoundedCloseWSStream),
    (ws_stream, "PerMessageDeflate", DeclinedDeflate),
    (hypercorn_asyncio_run, "TCPServer", ReleasingTCPServer),
    (hypercorn_tcp_server, "TaskGroup", LeanTaskGroup),
]


@pytest.fixture
def pristine() -> Iterator[None]:
    """Hypercorn's own names back in place around a test, whatever it patched."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in TARGETS]
    for module, name, replacement in TARGETS:
        setattr(module, name, replacement.__mro__[1])
    yield
    for module, name, value in saved:
        setattr(module, name, value)


@pytest.mark.usefixtures("pristine")
def test_patching_replaces_each_name_once_and_again() -> None:
    """patch_hypercorn installs each replacement, and a second call changes nothing."""
    patch_hypercorn()
    patch_hypercorn()
    for module, name, replacement in TARGETS:
        assert getattr(module, name) is replacement


@pytest.mark.usefixtures("pristine")
@pytest.mark.parametrize(("module", "name", "replacement"), TARGETS, ids=lambda t: str(t))
def test_a_name_hypercorn_no_longer_has_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, replacement: type
) -> None:
    """If an upgrade removed or replaced a patched name, start-up fails loudly."""
    monkeypatch.delattr(module, name)
    with pytest.raises(RuntimeError, match="is gone"):
        patch_hypercorn()
    monkeypatch.setattr(module, name, type("Unrelated", (), {}), raising=False)
    with pytest.raises(RuntimeError, match="changed"):
        patch_hypercorn()


def test_the_protocol_wrapper_builds_h11_by_the_module_name() -> None:
    """ProtocolWrapper looks H11Protocol up in hypercorn.protocol when a connection starts."""
    source = inspect.getsource(hypercorn_protocol.ProtocolWrapper)
    assert "self.protocol = H11Protocol(" in source
    assert "H2CProtocolRequiredError" in source  # what HTTP11Only keeps from being raised


def test_h11_checks_the_protocol_and_builds_websocket_streams_by_name() -> None:
    """H11Protocol calls _check_protocol for each request and builds WSStream by name."""
    handle = inspect.getsource(H11Protocol._handle_events)
    assert "await self._check_protocol(event)" in handle
    assert "self.stream = WSStream(" in inspect.getsource(H11Protocol._create_stream)
    assert "error.error_status_hint" in handle  # what _send_error_response receives


def test_the_handshake_builds_permessage_deflate_by_the_module_name() -> None:
    """Handshake.accept instantiates PerMessageDeflate from ws_stream's namespace, so the
    patched class is the one offered to the client, and it declines."""
    assert "[PerMessageDeflate()]" in inspect.getsource(Handshake.accept)
    offer = [
        (b"connection", b"Upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
    ]
    patch_hypercorn()
    _, headers, _ = Handshake(offer, "1.1").accept(None, [])
    assert b"sec-websocket-extensions" not in dict(headers)


def test_the_stream_methods_the_subclass_overrides_still_exist() -> None:
    """BoundedCloseWSStream overrides methods of WSStream with these names and arguments."""
    for name in ("handle", "app_send", "_handle_events", "_send_wsproto_event", "_send_pings"):
        ours = inspect.signature(getattr(BoundedCloseWSStream, name))
        theirs = inspect.signature(getattr(WSStream, name))
        assert list(ours.parameters) == list(theirs.parameters), name
    source = inspect.getsource(WSStream)
    for attribute in ("self.buffer", "self.app_put", "self.closed", "self.task_group"):
        assert attribute in source


async def test_the_app_queue_is_reachable_from_the_put_hypercorn_hands_out() -> None:
    """spawn_app returns the bound put of the app's queue, an AppQueue (item 10): the
    finished app's queue is emptied through it (BoundedCloseWSStream._release_app_queue)."""
    config = Config()

    async def app(*args: object) -> None:
        return None

    async def send(message: object) -> None:
        return None

    async with LeanTaskGroup(asyncio.get_running_loop()) as group:
        put = await group.spawn_app(app, config, {"type": "websocket"}, send)
    assert isinstance(getattr(put, "__self__", None), AppQueue)


def test_the_lean_task_group_is_hypercorns_but_for_the_queue() -> None:
    """LeanTaskGroup.spawn_app copies Hypercorn's, with AppQueue in place of
    asyncio.Queue: if Hypercorn's changes, the copy must be reviewed. TCPServer builds
    its task group by the module name patched."""
    theirs = " ".join(inspect.getsource(TaskGroup.spawn_app).split())
    for part in (
        "app_queue: asyncio.Queue[ASGIReceiveEvent] = asyncio.Queue(config.max_app_queue_size)",
        "future = asyncio.run_coroutine_threadsafe(func(*args), self._loop) return future.result()",
        "self.spawn( _handle, app, config, scope, app_queue.get, send,"
        " partial(self._loop.run_in_executor, None), _call_soon, ) return app_queue.put",
    ):
        assert part in theirs
    assert "async with TaskGroup(self.loop) as task_group:" in inspect.getsource(TCPServer.run)


async def test_the_app_queue_hands_events_over_in_order_within_its_bound() -> None:
    """AppQueue as Hypercorn uses asyncio.Queue: FIFO, put waits while full, get waits
    while empty, and each wait ends as soon as the other side moves."""
    queue = AppQueue(2)
    await queue.put(1)
    await queue.put(2)
    assert queue.full()
    third = asyncio.create_task(queue.put(3))
    await asyncio.sleep(0)
    assert not third.done()  # bounded: the producer waits
    assert await queue.get() == 1
    await third
    assert [await queue.get(), await queue.get()] == [2, 3]
    assert queue.empty()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.put_nowait("late")
    assert await getter == "late"
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    unbounded = AppQueue()
    for i in range(100):
        unbounded.put_nowait(i)
    assert [unbounded.get_nowait() for _ in range(100)] == list(range(100))


async def test_a_cancelled_wait_on_the_app_queue_loses_nothing() -> None:
    """A getter cancelled after it was woken passes the wake-up on, and a cancelled
    put adds nothing: no event is lost or duplicated, no waiter is stranded."""
    queue = AppQueue(1)
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("event")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await second == "event"
    assert first.cancelled()
    queue.put_nowait("full")
    blocked = asyncio.create_task(queue.put("never"))
    await asyncio.sleep(0)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    assert queue.get_nowait() == "full"
    assert queue.empty()
    waiting = asyncio.create_task(queue.put("next"))
    await asyncio.sleep(0)
    assert waiting.done()
    assert queue.get_nowait() == "next"


def test_connections_are_built_and_pinged_by_the_names_patched() -> None:
    """worker_serve builds TCPServer by its module name; TCPServer.run keeps its protocol
    (the cycle ReleasingTCPServer breaks); the accepted stream starts its keep-alive by
    spawning _send_pings, which BoundedCloseWSStream replaces with a timer (item 9), and
    Hypercorn's pings are wsproto's empty Ping, the frame written in its place."""
    assert "await TCPServer(" in inspect.getsource(hypercorn_asyncio_run.worker_serve)
    assert "self.protocol = ProtocolWrapper(" in inspect.getsource(TCPServer.run)
    accept = inspect.getsource(WSStream._accept)
    assert "if self.config.websocket_ping_interval is not None:" in accept
    assert "self.task_group.spawn(self._send_pings)" in accept
    assert "self._send_wsproto_event(Ping())" in inspect.getsource(WSStream._send_pings)
    assert Connection(ConnectionType.SERVER).send(Ping()) == PING_FRAME


def test_the_timed_waits_replaced_are_still_hypercorns() -> None:
    """ReleasingTCPServer rewrites TCPServer's read with asyncio.timeout in place of
    wait_for, and replaces its idle task with a timer (item 13) that does what
    ``_idle_timeout`` does: if Hypercorn changes either, the copies must be reviewed."""
    read = inspect.getsource(TCPServer._read_data)
    assert "asyncio.wait_for(self.reader.read(MAX_RECV), self.config.read_timeout)" in read
    assert "await self.protocol.handle(RawData(data))" in read
    assert "await self.protocol.handle(Closed())" in read
    assert "_read_data" in vars(ReleasingTCPServer)
    idle = inspect.getsource(TCPServer._idle_timeout)
    assert "self.context.terminated.wait(), self.config.keep_alive_timeout" in idle
    assert "await asyncio.shield(self._initiate_server_close())" in idle
    assert "self.idle_task = AsyncioSingleTask()" in inspect.getsource(TCPServer.__init__)
    run = inspect.getsource(TCPServer.run)
    assert "await self.idle_task.restart(task_group, self._idle_timeout)" in run
    send = inspect.getsource(TCPServer.protocol_send)
    assert "await self.idle_task.restart(self._task_group, self._idle_timeout)" in send
    assert "await self.idle_task.stop()" in send
    assert "await self.idle_task.stop()" in inspect.getsource(TCPServer._close)


async def echo_socket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: lifespan, and a WebSocket that is accepted and held to its end."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition()`` holds (for 10 s at most)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def accepted(scope: dict[str, Any], receive: Any, send: Any) -> bool:
    """For the bare test apps: a WebSocket connect is accepted (True); anything else is
    :func:`echo_socket`'s to serve (False)."""
    if scope["type"] != "websocket":
        await echo_socket(scope, receive, send)
        return False
    await receive()
    await send({"type": "websocket.accept"})
    return True


def live(kind: type) -> int:
    return sum(1 for obj in gc.get_objects() if type(obj) is kind)


async def test_a_finished_connection_is_freed_at_once_without_the_collector() -> None:
    """With the cyclic collector off, 20 WebSocket connections that closed leave no
    TCPServer behind, long before the 20 s ping interval: reference counting frees each
    (the cycle is broken) and the keep-alive task ends with its stream."""
    patch_hypercorn()
    config = GatewayConfig()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config.bind = [f"127.0.0.1:{port}"]
    config.websocket_ping_interval = 20
    config.accesslog = None
    stop = asyncio.Event()
    server = asyncio.create_task(hypercorn_serve(echo_socket, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    gc.collect()
    gc.disable()
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                async with connect(f"ws://127.0.0.1:{port}/"):
                    break
            await asyncio.sleep(0.02)
        gc.collect()
        baseline = live(ReleasingTCPServer)
        for _ in range(20):
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.ping()
        deadline = time.monotonic() + 5
        while live(ReleasingTCPServer) > baseline:
            assert time.monotonic() < deadline, f"{live(ReleasingTCPServer)} connections kept"
            await asyncio.sleep(0.05)
    finally:
        gc.enable()
        stop.set()
        await server


class FrameWriter:
    """A bare ASGI app that writes prepared frames through the stream's write_frame on
    the client's cue, and reports what each call returned."""

    def __init__(self) -> None:
        self.reports: asyncio.Queue[Any] = asyncio.Queue()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not await accepted(scope, receive, send):
            return
        write = scope["extensions"][WRITE_FRAME]

        async def send_text(text: str) -> bool:
            await send({"type": "websocket.send", "text": text})
            return True

        while (event := await receive())["type"] == "websocket.receive":
            cue = event["text"]
            if cue == "order":
                one = write(wire.text_frame("1"))
                two = await send_text("2")
                self.reports.put_nowait([one, two, write(wire.text_frame("3"))])
            elif cue == "flood":
                big = wire.text_frame("x" * 65536)
                written = 0
                while written < 2000 and write(big):
                    written += 1
                self.reports.put_nowait(written)
                await send_text("end")  # Hypercorn's own send waits for the client
            elif cue == "jam":  # as "flood", then a send that waits: the send lock is held
                big = wire.text_frame("x" * 65536)
                written = 0
                while written < 2000 and write(big):
                    written += 1
                self.reports.put_nowait(written)
                await send_text("y" * 262144)
            elif cue == "close":
                await send({"type": "websocket.close", "code": 1000})
                self.reports.put_nowait(write(wire.text_frame("after")))


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_prepared_frames_are_written_in_order_and_only_while_the_connection_is_idle(
    tls: bool, certs: DevCertificate
) -> None:
    """write_frame (item 8) writes at once, in order with the app's own sends; it writes
    nothing and says so once the peer stops reading (the transport's buffer fills, so a
    viewer that does not read is still bounded and gets its 4408) and after the close."""
    app = FrameWriter()
    config = GatewayConfig()
    client_tls = None
    if tls:
        config.certfile, config.keyfile = str(certs.cert_file), str(certs.key_file)
        client_tls = ssl.create_default_context(cafile=str(certs.ca_file))
    async with serving(app, config) as port:
        url = f"{'wss' if tls else 'ws'}://localhost:{port}/"
        async with asyncio.timeout(30):
            async with connect(url, ssl=client_tls, max_queue=4, max_size=2**20) as ws:
                await ws.send("order")
                assert await app.reports.get() == [True, True, True]
                assert [await ws.recv() for _ in range(3)] == ["1", "2", "3"]
                await ws.send("flood")
                written = await app.reports.get()
                print(f"{written} frames of 64 KiB before the buffer was full")
                assert 0 < written < 2000, "write_frame never saw the full buffer"
                for _ in range(written):
                    assert await ws.recv() == "x" * 65536
                assert await ws.recv() == "end"
                await ws.send("close")
                assert await app.reports.get() is False


@contextlib.asynccontextmanager
async def serving(
    app: Any, config: GatewayConfig, stop: asyncio.Event | None = None
) -> AsyncIterator[int]:
    """Hypercorn, patched, serving ``app`` on a free 127.0.0.1 port in this loop until
    the block ends (or ``stop`` is set); yields the port once a connection is accepted."""
    patch_hypercorn()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = stop or asyncio.Event()
    server = asyncio.create_task(hypercorn_serve(app, config, shutdown_trigger=stop.wait))
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.02)
        yield port
    finally:
        stop.set()
        await server


async def ws_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, WSConnection]:
    """A raw wsproto client connected to 127.0.0.1:``port``, its upgrade request sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = WSConnection(ConnectionType.CLIENT)
    writer.write(client.send(Request(host="localhost", target="/")))
    return reader, writer, client


async def test_keep_alive_pings_come_from_a_timer_not_a_task_per_connection() -> None:
    """Item 9: an accepted connection is pinged at once and then every interval, with
    the frame wsproto reads as Ping, and no task of its own waits between pings."""
    config = GatewayConfig()
    config.websocket_ping_interval = 0.05
    async with serving(echo_socket, config) as port, asyncio.timeout(30):
        reader, writer, client = await ws_client(port)
        pings = 0
        accepted = False
        while pings < 4:
            client.receive_data(await reader.read(4096))
            for event in client.events():
                accepted = accepted or isinstance(event, AcceptConnection)
                if isinstance(event, Ping):
                    pings += 1
                    assert event.payload == b""
                    writer.write(client.send(event.response()))
            pinging = [
                t
                for t in asyncio.all_tasks()
                if "_send_ping" in getattr(t.get_coro(), "__qualname__", "")
            ]
            assert pinging == [], "a task per connection waits between pings"
        assert accepted
        writer.close()


def ping_tasks() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if "_send_ping" in getattr(task.get_coro(), "__qualname__", "")
    ]


async def test_a_ping_due_while_the_peer_does_not_read_waits_its_turn_once() -> None:
    """Item 9: when the ping is due while a write waits for a peer that does not read,
    one task sends it after that write (never a pile of them), and the peer gets it
    once it reads again."""
    app = FrameWriter()
    config = GatewayConfig()
    config.websocket_ping_interval = 0.02
    async with serving(app, config) as port, asyncio.timeout(30):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the peer reads nothing
        sock.connect(("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
        try:
            client = WSConnection(ConnectionType.CLIENT)
            writer.write(client.send(Request(host="localhost", target="/")))
            events: list[Any] = []
            while not any(isinstance(e, AcceptConnection) for e in events):
                client.receive_data(await reader.read(65536))
                events.extend(client.events())
            writer.write(client.send(TextMessage("jam")))
            assert 0 < await app.reports.get() < 2000
            for _ in range(20):  # ten pings fall due while a send waits for the peer
                await asyncio.sleep(0.02)
                assert len(ping_tasks()) <= 1
            assert len(ping_tasks()) == 1
            pings, ended = 0, False
            while not (pings and ended):
                client.receive_data(await reader.read(1 << 20))
                for event in client.events():
                    pings += isinstance(event, Ping)
                    ended = ended or (
                        isinstance(event, TextMessage)
                        and event.message_finished
                        and event.data.endswith("y")
                    )
        finally:
            writer.close()


def test_the_module_documents_each_change() -> None:
    """Each replaced name has its reason in the module docstring."""
    doc = hypercorn_patches.__doc__ or ""
    for topic in (
        "HTTP/1.1 only",
        "permessage-deflate",
        "closing handshake",
        "1009",
        "1002",
        "freed at once",
        "TLS handshakes are bounded",
        "Prepared frames are written at once",
        "Keep-alive pings run on a timer",
        "handed over after the 101",
        "head and body leave in one write",
        "keep-alive timeout is a timer",
    ):
        assert topic in doc


@pytest.mark.parametrize("hand_over", [True, False], ids=["handed-over", "kept-by-hypercorn"])
async def test_a_viewer_that_left_is_freed_at_once_without_the_collector(
    hand_over: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's viewer sockets, handed over after the 101 (item 11) or, when the
    hand-over is refused, served over ASGI (the hub, direct frames, the lazily started
    writer): with the cyclic collector off, viewers that got a broadcast, sent a PING
    and left leave neither a Viewer nor their connection behind. A closure the viewer
    kept over itself once held each one, with its transport, until a full collection."""
    if not hand_over:
        monkeypatch.setattr(BoundedCloseWSStream, "detach", lambda self, adopt: None)
    settings = parse_settings({"server": {"host": "127.0.0.1"}})
    app = create_app(settings, (JWTKey(kid="default", secret=b"k" * 32),))
    sockets = app.services.sockets
    assert sockets is not None
    config = GatewayConfig()
    config.websocket_ping_interval = 20
    async with serving(app, config) as port, asyncio.timeout(60):
        hub = app.services.hub
        record = await hub.create_session("owner")
        token = app.services.tokens.issue(
            record.session_id, issued_at=record.created_at, expires_at=record.expires_at
        )
        payload = {"qrCode": "00020101021238", "merchant": "An", "amount": 1000}
        gc.collect()
        gc.disable()
        try:
            servers = live(ReleasingTCPServer)
            for _ in range(20):
                async with connect(f"ws://127.0.0.1:{port}/?token={token}") as ws:
                    assert json.loads(await ws.recv())["type"] == "SESSION_INFO"
                    assert len(sockets.open) == (1 if hand_over else 0)
                    outcome = await hub.publish(record.session_id, "owner", payload)
                    while json.loads(await ws.recv())["payload"].get("seq") != outcome.seq:
                        pass  # the data of an earlier round, sent on joining
                    await ws.send('{"type":"PING"}')
                    assert json.loads(await ws.recv())["type"] == "PONG"
            deadline = time.monotonic() + 5
            while live(ReleasingTCPServer) > servers or live(Viewer) or live(ViewerSocket):
                assert time.monotonic() < deadline, (
                    f"{live(ReleasingTCPServer) - servers} connections, {live(Viewer)} viewers, "
                    f"{live(ViewerSocket)} sockets kept"
                )
                await asyncio.sleep(0.05)
        finally:
            gc.enable()


async def test_the_ping_timer_stops_once_the_transport_is_gone_unannounced() -> None:
    """Item 9: a connection that ended without its stream being told (its task group
    aborted) is not pinged again, and its timer no longer holds the stream."""
    streams: list[BoundedCloseWSStream] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            streams.append(scope["extensions"][WRITE_FRAME].__self__)
        await echo_socket(scope, receive, send)

    config = GatewayConfig()
    config.websocket_ping_interval = 0.02
    async with serving(app, config) as port, asyncio.timeout(30):
        reader, writer, client = await ws_client(port)
        while not any(isinstance(e, AcceptConnection) for e in client.events()):
            client.receive_data(await reader.read(4096))
        (stream,) = streams
        stream.handle = lambda event: asyncio.sleep(0)  # type: ignore[method-assign]
        assert stream._ping_timer is not None
        stream._server.writer.transport.abort()  # type: ignore[union-attr]
        for _ in range(500):  # the next tick sees the transport closing
            if stream._ping_timer is None:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # five intervals: nothing re-armed it
        assert stream._ping_timer is None
        assert not stream.closed
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# --- item 11: a quiet WebSocket handed over after the 101 -------------------------------


class EchoProtocol(asyncio.Protocol):
    """What an app adopts a connection with here: echoes text through the wsproto
    connection it is given, answers the client's close, and records what it saw."""

    def __init__(self, transport: asyncio.Transport, ws: Connection) -> None:
        self.transport = transport
        self.ws = ws
        self.lost = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                self.transport.write(self.ws.send(TextMessage(data="echo " + event.data)))
            elif isinstance(event, CloseConnection):
                self.transport.write(self.ws.send(event.response()))
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class HandOver:
    """A bare ASGI app whose WebSockets are handed over with ``gateway.detach`` once
    accepted; with ``wait_for_frame``, only after the client's first frame is queued for
    the app (the connection is not quiet then), and the app then serves it itself."""

    def __init__(self, *, wait_for_frame: bool = False) -> None:
        self.wait_for_frame = wait_for_frame
        self.adopted: asyncio.Queue[EchoProtocol | None] = asyncio.Queue()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not await accepted(scope, receive, send):
            return
        detach = scope["extensions"][DETACH]
        if self.wait_for_frame:
            queue = detach.__self__.app_put.__self__
            await until(lambda: not queue.empty())
        adopted = detach(EchoProtocol)
        self.adopted.put_nowait(adopted)
        if adopted is None:  # still Hypercorn's: serve it over ASGI, losing nothing
            while (event := await receive())["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": "asgi " + event["text"]})


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_a_quiet_websocket_is_handed_over_and_hypercorns_connection_freed(
    tls: bool, certs: DevCertificate
) -> None:
    """Item 11: after the 101 the app takes the transport with ``detach``; the client
    talks to the adopted protocol through the same connection (TLS included), while
    Hypercorn's connection objects are freed by reference counting, and the transport
    stays open until the adopted protocol closes it."""
    app = HandOver()
    config = GatewayConfig()
    client_tls = None
    if tls:
        config.certfile, config.keyfile = str(certs.cert_file), str(certs.key_file)
        client_tls = ssl.create_default_context(cafile=str(certs.ca_file))
    async with serving(app, config) as port, asyncio.timeout(30):
        gc.collect()
        gc.disable()
        try:
            # serving()'s probe connection ends first: the counts below are this one's.
            await until(lambda: live(ReleasingTCPServer) == 0)
            baseline = live(ReleasingTCPServer)
            streams = live(asyncio.StreamReaderProtocol)
            url = f"{'wss' if tls else 'ws'}://localhost:{port}/"
            async with connect(url, ssl=client_tls) as ws:
                adopted = await app.adopted.get()
                assert isinstance(adopted, EchoProtocol)
                await ws.send("one")
                assert await ws.recv() == "echo one"
                # Its task ends as the app returns.
                await until(lambda: live(ReleasingTCPServer) <= baseline)
                assert live(BoundedCloseWSStream) == 0
                # Its streams too: they hold the transport (and uvloop's TLS buffers).
                assert live(asyncio.StreamReaderProtocol) == streams
                await ws.send("two")
                assert await ws.recv() == "echo two"
            await adopted.lost
            assert ws.close_code == 1000
        finally:
            gc.enable()


async def test_a_websocket_that_is_not_quiet_stays_hypercorns() -> None:
    """A frame queued for the app and not yet read: ``detach`` returns None and changes
    nothing; the app reads that frame, and the next, over ASGI as before."""
    app = HandOver(wait_for_frame=True)
    async with (
        serving(app, GatewayConfig()) as port,
        asyncio.timeout(30),
        connect(f"ws://localhost:{port}/") as ws,
    ):
        await ws.send("first")
        assert await app.adopted.get() is None
        assert await ws.recv() == "asgi first"
        await ws.send("second")
        assert await ws.recv() == "asgi second"


def test_the_stream_internals_the_hand_over_reads_still_exist() -> None:
    """``detach`` reads asyncio's StreamReader (its pending read, its buffer) and swaps
    the StreamWriter's transport so that freeing it does not close the connection it
    handed on; without these names it would refuse every hand-over."""
    loop = asyncio.new_event_loop()
    try:
        reader = asyncio.StreamReader(loop=loop)
        assert reader._waiter is None
        assert isinstance(reader._buffer, bytearray)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        writer = asyncio.StreamWriter(hypercorn_patches._HANDED_OVER, protocol, reader, loop)  # type: ignore[arg-type]
        assert writer._protocol is protocol  # type: ignore[attr-defined]
        assert writer.transport is hypercorn_patches._HANDED_OVER
        del writer  # its __del__ sees a transport that is closing: nothing to close
    finally:
        loop.close()


async def streamed(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare app answering by its path: ``/small`` in one body, ``/stream`` in chunks,
    ``/empty`` with no body at all."""
    await receive()
    path = scope["path"]
    headers = [] if path == "/stream" else [(b"content-length", b"2" if path == "/small" else b"0")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if path == "/small":
        await send({"type": "http.response.body", "body": b"ok"})
    elif path == "/stream":
        for chunk in (b"one", b"two"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.body", "body": b""})


async def written(protocol: type[H11Protocol], request: bytes) -> list[bytes]:
    """Each write ``protocol`` asks of its connection while it answers ``request``."""
    writes: list[bytes] = []
    answered = asyncio.Event()

    async def send(event: Any) -> None:
        if isinstance(event, RawData):
            writes.append(event.data)
        elif isinstance(event, Updated) and event.idle:
            answered.set()  # the response is over: the connection waits for the next

    config = Config()
    config.include_date_header = False  # the same bytes from both protocols, any second
    async with TaskGroup(asyncio.get_running_loop()) as task_group:
        h11_protocol = protocol(
            ASGIWrapper(streamed),
            config,
            WorkerContext(None),
            task_group,
            {},
            False,
            ("127.0.0.1", 1),
            ("127.0.0.1", 2),
            send,
        )
        await h11_protocol.handle(RawData(request))
        await asyncio.wait_for(answered.wait(), 10)
        await h11_protocol.handle(Closed())
    return writes


@pytest.mark.parametrize(
    ("request_line", "writes"),
    [
        (b"GET /small HTTP/1.1", 1),
        (b"HEAD /small HTTP/1.1", 1),
        (b"GET /empty HTTP/1.1", 1),
        (b"GET /stream HTTP/1.1", 3),  # head with "one", "two", the last chunk
    ],
)
async def test_a_responses_head_leaves_with_its_body_in_one_write(
    request_line: bytes, writes: int
) -> None:
    """Item 12: the client gets Hypercorn's bytes, but the head no longer goes out on its
    own, and a message's end framed by Content-Length costs no write."""
    request = request_line + b"\r\nHost: gateway\r\n\r\n"
    ours = await written(HTTP11Only, request)
    hypercorns = await written(H11Protocol, request)
    assert b"".join(ours) == b"".join(hypercorns)
    assert len(ours) == writes
    assert len(hypercorns) > writes
    assert ours[0].startswith(b"HTTP/1.1 200 ")


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: lifespan, and "ok" to any HTTP request."""
    if scope["type"] == "lifespan":
        await echo_socket(scope, receive, send)
        return
    await receive()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def answered_once(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A keep-alive connection that has had one answer and now waits, idle."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: gateway\r\n\r\n")
    assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200 ")
    return reader, writer


async def test_idle_keep_alive_connections_hold_no_task_and_close_in_time() -> None:
    """Item 13: an idle connection is its own task only (Hypercorn's idle task added a
    second), and it is closed once keep_alive_timeout has passed."""
    config = GatewayConfig()
    config.keep_alive_timeout = 0.5
    async with serving(hello, config) as port:
        before = len(asyncio.all_tasks())
        connections = [await answered_once(port) for _ in range(10)]
        await asyncio.sleep(0)
        assert len(asyncio.all_tasks()) - before <= 10
        for reader, writer in connections:
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
            writer.close()


async def test_idle_keep_alive_connections_close_at_once_on_shutdown() -> None:
    """However long the keep-alive timeout, shutting down closes idle connections now
    (as Hypercorn's idle task did, waiting on the worker's terminated event)."""
    config = GatewayConfig()
    config.keep_alive_timeout = 600
    config.graceful_timeout = 600  # nor does the worker give up on it
    stopping = asyncio.Event()
    async with serving(hello, config, stop=stopping) as port:
        reader, writer = await answered_once(port)
        stopping.set()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()


async def test_a_read_that_waits_past_read_timeout_ends_the_connection() -> None:
    """ReleasingTCPServer's read timer: a client that stops halfway through its request
    is dropped once read_timeout has passed, with no keep-alive timeout to do it."""
    config = GatewayConfig()
    config.keep_alive_timeout = 600
    config.read_timeout = 1
    async with serving(hello, config) as port:
        reader, writer = await answered_once(port)
        writer.write(b"GET / HTTP/1.1\r\n")  # and nothing more
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()


async def test_every_answer_carries_one_date_header_of_its_second() -> None:
    """GatewayConfig adds the Date header itself, formatted once a second: still exactly
    one per answer, in RFC 9110's IMF-fixdate, of the second it is sent in."""
    async with serving(hello, GatewayConfig()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):
            before = int(time.time())
            writer.write(b"GET / HTTP/1.1\r\nHost: gateway\r\n\r\n")
            head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
            after = int(time.time())
            await reader.readexactly(2)  # "ok"
            dates = [line[6:] for line in head.split("\r\n") if line.startswith("date: ")]
            assert len(dates) == 1
            sent = int(email.utils.parsedate_to_datetime(dates[0]).timestamp())
            assert before <= sent <= after
            assert dates[0] == format_date_time(sent).lower()
        writer.close()


async def test_an_answer_still_being_sent_when_the_read_timer_fires_is_sent() -> None:
    """The read timer cancels the read, as Hypercorn's wait_for did: the streams are
    left as they were, so an app answering after read_timeout still sends its answer
    (it did not, with TimeoutError left on the reader for drain() to raise)."""
    sent: list[str] = []

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await echo_socket(scope, receive, send)
            return
        await receive()
        await asyncio.sleep(1.6)  # past read_timeout: the connection's read times out
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})
        sent.append("answer")

    config = GatewayConfig()
    config.read_timeout = 1
    config.keep_alive_timeout = 600
    async with serving(slow, config) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: gateway\r\n\r\n")
        answer = await asyncio.wait_for(reader.readuntil(b"ok"), 10)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert sent == ["answer"]


async def test_bytes_that_arrive_as_the_read_time_runs_out_are_read_and_nothing_is_left() -> None:
    """A read whose bytes came in the loop turn before its timer fired is not failed:
    the request is handled, and the next read has its own read_timeout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    server = types.SimpleNamespace(
        reader=reader, _read_expired=False, _reading_task=asyncio.current_task()
    )
    timer = LazyTimer(1, lambda: ReleasingTCPServer._read_time_up(server))  # type: ignore[arg-type]
    server._read_timer = timer
    timer.since = loop.time() - 1.0  # the read began read_timeout ago
    first = asyncio.ensure_future(reader.read(100))
    await asyncio.sleep(0)  # the read waits
    reader.feed_data(b"GET / HTTP/1.1\r\nHost: gateway\r\n\r\n")  # bytes arrive
    timer._due()  # and the time is up
    assert await first == b"GET / HTTP/1.1\r\nHost: gateway\r\n\r\n"
    assert server._read_expired is False
    assert reader.exception() is None
    assert timer.armed  # re-armed for the next read
    timer.cancel()
