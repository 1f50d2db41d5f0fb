"""gateway.accept: TLS handshakes bounded per worker, over real sockets and real TLS.

Each test holds the server's slots with clients that connect and say nothing (the
handshake waits for a ClientHello that never comes) and watches what a real TLS
client gets meanwhile. The reconnect storm this is for is measured by bench/storm.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypercorn.asyncio import run as hypercorn_asyncio_run

from gateway import accept
from gateway.accept import GatedServer
from gateway.certs import DevCertificate
from gateway.hypercorn_patches import AsyncioWithGatedTLS, gate_tls_handshakes

from .gatewayproc import Gateway, free_port
from .wsclient import poll, receive, viewer

#: Long enough that no slot in these tests is ever released by its timer.
NEVER = 3600.0


def contexts(certs: DevCertificate) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certs.cert_file, certs.key_file)
    client = ssl.create_default_context(cafile=str(certs.ca_file))
    return server, client


async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The app behind the listener: answers one line, then closes."""
    writer.write(b"hello " + await reader.readline())
    await writer.drain()
    writer.close()


#: An idle_lag no tick meets: the loop always counts as busy, stalled slots stay held.
BUSY = -1.0


@contextlib.asynccontextmanager
async def gated(
    certs: DevCertificate,
    limit: int,
    slot_seconds: float = NEVER,
    stalled_seconds: float = NEVER,
    idle_lag: float = BUSY,
) -> AsyncIterator[tuple[GatedServer, Callable[[], Awaitable[bytes]], int]]:
    """A GatedServer on a free loopback port, and a function that does one TLS exchange.

    By default no slot is ever given back early: the tests that want the timers or the
    idle-loop release ask for them."""
    server_context, client_context = contexts(certs)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = GatedServer(
        greet,
        sock,
        server_context,
        limit=limit,
        handshake_timeout=30,
        slot_seconds=slot_seconds,
        stalled_seconds=stalled_seconds,
        idle_lag=idle_lag,
    )
    server.start()

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context, server_hostname="localhost"
        )
        writer.write(b"world\n")
        answer = await reader.read()
        writer.close()
        return answer

    try:
        yield server, exchange, port
    finally:
        server.close()
        await server.wait_closed()


async def until(check: Callable[[], bool], what: str) -> None:
    async def probe() -> bool:
        return check()

    await poll(probe, bool, 10, what)


async def silent(port: int) -> socket.socket:
    """A client that connects and never sends its ClientHello."""
    sock = socket.socket()
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def test_a_free_slot_serves_at_once(certs: DevCertificate) -> None:
    async with gated(certs, limit=2) as (server, exchange, _):
        assert await exchange() == b"hello world\n"
        assert await exchange() == b"hello world\n"
        await until(lambda: server.holding == 0, "the slots are given back")
        assert server.accepted == 2


@pytest.mark.parametrize(
    "release",
    [
        pytest.param({}, id="no-release"),
        pytest.param({"stalled_seconds": 0.0, "idle_lag": BUSY}, id="busy-loop-keeps-stalled"),
    ],
)
async def test_a_full_server_leaves_the_next_connection_in_the_kernel_queue(
    certs: DevCertificate, release: dict[str, float]
) -> None:
    """One slot, held by a silent client: the next client is not accepted (it waits in
    the listen queue, its ClientHello unread) until the silent one leaves; then it is
    served. Nothing is refused or lost meanwhile. That holds on a busy loop even for a
    stalled handshake: giving its slot back would pile more work on the loop."""
    async with gated(certs, limit=1, **release) as (server, exchange, port):
        quiet = await silent(port)
        await until(lambda: server.accepted == 1, "the silent client is accepted")
        waiting = asyncio.create_task(exchange())
        # A negative check over several ticks (TICK_SECONDS 0.05), in which an ungated
        # server would accept; it can only pass wrongly if accepting were slower.
        for _ in range(20):
            await asyncio.sleep(0.05)
        assert (server.accepted, server.holding) == (1, 1)
        assert not waiting.done()
        quiet.close()  # its handshake fails at EOF and gives the slot back
        assert await asyncio.wait_for(waiting, 10) == b"hello world\n"
        assert server.accepted == 2


@pytest.mark.parametrize(
    "release",
    [
        pytest.param({"slot_seconds": 0.05}, id="slot-seconds"),
        pytest.param({"stalled_seconds": 0.05, "idle_lag": NEVER}, id="idle-loop-stalled"),
    ],
)
async def test_silent_clients_give_their_slots_back(
    certs: DevCertificate, release: dict[str, float]
) -> None:
    """With every slot held by clients that say nothing, a real client is still served
    while they stay connected: their slots time out after slot_seconds whatever the
    loop does, or, while the loop keeps time (it has CPU to spare), after
    stalled_seconds, since such handshakes wait on their clients."""
    async with gated(certs, limit=2, **release) as (server, exchange, port):
        quiet = [await silent(port) for _ in range(2)]
        await until(lambda: server.accepted == 2, "both silent clients accepted")
        assert await asyncio.wait_for(exchange(), 10) == b"hello world\n"
        assert server.accepted == 3
        for sock in quiet:
            sock.close()
        await until(lambda: server.holding == 0, "every slot given back")


async def test_a_failed_handshake_gives_its_slot_back(certs: DevCertificate) -> None:
    """Bytes that are not TLS fail the handshake; the server serves the next client."""
    async with gated(certs, limit=1) as (server, exchange, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await reader.read() == b""  # closed without an answer
        writer.close()
        await until(lambda: server.holding == 0, "the slot is given back")
        assert await exchange() == b"hello world\n"


async def test_close_stops_accepting_and_ends_the_handshakes_in_progress(
    certs: DevCertificate,
) -> None:
    async with gated(certs, limit=4) as (server, _, port):
        quiet = await silent(port)
        await until(lambda: server.holding == 1, "a handshake in progress")
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        assert (server.holding, server.is_serving(), server.sockets) == (0, False, ())
        loop = asyncio.get_running_loop()
        assert await loop.sock_recv(quiet, 1) == b""  # its connection was closed
        quiet.close()
        with socket.socket() as late:
            late.setblocking(False)
            with pytest.raises(ConnectionRefusedError):
                await loop.sock_connect(late, ("127.0.0.1", port))


def test_a_limit_below_one_is_refused(certs: DevCertificate) -> None:
    server_context, _ = contexts(certs)

    async def build() -> None:
        with socket.socket() as sock, pytest.raises(ValueError, match="at least 1"):
            GatedServer(greet, sock, server_context, limit=0)

    asyncio.run(build())


async def test_plain_listeners_are_asyncios_own() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        server = await accept.start_server(greet, sock=sock, backlog=8, ssl=None, handshakes=1)
        assert isinstance(server, asyncio.Server)
        server.close()
        await server.wait_closed()


def test_hypercorns_worker_gets_the_gated_start_server() -> None:
    """gate_tls_handshakes swaps the asyncio Hypercorn's worker sees, and only its
    start_server: everything else is asyncio's."""
    saved: Any = hypercorn_asyncio_run.asyncio
    try:
        gate_tls_handshakes(7)
        seen: Any = hypercorn_asyncio_run.asyncio
        assert isinstance(seen, AsyncioWithGatedTLS)
        assert seen.start_server.func is accept.start_server
        assert seen.start_server.keywords == {"handshakes": 7}
        assert (seen.Event, seen.wait_for) == (asyncio.Event, asyncio.wait_for)
        gate_tls_handshakes(9)  # again, over its own proxy
        assert hypercorn_asyncio_run.asyncio.start_server.keywords == {"handshakes": 9}
    finally:
        hypercorn_asyncio_run.asyncio = saved


async def test_closing_as_a_handshake_finishes_closes_no_file_twice(
    certs: DevCertificate,
) -> None:
    """close() called by the connection's callback (the handshake is done, its task
    not yet resumed) cancels that task; the loop then owns the socket and closes it.
    Had the server closed it too, the next socket given that number would be dead
    in the loop's selector: here it must carry data."""
    server_context, client_context = contexts(certs)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    numbers: list[int] = []

    def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        numbers.append(writer.get_extra_info("socket").fileno())
        server.close()

    server = GatedServer(close_at_once, sock, server_context, limit=1, handshake_timeout=10)
    server.start()
    _, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_context, server_hostname="localhost"
    )
    await asyncio.wait_for(server.wait_closed(), 10)
    loop = asyncio.get_running_loop()
    # New sockets take the lowest free numbers: open them until the connection's number
    # comes back (it was closed) or is passed (its transport still holds it).
    spare: list[socket.socket] = []
    reused: tuple[socket.socket, socket.socket] | None = None
    while reused is None and len(spare) < 200:
        left, right = socket.socketpair()
        if numbers[0] in (left.fileno(), right.fileno()):
            reused = (left, right) if left.fileno() == numbers[0] else (right, left)
        else:
            spare += [left, right]
            if min(left.fileno(), right.fileno()) > numbers[0]:
                break
    try:
        if reused is not None:
            # Closed and given again: the new socket must work in the loop.
            received: asyncio.Future[bytes] = loop.create_future()

            class Receiver(asyncio.Protocol):
                def data_received(self, data: bytes) -> None:
                    if not received.done():
                        received.set_result(data)

            mine, peer = reused
            transport, _ = await loop.connect_accepted_socket(Receiver, mine)
            peer.send(b"ping")
            try:
                assert await asyncio.wait_for(received, 10) == b"ping"
            finally:
                transport.close()
                peer.close()
    finally:
        for end in spare:
            end.close()
        writer.close()


def accept_queue(port: int) -> int | None:
    """Connections waiting in the kernel's accept queue of the IPv4 listener on
    ``port`` (Linux: a listening socket's rx_queue in /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            return int(fields[4].split(":")[1], 16)
    return None


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")
async def test_a_gateway_leaves_connections_beyond_its_handshakes_to_the_kernel(
    start_gateway: Callable[..., Gateway],
) -> None:
    """`gateway serve` with tls.handshakes_in_flight = 1: of 20 silent clients it takes
    one per second (a slot's longest hold), so the listen queue stays full; a gateway
    that accepted them all would empty it at once. Then it serves as before."""
    gw = start_gateway({"tls": {"handshakes_in_flight": 1}})
    silent_clients = [await silent(gw.port) for _ in range(20)]
    try:
        seen = []
        for _ in range(10):
            seen.append(accept_queue(gw.port))
            await asyncio.sleep(0.03)
        assert None not in seen
        assert min(q for q in seen if q is not None) >= 10, seen
    finally:
        for sock in silent_clients:
            sock.close()
    async with gw.client() as client:
        assert (await client.get("/health")).status_code == 200


async def test_a_gateway_with_one_handshake_at_a_time_serves_many_viewers(
    start_gateway: Callable[..., Gateway],
) -> None:
    """`gateway serve` with tls.handshakes_in_flight = 1: 30 viewers opened at once all
    get SESSION_INFO (the gate queues them, it does not refuse them)."""
    gw = start_gateway({"tls": {"handshakes_in_flight": 1}})
    async with gw.client() as client:
        token = (await client.new_session())["token"]

    async def first_message() -> str:
        async with viewer(gw, token) as ws:
            return str((await receive(ws))["type"])

    assert await asyncio.gather(*(first_message() for _ in range(30))) == ["SESSION_INFO"] * 30


#: A GatedServer in a process that may open only 4 more files: what it prints.
OUT_OF_FILES_SERVER = """
import asyncio, logging, os, resource, socket, ssl, sys
from gateway import accept
from gateway.accept import GatedServer

accept.RESOURCE_PAUSE_SECONDS = 0.05
logging.basicConfig(stream=sys.stdout, format="%(message)s", level=logging.WARNING)


async def greet(reader, writer):
    writer.write(b"hello " + await reader.readline())
    await writer.drain()
    writer.close()


async def main():
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = GatedServer(greet, sock, context, limit=64, handshake_timeout=30)
    server.start()
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 5, hard))
    print("port", sock.getsockname()[1], flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
"""


async def test_out_of_file_descriptors_pauses_accepting_and_then_serves(
    certs: DevCertificate,
) -> None:
    """accept() failing with EMFILE stops the listener for a moment instead of
    spinning on a socket that stays readable (the log says so a few times, not
    thousands); once files are free again, a client is served."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        OUT_OF_FILES_SERVER,
        str(certs.cert_file),
        str(certs.key_file),
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    silent_clients: list[socket.socket] = []
    try:
        async with asyncio.timeout(20):
            port = int((await child.stdout.readline()).split()[1])
            for _ in range(12):
                silent_clients.append(await silent(port))
            assert (await child.stdout.readline()).startswith(b"accept paused: ")
        # Out of files for half a second: a pause of 0.05 s logs about ten times in
        # it; a listener that kept trying would log thousands.
        await asyncio.sleep(0.5)
        for sock in silent_clients:
            sock.close()
        _, client_context = contexts(certs)
        async with asyncio.timeout(20):
            while True:  # the queue drains: the closed clients first, then this one
                with contextlib.suppress(ConnectionError, ssl.SSLError):
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1", port, ssl=client_context, server_hostname="localhost"
                    )
                    writer.write(b"world\n")
                    answer = await reader.read()
                    writer.close()
                    if answer:
                        break
        assert answer == b"hello world\n"
        assert child.returncode is None
    finally:
        for sock in silent_clients:
            sock.close()
        child.kill()
        logged = await child.stdout.read()
        await child.wait()
    assert logged.count(b"accept paused") < 100, "the listener spun on EMFILE"
    assert logged.count(b"accept paused") >= 1


async def test_metrics_count_handshakes_in_progress_and_failed(
    start_gateway: Callable[..., Gateway],
) -> None:
    """/metrics shows a silent client's handshake in progress, and once the client
    sends what is not TLS, one failed handshake and none in progress."""
    port = free_port()
    gw = start_gateway({"metrics": {"bind": f"127.0.0.1:{port}"}})

    async def scrape(http: httpx.AsyncClient) -> dict[str, float]:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        names = ("gateway_tls_handshakes_in_progress", "gateway_tls_handshakes_failed_total")
        return {
            name: float(value)
            for name, value in (
                line.split(" ", 1) for line in text.splitlines() if line.startswith(names)
            )
            if name in names
        }

    async with httpx.AsyncClient() as http:
        before = await scrape(http)
        assert before["gateway_tls_handshakes_in_progress"] == 0
        quiet = await silent(gw.port)
        try:
            await poll(
                lambda: scrape(http),
                lambda m: m["gateway_tls_handshakes_in_progress"] == 1,
                10,
                "the silent client's handshake in progress",
            )
            await asyncio.get_running_loop().sock_sendall(quiet, b"GET / HTTP/1.1\r\n\r\n")
            after = await poll(
                lambda: scrape(http),
                lambda m: m["gateway_tls_handshakes_in_progress"] == 0,
                10,
                "the handshake ended",
            )
        finally:
            quiet.close()
    failed = "gateway_tls_handshakes_failed_total"
    assert after[failed] == before[failed] + 1
