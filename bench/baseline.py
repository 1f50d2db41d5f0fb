#!/usr/bin/env python3
"""The baseline: the gateway's routes and messages as a bare broadcast server.

What a Python user writes without a framework: the ``websockets`` library's asyncio
server, a dict of sessions each holding a set of connections, ``json.dumps`` once per
publish and ``websockets.broadcast`` to fan it out. No authentication, no validation,
no rate limits, no TLS, no access log; UUID tokens; sessions never expire.

websockets parses only bodiless requests, so plain HTTP (the POSTs) is served on the
same port by ``h11``: a connection whose first request does not ask for a WebSocket
upgrade is handed to h11 (keep-alive) instead of the websockets handshake.

    python bench/baseline.py [--host 127.0.0.1] [--port 3001]
    python bench/baseline.py --loop uvloop --certfile CERT --keyfile KEY   (TLS in process)

With ``--certfile`` and ``--keyfile`` it serves HTTPS/WSS from the same process, as the
gateway does, and ``--loop uvloop`` runs it on the gateway's loop: what a lean Python
WebSocket connection costs over TLS (README, Performance: viewer memory).

Routes (bench/README and SPEC §2–§4 shapes):
  POST /api/token/generate  -> 201 {token, url, wsUrl, sessionId, expiresAt}
  POST /api/payment         {token, data} -> broadcast PAYMENT_DATA {seq, ...data};
                            200 {ok, sessionId, delivered, seq} (404 unknown token)
  POST /api/payment/clear   {token, reason?} -> broadcast PAYMENT_CLEARED {seq, reason}
  GET  /health              -> 200 {"status": "ok"}
  WS   /?token= (or /ws)    SESSION_INFO first, late-join PAYMENT_DATA, PING -> PONG
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import h11
from websockets.asyncio.server import ServerConnection, broadcast, serve

TTL = timedelta(minutes=30)


def now_iso(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message(kind: str, payload: dict[str, Any]) -> str:
    return json.dumps({"type": kind, "ts": now_iso(), "payload": payload})


@dataclass
class Session:
    id: str
    expires_at: datetime
    viewers: set[ServerConnection] = field(default_factory=set)
    seq: int = 0
    data_message: str | None = None  # the last PAYMENT_DATA, for late joiners


SESSIONS: dict[str, Session] = {}  # token -> session
PUBLIC = {"http": "http://127.0.0.1:3001", "ws": "ws://127.0.0.1:3001"}


# ------------------------------------------------------------------- HTTP routes


def route(method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    if method == "GET" and path == "/health":
        return 200, {"status": "ok"}
    if method != "POST":
        return 404, {"error": "not found"}
    if path == "/api/token/generate":
        token = str(uuid.uuid4())
        session = Session(str(uuid.uuid4()), datetime.now(UTC) + TTL)
        SESSIONS[token] = session
        return 201, {
            "token": token,
            "url": f"{PUBLIC['http']}/qr/{token}",
            "wsUrl": f"{PUBLIC['ws']}/?token={token}",
            "sessionId": session.id,
            "expiresAt": now_iso(session.expires_at),
        }
    if path not in ("/api/payment", "/api/payment/clear"):
        return 404, {"error": "not found"}
    try:
        request = json.loads(body)
        target = SESSIONS.get(request["token"])
    except (ValueError, KeyError, TypeError):
        return 400, {"error": "token and data are required"}
    if target is None:
        return 404, {"error": "session not found"}
    session = target
    session.seq += 1
    if path == "/api/payment":
        data = request.get("data") or {}
        text = message("PAYMENT_DATA", {"seq": session.seq, **data})
        session.data_message = text
    else:
        text = message("PAYMENT_CLEARED", {"seq": session.seq, "reason": request.get("reason")})
        session.data_message = None
    delivered = len(session.viewers)
    broadcast(session.viewers, text)
    return 200, {"ok": True, "sessionId": session.id, "delivered": delivered, "seq": session.seq}


class Connection(ServerConnection):
    """A websockets connection that serves a plain-HTTP client itself, with h11."""

    not_websocket: ClassVar[set[Connection]] = set()  # plain HTTP or no request yet

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mode: str | None = None  # None until the first request head: "ws" or "http"
        self._head = bytearray()
        self._h11: h11.Connection | None = None
        self._request: h11.Request | None = None
        self._body = bytearray()
        Connection.not_websocket.add(self)

    def data_received(self, data: bytes) -> None:
        if self._mode == "ws":
            super().data_received(data)
            return
        if self._mode is None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > 65536:
                    self.transport.abort()
                return
            head = bytes(self._head[:end]).lower()
            data, self._head = bytes(self._head), bytearray()
            if b"\nupgrade: websocket" in head or b"\nupgrade:websocket" in head:
                self._mode = "ws"
                Connection.not_websocket.discard(self)
                super().data_received(data)
                return
            self._mode = "http"
            self._h11 = h11.Connection(h11.SERVER)
        assert self._h11 is not None
        self._h11.receive_data(data)
        self._serve_http()

    def eof_received(self) -> None:
        if self._mode == "http" and self._h11 is not None:
            self._h11.receive_data(b"")
            self._serve_http()
            return
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        Connection.not_websocket.discard(self)
        super().connection_lost(exc)

    def _serve_http(self) -> None:
        conn = self._h11
        assert conn is not None
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                self._send(400, {"error": "bad request"})
                self.transport.close()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request = event
                self._body = bytearray()
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                request, self._request = self._request, None
                assert request is not None
                path = request.target.decode("latin-1").split("?", 1)[0]
                status, body = route(request.method.decode(), path, bytes(self._body))
                self._send(status, body)
                if conn.our_state is h11.MUST_CLOSE:
                    self.transport.close()
                    return
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                self.transport.close()
                return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        conn = self._h11
        assert conn is not None
        raw = json.dumps(body).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))]
        try:
            data = conn.send(h11.Response(status_code=status, headers=headers))
            data += conn.send(h11.Data(data=raw)) + conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self.transport.close()
            return
        self.transport.write(data)


# ---------------------------------------------------------------------- viewers


async def viewer(ws: ServerConnection) -> None:
    parts = urlsplit(ws.request.path if ws.request else "/")
    token = (parse_qs(parts.query).get("token") or [""])[0]
    session = SESSIONS.get(token) if parts.path in ("/", "/ws") else None
    if session is None:
        await ws.close(4404, "session unknown")
        return
    info = {
        "sessionId": session.id,
        "connectedAt": now_iso(),
        "expiresAt": now_iso(session.expires_at),
        "hasData": session.data_message is not None,
    }
    # broadcast() writes without yielding to the loop, so SESSION_INFO, the late-join
    # data and joining the set happen at one instant: no publish slips in between.
    broadcast([ws], message("SESSION_INFO", info))
    if session.data_message is not None:
        broadcast([ws], session.data_message)
    session.viewers.add(ws)
    try:
        async for raw in ws:
            try:
                kind = json.loads(raw).get("type")
            except (ValueError, AttributeError):
                kind = None
            if kind == "PING":
                await ws.send(message("PONG", {}))
            else:
                await ws.send(message("ERROR", {"code": "bad_message", "message": "unknown"}))
    finally:
        session.viewers.discard(ws)


async def main(host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
    PUBLIC["http"] = f"{'https' if tls else 'http'}://{host}:{port}"
    PUBLIC["ws"] = f"{'wss' if tls else 'ws'}://{host}:{port}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await serve(
        viewer,
        host,
        port,
        create_connection=Connection,
        open_timeout=None,  # plain-HTTP keep-alive connections never finish a handshake
        max_size=65536,
        ssl=tls,
    )
    print(f"baseline: listening on {PUBLIC['http']}", flush=True)
    await stop.wait()
    # Plain-HTTP connections (and any that sent nothing yet) would hold the close.
    for conn in list(Connection.not_websocket):
        conn.transport.abort()
    server.close()  # viewers get 1001
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await server.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the benchmark's baseline server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument("--certfile", help="serve HTTPS/WSS with this certificate chain")
    parser.add_argument("--keyfile", help="and this private key")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if (args.certfile is None) != (args.keyfile is None):
        parser.error("--certfile and --keyfile go together")
    context = None
    if args.certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.certfile, args.keyfile)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args.host, args.port, context))
    else:
        asyncio.run(main(args.host, args.port, context))
