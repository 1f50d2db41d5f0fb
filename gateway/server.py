"""Serving the app with Hypercorn: TLS, WebSocket limits, and the drain on SIGTERM.

Hypercorn's own shutdown waits for open WebSockets (and on Python 3.12+ ignores
``graceful_timeout`` for them, hypercorn#308), so the gateway owns the shutdown
trigger: on SIGTERM it refuses new viewers, closes every viewer with 1001, waits for
them to leave, and only then lets Hypercorn stop accepting and finish in-flight
requests (docs/security.md §3.9: exit 0 within 10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import signal
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from wsgiref.handlers import format_date_time

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.middleware import ProxyFixMiddleware
from hypercorn.utils import wrap_app

from .config import Settings
from .hypercorn_patches import (
    DEFAULT_CLOSE_TIMEOUT_SECONDS,
    gate_tls_handshakes,
    patch_hypercorn,
)
from .logs import is_peer_error, loop_exception_handler
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics
from .transport.state import GatewayApp

log = logging.getLogger("gateway.server")

#: Mozilla "intermediate" TLS 1.2 suites (TLS 1.3 suites are not configurable here).
INTERMEDIATE_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)
DRAIN_SECONDS = 4.0
#: From SIGTERM, how long the drain waits for the viewer sockets' closing handshakes
#: (the close timeout is 5 s at most, after a broker round trip); Hypercorn's own
#: shutdown follows, all within SHUTDOWN_DEADLINE_SECONDS.
SOCKETS_DRAIN_SECONDS = 7.0
GRACEFUL_SECONDS = 4.0
#: From SIGTERM to return, whatever the peers do (docs/security.md §3.9: exit 0 within 10 s).
SHUTDOWN_DEADLINE_SECONDS = 9.0
#: Connections the kernel queues before the gateway accepts them (Hypercorn's default
#: is 100): when an instance dies, its viewers all reconnect to the others at once, and
#: a full queue drops their SYNs, which the clients resend only after 1, 3, 7, 15 s.
#: The kernel caps it at net.core.somaxconn (4096 on current Linux).
BACKLOG = 4096
#: Allocations (net) between young-generation collections; CPython's default is 700.
GC_YOUNG_THRESHOLD = 20_000
#: How often the heap's free pages go back to the kernel (glibc's malloc_trim).
HEAP_TRIM_SECONDS = 10.0


class GatewayConfig(Config):
    """Hypercorn's config with the gateway's TLS context (no session tickets), plus the
    closing-handshake deadline that the patched WebSocket stream reads
    (``hypercorn_patches``).

    Mozilla's intermediate profile turns session tickets off (they weaken forward
    secrecy, and each instance would need a shared, rotated ticket key). It also spares
    clients that read and write one TLS socket from two threads (websockets' sync
    client does): a NewSessionTicket arriving while such a client sends its upgrade
    request can lose the request, and the connection then idles out unanswered.
    """

    websocket_close_timeout: float = DEFAULT_CLOSE_TIMEOUT_SECONDS
    #: Hypercorn's own Date header is off: :meth:`response_headers` adds it.
    include_date_header = False
    #: The second the Date header was last formatted for, and that header.
    _date: tuple[int, bytes] = (-1, b"")

    def response_headers(self, protocol: str) -> list[tuple[bytes, bytes]]:
        """Hypercorn's headers for every answer, with its ``Date`` formatted once a
        second rather than once per answer (RFC 9110 §6.6.1: a second's resolution)."""
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, format_date_time(now).encode("ascii"))
        return [(b"date", self._date[1]), *super().response_headers(protocol)]

    def create_ssl_context(self) -> ssl.SSLContext | None:
        context = super().create_ssl_context()
        if context is not None:
            context.num_tickets = 0  # TLS 1.3
            context.options |= ssl.OP_NO_TICKET  # TLS 1.2
        return context


def hypercorn_config(settings: Settings) -> GatewayConfig:
    """Hypercorn's settings for ``settings`` (the caller has run ``patch_hypercorn``)."""
    config = GatewayConfig()
    host = settings.server.host
    host = f"[{host}]" if ":" in host else host
    config.bind = [f"{host}:{settings.server.port}"]
    if settings.tls.enabled:
        config.certfile = settings.tls.certfile
        config.keyfile = settings.tls.keyfile
        config.ciphers = INTERMEDIATE_CIPHERS
    # HTTP/1.1 only (hypercorn_patches also refuses h2c and prior knowledge).
    config.alpn_protocols = ["http/1.1"]
    ws = settings.websocket
    # Counted as the message arrives, in characters for text (patched: the app hears
    # of the 1009 at once, and the closing handshake is bounded).
    config.websocket_max_message_size = ws.max_message_bytes
    config.websocket_close_timeout = ws.close_timeout_seconds
    config.websocket_ping_interval = ws.ping_interval_seconds
    # Any bytes from the client (a pong too) reset the read timeout: the idle rule of
    # docs/protocol.md §4.5.
    config.read_timeout = int(ws.idle_timeout_seconds) or 1
    config.graceful_timeout = GRACEFUL_SECONDS
    # Mozilla/sslyze: a handshake that has not finished in 10 s is dropped (default 60).
    config.ssl_handshake_timeout = 10
    config.backlog = BACKLOG
    config.include_server_header = False
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


def tune_gc() -> None:
    """Keep full garbage collections off the broadcast path.

    A broadcast keeps a few objects per viewer alive while it is sent; with CPython's
    default young threshold (700) collections run mid-broadcast, promote those objects,
    and a full collection soon follows, walking every object of the process: the
    ~145,000 left by start-up (imports, the app, pydantic schemas) and every
    connection's. Measured at 1,000 viewers: full collections of 40-120 ms, the whole
    p99 tail (plain fan-out p99 101-122 ms, 38-42 ms with the collector off). Freezing
    what start-up left moves it out of every later collection, and a higher young
    threshold lets short-lived broadcast objects die by reference count first (young
    collections of 2-8 ms, no full one during a 10 s run). Cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def heap_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library is not glibc."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (ValueError, OSError, AttributeError):
        return None
    return trim


async def trim_heap_forever(interval: float = HEAP_TRIM_SECONDS) -> None:
    """Hand the heap's free pages back to the kernel every ``interval`` seconds.

    glibc returns freed memory to the kernel only from the top of its heap; what was
    freed below a block still in use stays resident. Bursts of connections that end
    before or during their TLS handshake (each a few dozen KiB of OpenSSL and Python
    state) left RSS higher after every burst (bench/churn.py, 500 silent connections at
    a time: +100 MiB after 5,000) with nothing of theirs alive; ``malloc_trim(0)``
    releases those pages (measured: flat, at most 4.3 ms per call, in a worker thread).
    """
    trim = heap_trim()
    if trim is None:
        return
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        await loop.run_in_executor(None, trim, 0)


async def serve(
    app: GatewayApp,
    settings: Settings,
    *,
    config: GatewayConfig | None = None,
    sockets: Sockets | None = None,
    metrics_sockets: Sockets | None = None,
) -> None:
    """Run ``app`` until SIGTERM/SIGINT, then drain and return.

    ``config`` replaces :func:`hypercorn_config`'s (the conformance launcher serves the
    same stack with the limits its suite needs). ``sockets`` and ``metrics_sockets``
    are listening sockets bound by a parent process (gateway.workers); without them
    Hypercorn binds ``server.host:server.port`` and ``metrics.bind`` itself.
    """
    patch_hypercorn()
    gate_tls_handshakes(settings.tls.handshakes_in_flight)
    tune_gc()
    trimmer = asyncio.ensure_future(trim_heap_forever())
    try:
        await _serve(app, settings, config, Listeners(sockets, metrics_sockets))
    finally:
        trimmer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trimmer


@dataclass(frozen=True)
class Listeners:
    """Sockets bound by a parent process, or None where Hypercorn binds its own."""

    main: Sockets | None = None
    metrics: Sockets | None = None


def _hypercorn(
    app: Any, config: Config, sockets: Sockets | None, trigger: Callable[[], Awaitable[Any]]
) -> Awaitable[None]:
    """Hypercorn's ``serve``, on ``sockets`` when a parent bound them."""
    if sockets is None:
        return hypercorn_serve(app, config, shutdown_trigger=trigger)
    return worker_serve(
        wrap_app(app, config.wsgi_max_body_size, None),
        config,
        sockets=sockets,
        shutdown_trigger=trigger,
    )


async def _serve(
    app: GatewayApp, settings: Settings, config: GatewayConfig | None, listeners: Listeners
) -> None:
    services = app.services
    hub = services.hub
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(loop_exception_handler)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def shutdown_trigger() -> None:
        await stop.wait()
        log.info("draining", extra={"event": "drain_started", "viewers": hub.connections})
        hub.drain()
        started = loop.time()
        await hub.wait_empty(DRAIN_SECONDS)
        if services.sockets is not None:
            # Viewer sockets the gateway serves itself (transport/socket.py) are not
            # Hypercorn's to wait for. Each sends its close frame once its viewer has
            # left the broker, and closes when its client answers or at the close
            # timeout; whatever is left at SOCKETS_DRAIN_SECONDS is cut off with the rest.
            await services.sockets.wait_closed(SOCKETS_DRAIN_SECONDS - (loop.time() - started))
        log.info("drained", extra={"event": "drain_done", "viewers_left": hub.connections})

    config = config or hypercorn_config(settings)
    scheme = "https" if settings.tls.enabled else "http"
    log.info(
        "listening",
        extra={
            "event": "listening",
            "bind": config.bind[0],
            "scheme": scheme,
            "public_url": settings.server.public_url,
        },
    )
    hops = settings.proxy.trusted_hops
    # With trusted proxies, the client address is the one `hops` entries from the right
    # of X-Forwarded-For; without, the header is ignored and the socket peer stands.
    asgi: Any = ProxyFixMiddleware(app, mode="legacy", trusted_hops=hops) if hops else app
    servers = [_hypercorn(asgi, config, listeners.main, shutdown_trigger)]
    if settings.metrics.bind is not None:
        # A second, plain-HTTP listener for the scraper only; it stops with the main one.
        metrics_config = Config()
        metrics_config.bind = [settings.metrics.bind]
        metrics_config.accesslog = None
        metrics_config.include_server_header = False
        metrics_config.errorlog = logging.getLogger("hypercorn.error")
        servers.append(
            _hypercorn(metrics_app(services.metrics), metrics_config, listeners.metrics, stop.wait)
        )
        log.info("metrics", extra={"event": "metrics_listening", "bind": settings.metrics.bind})
    running: asyncio.Future[list[Any]] = asyncio.ensure_future(
        asyncio.gather(*servers, return_exceptions=True)
    )
    signalled: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    await asyncio.wait([running, signalled], return_when=asyncio.FIRST_COMPLETED)
    signalled.cancel()
    try:
        # A peer that never answers the TLS close (browsers keep idle keep-alive
        # connections) would hold asyncio's SSL shutdown for 30 s; the drain wants an
        # exit within 10 s of SIGTERM, so whatever is left then is cut off.
        results = await asyncio.wait_for(asyncio.shield(running), SHUTDOWN_DEADLINE_SECONDS)
    except TimeoutError:
        log.warning("cut off at the deadline", extra={"event": "shutdown_deadline"})
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        return
    for result in results:
        if isinstance(result, BaseException):
            # A peer that answers after the TLS close (APPLICATION_DATA_AFTER_CLOSE_NOTIFY)
            # surfaces here from Hypercorn's connection close during shutdown.
            if stop.is_set() and is_peer_error(result):
                log.debug("peer error at shutdown", extra={"event": "shutdown_peer_error"})
                continue
            raise result


def metrics_app(metrics: Metrics) -> Any:
    """A bare ASGI app serving only ``GET /metrics``, for ``metrics.bind``."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            status, body, ctype = 200, await metrics.render(), METRICS_CONTENT_TYPE
        else:
            status, body, ctype = 404, b"not found\n", "text/plain"
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed (GATEWAY_LOOP=asyncio opts out)."""
    if os.environ.get("GATEWAY_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)
