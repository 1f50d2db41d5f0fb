"""The gateway's production stack plus two echo WebSockets, for protocol conformance suites.

    python -m conformance.echo_server --config PATH

Autobahn|Testsuite judges a WebSocket server by what it echoes, which the viewer socket
never does. This launcher builds the gateway exactly as ``gateway serve`` does
(``create_app``, the Hypercorn settings of ``gateway.server``, Hypercorn patched the
same way) and adds, in this process only, two echo endpoints: nothing of them is in
the shipped package, and no environment variable or config key switches them on there.

- ``/__echo`` is served by Hypercorn's WebSocket stack (through Quart), which serves a
  viewer only when the hand-over below is refused;
- ``/__echo_socket`` is handed over after the 101, as every viewer is, to the gateway's
  own :class:`~gateway.transport.socket.ViewerSocket`, whose framing, UTF-8, size,
  ping and close handling it runs unchanged; only a finished message is echoed
  instead of being answered by the viewer protocol.

Two settings differ, for the suite's sake: messages up to 16 MiB (it sends them; the
production limit is tested by the project's own tests), and no server pings, whose
unsolicited first ping breaks the suite's exact event expectations (6.4.3, 6.4.4).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
from typing import Any

from quart import Blueprint, websocket
from wsproto.connection import Connection
from wsproto.events import BytesMessage, TextMessage

from gateway import logs
from gateway.app import create_app
from gateway.config import load_jwt_keys, load_settings
from gateway.server import hypercorn_config, run_loop, serve
from gateway.transport.socket import SocketPolicy, ViewerSocket
from gateway.transport.ws import DETACH

#: Autobahn sends messages up to 16 MiB (sections 9, 12, 13).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
PATH = "/__echo"
SOCKET_PATH = "/__echo_socket"

echo_ws = Blueprint("echo", __name__)


@echo_ws.websocket(PATH)
async def echo() -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        # Quart hands an empty binary frame over as None (quart/asgi.py reads
        # `event.get("bytes") or event["text"]`); echo it as what it was.
        await websocket.send(b"" if message is None else message)


class EchoSocket(ViewerSocket):
    """The viewer socket, echoing each finished message instead of queueing it for the
    viewer protocol; everything else is the viewer socket's own."""

    __slots__ = ()

    def _finished(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self._write(self.ws.send(BytesMessage(data=message)))
        else:
            self._write(self.ws.send(TextMessage(data=message)))


class EchoSockets:
    """ASGI in front of the gateway: ``SOCKET_PATH`` accepted and handed over to an
    :class:`EchoSocket`, as the viewer paths are to a ViewerSocket; the rest to ``app``."""

    def __init__(self, app: Any, policy: SocketPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket" or scope["path"] != SOCKET_PATH:
            await self.app(scope, receive, send)
            return
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        policy = self.policy

        def adopt(transport: asyncio.Transport, ws: Connection) -> EchoSocket:
            return EchoSocket(transport, ws, policy, client_ip=None, path=SOCKET_PATH)

        if scope["extensions"][DETACH](adopt) is None:
            # Not quiet right after its 101 (the suite waits for it): fail loudly.
            await send({"type": "websocket.close", "code": 1011})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    logs.configure(settings.logging.level, settings.logging.format)
    app = create_app(settings, load_jwt_keys(settings))
    app.register_blueprint(echo_ws)
    ws = settings.websocket
    policy = SocketPolicy(
        app.services.hub,
        app.services.limiter,
        max_size=MAX_MESSAGE_BYTES,
        ping_interval=None,
        idle_timeout=ws.idle_timeout_seconds,
        close_timeout=ws.close_timeout_seconds,
    )
    app.asgi_app = EchoSockets(app.asgi_app, policy)  # type: ignore[method-assign]
    config = hypercorn_config(settings)
    config.websocket_max_message_size = MAX_MESSAGE_BYTES
    config.websocket_ping_interval = None
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(app, settings, config=config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
