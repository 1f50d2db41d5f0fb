"""RFC 9457 problem details: the one rendering of every HTTP error (docs/protocol.md §7)."""

from __future__ import annotations

import asyncio
import logging

import orjson
from quart import Quart, Response, current_app, g, has_request_context, request
from werkzeug.exceptions import HTTPException

from ..errors import (
    BadRequest,
    GatewayError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
)

log = logging.getLogger("gateway.http")

PROBLEM_JSON = "application/problem+json"
SETTLE_SECONDS = 5.0


def problem_body(error: GatewayError) -> bytes:
    """The RFC 9457 document for ``error``, as sent (HTTP answers and refused handshakes)."""
    return orjson.dumps(error.problem())


def asgi_headers(error: GatewayError) -> list[tuple[bytes, bytes]]:
    """``error``'s own headers (Retry-After, WWW-Authenticate, …) as ASGI sends them."""
    return [(name.lower().encode(), value.encode()) for name, value in error.headers().items()]


def problem_response(error: GatewayError) -> Response:
    response = Response(problem_body(error), status=error.status, content_type=PROBLEM_JSON)
    for name, value in error.headers().items():
        response.headers[name] = value
    return response


def _from_http_exception(exc: HTTPException) -> GatewayError:
    code = exc.code or 500
    mapped: dict[int, type[GatewayError]] = {
        400: BadRequest,
        404: NotFound,
        405: MethodNotAllowed,
        408: RequestTimeout,
        413: PayloadTooLarge,
    }
    cls = mapped.get(code)
    if cls is not None:
        return cls()
    error = GatewayError(exc.name)
    error.status = code  # type: ignore[misc]
    error.title = exc.name  # type: ignore[misc]
    return error


async def settle_body() -> bool:
    """Receive the rest of a small request body before answering early.

    An error raised before the handler read the body (401, 403, 415) would otherwise
    answer while the client is still sending, and the server then closes the
    keep-alive connection, which a client reusing it sees as a dropped request. A
    body over MAX_CONTENT_LENGTH is not waited for: that connection closes anyway.
    """
    if not has_request_context() or request.method not in ("POST", "PUT", "PATCH"):
        return True
    if g.get("body_read", False):
        return True  # read to its end by the handler, whatever its framing
    length = request.content_length
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if length is None or limit is None or length > limit:
        return False
    try:
        async with asyncio.timeout(SETTLE_SECONDS):
            await request.get_data()
    except Exception:
        return False
    return True


async def _early_answer(error: GatewayError) -> Response:
    # A body that did not arrive in time (408) is not waited for again.
    settled = not isinstance(error, RequestTimeout) and await settle_body()
    response = problem_response(error)
    if not settled or isinstance(error, PayloadTooLarge):
        # The body was not read to its end, so this connection cannot carry another
        # request: say so rather than let a keep-alive client find a closed socket.
        response.headers["Connection"] = "close"
    return response


def register(app: Quart) -> None:
    """Render GatewayError, werkzeug's HTTP errors and anything unexpected as problems."""

    @app.errorhandler(GatewayError)
    async def _gateway_error(error: GatewayError) -> Response:
        return await _early_answer(error)

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        return await _early_answer(_from_http_exception(error))

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error", extra={"event": "unhandled_error"})
        return await _early_answer(GatewayError("an internal error occurred"))
