"""A test-only echo WebSocket for protocol conformance suites (Autobahn|Testsuite).

Registered only when the environment sets ``GATEWAY_TEST_ECHO=1`` (never a config
key; ``check-config`` calls it dangerous), so the suite judges the production
Hypercorn and wsproto stack without the gateway's own message rules. Two settings
differ in that process (server.py): messages up to 16 MiB, as the suite sends them,
and no server pings, whose unsolicited first ping breaks the suite's exact event
expectations (6.4.3, 6.4.4); our own tests cover both production settings.
"""

from __future__ import annotations

from quart import Blueprint, websocket

SWITCH = "GATEWAY_TEST_ECHO"
#: Autobahn sends messages up to 16 MiB (sections 9, 12, 13).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

echo_ws = Blueprint("echo", __name__)


@echo_ws.websocket("/__echo")
async def echo() -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        # Quart hands an empty binary frame over as None (quart/asgi.py reads
        # `event.get("bytes") or event["text"]`); echo it as what it was.
        await websocket.send(b"" if message is None else message)
