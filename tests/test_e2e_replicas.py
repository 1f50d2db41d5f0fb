"""End-to-end: ``broker.min_replicas_acked = 1`` against a real standalone ``redis-server``.

No replica exists, so Redis ``WAIT`` never counts one: every write of that gateway
must answer ``503`` within ``broker.timeout_seconds`` (never a 500 or a hang), the
gateway must keep serving, and what the Lua script did before ``WAIT`` stands: a
publish is broadcast once, and a retry with its ``Idempotency-Key`` replays it and
never broadcasts it again. A second gateway with ``min_replicas_acked = 0`` on the
same Redis creates the session, holds the viewer and shows the recorded outcome.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis as redis_client

from gateway.broker.base import SessionRecord
from gateway.broker.redis import NotReplicated, RedisBroker

from .gatewayproc import Gateway, RedisServer, new_session_on, payment, post_payment_to
from .test_e2e_ratelimit import check_429
from .test_e2e_redis import audit_events, health, receive, shared_url, watch

#: broker.timeout_seconds is 1 (WAIT may block half of it): an answer within this is
#: "within a few seconds".
ANSWER_SECONDS = 5.0
PROBLEMS = "https://gateway.invalid/problems/"


def replicas(redis: RedisServer, count: int) -> dict[str, dict[str, Any]]:
    """Config of one gateway on ``redis`` whose writes need ``count`` replicas."""
    return shared_url(redis.url, broker={"min_replicas_acked": count})


def assert_problem(response: httpx.Response, slug: str, title: str) -> dict[str, Any]:
    """``response`` is a 503 problem document of type ``slug`` (docs/protocol.md §7)."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEMS + slug
    assert (body["title"], body["status"]) == (title, 503)
    assert body["detail"]
    return body


async def timed(call: Awaitable[httpx.Response]) -> httpx.Response:
    """Await ``call``; it must answer within ANSWER_SECONDS."""
    started = time.monotonic()
    response = await call
    assert time.monotonic() - started < ANSWER_SECONDS
    return response


async def test_a_session_no_replica_acknowledges_is_503_and_the_gateway_serves_on(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """POST /api/token/generate answers 503 broker-unavailable within a few seconds, no
    token is handed out, the session is not left in Redis, and the gateway stays
    healthy (the fixture checks the log for tracebacks and errors)."""
    redis = redis_server()
    gw = start_gateway(replicas(redis, 1))
    async with gw.client() as client:
        for _ in range(2):
            refused = await timed(client.generate())
            body = assert_problem(refused, "broker-unavailable", "Service Unavailable")
            assert "token" not in body
            assert "min_replicas_acked" in body["detail"]
    # The refused sessions were taken back: none counts against sessions.max_sessions.
    with redis_client.Redis(port=redis.port) as direct:
        assert direct.zcard("gw:sessions") == 0
        assert direct.keys("gw:s:*") == []
    assert (await health(gw)).status_code == 200
    assert gw.proc is not None
    assert gw.proc.poll() is None


async def test_a_publish_no_replica_acknowledges_is_broadcast_once_and_replayed(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """On A (min_replicas_acked = 1) a publish with an Idempotency-Key answers 503
    outcome-unknown, and its retry 503 again; the viewer on B got it once (seq 1) and
    then only B's next publish (seq 2); B answers the same key with the recorded
    outcome, seq 1, replayed; seq 1 is audited once, as confirmed late."""
    redis = redis_server()
    a = start_gateway(replicas(redis, 1))
    b = start_gateway(replicas(redis, 0))
    session = await new_session_on(b)
    ws, info = await watch(b, session["token"])
    assert info["payload"]["hasData"] is False
    order = payment(amount=125000)
    key = {"Idempotency-Key": "order-42"}

    first = await timed(post_payment_to(a, session["token"], order, headers=key))
    assert_problem(first, "outcome-unknown", "Publish outcome unknown")
    got = await receive(ws)  # the script ran before WAIT: what it did stands
    assert got["type"] == "PAYMENT_DATA"
    assert (got["payload"]["seq"], got["payload"]["amount"]) == (1, 125000)

    retry = await timed(post_payment_to(a, session["token"], order, headers=key))
    assert_problem(retry, "outcome-unknown", "Publish outcome unknown")
    assert "Idempotent-Replayed" not in retry.headers

    later = await post_payment_to(b, session["token"], payment(amount=7000))
    assert later.status_code == 200, later.text
    assert later.json()["seq"] == 2
    after = await receive(ws)
    assert after["type"] == "PAYMENT_DATA"
    assert (after["payload"]["seq"], after["payload"]["amount"]) == (2, 7000)
    assert [got["payload"]["seq"], after["payload"]["seq"]] == [1, 2]
    await ws.send('{"type":"PING"}')
    assert (await receive(ws))["type"] == "PONG"  # nothing else was queued

    replayed = await post_payment_to(b, session["token"], order, headers=key)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {
        "ok": True,
        "sessionId": session["sessionId"],
        "delivered": 1,
        "seq": 1,
    }
    assert replayed.headers["Idempotent-Replayed"] == "true"
    await ws.send('{"type":"PING"}')
    assert (await receive(ws))["type"] == "PONG"  # the replay broadcast nothing
    await ws.close()

    # seq 1 has its audit event, once: A's, late; B's replay and A's retry write none.
    late = [(e["seq"], e["outcome"]) for e in await audit_events(a) if "seq" in e]
    assert late == [(1, "confirmed_late")]
    audited_on_b = [line for line in b.output().splitlines() if '"logger":"gateway.audit"' in line]
    assert [json.loads(line)["seq"] for line in audited_on_b] == [2]
    for gw in (a, b):
        assert (await health(gw)).status_code == 200


async def test_a_refused_publish_is_refused_not_503_when_replicas_are_required(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """On A (min_replicas_acked = 1, no replica) only a publish that wrote waits for
    replicas: another key's session is 403, a reused Idempotency-Key with another body
    409, and a spent payment_per_token quota 429, each at once with its own answer,
    never 503 outcome-unknown; none of them reaches the viewer on B."""
    redis = redis_server()
    a = start_gateway(
        shared_url(
            redis.url,
            broker={"min_replicas_acked": 1},
            rate_limits={"payment_per_token": "3/minute"},  # each try counts
        )
    )
    b = start_gateway(replicas(redis, 0))
    session = await new_session_on(b)
    ws, _ = await watch(b, session["token"])
    key = {"Idempotency-Key": "order-7"}

    first = await timed(post_payment_to(a, session["token"], payment(amount=1000), headers=key))
    assert_problem(first, "outcome-unknown", "Publish outcome unknown")
    assert (await receive(ws))["payload"]["seq"] == 1

    async with a.client() as client:
        foreign = await client.post_payment(session["token"], key="other")
        assert foreign.status_code == 403, foreign.text
        conflict = await client.post_payment(session["token"], payment(amount=2000), headers=key)
        assert conflict.status_code == 409, conflict.text
        over = await client.post_payment(session["token"], payment(amount=3000))
        check_429(over, "payment_per_token", 3, 60)
    await ws.send('{"type":"PING"}')
    assert (await receive(ws))["type"] == "PONG"  # none of the refused ones came
    await ws.close()
    assert waits_for_replicas(redis) == 1  # only the publish that wrote
    for gw in (a, b):
        assert (await health(gw)).status_code == 200


def calls(redis: RedisServer, command: str) -> int:
    """How many times ``redis`` has run ``command``, from scripts too."""
    with redis_client.Redis(port=redis.port) as direct:
        stats: dict[str, dict[str, int]] = direct.info("commandstats")
    return stats.get(f"cmdstat_{command}", {}).get("calls", 0)


def waits_for_replicas(redis: RedisServer) -> int:
    return calls(redis, "wait")


async def test_a_session_is_replicated_when_created_and_when_its_create_is_retried(
    redis_server: Callable[..., RedisServer],
) -> None:
    """The broker itself (min_replicas_acked = 1, no replica): a create refused for a
    full session table answers False without waiting for replicas; one that wrote, and
    the same create sent again (as after a lost answer), each wait and raise
    NotReplicated, the retry having written again so that WAIT counts replicas that
    hold the session, not merely replicas that are connected."""
    redis = redis_server()
    broker = RedisBroker(redis.url, timeout_seconds=0.5, min_replicas_acked=1)
    now = time.time()
    record = SessionRecord("s-1", "owner", created_at=now, expires_at=now + 60)
    try:
        assert await broker.create_session(record, max_sessions=0) is False
        assert (waits_for_replicas(redis), calls(redis, "hset")) == (0, 0)
        with pytest.raises(NotReplicated):
            await broker._create_session(record, 10)
        with redis_client.Redis(port=redis.port) as direct:
            assert direct.exists("gw:s:s-1")
        assert (waits_for_replicas(redis), calls(redis, "pexpireat")) == (1, 1)
        with pytest.raises(NotReplicated):
            await broker._create_session(record, 10)  # the retry
        assert (waits_for_replicas(redis), calls(redis, "pexpireat")) == (2, 2)
        assert calls(redis, "hset") == 1
    finally:
        await broker.stop()
