"""The services a request handler needs, and the app that holds them.

:func:`gateway.app.create_app` builds a :class:`GatewayApp` with its :class:`Services`;
``gateway serve`` receives that app and reads them from it; handlers reach them through
:func:`services` (Quart's ``current_app`` is the app serving the request).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

from hypercorn.typing import ASGISendCallable
from quart import Quart, Request, Response, current_app
from quart.asgi import ASGIHTTPConnection, _handle_exception

from ..auth.apikeys import KeyRing
from ..auth.tokens import TokenService
from ..config import Settings
from ..hub import Hub
from ..metrics import Metrics
from ..ratelimit import RateLimiter
from .socket import SocketPolicy

#: ASGI as the fronts before Quart see it (transport/ws.py, transport/publish.py).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: Quart's ``asgi_app``, typed by its own (stricter) ASGI TypedDicts.
ASGIApp = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    hub: Hub
    tokens: TokenService
    keyring: KeyRing
    limiter: RateLimiter
    metrics: Metrics
    #: Origins a viewer WebSocket may come from (docs/protocol.md §4); "*" allows any.
    ws_origins: frozenset[str]
    #: What viewer sockets taken over from the server share (transport/socket.py).
    sockets: SocketPolicy | None = None


class TimedHTTPConnection(ASGIHTTPConnection):
    """Quart's HTTP connection, with the response sent under ``asyncio.timeout``.

    Quart bounds sending a response by ``RESPONSE_TIMEOUT`` with ``asyncio.wait_for``,
    which on Python 3.11 runs the send in a task of its own: a task and a timer for
    every request (4 % of a throughput profile's samples, though no speed-up this
    machine could measure: README, Performance). ``asyncio.timeout`` bounds it the
    same way in the request's own task. The rest is Quart's
    ``handle_request`` unchanged (``tests/test_http_connection.py`` holds it to it).
    """

    async def handle_request(self, request: Request, send: ASGISendCallable) -> None:
        try:
            response = await self.app.handle_request(request)
        except Exception as error:
            response = await _handle_exception(self.app, error)

        if isinstance(response, Response) and response.timeout != Ellipsis:
            timeout = cast(float | None, response.timeout)
        else:
            timeout = self.app.config["RESPONSE_TIMEOUT"]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._send_response(send, response)


class GatewayApp(Quart):
    """The Quart app of one gateway, with the services it was built with."""

    services: Services
    asgi_http_class = TimedHTTPConnection


def services() -> Services:
    """The services of the app serving the current request."""
    return cast(GatewayApp, current_app).services
