"""The HTTP API (docs/protocol.md §2): sessions, publishing, session info, stats and health."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import Any

import orjson
from quart import Blueprint, Response, request
from quart_schema import document_request, document_response

from ..auth.apikeys import APIKey
from ..broker import IdempotencyClaim, PublishOutcome
from ..errors import (
    BadRequest,
    BrokerUnavailable,
    InvalidJSON,
    InvalidToken,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from ..metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ..ratelimit import Quota
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
from .state import Services, services

log = logging.getLogger("gateway.http")
audit = logging.getLogger("gateway.audit")

api = Blueprint("api", __name__)

JSON = "application/json"
#: What :func:`read_json` returns for an empty body (``null`` is a body).
NO_BODY: Any = object()
UTF8_BOM = b"\xef\xbb\xbf"


class DuplicateMember(ValueError):
    """Raised while parsing when one JSON object names a member twice."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise DuplicateMember
    return obj


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("number out of range")
    return number


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """Parse a request body as I-JSON (RFC 7493); raise a 400 error otherwise.

    Strict UTF-8 (no byte order mark, no encoded surrogates), no ``NaN``/``Infinity``,
    no number that overflows a double, and no object naming a member twice: which of
    two values would count is ambiguous, and two parsers may choose differently
    (docs/protocol.md §9). A lone surrogate *escape* (``"\\ud800"``) is JSON grammar and parses;
    the character rules of the field that holds it refuse it (422).
    """
    if raw.startswith(UTF8_BOM):
        raise InvalidJSON("the body starts with a byte order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJSON("the body is not valid UTF-8") from None
    try:
        return json.loads(
            text, object_pairs_hook=_object, parse_float=_finite, parse_constant=_no_constant
        )
    except DuplicateMember:
        raise BadRequest("a JSON object in the body names one member twice") from None
    except (ValueError, RecursionError):
        # JSONDecodeError, an integer of over 4300 digits, an overflowing float, or
        # nesting deeper than the parser's recursion limit.
        raise InvalidJSON("the body is not valid JSON") from None


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, content_type=JSON)


def canonical_json(value: Any) -> bytes:
    """UTF-8, sorted keys, no whitespace: what audit hashes and idempotency compare."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


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

    An empty body is :data:`NO_BODY` when not ``required``.
    """
    limit = svc.settings.payload.max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    raw = await request.get_data(as_text=False)
    assert isinstance(raw, bytes)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    if not raw and not required:
        return NO_BODY
    mimetype = request.mimetype
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if mimetype != JSON or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("send the body as application/json (UTF-8)")
    return parse_json(raw)


def idempotency_key() -> str | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    if not 1 <= len(value) <= 128 or not all(" " <= ch <= "~" for ch in value):
        raise BadRequest("Idempotency-Key must be 1-128 printable ASCII characters")
    return value


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
    svc = services()
    per_ip = svc.limiter.quota("payment_per_ip", client_ip())
    untaken: tuple[Quota, ...] = (per_ip,)
    if per_ip.refused_recently():
        # Over its quota a moment ago: count this hit first, so that the 429 costs no
        # body read, no parse and no key check, and tells nothing about the key.
        await per_ip.take()
        untaken = ()
    try:
        key = authenticate(svc, "payments:publish")
        idem = idempotency_key()
        body = await read_json(svc, required=True)
        model = PaymentRequest if kind == "publish" else ClearRequest
        request_model = validate_body(model, body, svc.settings.payload)
        claims = svc.tokens.verify(request_model.token)
    except Exception:
        # A refused request counts too (a body werkzeug refused, 413 or 408, as well as
        # ours); over the quota, 429 wins.
        for quota in untaken:
            await quota.take()
        raise
    session_id = claims.session_id
    # The hub takes the quotas (429), over Redis in the publish script, which also
    # checks the session's existence, expiry and owner (404, 410, 403): one round trip.
    quotas = (*untaken, svc.limiter.quota("payment_per_token", session_id))
    claim = None
    if idem is not None:
        scope = hashlib.sha256(orjson.dumps(["idem", key.id, session_id, idem])).hexdigest()
        claim = IdempotencyClaim(scope, hashlib.sha256(canonical_json(body)).hexdigest())

    if isinstance(request_model, PaymentRequest):
        payload: dict[str, Any] | None = request_model.data.broadcast()
        # The audit hash covers the validated request data; `payee` is derived from it.
        audited: Any = request_model.data.model_dump(exclude_none=True)
        reason = ""
    else:
        payload, reason = None, request_model.reason
        audited = {"reason": reason}
    event = {
        "event": kind,
        "key_id": key.id,
        "session_id": session_id,
        "payload_sha256": hashlib.sha256(canonical_json(audited)).hexdigest(),
        "client_ip": client_ip(),
    }

    def settled(outcome: PublishOutcome | None) -> None:
        """The late answer to a publish that got 503: audit it if it was broadcast."""
        if outcome is None:
            log.info(kind + " not broadcast", extra={**event, "event": kind + "_not_broadcast"})
        else:
            extra = {**event, "seq": outcome.seq, "delivered": outcome.delivered}
            audit.info(kind, extra={**extra, "outcome": "confirmed_late"})

    outcome = await svc.hub.publish(
        session_id, key.id, payload, reason, idempotency=claim, on_settled=settled, quotas=quotas
    )
    answer = PublishResponse(sessionId=session_id, delivered=outcome.delivered, seq=outcome.seq)
    response = Response(orjson.dumps(answer.model_dump()), status=200, content_type=JSON)
    if outcome.replayed:
        # The first request broadcast it and wrote its audit event; nothing happened now.
        response.headers["Idempotent-Replayed"] = "true"
        return response
    audit.info(kind, extra={**event, "seq": outcome.seq, "delivered": outcome.delivered})
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
