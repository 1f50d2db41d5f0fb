"""``create_app(settings)``: the one place that wires the gateway together.

Everything a request needs is built here once and handed on: the services go on the
app (:class:`~gateway.transport.state.GatewayApp`), where ``gateway serve`` and the
handlers find them, and the viewer page is built and handed to its blueprint. A
ready broker may be passed in (``broker=``), the way encode/broadcaster accepts a
backend: tests and tools wire their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from quart import Response, g, request
from quart_cors import cors
from quart_schema import APIKeySecurityScheme, Info, QuartSchema

from . import __version__
from .auth.apikeys import KeyRing
from .auth.tokens import TokenService
from .broker import Broker, create_broker
from .config import JWTKey, Settings, load_jwt_keys
from .errors import HTTP11Only
from .hub import Hub
from .metrics import Metrics
from .ratelimit import RateLimiter, storage_for
from .transport import problems
from .transport.exchange import (
    HSTS,
    HTTP1,
    SECURITY_HEADERS_API,
    SECURITY_HEADERS_PAGE,
    AccessLog,
    new_request_id,
)
from .transport.http import api
from .transport.openapi import GatewayOpenAPIProvider
from .transport.pages import build_page, viewer_pages
from .transport.publish import PublishFront
from .transport.socket import SocketPolicy
from .transport.state import GatewayApp, Services
from .transport.ws import ViewerSockets


def create_app(
    settings: Settings,
    jwt_keys: tuple[JWTKey, ...] | None = None,
    *,
    broker: Broker | None = None,
) -> GatewayApp:
    """Build the app for ``settings``.

    JWT keys default to those the settings name, the broker to the one ``broker.url``
    names (the rate limits share its Redis, if it is one).
    """
    keys = jwt_keys if jwt_keys is not None else load_jwt_keys(settings)
    timeout = settings.broker.timeout_seconds
    broker_url = settings.broker.connect_url()
    sentinel_password = settings.broker.sentinel_password()
    if broker is None:
        broker = create_broker(
            broker_url,
            timeout_seconds=timeout,
            sentinel_password=sentinel_password,
            min_replicas_acked=settings.broker.min_replicas_acked,
            session_ttl_seconds=settings.sessions.ttl_seconds,
        )
    hub = Hub(settings, broker)
    storage = storage_for(broker_url, timeout, sentinel_password=sentinel_password)
    limiter = RateLimiter(settings.rate_limits, storage, timeout=timeout)
    metrics = Metrics(hub, limiter)

    app = GatewayApp("gateway", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.payload.max_body_bytes
    app.config["BODY_TIMEOUT"] = 30
    app.config["RESPONSE_TIMEOUT"] = 30
    app.services = services = Services(
        settings=settings,
        hub=hub,
        tokens=TokenService.from_settings(settings, keys),
        keyring=KeyRing(settings.auth.api_keys),
        limiter=limiter,
        metrics=metrics,
        ws_origins=frozenset({settings.server.public_origin, *settings.websocket.allowed_origins}),
        sockets=SocketPolicy(
            hub,
            limiter,
            max_size=settings.websocket.max_message_bytes,
            ping_interval=settings.websocket.ping_interval_seconds,
            idle_timeout=settings.websocket.idle_timeout_seconds,
            close_timeout=settings.websocket.close_timeout_seconds,
        ),
    )
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info=Info(title="Payment QR Gateway", version=__version__),
        security_schemes={"ApiKey": APIKeySecurityScheme(in_="header", name="X-API-Key")},
        openapi_provider_class=GatewayOpenAPIProvider,
    )
    app.register_blueprint(api)
    app.register_blueprint(viewer_pages(build_page(settings)))
    problems.register(app)
    access_log = AccessLog(metrics)
    # Viewer sockets and publishes are plain ASGI in front of Quart (transport/ws.py,
    # transport/publish.py): the hot paths.
    front = PublishFront(
        app.asgi_app,
        services,
        access_log,
        body_timeout=app.config["BODY_TIMEOUT"],
        response_timeout=app.config["RESPONSE_TIMEOUT"],
    )
    app.asgi_app = ViewerSockets(front, services)  # type: ignore[method-assign,assignment]
    if settings.cors.allowed_origins:
        # The viewer socket is not a Quart route (transport/ws.py): its Origin rule is
        # docs/protocol.md §4's.
        cors(
            app,
            allow_origin=list(settings.cors.allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Idempotency-Key", "Authorization"],
            expose_headers=[
                "Retry-After",
                "RateLimit",
                "RateLimit-Policy",
                "Idempotent-Replayed",
                "X-Request-ID",
            ],
            max_age=600,
        )

    syncing: list[asyncio.Task[None]] = []

    @app.before_serving
    async def _start() -> None:
        await hub.start()
        syncing.append(asyncio.create_task(metrics.sync_forever(), name="metrics-sync"))

    @app.after_serving
    async def _stop() -> None:
        for task in syncing:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        syncing.clear()
        await hub.stop()

    @app.before_serving
    async def _learn_routes() -> None:
        access_log.learn_routes(rule.rule for rule in app.url_map.iter_rules())

    @app.before_request
    async def _start_timer() -> None:
        g.started = time.perf_counter()
        g.request_id = new_request_id()
        if request.http_version not in HTTP1:
            # HTTP/1.1 only (hypercorn_patches): `PRI * HTTP/2.0` reaches here as a request.
            raise HTTP11Only("this gateway speaks HTTP/1.1 only")

    @app.after_request
    async def _access_log(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.request_id
        access_log.record(
            request_id=g.request_id,
            method=request.method,
            route=request.url_rule.rule if request.url_rule is not None else "unmatched",
            path=request.path,
            status=response.status_code,
            started=g.started,
            client_ip=request.remote_addr,
        )
        return response

    @app.after_request
    async def _security_headers(response: Response) -> Response:
        # Each one unless the response set its own: one pass over the headers, where
        # a setdefault per header would scan them each time.
        headers = response.headers
        present = {name.lower() for name, _ in headers.items()}
        page = response.mimetype == "text/html"
        for name, value in SECURITY_HEADERS_PAGE if page else SECURITY_HEADERS_API:
            if name.lower() not in present:
                headers.add(name, value)
        if request.scheme == "https" and "strict-transport-security" not in present:
            headers.add(*HSTS)
        if "Transfer-Encoding" in request.headers and "Content-Length" in request.headers:
            # RFC 9112 §6.1: a request framed both ways leaves the connection unfit for
            # another (h11 reads the chunks; an intermediary may have read the length).
            headers["Connection"] = "close"
        return response

    return app
