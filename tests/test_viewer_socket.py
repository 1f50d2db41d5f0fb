"""The viewer socket (gateway/transport/socket.py) on a real transport, in process.

The end-to-end tests drive it through ``gateway serve`` (close codes, 1009, 1002/1007,
the closing handshake, the idle timeout, slow consumers, the drain). These cover what
only shows from inside: what arrives between the hand-over and the viewer's admission,
the bounds a hostile client meets (the inbox, pings while it does not read, empty
fragments), when the viewer stops counting, and that a closed socket is freed without
the collector. Each test hands the server end of a loopback TCP connection to a
ViewerSocket the way ``detach`` does (``transport.set_protocol``) and talks to it with
wsproto, on asyncio's loop and on uvloop (which ``gateway serve`` runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest
import uvloop
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, Ping, Pong, TextMessage

from gateway.app import create_app
from gateway.config import JWTKey, parse_settings
from gateway.hub import Farewell, Hub, Outgoing, Viewer
from gateway.transport.protocol import CLIENT_GONE, ViewerProtocol
from gateway.transport.socket import INBOX_LIMIT, SocketPolicy, ViewerSocket

from .test_hypercorn_patches import live, until

PING = json.dumps({"type": "PING"})
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
Run = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=list(LOOPS))
def run(request: pytest.FixtureRequest) -> Run:
    """Runs a test's body on asyncio's loop, then on uvloop's."""

    def run(body: Coroutine[Any, Any, None]) -> None:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            runner.run(asyncio.wait_for(body, 30))

    return run


class Capture(asyncio.Protocol):
    """The accepted transport's protocol until it is handed over: it reads nothing."""


class Client:
    """The client end: a wsproto client connection over a socket stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ws = Connection(ConnectionType.CLIENT)
        self.events: list[Any] = []

    def send(self, *events: Any) -> None:
        self.writer.write(b"".join(self.ws.send(event) for event in events))

    async def next_event(self) -> Any:
        while not self.events:
            data = await self.reader.read(65536)
            assert data, "the connection ended"
            self.ws.receive_data(data)
            self.events.extend(self.ws.events())
        return self.events.pop(0)

    async def next_message(self) -> dict[str, Any]:
        event = await self.next_event()
        assert isinstance(event, TextMessage), event
        message: dict[str, Any] = json.loads(event.data)
        return message


@dataclass
class World:
    hub: Hub
    policy: SocketPolicy
    session_id: str


@contextlib.asynccontextmanager
async def world() -> AsyncIterator[World]:
    """A hub on the memory broker with one session, and the policy sockets share."""
    settings = parse_settings(
        {
            "server": {"host": "127.0.0.1"},
            "rate_limits": {"ws_messages_per_connection": "100000/10 seconds"},
        }
    )
    app = create_app(settings, (JWTKey(kid="default", secret=b"k" * 32),))
    hub = app.services.hub
    policy = app.services.sockets
    assert policy is not None
    await hub.start()
    try:
        record = await hub.create_session("owner")
        yield World(hub, policy, record.session_id)
    finally:
        await hub.stop()


@contextlib.asynccontextmanager
async def adopted(
    policy: SocketPolicy, *, client_buffer: int | None = None
) -> AsyncIterator[tuple[ViewerSocket, Client]]:
    """A ViewerSocket on the server end of a loopback TCP connection, after its 101 as
    it were; both ends are closed when the block ends. ``client_buffer`` shrinks the
    client's receive buffer and the server's send buffer, so that a client that does
    not read fills them soon."""
    loop = asyncio.get_running_loop()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client_end = socket.socket()
        if client_buffer is not None:
            client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, client_buffer)
        client_end.setblocking(False)
        await loop.sock_connect(client_end, listener.getsockname())
        server_end, _ = listener.accept()
    server_end.setblocking(False)
    if client_buffer is not None:
        server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, client_buffer)
    transport, _ = await loop.connect_accepted_socket(Capture, server_end)
    viewer_socket = ViewerSocket(
        transport, Connection(ConnectionType.SERVER), policy, client_ip=None, path="/"
    )
    transport.set_protocol(viewer_socket)
    reader, writer = await asyncio.open_connection(sock=client_end)
    try:
        yield viewer_socket, Client(reader, writer)
    finally:
        viewer_socket.abort()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def serve(w: World, viewer_socket: ViewerSocket) -> Viewer:
    viewer, record = await w.hub.join(w.session_id)
    protocol = ViewerProtocol(w.session_id, max_chars=4096, clock=w.hub.clock)
    opening = protocol.opening(
        connected_at=viewer.connected_at, expires_at=record.expires_at, seq=record.seq, data=None
    )
    viewer_socket.serve(viewer, protocol, opening)
    return viewer


def test_messages_sent_before_the_viewer_is_served_are_answered_after_its_opening(
    run: Run,
) -> None:
    """A PING that arrives while the admission is still under way waits in the inbox:
    SESSION_INFO comes first, then its PONG."""

    async def body() -> None:
        async with world() as w, adopted(w.policy) as (viewer_socket, client):
            client.send(TextMessage(data=PING))
            await until(lambda: bool(viewer_socket._inbox))
            await serve(w, viewer_socket)
            assert (await client.next_message())["type"] == "SESSION_INFO"
            assert (await client.next_message())["type"] == "PONG"
            client.send(CloseConnection(code=1000))
            assert isinstance(await client.next_event(), CloseConnection)

    run(body())


def test_a_burst_fills_the_inbox_and_the_socket_reads_no_further_until_it_drains(
    run: Run,
) -> None:
    """Messages the protocol has not answered yet are bounded: at INBOX_LIMIT the socket
    stops reading and parsing (the rest waits in wsproto and the kernel), and it reads on
    as the inbox empties, answering every message in order."""
    burst = 3 * INBOX_LIMIT

    async def body() -> None:
        async with world() as w, adopted(w.policy) as (viewer_socket, client):
            client.send(*(TextMessage(data=PING) for _ in range(burst)))
            transport = viewer_socket.transport
            assert transport is not None
            await until(lambda: not transport.is_reading())
            assert viewer_socket._inbox is not None
            assert len(viewer_socket._inbox) == INBOX_LIMIT
            await serve(w, viewer_socket)
            assert (await client.next_message())["type"] == "SESSION_INFO"
            for _ in range(burst):
                assert (await client.next_message())["type"] == "PONG"
            assert transport.is_reading()
            assert viewer_socket._inbox is None

    run(body())


def test_a_client_that_closes_before_it_is_served_is_answered_and_leaves(run: Run) -> None:
    """The client's close frame is answered with its code; the viewer then admitted for
    it ends at once as gone, leaves the hub, and the socket is no longer open."""

    async def body() -> None:
        async with world() as w, adopted(w.policy) as (viewer_socket, client):
            client.send(CloseConnection(code=4000))
            answer = await client.next_event()
            assert isinstance(answer, CloseConnection)
            assert answer.code == 4000
            viewer = await serve(w, viewer_socket)
            assert await viewer.done is CLIENT_GONE
            await until(lambda: not w.hub.connections and viewer_socket not in w.policy.open)
            assert viewer_socket.viewer is None

    run(body())


def test_pings_from_a_client_that_does_not_read_are_not_answered_into_memory(
    run: Run,
) -> None:
    """A client that sends pings and reads nothing: once the transport's buffer is over
    its high-water mark the socket stops reading (as Hypercorn's read loop waited for the
    drain), so the pongs owed stay bounded by one read's worth, not by what it sends."""
    pings = 20_000  # 2.6 MB of 131-byte pings, each owed a 127-byte pong

    async def body() -> None:
        async with world() as w, adopted(w.policy, client_buffer=4096) as (viewer_socket, client):
            transport = viewer_socket.transport
            assert transport is not None
            client.send(*(Ping(payload=b"p" * 125) for _ in range(pings)))
            await until(lambda: viewer_socket._paused and not transport.is_reading())
            await asyncio.sleep(0.2)  # a reading socket would write on meanwhile
            assert transport.get_write_buffer_size() < 512 * 1024
            assert not transport.is_reading()
            assert not viewer_socket._closing

    run(body())


def test_a_message_in_many_empty_fragments_is_one_message_and_holds_no_list(
    run: Run,
) -> None:
    """Empty continuation frames cost nothing but the time to parse them (they count
    no characters): the fragments are gathered in one buffer, and the message is
    answered once."""
    fragments = 50_000

    async def body() -> None:
        async with world() as w, adopted(w.policy) as (viewer_socket, client):
            await serve(w, viewer_socket)
            assert (await client.next_message())["type"] == "SESSION_INFO"
            client.send(TextMessage(data='{"type":', message_finished=False))
            client.send(*(TextMessage(data="", message_finished=False) for _ in range(fragments)))
            await until(lambda: viewer_socket._size == len('{"type":'))
            await asyncio.sleep(0.1)  # the empty fragments are parsed by now
            assert viewer_socket._message is not None
            assert viewer_socket._message.tell() == len('{"type":')
            client.send(TextMessage(data='"PING"}'))
            assert (await client.next_message())["type"] == "PONG"
            assert viewer_socket._message is None

    run(body())


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (CloseConnection(code=4000), None),  # the client closes first
        (None, 1002),  # a frame with reserved bits set
    ],
    ids=["client-close", "protocol-error"],
)
def test_a_client_that_closes_or_breaks_the_protocol_stops_counting_at_once(
    run: Run, frame: Any, code: int | None
) -> None:
    """The viewer ends as its client's close frame (or a frame wsproto cannot parse)
    arrives, not when TCP is finally closed: a client that does not read would keep its
    bytes in the buffer, and itself counted as a viewer, until the idle timeout. The
    closing deadline is armed either way."""

    async def body() -> None:
        async with world() as w, adopted(w.policy, client_buffer=4096) as (viewer_socket, client):
            viewer = await serve(w, viewer_socket)
            transport = viewer_socket.transport
            assert transport is not None
            big = Outgoing("x" * 262_144)
            viewer.offer(big)  # unread: the transport keeps most of it
            if frame is not None:
                client.send(frame)
            else:
                client.writer.write(b"\xf1\x80" + b"\x00" * 4)  # RSV1-3 set, masked, empty
            farewell = await viewer.done
            assert farewell is CLIENT_GONE if code is None else farewell.code == code
            assert transport.get_write_buffer_size() > 0
            await until(lambda: not w.hub.connections)
            assert viewer_socket._deadline is not None

    run(body())


def test_a_closed_socket_whose_writer_started_is_freed_without_the_collector(run: Run) -> None:
    """A viewer whose messages had to wait (so its writer task started) and whose client
    then went away: with the collector off, nothing keeps the socket. A cancelled writer
    keeps its CancelledError, whose traceback holds the socket, unless the socket lets
    go of the task."""

    async def body() -> None:
        async with world() as w:
            gc.collect()
            gc.disable()
            try:
                async with adopted(w.policy, client_buffer=4096) as (viewer_socket, client):
                    viewer = await serve(w, viewer_socket)
                    for _ in range(3):
                        viewer.offer(Outgoing("x" * 262_144))
                    assert viewer_socket._writer is not None
                    client.writer.transport.abort()
                    assert await viewer.done is CLIENT_GONE
                    del viewer_socket, viewer
                await until(lambda: not w.policy.tasks and not w.hub.connections)
                await asyncio.sleep(0)  # the closing task's own callbacks
                assert live(ViewerSocket) == 0
                assert live(Viewer) == 0
            finally:
                gc.enable()

    run(body())


def test_a_farewell_is_not_written_after_a_close_that_came_first(run: Run) -> None:
    """A farewell sent while the socket has begun to close for another reason (here a
    message over the size limit, closed 1009 as it arrived, during the farewell's broker
    round trip): neither its last message nor a second close frame goes out, and the
    code reported is the one that did."""

    async def body() -> None:
        async with world() as w, adopted(w.policy) as (viewer_socket, client):
            await serve(w, viewer_socket)
            assert (await client.next_message())["type"] == "SESSION_INFO"
            client.send(TextMessage(data="x" * 5000))
            close = await client.next_event()
            assert isinstance(close, CloseConnection)
            assert close.code == 1009
            farewell = Farewell(4410, "expired", final='{"type":"SESSION_EXPIRED"}')
            assert await viewer_socket._send_farewell(farewell) == 1009
            client.send(close.response())
            assert await client.reader.read() == b""  # nothing after the close frame
            assert client.events == []

    run(body())


def test_a_flood_of_cheap_frames_is_handled_a_batch_per_turn_of_the_loop(run: Run) -> None:
    """Empty pongs need no answer and count against no quota; 10,000 of them in one read
    are handled FRAMES_PER_TURN at a time, reading paused in between, so the loop (and
    every other viewer) gets its turn; the frames after them are still answered, in
    order."""

    async def body() -> None:
        async with world() as w, adopted(w.policy) as (viewer_socket, client):
            await serve(w, viewer_socket)
            assert (await client.next_message())["type"] == "SESSION_INFO"
            transport = viewer_socket.transport
            assert transport is not None
            flood = b"".join(client.ws.send(Pong()) for _ in range(10_000))
            flood += client.ws.send(TextMessage(data=PING))
            viewer_socket.data_received(flood)  # one read, as the transport would hand it
            assert viewer_socket._busy
            assert not transport.is_reading()
            assert (await client.next_message())["type"] == "PONG"
            assert not viewer_socket._busy
            assert transport.is_reading()

    run(body())
