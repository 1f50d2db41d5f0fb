"""gateway.transport.state.TimedHTTPConnection: Quart's HTTP connection, sending the
response under ``asyncio.timeout`` instead of ``asyncio.wait_for`` (a task per request
on Python 3.11). It must still be Quart's ``handle_request`` otherwise, and still bound
a send that hangs by ``RESPONSE_TIMEOUT``."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from quart.asgi import ASGIHTTPConnection

from gateway.transport.state import GatewayApp, TimedHTTPConnection


def test_the_copy_is_still_quarts_handle_request_but_for_the_timeout() -> None:
    """If Quart changes handle_request, the copy must be reviewed."""
    quart = inspect.getsource(ASGIHTTPConnection.handle_request)
    ours = inspect.getsource(TimedHTTPConnection.handle_request)
    wait = "await asyncio.wait_for(self._send_response(send, response), timeout=timeout)"
    assert wait in quart
    same = [
        "response = await self.app.handle_request(request)",
        "response = await _handle_exception(self.app, error)",
        "if isinstance(response, Response) and response.timeout != Ellipsis:",
        "timeout = cast(float | None, response.timeout)",
        'timeout = self.app.config["RESPONSE_TIMEOUT"]',
    ]
    for line in same:
        assert line in quart, line
        assert line in ours, line
    body = [line.strip() for line in quart.splitlines() if line.strip()]
    assert len(body) == 13, body  # nothing added to Quart's that the copy lacks
    assert GatewayApp.asgi_http_class is TimedHTTPConnection


def app_with_one_route(response_timeout: float, ran_in: list[Any]) -> GatewayApp:
    """An app whose one route notes the task it runs in."""
    app = GatewayApp("test", static_folder=None)
    app.config["RESPONSE_TIMEOUT"] = response_timeout

    @app.get("/")
    async def index() -> str:
        ran_in.append(asyncio.current_task())
        return "ok"

    return app


async def call(app: GatewayApp, send: Any) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 443),
        "extensions": {},
    }

    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            await asyncio.Event().wait()  # the client stays; Quart cancels this
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    await app(scope, receive, send)


async def test_the_response_is_sent_from_the_request_task() -> None:
    """No task of its own for the send: every ASGI message goes out from the task
    in which the view ran (Quart's wait_for would send from a new one)."""
    ran_in: list[Any] = []
    app = app_with_one_route(30, ran_in)
    sent: list[tuple[dict[str, Any], asyncio.Task[Any] | None]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append((message, asyncio.current_task()))

    await app.startup()
    try:
        await asyncio.wait_for(call(app, send), 10)
    finally:
        await app.shutdown()
    types = [message["type"] for message, _ in sent]
    assert types[0] == "http.response.start"
    assert set(types[1:]) == {"http.response.body"}
    assert sent[0][0]["status"] == 200
    assert len(ran_in) == 1
    assert {task for _, task in sent} == {ran_in[0]}


async def test_a_send_that_hangs_is_still_cut_at_response_timeout() -> None:
    """A client that never takes the response holds the request for RESPONSE_TIMEOUT,
    not for ever."""
    app = app_with_one_route(0.1, [])
    hang = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        await hang.wait()

    await app.startup()
    try:
        await asyncio.wait_for(call(app, send), 10)  # returns: the send was cut
    finally:
        await app.shutdown()
    assert not hang.is_set()
