"""End-to-end: publishes served in front of Quart (transport/publish.py), over real TLS
sockets against a real ``gateway serve``.

What only a socket shows: a keep-alive connection carries on after an early refusal
whose body was read, and is closed after one whose body was not; a client that hangs up
after its body arrived still publishes (docs/protocol.md §2.9), and one that hangs up
while its body is arriving does not. The ``gateway`` fixture checks that the log holds
no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from .gatewayproc import Gateway, GatewayClient, payment


class Connection:
    """One raw TLS connection to the gateway, for requests written byte by byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, gw: Gateway) -> Connection:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", gw.port, ssl=gw.ssl_context, server_hostname="localhost"
        )
        return cls(reader, writer)

    def head(self, gw: Gateway, length: int | None, key: str | None = None) -> bytes:
        lines = [
            "POST /api/payment HTTP/1.1",
            "Host: localhost",
            "Content-Type: application/json",
            f"X-API-Key: {key if key is not None else gw.key()}",
            f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers["content-length"]))
        return status, headers, json.loads(body)

    async def closed(self) -> bool:
        """Whether the server closed the connection (EOF, within 5 s)."""
        try:
            return await asyncio.wait_for(self.reader.read(1), 5) == b""
        except (ConnectionError, TimeoutError):
            return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def connected(gw: Gateway) -> AsyncIterator[Connection]:
    conn = await Connection.open(gw)
    try:
        yield conn
    finally:
        await conn.close()


def body_for(token: str, amount: int = 300000) -> bytes:
    return json.dumps({"token": token, "data": payment(amount)}).encode()


async def test_keep_alive_carries_on_after_a_refusal_whose_body_was_read(
    gateway: Gateway, client: GatewayClient
) -> None:
    session = await client.new_session()
    body = body_for(session["token"])
    async with connected(gateway) as conn:
        await conn.send(conn.head(gateway, len(body), key="gw_nobody") + body)
        status, headers, problem = await conn.answer()
        assert (status, problem["status"]) == (401, 401)
        assert "connection" not in headers
        await conn.send(conn.head(gateway, len(body)) + body)  # the same connection
        status, headers, answer = await conn.answer()
        assert (status, answer["seq"]) == (200, 1)
        assert headers["strict-transport-security"] == "max-age=63072000"


async def test_a_refusal_before_a_chunked_body_closes_the_connection(
    gateway: Gateway, client: GatewayClient
) -> None:
    session = await client.new_session()
    body = body_for(session["token"])
    async with connected(gateway) as conn:
        await conn.send(conn.head(gateway, None, key="gw_nobody") + f"{len(body):x}\r\n".encode())
        status, headers, _ = await conn.answer()
        assert (status, headers["connection"]) == (401, "close")
        assert await conn.closed()


async def test_a_body_over_the_limit_is_413_and_closes(gateway: Gateway) -> None:
    async with connected(gateway) as conn:
        await conn.send(conn.head(gateway, 10**9))  # announced; not one byte of it sent
        status, headers, problem = await conn.answer()
        assert (status, headers["connection"], problem["status"]) == (413, "close", 413)
        assert await conn.closed()


async def test_a_client_gone_after_its_body_still_publishes(
    gateway: Gateway, client: GatewayClient
) -> None:
    session = await client.new_session()
    body = body_for(session["token"])
    conn = await Connection.open(gateway)
    await conn.send(conn.head(gateway, len(body)) + body)
    await conn.close()  # gone before any answer
    for _ in range(100):
        info = await client.session_info(session["token"])
        if info["hasData"]:
            break
        await asyncio.sleep(0.05)
    assert info["hasData"] is True
    answer = await client.publish(session["token"])
    assert answer["seq"] == 2


async def test_a_client_gone_mid_body_publishes_nothing(
    gateway: Gateway, client: GatewayClient
) -> None:
    session = await client.new_session()
    body = body_for(session["token"])
    conn = await Connection.open(gateway)
    await conn.send(conn.head(gateway, len(body)) + body[:20])
    await conn.close()
    # The next request from the same address is served: nothing was published before it.
    answer = await client.publish(session["token"])
    assert answer["seq"] == 1
    info = await client.session_info(session["token"])
    assert info["hasData"] is True


async def test_http_1_0_is_served_and_closed(gateway: Gateway, client: GatewayClient) -> None:
    session = await client.new_session()
    body = body_for(session["token"])
    async with connected(gateway) as conn:
        head = conn.head(gateway, len(body)).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
        await conn.send(head + body)
        status, _, answer = await conn.answer()
        assert (status, answer["seq"]) == (200, 1)
        assert await conn.closed()
