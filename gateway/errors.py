"""One error tree for the gateway; each error knows its HTTP status and close code.

::

    GatewayError                      500 / 1011
    ├── BadRequest                    400
    │   ├── InvalidJSON               400
    │   └── HTTP11Only                400
    ├── Unauthorized                  401 (WWW-Authenticate: ApiKey)
    ├── InvalidToken                  401 / 4401
    ├── Forbidden                     403
    ├── SessionFull                   403 / 4403
    ├── SessionNotFound               404 / 4404
    ├── NotFound                      404
    ├── MethodNotAllowed              405
    ├── RequestTimeout                408 (the body did not arrive in time)
    ├── IdempotencyConflict           409
    ├── SessionExpired                410 / 4410
    ├── PayloadTooLarge               413 / 1009
    ├── UnsupportedMediaType          415
    ├── ValidationFailed              422 (with ``errors``)
    ├── RateLimited                   429 / 4429
    ├── BrokerUnavailable             503 / 1013 (try again later)
    │   └── OutcomeUnknown            503
    └── ShuttingDown                  503 / 1001

Transport renders them as RFC 9457 problem details or as a WebSocket close; nothing
else in the code decides a status.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error the gateway reports to a client."""

    status: ClassVar[int] = 500
    close_code: ClassVar[int] = 1011
    title: ClassVar[str] = "Internal Server Error"
    slug: ClassVar[str] = "internal"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)

    @property
    def type_uri(self) -> str:
        return f"https://gateway.invalid/problems/{self.slug}"

    def headers(self) -> dict[str, str]:
        return {}

    def problem(self) -> dict[str, Any]:
        return {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }


class BadRequest(GatewayError):
    """Raised when a request is malformed in a way that is not a schema violation."""

    status, title, slug = 400, "Bad Request", "bad-request"


class InvalidJSON(BadRequest):
    """Raised when a JSON body does not parse, or is not UTF-8."""

    title, slug = "Body is not valid JSON", "invalid-json"


class HTTP11Only(BadRequest):
    """Raised for a request that is not HTTP/1.x (HTTP/2 "prior knowledge", ``PRI *``).

    400 rather than 505: client input never causes a 5xx (README, Security model), so an
    attacker cannot raise a server-error alarm at will.
    """

    title, slug = "HTTP/1.1 only", "http-1-1-only"


class Unauthorized(GatewayError):
    """Raised when the API key is missing or unknown."""

    status, title, slug = 401, "Unauthorized", "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'ApiKey realm="gateway"'}


class InvalidToken(GatewayError):
    """Raised when a session token fails verification (anything but expiry)."""

    status, close_code, title, slug = 401, 4401, "Invalid session token", "invalid-token"

    def __init__(self, detail: str | None = None, *, bearer: bool = False) -> None:
        super().__init__(detail)
        self.bearer = bearer

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="gateway"'} if self.bearer else {}


class Forbidden(GatewayError):
    """Raised when a known key lacks a scope, an Origin, or ownership of the session."""

    status, close_code, title, slug = 403, 4403, "Forbidden", "forbidden"


class SessionFull(GatewayError):
    """Raised when a session already has ``max_viewers_per_session`` viewers."""

    status, close_code, title, slug = 403, 4403, "Session is full", "session-full"


class SessionNotFound(GatewayError):
    """Raised when a valid token names a session this gateway does not know."""

    status, close_code, title, slug = 404, 4404, "Session not found", "session-not-found"


class NotFound(GatewayError):
    """Raised for a path that does not exist."""

    status, title, slug = 404, "Not Found", "not-found"


class MethodNotAllowed(GatewayError):
    """Raised for a known path with the wrong method."""

    status, title, slug = 405, "Method Not Allowed", "method-not-allowed"


class RequestTimeout(GatewayError):
    """Raised when a request body does not arrive within the body timeout."""

    status, title, slug = 408, "Request Timeout", "request-timeout"


class IdempotencyConflict(GatewayError):
    """Raised when an ``Idempotency-Key`` is reused with a different body."""

    status, title, slug = 409, "Idempotency-Key reused with another body", "idempotency-conflict"


class SessionExpired(GatewayError):
    """Raised when the token's ``exp`` passed or the session's ttl ran out."""

    status, close_code, title, slug = 410, 4410, "Session expired", "session-expired"


class PayloadTooLarge(GatewayError):
    """Raised when a body is larger than ``payload.max_body_bytes``."""

    status, close_code, title, slug = 413, 1009, "Payload Too Large", "payload-too-large"


class UnsupportedMediaType(GatewayError):
    """Raised when a JSON endpoint receives another Content-Type."""

    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class ValidationFailed(GatewayError):
    """Raised when a body parses but breaks the schema; ``errors`` names each field."""

    status, title, slug = 422, "Validation failed", "validation-failed"

    def __init__(self, errors: list[dict[str, Any]], detail: str | None = None) -> None:
        super().__init__(
            detail or "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        )
        self.errors = errors

    def problem(self) -> dict[str, Any]:
        return {**super().problem(), "errors": self.errors}


class RateLimited(GatewayError):
    """Raised when a rate limit rule is exhausted."""

    status, close_code, title, slug = 429, 4429, "Too Many Requests", "rate-limited"

    def __init__(self, rule: str, limit: int, window_seconds: int, retry_after: int) -> None:
        super().__init__(f"rate limit {rule} exceeded; retry in {retry_after} s")
        self.rule, self.limit, self.window_seconds = rule, limit, window_seconds
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {
            "Retry-After": str(self.retry_after),
            "RateLimit-Policy": f'"{self.rule}";q={self.limit};w={self.window_seconds}',
            "RateLimit": f'"{self.rule}";r=0;t={self.retry_after}',
        }


class BrokerUnavailable(GatewayError):
    """Raised when the broker cannot be reached within ``broker.timeout_seconds``."""

    status, close_code, title, slug = 503, 1013, "Service Unavailable", "broker-unavailable"


def is_closed_transport(exc: BaseException) -> bool:
    """Whether ``exc`` is uvloop's way of saying a connection closed under a write.

    A Redis connection cut by its peer between the client's connect and its first
    write makes uvloop raise ``RuntimeError("unable to perform operation on
    <TCPTransport closed=True ...>; the handler is closed")`` where asyncio raises an
    OSError: drivers pass it through, and it is a lost connection like any other.
    """
    return isinstance(exc, RuntimeError) and "closed" in str(exc)


class ShuttingDown(GatewayError):
    """Raised for new work while the gateway drains on SIGTERM."""

    status, close_code, title, slug = 503, 1001, "Shutting down", "shutting-down"


class OutcomeUnknown(BrokerUnavailable):
    """Raised when a publish's answer from the broker did not come in time.

    The broker may have run it: the outcome is settled in the background, and a retry
    with the same ``Idempotency-Key`` and body replays it if it ran (docs/protocol.md §10).
    """

    title, slug = "Publish outcome unknown", "outcome-unknown"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail
            or "the broker did not confirm the publish in time; it may have been broadcast. "
            "Retry with the same Idempotency-Key and body: it is replayed if it was, and "
            "never broadcast twice"
        )
