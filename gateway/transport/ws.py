"""The viewer WebSocket of SPEC §4.

The Origin is checked before accepting (HTTP 403 refuses a cross-site page); token and
session errors are reported after accepting, with close codes a browser can read.
Each connection runs a reader task and a writer task; the handler waits for the
viewer's farewell (client gone, binary frame, slow consumer, expiry, drain), cancels
both in ``finally`` and closes with the farewell's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from quart import Blueprint, Response, websocket
from quart_cors import cors_exempt

from ..errors import Forbidden, GatewayError, RateLimited, ShuttingDown
from ..hub import Farewell, Outgoing, Viewer, late_join_message, server_message
from ..schemas import format_epoch
from .problems import problem_response
from .state import Services, services

log = logging.getLogger("gateway.ws")

viewer_ws = Blueprint("ws", __name__)

CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TOO_BIG = 1009
#: How long a last message (SESSION_EXPIRED) may take to leave before the close.
FINAL_SEND_SECONDS = 2.0


def origin_allowed(origin: str | None, allowed: frozenset[str]) -> bool:
    """No Origin: a non-browser client. Otherwise an exact match, or ``*`` configured."""
    return origin is None or "*" in allowed or origin in allowed


def error_message(code: str, message: str) -> Outgoing:
    return Outgoing(server_message("ERROR", {"code": code, "message": message}))


@viewer_ws.websocket("/")
@viewer_ws.websocket("/ws")
@cors_exempt
async def viewer_socket() -> Response | None:
    svc = services()
    if not origin_allowed(websocket.headers.get("Origin"), svc.ws_origins):
        return problem_response(Forbidden("this Origin may not open viewer connections"))
    if svc.hub.draining:
        return problem_response(ShuttingDown())
    await websocket.accept()
    token = websocket.args.get("token", "")
    try:
        await svc.limiter.hit("ws_connect_per_ip", websocket.remote_addr or "-")
        claims = svc.tokens.verify(token)
        viewer, record = await svc.hub.join(claims.session_id)
    except GatewayError as exc:
        _log_close(None, exc.close_code)
        await websocket.close(exc.close_code, exc.title)
        return None
    code = None
    try:
        code = await _serve(svc, viewer, record.seq, record.data, record.expires_at)
    finally:
        await svc.hub.leave(viewer)
        _log_close(viewer, code)
    return None


def _log_close(viewer: Viewer | None, code: int | None) -> None:
    """One line per viewer connection; never the token or the query string."""
    log.info(
        "viewer closed",
        extra={
            "event": "ws_closed",
            "session_id": viewer.session_id if viewer else None,
            "close_code": code,  # None: the client went away first
            "client_ip": websocket.remote_addr,
            "path": websocket.path,
        },
    )


async def _serve(
    svc: Services, viewer: Viewer, seq: int, data: str | None, expires_at: float
) -> int:
    """Run one viewer connection to its end; return the close code sent."""
    info = {
        "sessionId": viewer.session_id,
        "connectedAt": format_epoch(viewer.connected_at),
        "expiresAt": format_epoch(expires_at),
        "hasData": data is not None,
    }
    await websocket.send(server_message("SESSION_INFO", info))
    if data is not None:
        await websocket.send(late_join_message(data, svc.hub.clock()))
    reader = asyncio.create_task(_read(svc, viewer), name="ws-reader")
    writer = asyncio.create_task(_write(viewer, seq), name="ws-writer")
    for task in (reader, writer):
        task.add_done_callback(lambda t: _task_ended(viewer, t))
    try:
        farewell = await viewer.done
    finally:
        reader.cancel()
        writer.cancel()
        await asyncio.gather(reader, writer, return_exceptions=True)
    # Leave before closing: a viewer that does not read may never let the close frame
    # out, and it must stop counting (delivered, viewers, max_viewers) at once.
    await svc.hub.leave(viewer)
    await _close(farewell)
    return farewell.code


def _task_ended(viewer: Viewer, task: asyncio.Task[None]) -> None:
    """A reader or writer that stops by itself must not leave the handler waiting."""
    if task.cancelled() or viewer.done.done():
        return
    error = task.exception()
    if error is not None:
        log.warning(
            "viewer task failed",
            extra={"event": "ws_task_failed", "error": type(error).__name__},
        )
    viewer.finish(Farewell(CLOSE_INTERNAL_ERROR, "internal error"))


async def _close(farewell: Farewell) -> None:
    """Send the last message and the close frame, each bounded in time.

    A peer that stopped reading never drains them; after the bound the handler returns
    and the idle timeout (``read_timeout``) closes the TCP connection.
    """
    with contextlib.suppress(Exception):
        async with asyncio.timeout(FINAL_SEND_SECONDS):
            if farewell.final is not None:
                await websocket.send(farewell.final)
            await websocket.close(farewell.code, farewell.reason)


async def _write(viewer: Viewer, last_seq: int) -> None:
    """Send queued messages in order, skipping those the late-join data already covered."""
    send = websocket.send
    while True:
        item = await viewer.next()
        if item.seq is not None:
            if item.seq <= last_seq:
                continue
            last_seq = item.seq
        await send(item.text)


async def _read(svc: Services, viewer: Viewer) -> None:
    """Answer PING with PONG; ERROR for anything else; a binary frame ends with 1003.

    A message over ``ws_messages_per_connection`` ends the connection with 4429
    before it is answered.
    """
    connection = svc.limiter.connection_id()
    while True:
        message = await websocket.receive()
        # An empty binary frame reaches us as None (Quart reads `bytes or text`).
        if not isinstance(message, str):
            viewer.finish(Farewell(CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted"))
            return
        if len(message) > svc.settings.websocket.max_message_bytes:
            viewer.finish(Farewell(CLOSE_TOO_BIG, "message too big"))
            return
        try:
            await svc.limiter.hit("ws_messages_per_connection", connection)
        except RateLimited as exc:
            viewer.finish(Farewell(exc.close_code, "rate limit: messages per connection"))
            return
        _answer(viewer, message)


def _answer(viewer: Viewer, message: str) -> None:
    try:
        parsed = orjson.loads(message)
    except orjson.JSONDecodeError:
        viewer.offer(error_message("invalid_json", "messages must be JSON objects"))
        return
    kind = parsed.get("type") if isinstance(parsed, dict) else None
    if kind == "PING":
        viewer.offer(Outgoing(server_message("PONG", {})))
    elif not isinstance(kind, str):
        viewer.offer(error_message("invalid_message", 'messages need a string "type"'))
    else:
        viewer.offer(error_message("unknown_type", "the only client message is PING"))
