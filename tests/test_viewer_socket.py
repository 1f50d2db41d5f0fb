"""The viewer socket (gateway/transport/socket.py) on a real transport, in process.

The end-to-end tests drive it through ``gateway serve`` (close codes, 1009, 1002/1007,
the closing handshake, the idle timeout, slow consumers, the drain). These cover what
only shows from inside: what arrives between the hand-over and the viewer's admission,
and the inbox's bound. Each test hands a socketpair's server end to a ViewerSocket the
way ``detach`` does (``transport.set_protocol``) and talks to it with wsproto.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, TextMessage

from gateway.app import create_app
from gateway.config import JWTKey, parse_settings
from gateway.hub import Hub
from gateway.transport.protocol import CLIENT_GONE, ViewerProtocol
from gateway.transport.socket import INBOX_LIMIT, SocketPolicy, ViewerSocket

from .test_hypercorn_patches import until

PING = json.dumps({"type": "PING"})


class Capture(asyncio.Protocol):
    """Holds the accepted transport until it is handed over."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport


class Client:
    """The client end: a wsproto client connection over a plain socket stream."""

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


@pytest.fixture
async def world() -> AsyncIterator[tuple[Hub, SocketPolicy, str]]:
    settings = parse_settings(
        {
            "server": {"host": "127.0.0.1"},
            "rate_limits": {"ws_messages_per_connection": "1000/10 seconds"},
        }
    )
    app = create_app(settings, (JWTKey(kid="default", secret=b"k" * 32),))
    hub = app.services.hub
    policy = app.services.sockets
    assert policy is not None
    await hub.start()
    try:
        record = await hub.create_session("owner")
        yield hub, policy, record.session_id
    finally:
        await hub.stop()


@contextlib.asynccontextmanager
async def adopted(policy: SocketPolicy) -> AsyncIterator[tuple[ViewerSocket, Client]]:
    """A ViewerSocket on the server end of a socketpair, after its 101 as it were; both
    ends are closed when the block ends."""
    server_end, client_end = socket.socketpair()
    loop = asyncio.get_running_loop()
    capture = Capture()
    await loop.connect_accepted_socket(lambda: capture, server_end)
    viewer_socket = ViewerSocket(
        capture.transport, Connection(ConnectionType.SERVER), policy, client_ip=None, path="/"
    )
    capture.transport.set_protocol(viewer_socket)
    reader, writer = await asyncio.open_connection(sock=client_end)
    try:
        yield viewer_socket, Client(reader, writer)
    finally:
        viewer_socket.abort()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def serve(hub: Hub, session_id: str, viewer_socket: ViewerSocket) -> Any:
    viewer, record = await hub.join(session_id)
    protocol = ViewerProtocol(session_id, max_chars=4096, clock=hub.clock)
    opening = protocol.opening(
        connected_at=viewer.connected_at, expires_at=record.expires_at, seq=record.seq, data=None
    )
    viewer_socket.serve(viewer, protocol, opening)
    return viewer


async def test_messages_sent_before_the_viewer_is_served_are_answered_after_its_opening(
    world: tuple[Hub, SocketPolicy, str],
) -> None:
    """A PING that arrives while the admission is still under way waits in the inbox:
    SESSION_INFO comes first, then its PONG."""
    hub, policy, session_id = world
    async with asyncio.timeout(10):
        async with adopted(policy) as (viewer_socket, client):
            client.send(TextMessage(data=PING))
            await until(lambda: bool(viewer_socket._inbox))
            await serve(hub, session_id, viewer_socket)
            assert (await client.next_message())["type"] == "SESSION_INFO"
            assert (await client.next_message())["type"] == "PONG"
            client.send(CloseConnection(code=1000))
            assert isinstance(await client.next_event(), CloseConnection)


async def test_a_burst_fills_the_inbox_and_the_socket_reads_no_further_until_it_drains(
    world: tuple[Hub, SocketPolicy, str],
) -> None:
    """Messages the protocol has not answered yet are bounded: at INBOX_LIMIT the socket
    stops reading (the rest waits in the kernel), and it reads on as the inbox empties,
    answering every message in order."""
    hub, policy, session_id = world
    burst = 3 * INBOX_LIMIT
    async with asyncio.timeout(10):
        async with adopted(policy) as (viewer_socket, client):
            client.send(*(TextMessage(data=PING) for _ in range(burst)))
            transport = viewer_socket.transport
            assert transport is not None
            await until(lambda: not transport.is_reading())
            assert viewer_socket._inbox is not None
            assert len(viewer_socket._inbox) == INBOX_LIMIT
            await serve(hub, session_id, viewer_socket)
            assert (await client.next_message())["type"] == "SESSION_INFO"
            for _ in range(burst):
                assert (await client.next_message())["type"] == "PONG"
            assert transport.is_reading()
            assert viewer_socket._inbox is None


async def test_a_client_that_closes_before_it_is_served_is_answered_and_leaves(
    world: tuple[Hub, SocketPolicy, str],
) -> None:
    """The client's close frame is answered with its code; the viewer then admitted for
    it ends at once as gone, leaves the hub, and the socket is no longer open."""
    hub, policy, session_id = world
    async with asyncio.timeout(10):
        async with adopted(policy) as (viewer_socket, client):
            client.send(CloseConnection(code=4000))
            answer = await client.next_event()
            assert isinstance(answer, CloseConnection)
            assert answer.code == 4000
            viewer = await serve(hub, session_id, viewer_socket)
            assert await viewer.done is CLIENT_GONE
            await until(lambda: not hub.connections and viewer_socket not in policy.open)
            assert viewer_socket.viewer is None
