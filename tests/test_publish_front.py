"""gateway.transport.publish.PublishFront: publishes served in front of Quart.

The front must answer every request exactly as Quart's routes for the same paths do:
the same status, body and headers (only the request id differs), the same limits and
the same access-log line. Each case here sends one sequence of requests to a fresh app
twice, once through the front and once straight to Quart's ASGI app behind it, and
compares the answers. The end-to-end suites (tests/test_e2e_*.py) run every publish
through the front over real TLS sockets.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from gateway.app import create_app
from gateway.broker import Broker
from gateway.broker.memory import MemoryBroker
from gateway.config import JWTKey, parse_settings
from gateway.deadlines import Deadlines
from gateway.transport.publish import PublishFront
from gateway.transport.state import GatewayApp

from .gatewayproc import payment

KEY = "gw_front_test_key_0123456789abcdef"
READ_ONLY_KEY = "gw_front_test_read_only_0123456789"
ORIGIN = "https://shop.example"
MAX_BODY = 6000


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Sent:
    """One request: what is sent, and how the body arrives."""

    path: str = "/api/payment"
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON-encoded unless bytes
    #: The body cut into this many chunks, without a Content-Length (chunked), if > 0.
    chunks: int = 0
    #: The body stops after this many bytes and the client waits (a slow client).
    stall_after: int | None = None
    #: The client hangs up after this many bytes.
    hang_up_after: int | None = None
    scheme: str = "https"
    method: str = "POST"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def settings_doc(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "auth": {
            "api_keys": [
                {
                    "id": "shop",
                    "sha256": sha(KEY),
                    "scopes": ["sessions:create", "payments:publish"],
                },
                {"id": "reader", "sha256": sha(READ_ONLY_KEY), "scopes": ["stats:read"]},
            ]
        },
        "payload": {"max_body_bytes": MAX_BODY, "max_qr_bytes": 1024},
    }
    doc.update(extra)
    return doc


@asynccontextmanager
async def started(broker: Broker | None = None, **extra: Any) -> AsyncIterator[GatewayApp]:
    app = create_app(
        parse_settings(settings_doc(**extra)), (JWTKey(kid="k", secret=b"k" * 32),), broker=broker
    )
    await app.startup()
    try:
        yield app
    finally:
        await app.shutdown()


def front_of(app: GatewayApp) -> PublishFront:
    front = app.asgi_app.app  # type: ignore[attr-defined]  # ViewerSockets → PublishFront
    assert isinstance(front, PublishFront)
    return front


def http_scope(
    method: str, path: str, headers: list[tuple[bytes, bytes]], *, scheme: str = "https"
) -> dict[str, Any]:
    """An HTTP/1.1 request's ASGI scope, as Hypercorn gives it, from a client 127.0.0.7."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.7", 50000),
        "server": ("127.0.0.1", 8443),
        "extensions": {},
    }


async def call(asgi: Callable[..., Any], sent: Sent, *, queued: bool = False) -> Answer | None:
    """Drive ``asgi`` with ``sent``; None when no answer was given. ``queued``: what has
    arrived waits in a queue whose ``get`` is the app's receive, as with Hypercorn (the
    front takes it without waiting); otherwise receive is a plain function."""
    raw = sent.body if isinstance(sent.body, bytes) else orjson.dumps(sent.body)
    if sent.body is None:
        raw = b""
    headers = [(b"host", b"gw.test")]
    headers += [(k.lower().encode(), v.encode()) for k, v in sent.headers.items()]
    if sent.chunks:
        headers.append((b"transfer-encoding", b"chunked"))
        size = -(-len(raw) // sent.chunks)
        pieces = [raw[i : i + size] for i in range(0, len(raw), size)] or [b""]
    else:
        headers.append((b"content-length", str(len(raw)).encode()))
        pieces = [raw]
    cut = sent.stall_after if sent.stall_after is not None else sent.hang_up_after
    if cut is not None:
        pieces = [raw[:cut]]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1 or cut is not None}
        for i, piece in enumerate(pieces)
    ]
    if sent.hang_up_after is not None:
        messages.append({"type": "http.disconnect"})
    scope = http_scope(sent.method, sent.path, headers, scheme=sent.scheme)

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # nothing more comes; the app gives up or is cancelled
        raise AssertionError("unreachable")

    if queued:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for message in messages:
            queue.put_nowait(message)
        receive = queue.get  # type: ignore[assignment]  # waits forever once empty

    out: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    await asyncio.wait_for(asgi(scope, receive, send), 10)
    if not out:
        return None
    start = out[0]
    assert start["type"] == "http.response.start"
    body = b"".join(m.get("body", b"") for m in out[1:])
    names = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    assert len(names) == len(start["headers"]), start["headers"]  # no header sent twice
    assert int(names["content-length"]) == len(body)
    return Answer(start["status"], names, orjson.loads(body) if body else None)


async def token(app: GatewayApp) -> str:
    answer = await call(
        front_of(app).app,
        Sent("/api/token/generate", {"X-API-Key": KEY, "Content-Type": "application/json"}),
    )
    assert answer is not None
    assert answer.status == 201, answer
    value: str = answer.body["token"]
    return value


def publishing(session_token: str, amount: int = 300000) -> dict[str, Any]:
    return {"token": session_token, "data": payment(amount)}


async def answers(route: str, steps: Callable[[str], list[Sent]], **extra: Any) -> list[Any]:
    """The answers to ``steps(token)`` from a fresh app, through ``route``: front,
    front-queued (receiving from a queue, as from Hypercorn) or quart."""
    async with started(**extra) as app:
        front = front_of(app)
        if route == "quart":
            front.body_timeout = app.config["BODY_TIMEOUT"] = 0.3
        else:
            front.body_timeout = 0.3
        asgi = front if route.startswith("front") else front.app
        session_token = await token(app)
        queued = route == "front-queued"
        return [await call(asgi, sent, queued=queued) for sent in steps(session_token)]


def same(front: list[Any], quart: list[Any]) -> None:
    assert len(front) == len(quart)
    for ours, theirs in zip(front, quart, strict=True):
        if theirs is None:
            assert ours is None
            continue
        assert ours is not None
        assert ours.status == theirs.status
        mine, others = ours.body, theirs.body
        if isinstance(others, dict) and "sessionId" in others:
            mine, others = dict(mine), dict(others)
            assert mine.pop("sessionId") != others.pop("sessionId")  # two apps
        assert mine == others
        assert ours.headers.keys() == theirs.headers.keys()
        for name, value in theirs.headers.items():
            if name != "x-request-id":
                assert ours.headers[name] == value, name
        assert len(ours.headers["x-request-id"]) == 32


JSON = {"Content-Type": "application/json"}
AUTH = {"X-API-Key": KEY, **JSON}


def post(body: Any, headers: dict[str, str] | None = None, **how: Any) -> Sent:
    return Sent(headers=AUTH if headers is None else headers, body=body, **how)


#: Each case: its requests, and the answers expected ("c": with Connection: close).
CASES: dict[str, Callable[[str], list[Sent]]] = {
    "published, then replayed under one Idempotency-Key, then cleared": lambda t: [
        post(publishing(t)),
        post(publishing(t, 5000), {**AUTH, "Idempotency-Key": "order-1"}),
        post(publishing(t, 5000), {**AUTH, "Idempotency-Key": "order-1"}),
        post(publishing(t, 7000), {**AUTH, "Idempotency-Key": "order-1"}),  # 409
        Sent("/api/payment/clear", AUTH, {"token": t, "reason": "paid"}),
    ],
    "no key, an unknown key, a key without the scope": lambda t: [
        post(publishing(t), JSON),
        post(publishing(t), {**JSON, "X-API-Key": "gw_nobody"}),
        post(publishing(t), {**JSON, "X-API-Key": READ_ONLY_KEY}),
    ],
    "a bad Idempotency-Key": lambda t: [
        post(publishing(t), {**AUTH, "Idempotency-Key": "caf\u00e9 au lait"}),
        post(publishing(t), {**AUTH, "Idempotency-Key": "x" * 129}),
    ],
    "bodies refused by size, type and syntax": lambda t: [
        post(b"{" + b" " * MAX_BODY + b"}"),
        post(b'{"token": "' + b"x" * MAX_BODY + b'"}', chunks=3),
        post(publishing(t), {"X-API-Key": KEY, "Content-Type": "text/plain"}),
        post(
            publishing(t), {"X-API-Key": KEY, "Content-Type": "application/json; charset=latin-1"}
        ),
        post(publishing(t), {"X-API-Key": KEY, "Content-Type": "Application/JSON; charset=UTF8"}),
        post(b""),
        post(b"{"),
        post(b"\xef\xbb\xbf{}"),
        post(b'{"token": "a", "token": "b"}'),
        post(b"[1, 2]"),
    ],
    "fields refused and tokens refused": lambda t: [
        post({"token": t, "data": {**payment(), "amount": -1}}),
        post({"token": t, "data": {**payment(), "merchant": ""}, "extra": 1}),
        post(publishing("not.a.token")),
        Sent("/api/payment/clear", AUTH, {"token": t, "reason": "x" * 1000}),
    ],
    "an early refusal with a body sent in chunks closes the connection": lambda t: [
        post(publishing(t), JSON, chunks=2),
    ],
    "a body that stops arriving": lambda t: [post(publishing(t), stall_after=10)],
    "refusals after a chunked body was read keep the connection": lambda t: [
        post({"token": 1}, chunks=2),
        post(publishing("not.a.token"), chunks=2),
    ],
    "a body framed both ways is read as chunks, and the connection closes (RFC 9112 6.1)": (
        lambda t: [
            post(publishing(t), {**AUTH, "Content-Length": "999999"}, chunks=2),
            post(publishing(t), {**JSON, "Content-Length": "10"}, chunks=2),
        ]
    ),
    "clients gone mid-body get no answer, and only one refused before it is counted": (
        lambda t: [
            post(publishing(t), JSON, hang_up_after=20),
            post(publishing(t), hang_up_after=20),
            post(publishing(t)),
            post(publishing(t)),
        ]
    ),
    "over plain HTTP, no HSTS": lambda t: [
        post(publishing(t), scheme="http"),
        post(publishing(t), JSON, scheme="http"),
    ],
}


EXPECTED = {
    "published, then replayed under one Idempotency-Key, then cleared": "200 200 200 409 200",
    "no key, an unknown key, a key without the scope": "401 401 403",
    "a bad Idempotency-Key": "400 400",
    "bodies refused by size, type and syntax": "413c 413c 415 415 200 400 400 400 400 422",
    "fields refused and tokens refused": "422 422 401 422",
    "an early refusal with a body sent in chunks closes the connection": "401c",
    "a body that stops arriving": "408c",
    "over plain HTTP, no HSTS": "200 401",
    "refusals after a chunked body was read keep the connection": "422 401",
    "a body framed both ways is read as chunks, and the connection closes (RFC 9112 6.1)": (
        "200c 401c"
    ),
    # payment_per_ip at 2/minute (below): the one with a key is not counted; the one
    # without was refused (401) before it hung up, and is: one hit is left.
    "clients gone mid-body get no answer, and only one refused before it is counted": (
        "- - 200 429"
    ),
}


@pytest.mark.parametrize("case", CASES)
async def test_the_front_answers_as_quart_does(case: str) -> None:
    steps = CASES[case]
    limits = {"rate_limits": {"payment_per_ip": "2/minute"}} if "is counted" in case else {}
    front = await answers("front", steps, **limits)
    quart = await answers("quart", steps, **limits)
    same(front, quart)
    same(await answers("front-queued", steps, **limits), quart)
    got = [
        "-" if a is None else f"{a.status}{'c' if a.headers.get('connection') == 'close' else ''}"
        for a in front
    ]
    assert " ".join(got) == EXPECTED[case]
    for answer in front:
        if answer is None:
            continue
        hsts = "strict-transport-security" in answer.headers
        assert hsts == (case != "over plain HTTP, no HSTS")
        assert (
            answer.headers["content-security-policy"]
            == "default-src 'none'; frame-ancestors 'none'"
        )
        assert answer.headers["x-content-type-options"] == "nosniff"
        if answer.status >= 400:
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.body["status"] == answer.status


async def test_over_the_quota_the_429_is_the_same_and_comes_first() -> None:
    def steps(t: str) -> list[Sent]:
        return [post(publishing(t)), post(publishing(t)), post(publishing(t), JSON)]

    limits = {"rate_limits": {"payment_per_ip": "2/minute"}}
    front, quart = await answers("front", steps, **limits), await answers("quart", steps, **limits)
    same(front, quart)
    assert [a.status for a in front] == [200, 200, 429]
    assert front[2].headers["retry-after"].isdigit()


async def test_with_cors_an_answer_without_origin_varies_by_it_as_quart_cors_does() -> None:
    cors = {"cors": {"allowed_origins": [ORIGIN]}}

    def steps(t: str) -> list[Sent]:
        return [post(publishing(t)), post(publishing(t), JSON)]

    front = await answers("front", steps, **cors)
    same(front, await answers("quart", steps, **cors))
    assert all(a.headers["vary"] == "Origin" for a in front)


async def test_with_cors_a_request_with_an_origin_is_quarts() -> None:
    """quart-cors decides those answers: the front hands them on."""
    async with started(cors={"allowed_origins": [ORIGIN]}) as app:
        t = await token(app)
        answer = await call(front_of(app), post(publishing(t), {**AUTH, "Origin": ORIGIN}))
    assert answer is not None
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN


async def test_other_methods_and_paths_are_quarts() -> None:
    async with started() as app:
        front = front_of(app)
        wrong_method = await call(front, Sent(method="GET", headers=AUTH))
        trailing_slash = await call(front, Sent("/api/payment/", AUTH, {}))
    assert wrong_method is not None
    assert wrong_method.status == 405
    assert trailing_slash is not None
    assert trailing_slash.status == 404


async def test_a_client_that_hangs_up_mid_body_gets_no_answer_and_no_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with started() as app:
        t = await token(app)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            gone = await call(front_of(app), post(publishing(t), hang_up_after=5))
            after = await call(front_of(app), post(publishing(t)))
    assert gone is None
    assert after is not None
    assert (after.status, after.body["seq"]) == (200, 1)
    lines = [r for r in caplog.records if r.name == "gateway.access"]
    assert len(lines) == 1  # only the publish that was answered


async def test_the_access_line_and_metric_are_quarts(caplog: pytest.LogCaptureFixture) -> None:
    async with started() as app:
        t = await token(app)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            answer = await call(front_of(app), post(publishing(t)))
        assert answer is not None
        samples = app.services.metrics.request_seconds.collect()[0].samples
    (line,) = [r for r in caplog.records if r.name == "gateway.access"]
    fields = {k: getattr(line, k) for k in ("event", "method", "route", "path", "status")}
    assert fields == {
        "event": "http_request",
        "method": "POST",
        "route": "/api/payment",
        "path": "/api/payment",
        "status": 200,
    }
    assert line.request_id == answer.headers["x-request-id"]  # type: ignore[attr-defined]
    assert line.client_ip == "127.0.0.7"  # type: ignore[attr-defined]
    counted = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in samples
        if s.name.endswith("_count")
    }
    assert counted[("POST", "/api/payment", "200")] == 1
    (audit,) = [r for r in caplog.records if r.name == "gateway.audit"]
    assert audit.seq == 1  # type: ignore[attr-defined]


class HeldBroker(MemoryBroker):
    """The memory broker with each publish held until the test lets it go: the moment
    between a client's hang-up and the broker's answer, made deterministic."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(self, *args: Any, **kw: Any) -> Any:
        self.entered.set()
        await self.release.wait()
        return await super().publish(*args, **kw)


@pytest.mark.parametrize("route", ["front", "quart"])
async def test_a_publish_whose_body_arrived_is_carried_out_when_its_client_hangs_up(
    route: str, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/protocol.md §2.9, on both ways in: the front, and Quart (which serves a
    publish with an Origin when [cors] is set, and cancels a handler whose client goes)."""
    broker = HeldBroker()
    async with started(broker, cors={"allowed_origins": [ORIGIN]}) as app:
        t = await token(app)
        raw = orjson.dumps(publishing(t))
        headers = [(b"content-type", b"application/json"), (b"x-api-key", KEY.encode())]
        headers += [(b"content-length", str(len(raw)).encode())]
        if route == "quart":
            headers.append((b"origin", ORIGIN.encode()))
        hung_up = asyncio.Event()
        messages = [{"type": "http.request", "body": raw, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await hung_up.wait()
            return {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = http_scope("POST", "/api/payment", headers)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            request = asyncio.create_task(front_of(app)(scope, receive, send))
            await asyncio.wait_for(broker.entered.wait(), 10)
            hung_up.set()
            if route == "quart":
                # Quart's reader sees the hang-up and cancels the handler, mid-publish.
                await asyncio.wait_for(request, 10)
                assert sent == []
            broker.release.set()
            await asyncio.wait_for(request, 10)
            for _ in range(100):  # the shielded publish finishes on its own
                if any(r.name == "gateway.audit" for r in caplog.records):
                    break
                await asyncio.sleep(0.01)
        info = await app.services.hub.session(app.services.tokens.verify(t).session_id)
    assert info.data is not None  # broadcast and stored
    (audit,) = [r for r in caplog.records if r.name == "gateway.audit"]
    assert audit.seq == 1  # type: ignore[attr-defined]


async def test_an_answer_the_client_does_not_take_is_given_up_after_response_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The front bounds sending its answer (gateway/deadlines.py): a client that never
    reads it does not hold the exchange; the publish stands and its line is written."""
    async with started() as app:
        front = front_of(app)
        front.answering = Deadlines(0.1)
        t = await token(app)
        raw = orjson.dumps(publishing(t))
        headers = [(b"content-type", b"application/json"), (b"x-api-key", KEY.encode())]
        headers += [(b"content-length", str(len(raw)).encode())]
        messages = [{"type": "http.request", "body": raw, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            await asyncio.Event().wait()  # the client's window never opens

        caplog.clear()
        with caplog.at_level(logging.INFO):
            await asyncio.wait_for(
                front(http_scope("POST", "/api/payment", headers), receive, send), 10
            )
        assert [r.status for r in caplog.records if r.name == "gateway.access"] == [200]
        assert [r.seq for r in caplog.records if r.name == "gateway.audit"] == [1]
