"""End-to-end: several `gateway serve` processes sharing one real `redis-server`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.broker import Publication, SessionRecord
from gateway.broker import redis as redis_broker
from gateway.broker.redis import _PUBLISH, RedisBroker, SubscriptionWatch
from gateway.errors import BrokerUnavailable
from gateway.wire import Numbered

from .gatewayproc import (
    HIGH_LIMITS,
    Gateway,
    RedisServer,
    new_session_on,
    payment,
    post_payment_to,
)
from .redisproxy import RedisProxy

ISSUER = "https://gateway.test"


def shared(redis: RedisServer, **sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Config of one instance of a cluster: the same broker and issuer for all."""
    return shared_url(redis.url, **sections)


def shared_url(url: str, **sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
    config: dict[str, dict[str, Any]] = {
        "broker": {"url": url, "timeout_seconds": 1},
        "auth": {"issuer": ISSUER},
        "rate_limits": dict(HIGH_LIMITS),
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


async def watch(gw: Gateway, token: str) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(f"{gw.ws_base}/?token={token}", ssl=gw.ssl_context)
    info = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert info["type"] == "SESSION_INFO"
    return ws, info


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return message


async def health(gw: Gateway) -> httpx.Response:
    async with httpx.AsyncClient(verify=gw.ssl_context, timeout=10) as client:
        return await client.get(f"{gw.base}/health")


async def until_healthy(gw: Gateway, seconds: float = 20) -> None:
    for _ in range(int(seconds * 10)):
        if (await health(gw)).status_code == 200:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"the gateway did not become healthy within {seconds} s")


async def test_a_publish_on_one_instance_reaches_viewers_on_all(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """Viewers on A and B each receive every publish once, in seq order, from either."""
    redis = redis_server()
    a, b = start_gateway(shared(redis)), start_gateway(shared(redis))
    session = await new_session_on(a)
    on_a, _ = await watch(a, session["token"])
    on_b, _ = await watch(b, session["token"])
    answers = []
    for i in range(6):
        response = await post_payment_to(
            a if i % 2 else b, session["token"], payment(amount=1000 + i)
        )
        assert response.status_code == 200, response.text
        answers.append(response.json())
    assert [r["seq"] for r in answers] == [1, 2, 3, 4, 5, 6]
    assert {r["delivered"] for r in answers} == {2}
    for ws in (on_a, on_b):
        got = [await receive(ws) for _ in range(6)]
        assert [m["payload"]["seq"] for m in got] == [1, 2, 3, 4, 5, 6]
        assert [m["payload"]["amount"] for m in got] == [1000 + i for i in range(6)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)  # nothing twice
        await ws.close()


async def test_rate_limits_hold_across_instances(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """A limit of 4 per minute is 4 across A and B together, not 4 each."""
    redis = redis_server()
    limits = {"token_generate_per_ip": "4/minute"}
    a = start_gateway(shared(redis, rate_limits=limits))
    b = start_gateway(shared(redis, rate_limits=limits))
    statuses = []
    for gw in (a, b, a, b, a, b):
        async with gw.client() as client:
            response = await client.post("/api/token/generate", headers={"X-API-Key": gw.key()})
            statuses.append(response.status_code)
    assert statuses == [201, 201, 201, 201, 429, 429]


async def test_expiry_is_shared(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """Viewers on every instance get SESSION_EXPIRED and 4410; publishes anywhere get 410."""
    redis = redis_server()
    config = shared(redis, sessions={"ttl_seconds": 2, "sweep_interval_seconds": 0.5})
    a, b = start_gateway(config), start_gateway(config)
    session = await new_session_on(a)
    viewers = [(await watch(gw, session["token"]))[0] for gw in (a, b)]
    for ws in viewers:
        expired = await receive(ws)
        assert expired["type"] == "SESSION_EXPIRED"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4410
    assert (await post_payment_to(b, session["token"])).status_code == 410


async def test_a_killed_instance_loses_nothing(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """After SIGKILL of A, its viewer reconnects to B and gets SESSION_INFO and the last data."""
    redis = redis_server()
    a, b = start_gateway(shared(redis)), start_gateway(shared(redis))
    session = await new_session_on(a)
    ws, _ = await watch(a, session["token"])
    last = (await post_payment_to(a, session["token"], payment(amount=77000))).json()
    assert (await receive(ws))["payload"]["seq"] == last["seq"]
    a.stop(signal.SIGKILL)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 10)
    again, info = await watch(b, session["token"])
    assert info["payload"]["hasData"] is True
    late = await receive(again)
    assert late["type"] == "PAYMENT_DATA"
    assert (late["payload"]["seq"], late["payload"]["amount"]) == (last["seq"], 77000)
    assert (await post_payment_to(b, session["token"])).json()["seq"] == last["seq"] + 1
    await again.close()
    a.start()  # the same instance comes back and serves the same session
    ws_a, info_a = await watch(a, session["token"])
    assert info_a["payload"]["sessionId"] == session["sessionId"]
    await ws_a.close()


async def test_redis_down_at_start_then_up(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """With Redis down the gateway starts and says 503 on /health; it recovers by itself."""
    redis = redis_server()
    redis.kill()
    gw = start_gateway(shared(redis), wait_healthy=False)
    unavailable = await health(gw)
    assert unavailable.status_code == 503
    assert unavailable.json()["status"] == "unavailable"
    assert unavailable.json()["broker"] == "redis"
    async with gw.client() as client:
        refused = await client.post("/api/token/generate", headers={"X-API-Key": gw.key()})
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    redis.start()
    await until_healthy(gw)
    assert (await new_session_on(gw))["token"]


async def test_redis_killed_under_viewers_then_back(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """Viewers stay connected while Redis is gone, publishes get a prompt 503, then all recovers."""
    redis = redis_server(persistent=True)
    a, b = start_gateway(shared(redis)), start_gateway(shared(redis))
    session = await new_session_on(a)
    viewers = [(await watch(gw, session["token"]))[0] for gw in (a, b)]
    redis.kill()
    for ws in viewers:
        await ws.send('{"type":"PING"}')
        assert (await receive(ws))["type"] == "PONG"
    started = time.monotonic()
    failed = await post_payment_to(a, session["token"])
    assert failed.status_code == 503
    assert failed.headers["content-type"] == "application/problem+json"
    assert time.monotonic() - started < 5  # broker.timeout_seconds is 1
    assert (await health(b)).status_code == 503
    redis.start()
    await until_healthy(a)
    await until_healthy(b)
    ok = await post_payment_to(b, session["token"], payment(amount=5000))
    assert ok.status_code == 200, ok.text
    assert ok.json()["delivered"] == 2
    for ws in viewers:
        message = await receive(ws)
        assert (message["type"], message["payload"]["amount"]) == ("PAYMENT_DATA", 5000)
        await ws.close()


async def test_a_stalled_redis_never_blocks_ping_pong(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """With Redis stopped (SIGSTOP), PING gets PONG at once and publishes 503 after the timeout."""
    redis = redis_server()
    gw = start_gateway(shared(redis))
    session = await new_session_on(gw)
    ws, _ = await watch(gw, session["token"])
    redis.pause()
    try:
        pending = asyncio.create_task(post_payment_to(gw, session["token"]))
        await asyncio.sleep(0.1)  # the publish is now waiting on Redis
        for _ in range(3):
            started = time.monotonic()
            await ws.send('{"type":"PING"}')
            assert (await receive(ws))["type"] == "PONG"
            assert time.monotonic() - started < 0.5
        response = await pending
        assert response.status_code == 503
    finally:
        redis.resume()
    await until_healthy(gw)
    assert (await post_payment_to(gw, session["token"])).status_code == 200
    assert (await receive(ws))["type"] == "PAYMENT_DATA"
    await ws.close()


# --- unknown outcomes (SPEC §11.6) ------------------------------------------------------------

PUBLISH_SHA = hashlib.sha1(_PUBLISH.encode()).hexdigest().encode()  # noqa: S324 (Redis's name)


@pytest.fixture
def proxied(redis_server: Callable[..., RedisServer]) -> Iterator[RedisProxy]:
    """A real Redis behind a proxy that can hold its replies or the requests to it."""
    redis = redis_server()
    proxy = RedisProxy(redis.port)
    proxy.start()
    yield proxy
    proxy.stop()
    # Collect here what the client side left to the collector, inside this test (whose
    # mark tolerates it), not in a later one: one asyncio transport of the test process
    # itself (never the gateway's, a subprocess) was reported unclosed in about one CI
    # run in six, and no loop of these tests reproduced it with tracemalloc on.
    gc.collect()


#: See `proxied`: a harness socket, not the gateway, that the collector may report.
HARNESS_LEAK = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def idempotent(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def audit_events(gw: Gateway, seconds: float = 10) -> list[dict[str, Any]]:
    """The publish audit events logged so far (after a moment for late ones)."""
    deadline = time.monotonic() + seconds
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = [
            json.loads(line)
            for line in gw.output().splitlines()
            if '"logger":"gateway.audit"' in line
        ]
        if any(e.get("outcome") == "confirmed_late" for e in events):
            break
        await asyncio.sleep(0.1)
    return events


async def nothing_more(ws: ClientConnection) -> None:
    """PING gets PONG next: nothing else was queued for this viewer."""
    await ws.send('{"type":"PING"}')
    assert (await receive(ws))["type"] == "PONG"


@HARNESS_LEAK
async def test_a_lost_reply_is_an_unknown_outcome_and_is_never_broadcast_twice(
    start_gateway: Callable[..., Gateway], proxied: RedisProxy
) -> None:
    """Redis runs the publish but its reply is held past broker.timeout_seconds: the client
    gets 503, the viewer gets seq 2 once, a retry with the same key and body replays seq 2
    (never publishes seq 3), and seq 2 has its audit event."""
    gw = start_gateway(shared_url(proxied.url))
    session = await new_session_on(gw)
    ws, _ = await watch(gw, session["token"])
    other = await new_session_on(gw)
    bystander_ws, _ = await watch(gw, other["token"])
    assert (
        await post_payment_to(
            gw, session["token"], payment(amount=1000), headers=idempotent("warm-up")
        )
    ).json()["seq"] == 1
    assert (await receive(ws))["payload"]["seq"] == 1

    proxied.hold(PUBLISH_SHA, 2.5)
    lost = await post_payment_to(
        gw, session["token"], payment(amount=300000), headers=idempotent("order-7")
    )
    proxied.release()
    assert lost.status_code == 503, lost.text
    assert lost.json()["title"] == "Publish outcome unknown"
    assert (await receive(ws))["payload"]["seq"] == 2  # Redis did run it

    retry = await post_payment_to(
        gw, session["token"], payment(amount=300000), headers=idempotent("order-7")
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["seq"] == 2
    assert retry.headers["Idempotent-Replayed"] == "true"
    await nothing_more(ws)

    events = await audit_events(gw)
    assert [e["seq"] for e in events] == [1, 2]
    assert events[1]["outcome"] == "confirmed_late"

    assert (await post_payment_to(gw, other["token"])).status_code == 200
    assert (await receive(bystander_ws))["payload"]["seq"] == 1
    for viewer in (ws, bystander_ws):
        await viewer.close()


@HARNESS_LEAK
async def test_a_publish_that_never_reached_redis_in_time_is_fenced(
    start_gateway: Callable[..., Gateway], proxied: RedisProxy
) -> None:
    """The publish request itself is held past the timeout: the gateway settles the outcome
    first (the request can then never run), the late request broadcasts nothing, and a
    retry with the same key publishes exactly once."""
    gw = start_gateway(shared_url(proxied.url))
    session = await new_session_on(gw)
    ws, _ = await watch(gw, session["token"])
    assert (
        await post_payment_to(
            gw, session["token"], payment(amount=1000), headers=idempotent("warm-up")
        )
    ).status_code == 200
    assert (await receive(ws))["payload"]["seq"] == 1

    proxied.hold(PUBLISH_SHA, 3.0, what="requests")
    lost = await post_payment_to(
        gw, session["token"], payment(amount=250000), headers=idempotent("order-8")
    )
    proxied.release()
    assert lost.status_code == 503, lost.text
    # The held request reaches Redis 3 s after it was sent, after the settle's fence.
    await asyncio.sleep(3.5)
    await nothing_more(ws)
    assert '"event":"publish_not_broadcast"' in gw.output()

    retry = await post_payment_to(
        gw, session["token"], payment(amount=250000), headers=idempotent("order-8")
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["seq"] == 2
    assert "Idempotent-Replayed" not in retry.headers
    message = await receive(ws)
    assert (message["payload"]["seq"], message["payload"]["amount"]) == (2, 250000)
    await nothing_more(ws)
    await ws.close()


@HARNESS_LEAK
async def test_a_broker_call_redis_does_not_answer_is_cut_at_its_deadline(
    proxied: RedisProxy,
) -> None:
    """The Redis client has no socket timeout: the broker's own deadline bounds each call,
    off the hub as through it. A call whose reply is held past it is BrokerUnavailable
    (without the deadline it would wait for the reply and succeed), and the reply that
    arrives later is never read as a later call's: its connection was dropped."""
    broker = RedisBroker(proxied.url, timeout_seconds=0.5)
    # Not redis-py's default (5 s), which costs a task per send and a timer per read.
    assert broker._client.connection_pool.connection_kwargs["socket_timeout"] is None
    await broker.start(lambda session_id, seq, text: None)
    try:
        now = time.time()
        kept = SessionRecord("held-session", "key", now, now + 60)
        assert await broker.create_session(kept, max_sessions=10)
        assert await broker.get_session("held-session") == kept

        proxied.hold(b"HGETALL", 3.0)
        with pytest.raises(BrokerUnavailable, match="did not answer in time"):
            await broker.get_session("held-session")
        proxied.release()

        assert await broker.count_sessions() == 1
        assert await broker.get_session("held-session") == kept
    finally:
        await broker.stop()


async def test_an_idle_subscription_sends_health_checks_and_still_delivers(
    redis_server: Callable[..., RedisServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The subscriber reads with no timer per message; after REFRESH_SECONDS without one
    it sends redis-py's health check (Redis sees the subscriber's last command become
    PING), and messages published after that still arrive."""
    monkeypatch.setattr(redis_broker, "REFRESH_SECONDS", 0.2)
    redis = redis_server()
    got: list[tuple[str, int, str]] = []
    arrived = asyncio.Event()

    def deliver(session_id: str, seq: int, text: str) -> None:
        got.append((session_id, seq, text))
        arrived.set()

    async def subscriber_pinged() -> bool:
        clients = await control.client_list()
        return any(c.get("sub") == "1" and c.get("cmd") == "ping" for c in clients)

    broker = RedisBroker(redis.url, timeout_seconds=2)
    await broker.start(deliver)
    control = aioredis.Redis(port=redis.port, decode_responses=True)
    try:
        async with asyncio.timeout(10):
            while True:  # until Redis saw the health check
                if await subscriber_pinged():
                    break
                await asyncio.sleep(0.05)
            await control.publish(broker._channel, "idle-session\n7\nhello")
            await arrived.wait()
        assert got == [("idle-session", 7, "hello")]
    finally:
        await control.aclose()
        await broker.stop()


async def test_a_watch_stopped_as_it_acts_leaves_nothing_half_done(
    redis_server: Callable[..., RedisServer],
) -> None:
    """The subscriber stops its watch when its read ends: if that happens in the very
    turn in which the watch started its health check, the check is cancelled before it
    began, with no coroutine left never awaited (a warning, an error in this suite)."""
    redis = redis_server()
    client = aioredis.Redis(port=redis.port, decode_responses=True)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe("watched")
        watch = SubscriptionWatch(pubsub, 60)
        watch._due()  # as the timer would
        watch.cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        gc.collect()
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
        await client.aclose()


@HARNESS_LEAK
async def test_a_subscription_gone_silent_is_closed_and_made_again(
    proxied: RedisProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subscription whose health check gets no answer (the proxy holds every byte
    after it, as a dead peer or a dropped route would) is taken for dead one period
    later: closed, subscribed again (the hub's catch-up runs), and delivering. Without
    that the read would wait for the kernel to give up on the peer."""
    monkeypatch.setattr(redis_broker, "REFRESH_SECONDS", 0.2)
    proxied.hold(PubSub.HEALTH_CHECK_MESSAGE.encode(), 60)
    got: list[tuple[str, int, str]] = []
    arrived, resubscribed = asyncio.Event(), asyncio.Event()

    def deliver(session_id: str, seq: int, text: str) -> None:
        got.append((session_id, seq, text))
        arrived.set()

    broker = RedisBroker(proxied.url, timeout_seconds=2)
    await broker.start(deliver, resubscribed.set)
    control = aioredis.Redis(port=proxied.target_port, decode_responses=True)
    try:
        async with asyncio.timeout(15):
            await resubscribed.wait()
            proxied.release()
            while not arrived.is_set():  # until one reaches the subscription of the moment
                await control.publish(broker._channel, "silent-session\n3\nagain")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), 0.5)
        assert got[0] == ("silent-session", 3, "again")
    finally:
        await control.aclose()
        await broker.stop()


@HARNESS_LEAK
async def test_a_demoted_master_behind_a_fixed_address_is_left_for_the_new_one(
    proxied: RedisProxy, redis_server: Callable[..., RedisServer]
) -> None:
    """A fixed address (here a proxy, in production a virtual IP or a DNS name) moves
    to a promoted replica while the pool still holds a connection to the old master,
    now a replica itself: the publish meets READONLY, which redis-py reports without
    its code (ReadOnlyError). It is retried on a new connection, which reaches the new
    master, and succeeds with the next seq; before, it was a 503 at once."""
    broker = RedisBroker(proxied.url, timeout_seconds=5)
    await broker.start(lambda session_id, seq, text: None)
    old = aioredis.Redis(port=proxied.target_port, decode_responses=True)
    new = aioredis.Redis(port=redis_server().port, decode_responses=True)
    try:
        now = time.time()
        kept = SessionRecord("moving-session", "key", now, now + 60)
        assert await broker.create_session(kept, max_sessions=10)
        first = await broker.publish(
            "moving-session", Publication(Numbered('{"seq":', "}", None), 60), now,
            key_id="key", request_id="first",
        )  # fmt: skip
        assert first is not None
        assert first.seq == 1

        await new.replicaof("127.0.0.1", proxied.target_port)
        async with asyncio.timeout(10):
            while True:  # until the replica holds the session
                if (await new.info("replication"))["master_link_status"] == "up":
                    break
                await asyncio.sleep(0.05)
        await new.replicaof("NO", "ONE")
        await old.replicaof("127.0.0.1", new.connection_pool.connection_kwargs["port"])
        proxied.target_port = new.connection_pool.connection_kwargs["port"]

        second = await broker.publish(
            "moving-session", Publication(Numbered('{"seq":', "}", None), 60), time.time(),
            key_id="key", request_id="second",
        )  # fmt: skip
        assert second is not None
        assert second.seq == 2
    finally:
        await old.aclose()
        await new.aclose()
        await broker.stop()


# --- viewer caps across instances (SPEC §11.4) --------------------------------------------------


async def test_concurrent_connects_over_two_instances_never_pass_the_cap(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """Sixteen viewers connecting at once, half to each instance, to a session capped at
    5: exactly five are admitted, the rest closed 4403."""
    redis = redis_server()
    config = shared(redis, sessions={"max_viewers_per_session": 5})
    a, b = start_gateway(config), start_gateway(config)
    session = await new_session_on(a)

    async def attempt(gw: Gateway) -> tuple[str, ClientConnection]:
        ws = await connect(f"{gw.ws_base}/?token={session['token']}", ssl=gw.ssl_context)
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except ConnectionClosed:
            return str(ws.close_code), ws
        return message["type"], ws

    results = await asyncio.gather(*(attempt(a if i % 2 else b) for i in range(16)))
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes.count("SESSION_INFO") == 5, outcomes
    assert outcomes.count("4403") == 11, outcomes
    async with a.client() as client:
        info = (await client.get(f"/api/session/{session['token']}")).json()
    assert info["viewers"] == 5
    for _, ws in results:
        await ws.close()
