"""The HTTP API (docs/protocol.md §2): sessions, publishing, session info, stats and health."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from quart import Blueprint, Response, g, request
from quart_schema import document_request, document_response

from ..auth.apikeys import APIKey
from ..errors import BrokerUnavailable, InvalidToken, NotFound, PayloadTooLarge
from ..metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ..schemas import (
    ClearRequest,
    HealthResponse,
    PaymentRequest,
    Problem,
    PublishResponse,
    SessionResponse,
    StatsResponse,
    TokenRequest,
    TokenResponse,
    validate_body,
)
from ..wire import format_epoch
from .body import JSON, NO_BODY, decode_json
from .publish import Inbound, publish
from .state import Services, services

log = logging.getLogger("gateway.http")

api = Blueprint("api", __name__)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, content_type=JSON)


def client_ip() -> str:
    return request.remote_addr or "-"


def origin_header() -> str | None:
    return request.headers.get("Origin")


def authenticate(svc: Services, scope: str) -> APIKey:
    key = svc.keyring.authenticate(request.headers.get("X-API-Key"))
    svc.keyring.authorize(key, scope, origin_header())
    return key


async def read_json(svc: Services, *, required: bool) -> Any:
    """The parsed JSON body: 413 by size first, then 415 by type, then 400 if it does not parse.

    An empty body is :data:`~gateway.transport.body.NO_BODY` when not ``required``.
    """
    limit = svc.settings.payload.max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    raw = await request.get_data(as_text=False)
    assert isinstance(raw, bytes)
    g.body_read = True  # an early answer after this need not wait for it (problems.py)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    return decode_json(raw, request.headers.get("Content-Type"), required=required)


@api.post("/api/token/generate")
@document_request(TokenRequest)
@document_response(TokenResponse, 201)
@document_response(Problem, 401)
async def generate_token() -> Response:
    """Create a session and return its read-only viewer token (scope ``sessions:create``)."""
    svc = services()
    await svc.limiter.hit("token_generate_per_ip", client_ip())
    key = authenticate(svc, "sessions:create")
    await svc.limiter.hit("token_generate_per_key", key.id)
    body = await read_json(svc, required=False)
    if body is not NO_BODY:  # `null`, `0`, `[]` are bodies, and not objects: 422
        validate_body(TokenRequest, body, svc.settings.payload)
    record = await svc.hub.create_session(key.id)
    token = svc.tokens.issue(
        record.session_id, issued_at=record.created_at, expires_at=record.expires_at
    )
    server = svc.settings.server
    url = svc.settings.viewer.url_template.format(
        public_url=server.public_url, token=token, session_id=record.session_id
    )
    log.info(
        "session created",
        extra={"event": "session_created", "key_id": key.id, "session_id": record.session_id},
    )
    return json_response(
        TokenResponse(
            token=token,
            url=url,
            wsUrl=f"{server.effective_ws_public_url}/?token={token}",
            sessionId=record.session_id,
            expiresAt=format_epoch(record.expires_at),
        ).model_dump(),
        201,
    )


async def _publish(kind: str) -> Response:
    """Quart's way to a publish: transport/publish.py's front serves the rest."""
    svc = services()
    inbound = Inbound(
        client_ip(), request.headers.get, lambda: read_json(svc, required=True), cancellable=True
    )
    published = await publish(svc, kind, inbound)
    response = Response(published.body, status=200, content_type=JSON)
    if published.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@api.post("/api/payment")
@document_request(PaymentRequest)
@document_response(PublishResponse, 200)
@document_response(Problem, 422)
async def publish_payment() -> Response:
    """Validate a payment and broadcast it to the session's viewers (``payments:publish``)."""
    return await _publish("publish")


@api.post("/api/payment/clear")
@document_request(ClearRequest)
@document_response(PublishResponse, 200)
async def clear_payment() -> Response:
    """Drop the session's payment data and broadcast PAYMENT_CLEARED (``payments:publish``)."""
    return await _publish("clear")


async def _session_info(token: str, *, bearer: bool) -> Response:
    svc = services()
    claims = svc.tokens.verify(token, bearer=bearer)
    record = await svc.hub.session(claims.session_id)
    viewers = await svc.hub.viewer_count(record.session_id)
    info = SessionResponse(
        sessionId=record.session_id,
        createdAt=format_epoch(record.created_at),
        expiresAt=format_epoch(record.expires_at),
        hasData=record.data is not None,
        viewers=viewers,
        lastPublishedAt=(
            None if record.last_published_at is None else format_epoch(record.last_published_at)
        ),
    )
    return json_response(info.model_dump())


@api.get("/api/session/<path:token>")
@document_response(SessionResponse, 200)
async def session_by_path(token: str) -> Response:
    """Describe the session named by the token in the path."""
    return await _session_info(token, bearer=False)


@api.get("/api/session")
@document_response(SessionResponse, 200)
async def session_by_bearer() -> Response:
    """Describe the session named by ``Authorization: Bearer <token>``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("send Authorization: Bearer <token>", bearer=True)
    return await _session_info(token.strip(), bearer=True)


@api.get("/api/stats")
@document_response(StatsResponse, 200)
async def stats() -> Response:
    """Counters of this instance (scope ``stats:read``)."""
    svc = services()
    authenticate(svc, "stats:read")
    hub = svc.hub
    sessions = await hub.count_sessions()
    totals = svc.metrics.totals()  # every worker's, when there are several
    body = StatsResponse(
        sessions=sessions,
        connections=totals.connections,
        published=totals.published,
        delivered=totals.delivered,
        uptimeSeconds=round(hub.clock() - hub.started_at, 3),
    )
    return json_response(body.model_dump())


@api.get("/metrics")
async def metrics() -> Response:
    """Prometheus metrics (scope ``stats:read``), unless ``metrics.bind`` serves them."""
    svc = services()
    if svc.settings.metrics.bind is not None:
        raise NotFound()
    authenticate(svc, "stats:read")
    return Response(await svc.metrics.render(), content_type=METRICS_CONTENT_TYPE)


@api.get("/health")
@document_response(HealthResponse, 200)
@document_response(HealthResponse, 503)
async def health() -> Response:
    """200 when the broker answers, 503 with the reason when it does not."""
    svc = services()
    try:
        await svc.hub.check_broker()
    except BrokerUnavailable as exc:
        body = HealthResponse(status="unavailable", broker=svc.hub.broker.name, detail=exc.detail)
        return json_response(body.model_dump(exclude_none=True), 503)
    if svc.hub.draining:
        body = HealthResponse(status="unavailable", detail="shutting down")
        return json_response(body.model_dump(exclude_none=True), 503)
    return json_response({"status": "ok"})
