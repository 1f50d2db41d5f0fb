"""Publishing (docs/protocol.md §2.3, §2.4): the one publish, and the front that serves it.

:func:`publish` is everything ``POST /api/payment`` and ``POST /api/payment/clear``
do, from the rate limits to the audit event, whichever front parsed the request: it
reads the request through an :class:`Inbound` and raises
:class:`~gateway.errors.GatewayError` for every refusal.

:class:`PublishFront` serves those two routes in front of Quart, as plain ASGI, as the
viewer socket is (transport/ws.py). A publish is the gateway's hot path, and Quart's
request machinery around it (the request object and its context, a second task that
reads the body, the hooks, the response object) was a third of a publish's CPU
(README, Performance). Everything else about the exchange is what Quart's routes give:
the same problem documents, security headers, request id, access-log line and metric
sample (transport/exchange.py), the same body limit and timeouts. Quart keeps the two
routes (transport/http.py) for the OpenAPI document and for the requests the front
hands on: a protocol other than HTTP/1.x, and, when ``[cors]`` is configured, a
request that carries an ``Origin`` (quart-cors answers those). Any other method than
POST is not a publish, and goes to Quart as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..broker import IdempotencyClaim, PublishOutcome
from ..deadlines import Deadlines
from ..errors import GatewayError, PayloadTooLarge, RequestTimeout
from ..ratelimit import Quota
from ..schemas import ClearRequest, PaymentRequest, PublishResponse, validate_body
from .body import JSON, canonical_json, decode_json, idempotency_key
from .exchange import HSTS, HTTP1, SECURITY_HEADERS_API, AccessLog, new_request_id
from .problems import PROBLEM_JSON, SETTLE_SECONDS, asgi_headers, problem_body
from .state import ASGIApp, Receive, Scope, Send, Services

log = logging.getLogger("gateway.http")
audit = logging.getLogger("gateway.audit")

#: The routes :class:`PublishFront` serves, and what each one publishes.
ROUTES = {"/api/payment": "publish", "/api/payment/clear": "clear"}


class ClientGone(Exception):
    """Raised when the client hung up before its request body had all arrived: no one
    to answer, and, as when Quart's handler is cancelled, nothing counted or logged."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """What a publish reads from its request, whichever front parsed it."""

    client_ip: str
    #: A request header's value by its lower-case name (the first, if sent twice).
    header: Callable[[str], str | None]
    #: The body as JSON: 413 by size, then 415 by type, then 400 if it does not parse.
    read_json: Callable[[], Awaitable[Any]]
    #: Whether the server cancels the handler when the client hangs up (Quart does).
    cancellable: bool = False


@dataclass(frozen=True, slots=True)
class Published:
    """A publish's answer: the ``200`` body, and whether it replays an earlier request."""

    body: bytes
    replayed: bool


async def publish(svc: Services, kind: str, inbound: Inbound) -> Published:
    """Publish (``kind`` "publish") or clear (``"clear"``) for the request ``inbound``."""
    per_ip = svc.limiter.quota("payment_per_ip", inbound.client_ip)
    untaken: tuple[Quota, ...] = (per_ip,)
    if per_ip.refused_recently():
        # Over its quota a moment ago: count this hit first, so that the 429 costs no
        # body read, no parse and no key check, and tells nothing about the key.
        await per_ip.take()
        untaken = ()
    try:
        key = svc.keyring.authenticate(inbound.header("x-api-key"))
        svc.keyring.authorize(key, "payments:publish", inbound.header("origin"))
        idem = idempotency_key(inbound.header("idempotency-key"))
        body = await inbound.read_json()
        model = PaymentRequest if kind == "publish" else ClearRequest
        request_model = validate_body(model, body, svc.settings.payload)
        claims = svc.tokens.verify(request_model.token)
    except ClientGone:
        raise
    except Exception:
        # A refused request counts too (a body refused by size or time, 413 or 408, as
        # well as the rest); over the quota, 429 wins.
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
        "client_ip": inbound.client_ip,
    }

    def settled(outcome: PublishOutcome | None) -> None:
        """The late answer to a publish that got 503: audit it if it was broadcast."""
        if outcome is None:
            log.info(kind + " not broadcast", extra={**event, "event": kind + "_not_broadcast"})
        else:
            extra = {**event, "seq": outcome.seq, "delivered": outcome.delivered}
            audit.info(kind, extra={**extra, "outcome": "confirmed_late"})

    async def carry_out() -> PublishOutcome:
        outcome = await svc.hub.publish(
            session_id,
            key.id,
            payload,
            reason,
            idempotency=claim,
            on_settled=settled,
            quotas=quotas,
        )
        if not outcome.replayed:
            # A replay wrote nothing: the first request broadcast it and wrote its audit event.
            audit.info(kind, extra={**event, "seq": outcome.seq, "delivered": outcome.delivered})
        return outcome

    # The body has all arrived: the publish is carried out whether or not its client
    # stays for the answer (docs/protocol.md §2.9). Quart cancels a handler whose client
    # hangs up, so there it runs shielded; the front is not cancelled.
    outcome = await (asyncio.shield(carry_out()) if inbound.cancellable else carry_out())
    answer = PublishResponse(sessionId=session_id, delivered=outcome.delivered, seq=outcome.seq)
    return Published(orjson.dumps(answer.model_dump()), outcome.replayed)


# ------------------------------------------------------------------- the front


class PublishFront:
    """ASGI middleware: ``POST /api/payment`` and ``/api/payment/clear`` here, the rest on.

    ``body_timeout`` bounds the arrival of a request body (408 after it) and
    ``response_timeout`` the sending of an answer to a client that does not read it,
    as Quart's ``BODY_TIMEOUT`` and ``RESPONSE_TIMEOUT`` do for its routes.
    """

    def __init__(
        self,
        app: ASGIApp,
        svc: Services,
        access_log: AccessLog,
        *,
        body_timeout: float,
        response_timeout: float,
    ) -> None:
        self.app = app
        self.svc = svc
        self.access_log = access_log
        self.body_timeout = body_timeout
        self.response_timeout = response_timeout
        #: Bounds the sending of each answer by ``response_timeout`` (one lazy timer).
        self.answering = Deadlines(response_timeout)
        self.cors = bool(svc.settings.cors.allowed_origins)
        #: The headers every answer of the front carries (docs/protocol.md §2.1).
        common = [(n.lower().encode(), v.encode()) for n, v in SECURITY_HEADERS_API]
        if self.cors:
            # quart-cors varies every answer it could have given otherwise by Origin.
            common.append((b"vary", b"Origin"))
        self.headers_http = tuple(common)
        self.headers_https = (*common, (HSTS[0].lower().encode(), HSTS[1].encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = (
            ROUTES.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if kind is None or scope["http_version"] not in HTTP1 or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        exchange = PublishExchange(self, scope, receive, send)
        if self.cors and exchange.header("origin") is not None:
            await self.app(scope, receive, send)
            return
        await exchange.run(kind)


class PublishExchange:
    """One publish request and its answer."""

    __slots__ = (
        "body_done",
        "body_started",
        "front",
        "headers",
        "receive",
        "request_id",
        "scope",
        "send",
    )

    def __init__(self, front: PublishFront, scope: Scope, receive: Receive, send: Send) -> None:
        self.front = front
        self.scope = scope
        self.receive = receive
        self.send = send
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.lower(), value)  # the first of a repeated one, as werkzeug
        self.headers = headers
        self.body_started = self.body_done = False
        self.request_id = new_request_id()

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.encode())
        return None if value is None else value.decode("latin-1")

    @property
    def framed_twice(self) -> bool:
        """Both Content-Length and Transfer-Encoding (h11 reads the chunks)."""
        return b"transfer-encoding" in self.headers and b"content-length" in self.headers

    def content_length(self) -> int | None:
        """The declared length, as werkzeug reads it: none when the body is chunked."""
        if b"transfer-encoding" in self.headers:
            return None
        value = self.headers.get(b"content-length")
        try:
            return None if value is None else max(0, int(value))
        except ValueError:
            return None

    async def run(self, kind: str) -> None:
        started = time.perf_counter()
        client = self.scope.get("client")
        client_ip = client[0] if client else None
        inbound = Inbound(client_ip or "-", self.header, self.read_json)
        close = False
        extra: list[tuple[bytes, bytes]] = []
        try:
            published = await publish(self.front.svc, kind, inbound)
        except ClientGone:
            return  # no one to answer; as when Quart's handler is cancelled, no access line
        except Exception as exc:
            settled = await self.settle()
            if settled is None:
                return  # gone while its body was still arriving: as above
            if isinstance(exc, GatewayError):
                error = exc
            else:
                log.exception("unhandled error", extra={"event": "unhandled_error"})
                error = GatewayError("an internal error occurred")
            status, content_type, body = error.status, PROBLEM_JSON, problem_body(error)
            extra = asgi_headers(error)
            # The body not read to its end leaves the connection unfit for another
            # request: say so, rather than let a keep-alive client find it closed.
            close = isinstance(error, PayloadTooLarge) or not settled
        else:
            status, content_type, body = 200, JSON, published.body
            if published.replayed:
                extra = [(b"idempotent-replayed", b"true")]
        front = self.front
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            *extra,
            *(front.headers_https if self.scope["scheme"] == "https" else front.headers_http),
            (b"x-request-id", self.request_id.encode()),
        ]
        if close or self.framed_twice:  # RFC 9112 §6.1 for the second
            headers.append((b"connection", b"close"))
        front.access_log.record(
            request_id=self.request_id,
            method="POST",
            route=self.scope["path"],
            path=self.scope["path"],
            status=status,
            started=started,
            client_ip=client_ip,
        )
        try:
            async with front.answering.within():
                await self.send(
                    {"type": "http.response.start", "status": status, "headers": headers}
                )
                await self.send({"type": "http.response.body", "body": body})
        except TimeoutError:
            pass  # a client that takes no answer: the server closes it in its own time

    async def read_json(self) -> Any:
        return decode_json(await self.read_body(), self.header("content-type"), required=True)

    async def read_body(self) -> bytes:
        """The whole body: 413 over ``payload.max_body_bytes``, 408 if it is too slow."""
        limit = self.front.svc.settings.payload.max_body_bytes
        length = self.content_length()
        if length is not None and length > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        self.body_started = True
        deadline = asyncio.get_running_loop().time() + self.front.body_timeout
        # Hypercorn's receive is its queue's get: a body that has arrived with its
        # request (most do) is taken at once, with no timer set and cancelled for it.
        queued = getattr(getattr(self.receive, "__self__", None), "get_nowait", None)
        body = bytearray()
        while True:
            message = None
            if queued is not None:
                with contextlib.suppress(asyncio.QueueEmpty):
                    message = queued()
            if message is None:
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await self.receive()
                except TimeoutError:
                    raise RequestTimeout from None  # as werkzeug's 408 reads (problems.py)
            if message["type"] != "http.request":
                raise ClientGone
            body += message.get("body", b"")
            if len(body) > limit:
                raise PayloadTooLarge  # as werkzeug's 413 reads (problems.py)
            if not message.get("more_body", False):
                break
        self.body_done = True
        return bytes(body)

    async def settle(self) -> bool | None:
        """Receive the rest of a small body before an early answer (problems.settle_body).

        None when the client hung up meanwhile: there is no one to answer.
        """
        if self.body_done:
            return True
        if self.body_started:
            return False  # cut short by its size, its pace or an error: not worth waiting for
        length = self.content_length()
        if length is None or length > self.front.svc.settings.payload.max_body_bytes:
            return False
        try:
            async with asyncio.timeout(SETTLE_SECONDS):
                while True:
                    message = await self.receive()
                    if message["type"] != "http.request":
                        return None
                    if not message.get("more_body", False):
                        return True
        except TimeoutError:
            return False
