"""The gateway's production stack plus an echo WebSocket, for protocol conformance suites.

    python -m conformance.echo_server --config PATH

Autobahn|Testsuite judges a WebSocket server by what it echoes, which the viewer socket
never does. This launcher builds the gateway exactly as ``gateway serve`` does
(``create_app``, the Hypercorn settings of ``gateway.server``, Hypercorn patched the
same way) and adds ``/__echo`` in this process only: nothing of it is in the shipped
package, and no environment variable or config key switches it on there. Two Hypercorn
settings differ, for the suite's sake: messages up to 16 MiB (it sends them; the
production limit is tested by the project's own tests), and no server pings, whose
unsolicited first ping breaks the suite's exact event expectations (6.4.3, 6.4.4).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from quart import Blueprint, websocket

from gateway import logs
from gateway.app import create_app
from gateway.config import load_jwt_keys, load_settings
from gateway.server import hypercorn_config, run_loop, serve

#: Autobahn sends messages up to 16 MiB (sections 9, 12, 13).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
PATH = "/__echo"

echo_ws = Blueprint("echo", __name__)


@echo_ws.websocket(PATH)
async def echo() -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        # Quart hands an empty binary frame over as None (quart/asgi.py reads
        # `event.get("bytes") or event["text"]`); echo it as what it was.
        await websocket.send(b"" if message is None else message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    logs.configure(settings.logging.level, settings.logging.format)
    app = create_app(settings, load_jwt_keys(settings))
    app.register_blueprint(echo_ws)
    config = hypercorn_config(settings)
    config.websocket_max_message_size = MAX_MESSAGE_BYTES
    config.websocket_ping_interval = None
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(app, settings, config=config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
