"""The gateway's changes to Hypercorn rest on names and shapes of Hypercorn 0.18: these
tests fail when an upgrade moves them, before any behaviour silently comes back.

The behaviour itself (HTTP/1.1 only, the bounded closing handshake, 1009 as the message
arrives, 1002/1007 close frames, no permessage-deflate) is tested from outside against
`gateway serve`: tests/test_e2e_wire.py and tests/test_conformance.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import socket
import ssl
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from hypercorn import protocol as hypercorn_protocol
from hypercorn.asyncio import run as hypercorn_asyncio_run
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.asyncio.task_group import TaskGroup
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config
from hypercorn.protocol import h11 as hypercorn_h11
from hypercorn.protocol import ws_stream
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import Handshake, WSStream
from websockets.asyncio.client import connect

from gateway import hypercorn_patches, wire
from gateway.certs import DevCertificate
from gateway.hypercorn_patches import (
    BoundedCloseWSStream,
    DeclinedDeflate,
    HTTP11Only,
    ReleasingTCPServer,
    patch_hypercorn,
)
from gateway.server import GatewayConfig
from gateway.transport.ws import WRITE_FRAME

TARGETS: list[tuple[ModuleType, str, type]] = [
    (hypercorn_protocol, "H11Protocol", HTTP11Only),
    (hypercorn_h11, "WSStream", BoundedCloseWSStream),
    (ws_stream, "PerMessageDeflate", DeclinedDeflate),
    (hypercorn_asyncio_run, "TCPServer", ReleasingTCPServer),
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
def test_patching_replaces_the_four_names_once_and_again() -> None:
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
    for name in ("handle", "app_send", "_handle_events", "_send_wsproto_event"):
        ours = inspect.signature(getattr(BoundedCloseWSStream, name))
        theirs = inspect.signature(getattr(WSStream, name))
        assert list(ours.parameters) == list(theirs.parameters), name
    source = inspect.getsource(WSStream)
    for attribute in ("self.buffer", "self.app_put", "self.closed", "self.task_group"):
        assert attribute in source


async def test_the_app_queue_is_reachable_from_the_put_hypercorn_hands_out() -> None:
    """spawn_app returns the bound put of an asyncio.Queue: the finished app's queue is
    emptied through it (BoundedCloseWSStream._release_app_queue)."""
    config = Config()

    async def app(*args: object) -> None:
        return None

    async def send(message: object) -> None:
        return None

    async with TaskGroup(asyncio.get_running_loop()) as group:
        put = await group.spawn_app(app, config, {"type": "websocket"}, send)  # type: ignore[arg-type]
    assert isinstance(getattr(put, "__self__", None), asyncio.Queue)


def test_connections_are_built_and_pinged_by_the_names_patched() -> None:
    """worker_serve builds TCPServer by its module name; TCPServer.run keeps its protocol
    (the cycle ReleasingTCPServer breaks); _send_pings sleeps until the next ping before
    it looks at `closed` (the wait BoundedCloseWSStream cuts short)."""
    assert "await TCPServer(" in inspect.getsource(hypercorn_asyncio_run.worker_serve)
    assert "self.protocol = ProtocolWrapper(" in inspect.getsource(TCPServer.run)
    pings = inspect.getsource(WSStream._send_pings)
    assert "while not self.closed" in pings
    assert "self.context.sleep(self.config.websocket_ping_interval)" in pings


def test_the_timed_waits_replaced_are_still_hypercorns() -> None:
    """ReleasingTCPServer rewrites two of TCPServer's methods with asyncio.timeout in
    place of wait_for: if Hypercorn changes either, the copies must be reviewed."""
    read = inspect.getsource(TCPServer._read_data)
    assert "asyncio.wait_for(self.reader.read(MAX_RECV), self.config.read_timeout)" in read
    assert "await self.protocol.handle(RawData(data))" in read
    assert "await self.protocol.handle(Closed())" in read
    idle = inspect.getsource(TCPServer._idle_timeout)
    assert "self.context.terminated.wait(), self.config.keep_alive_timeout" in idle
    assert "await asyncio.shield(self._initiate_server_close())" in idle
    for name in ("_read_data", "_idle_timeout"):
        assert name in vars(ReleasingTCPServer)


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
        if scope["type"] != "websocket":
            await echo_socket(scope, receive, send)
            return
        await receive()
        await send({"type": "websocket.accept"})
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
    patch_hypercorn()
    config = GatewayConfig()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    client_tls = None
    if tls:
        config.certfile, config.keyfile = str(certs.cert_file), str(certs.key_file)
        client_tls = ssl.create_default_context(cafile=str(certs.ca_file))
    url = f"{'wss' if tls else 'ws'}://localhost:{port}/"
    stop = asyncio.Event()
    server = asyncio.create_task(hypercorn_serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(30):
            for _ in range(200):
                with contextlib.suppress(OSError):
                    async with connect(url, ssl=client_tls):
                        break
                await asyncio.sleep(0.02)
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
    finally:
        stop.set()
        await server


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
    ):
        assert topic in doc
