"""Rate limits over Redis taken inside the broker's own scripts (gateway/ratelimit.py).

A viewer's admission takes its ``ws_connect_per_ip`` hit, and a publish its
``payment_per_token`` hit, in the same Lua script as the write, with limits' own
acquire scripts on limits' own keys. These tests hold that to what a hit through
``limits`` does: the same counter (a bad token, counted through limits, and a good one,
counted by the script, share one quota), the same answers (429/4429 with the headers),
and nothing written when the quota refuses. Real ``redis-server``, real gateways.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import limits
import pytest
import redis.asyncio as aioredis
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from redis.commands.core import AsyncScript
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway import ratelimit
from gateway.config import RateLimitSettings
from gateway.errors import RateLimited
from gateway.ratelimit import EXACT_UP_TO, QUOTA_LUA, Quota, RateLimiter, quotas_input, storage_for

from .gatewayproc import HIGH_LIMITS, Gateway, RedisServer, payment
from .test_e2e_http import raw_request
from .test_e2e_ratelimit import check_429
from .test_e2e_redis import receive, shared

#: Takes the quotas whose KEYS start at 1 and ARGV at 1; 0 when all had room.
TAKE = QUOTA_LUA + "return take_quotas(1, 1)"


async def take(script: AsyncScript, *quotas: Quota) -> int:
    keys, args = quotas_input(quotas)
    spent: int = await script(keys=list(keys), args=list(args))
    return spent


@pytest.mark.parametrize(
    ("rate", "strategy"),
    [("5/minute", MovingWindowRateLimiter), ("1003/hour", SlidingWindowCounterRateLimiter)],
    ids=["moving-window", "sliding-counter"],
)
async def test_a_script_hit_and_a_limits_hit_count_in_one_quota(
    redis_server: Callable[..., RedisServer], rate: str, strategy: type
) -> None:
    """Hits taken by the script and through limits fill the same quota, in both
    strategies, and limits then reports it spent."""
    redis = redis_server()
    storage = storage_for(redis.url, 2.0)
    assert storage is not None
    limiter = RateLimiter(RateLimitSettings(payment_per_token=rate), storage)  # type: ignore[arg-type]
    item = limiter.item("payment_per_token")
    assert (item.amount <= EXACT_UP_TO) == (strategy is MovingWindowRateLimiter)
    client = aioredis.from_url(redis.url)
    try:
        script = client.register_script(TAKE)
        quota = limiter.quota("payment_per_token", "session-1")
        assert quota.keys is not None
        for _ in range(item.amount - 2):  # all but two through the script
            assert await take(script, quota) == 0
        await limiter.hit("payment_per_token", "session-1")  # one through limits
        assert await take(script, quota) == 0  # the last one
        assert await take(script, quota) == 1  # spent for the script
        with pytest.raises(RateLimited):
            await limiter.hit("payment_per_token", "session-1")  # and for limits
        stats = await strategy(storage).get_window_stats(item, "payment_per_token", "session-1")
        assert stats.remaining == 0
        # Another identifier has its own quota.
        assert await take(script, limiter.quota("payment_per_token", "session-2")) == 0
    finally:
        await client.aclose()
        await storage.bridge.get_connection().aclose()


async def test_quotas_are_taken_in_order_and_the_first_spent_one_is_named(
    redis_server: Callable[..., RedisServer],
) -> None:
    """Two quotas in one script, as a publish takes payment_per_ip then
    payment_per_token: the one before a spent quota is counted, the ones after it not."""
    redis = redis_server()
    storage = storage_for(redis.url, 2.0)
    assert storage is not None
    settings = RateLimitSettings(payment_per_ip="3/minute", payment_per_token="1/minute")  # type: ignore[arg-type]
    limiter = RateLimiter(settings, storage)
    client = aioredis.from_url(redis.url)
    try:
        script = client.register_script(TAKE)
        per_ip = limiter.quota("payment_per_ip", "203.0.113.9")
        assert await take(script, per_ip, limiter.quota("payment_per_token", "s1")) == 0
        assert await take(script, per_ip, limiter.quota("payment_per_token", "s1")) == 2
        # The IP's hit before the spent token quota counted: one left of three.
        assert await take(script, per_ip, limiter.quota("payment_per_token", "s2")) == 0
        assert await take(script, per_ip, limiter.quota("payment_per_token", "s3")) == 1
        # Refused at the IP, nothing was taken from s3's quota.
        assert await take(script, limiter.quota("payment_per_token", "s3")) == 0
    finally:
        await client.aclose()
        await storage.bridge.get_connection().aclose()


async def test_a_quota_needs_keys_only_over_redis() -> None:
    """In memory, or with limits off, a quota is taken through limits (no keys)."""
    memory = RateLimiter(RateLimitSettings())
    assert memory.quota("ws_connect_per_ip", "203.0.113.9").keys is None
    off = RateLimiter(RateLimitSettings(enabled=False), storage_for("redis://127.0.0.1:1", 1))
    assert off.quota("ws_connect_per_ip", "203.0.113.9").keys is None
    await off.quota("ws_connect_per_ip", "203.0.113.9").take()  # counts nothing, no Redis


def over_redis(redis: RedisServer, **rules: str) -> dict[str, dict[str, object]]:
    return shared(redis, rate_limits={**HIGH_LIMITS, **rules})


async def close_code(url: str, gw: Gateway) -> int:
    """Open a viewer connection that is refused; return the code it is closed with."""
    async with connect(url, ssl=gw.ssl_context) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_viewer_connects_share_one_quota_across_tokens_and_instances(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """ws_connect_per_ip = 3/minute over Redis: a bad token counts as a connect, good
    ones count in the admission script, on either instance; the fourth connect is
    closed 4429 whatever its token, and the refused admission counted no viewer."""
    redis = redis_server()
    a = start_gateway(over_redis(redis, ws_connect_per_ip="3/minute"))
    b = start_gateway(over_redis(redis, ws_connect_per_ip="3/minute"))
    async with a.client() as client:
        session = (await client.generate()).json()
    assert await close_code(f"{a.ws_base}/?token=not-a-token", a) == 4401
    for gw in (a, b):
        async with connect(f"{gw.ws_base}/?token={session['token']}", ssl=gw.ssl_context) as ws:
            assert (await receive(ws))["type"] == "SESSION_INFO"
    assert await close_code(f"{b.ws_base}/?token={session['token']}", b) == 4429
    assert await close_code(f"{a.ws_base}/?token=not-a-token", a) == 4429
    async with a.client() as client:
        for _ in range(100):  # the two viewers that closed leave by themselves
            info = (await client.get(f"/api/session/{session['token']}")).json()
            if info["viewers"] == 0:
                break
            await asyncio.sleep(0.05)
        assert info["viewers"] == 0
    for gw in (a, b):  # each instance counts the refusal it answered
        async with gw.client() as client:
            metrics = (await client.get("/metrics", headers={"X-API-Key": gw.key()})).text
        assert 'gateway_rate_limited_total{rule="ws_connect_per_ip"} 1.0' in metrics


async def test_a_publish_over_its_quota_is_429_and_changes_nothing(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """payment_per_token = 2/minute over Redis: the third publish is 429 with the
    rule's headers; it is not broadcast, the stored payment stays, `seq` does not
    move, and another session publishes as before."""
    redis = redis_server()
    gw = start_gateway(over_redis(redis, payment_per_token="2/minute"))
    headers = {"X-API-Key": gw.key()}
    async with gw.client() as client:
        first, second = (await client.generate()).json(), (await client.generate()).json()
        async with connect(f"{gw.ws_base}/?token={first['token']}", ssl=gw.ssl_context) as ws:
            assert (await receive(ws))["type"] == "SESSION_INFO"
            for amount in (1000, 2000):
                ok = await client.post(
                    "/api/payment",
                    headers=headers,
                    json={"token": first["token"], "data": payment(amount=amount)},
                )
                assert ok.status_code == 200
                assert (await receive(ws))["payload"]["amount"] == amount
            over = await client.post(
                "/api/payment/clear", headers=headers, json={"token": first["token"]}
            )
            check_429(over, "payment_per_token", 2, 60)
            fine = await client.post(
                "/api/payment",
                headers=headers,
                json={"token": second["token"], "data": payment()},
            )
            assert (fine.status_code, fine.json()["seq"]) == (200, 1)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)  # the refused clear never came
        info = (await client.get(f"/api/session/{first['token']}")).json()
        assert info["hasData"] is True
    async with connect(f"{gw.ws_base}/?token={first['token']}", ssl=gw.ssl_context) as late:
        assert (await receive(late))["type"] == "SESSION_INFO"
        data = await receive(late)
    assert (data["type"], data["payload"]["seq"], data["payload"]["amount"]) == (
        "PAYMENT_DATA",
        2,
        2000,
    )


#: What take_quotas passes to limits' acquire scripts: each ARGV and KEYS position,
#: by the name the script gives it. A limits release that reorders them fails here.
ACQUIRE_INTERFACE = {
    "acquire_moving_window": ({"timestamp": 1, "limit": 2, "expiry": 3, "amount": 4}, 1),
    "acquire_sliding_window": ({"limit": 1, "expiry": 2, "amount": 3}, 2),
}


@pytest.mark.parametrize("name", sorted(ACQUIRE_INTERFACE))
def test_limits_acquire_scripts_take_what_take_quotas_passes(name: str) -> None:
    """The installed limits' acquire script reads its ARGV in the order take_quotas
    passes them and uses no more KEYS than it is given."""
    from importlib import resources

    source = (
        resources.files(limits) / "resources" / "redis" / "lua_scripts" / f"{name}.lua"
    ).read_text()
    argv, key_count = ACQUIRE_INTERFACE[name]
    read = dict(re.findall(r"local (\w+) = tonumber\(ARGV\[(\d)\]\)", source))
    assert {arg: int(position) for arg, position in read.items()} == argv
    assert max(int(n) for n in re.findall(r"KEYS\[(\d)\]", source)) == key_count
    assert f"local function {name}(KEYS, ARGV)\n{source}\nend\n" in QUOTA_LUA


def publish_head(gw: Gateway, *more: str) -> str:
    """The head of a POST /api/payment sent by hand (tests.test_e2e_http.raw_request)."""
    lines = [
        "POST /api/payment HTTP/1.1",
        "Host: localhost",
        f"X-API-Key: {gw.key()}",
        "Content-Type: application/json",
        *more,
    ]
    return "".join(line + "\r\n" for line in lines)


@pytest.mark.parametrize("broker", ["memory", "redis"])
async def test_every_publish_request_counts_against_its_ip_and_429_wins(
    start_gateway: Callable[..., Gateway], request: pytest.FixtureRequest, broker: str
) -> None:
    """payment_per_ip = 5/minute: a request refused for its key, for a streamed body
    over payload.max_body_bytes (werkzeug's 413) or for JSON that does not parse counts
    as one of the five, as a good one does (taken in the publish script over Redis);
    the sixth request is 429 for that rule whatever else is wrong with it, and once
    refused, the IP's next request is 429 before its body has even arrived."""
    rules = {"payment_per_ip": "5/minute"}
    if broker == "redis":
        config = over_redis(request.getfixturevalue("redis_server")(), **rules)
    else:
        config = {"rate_limits": {**HIGH_LIMITS, **rules}}
    gw = start_gateway(config)
    chunked = publish_head(gw, "Transfer-Encoding: chunked")
    async with gw.client() as client:
        session = (await client.generate()).json()
        good = {"token": session["token"], "data": payment()}
        bad_key = await client.post("/api/payment", headers={"X-API-Key": "wrong"}, json=good)
        assert bad_key.status_code == 401
        size = 400_001  # over the default max_body_bytes; the final 0-chunk never comes
        too_large = await raw_request(gw, chunked, b"%x\r\n" % size + b"a" * size + b"\r\n")
        assert too_large.startswith(b"HTTP/1.1 413"), too_large[:200]
        not_json = await client.post(
            "/api/payment",
            headers={"X-API-Key": gw.key(), "Content-Type": "application/json"},
            content=b"{",
        )
        assert not_json.status_code == 400
        for _ in range(2):
            ok = await client.post("/api/payment", headers={"X-API-Key": gw.key()}, json=good)
            assert ok.status_code == 200
        over = await client.post("/api/payment", headers={"X-API-Key": gw.key()}, json=good)
        check_429(over, "payment_per_ip", 5, 60)
        # A body that never ends: the 429 comes at once (raw_request waits 10 s; the
        # body alone would be waited for 30 s).
        pending = await raw_request(gw, chunked, b"2\r\n{}\r\n")
        assert pending.startswith(b"HTTP/1.1 429"), pending[:200]
        again = await client.post("/api/payment", headers={"X-API-Key": "wrong"}, json={})
        check_429(again, "payment_per_ip", 5, 60)
        info = (await client.get(f"/api/session/{session['token']}")).json()
    assert info["hasData"] is True
    async with connect(f"{gw.ws_base}/?token={session['token']}", ssl=gw.ssl_context) as ws:
        assert (await receive(ws))["type"] == "SESSION_INFO"
        assert (await receive(ws))["payload"]["seq"] == 2  # the refused ones took no seq


async def test_a_refusal_is_remembered_until_its_retry_after_and_no_further() -> None:
    """refused_recently: true from a payment_per_ip refusal until its Retry-After has
    passed, for that identifier only; other rules' refusals are not remembered (they
    cannot push payment_per_ip's out), and at most REMEMBER_REFUSED identifiers are
    (the oldest refusal goes first, a refused one again moves to the end)."""
    clock = [1000.0]
    settings = RateLimitSettings(
        payment_per_ip="1/minute",  # type: ignore[arg-type]
        ws_messages_per_connection="1/minute",  # type: ignore[arg-type]
    )
    limiter = RateLimiter(settings, clock=lambda: clock[0])
    assert not limiter.refused_recently("payment_per_ip", "a")
    await limiter.hit("payment_per_ip", "a")
    assert not limiter.refused_recently("payment_per_ip", "a")  # counted, not refused
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("payment_per_ip", "a")
    wait = refused.value.retry_after
    assert 1 <= wait <= 60
    assert limiter.refused_recently("payment_per_ip", "a")
    assert not limiter.refused_recently("payment_per_ip", "b")
    assert not limiter.refused_recently("payment_per_token", "a")
    clock[0] += wait - 0.5
    assert limiter.refused_recently("payment_per_ip", "a")
    clock[0] += 0.5
    assert not limiter.refused_recently("payment_per_ip", "a")

    connection = limiter.connection_id()
    await limiter.hit("ws_messages_per_connection", connection)
    with pytest.raises(RateLimited):
        await limiter.hit("ws_messages_per_connection", connection)
    assert not limiter.refused_recently("ws_messages_per_connection", connection)
    for rule in ("payment_per_token", "ws_connect_per_ip", "token_generate_per_ip"):
        await limiter.refusal(rule, "a")
        assert not limiter.refused_recently(rule, "a")
    assert not limiter._refused

    for n in range(ratelimit.REMEMBER_REFUSED):
        await limiter.refusal("payment_per_ip", f"ip-{n}")
    await limiter.refusal("payment_per_ip", "ip-0")  # refused again: now the newest
    await limiter.refusal("payment_per_ip", f"ip-{ratelimit.REMEMBER_REFUSED}")
    assert limiter.refused_recently("payment_per_ip", "ip-0")
    assert not limiter.refused_recently("payment_per_ip", "ip-1")
    assert limiter.refused_recently("payment_per_ip", "ip-2")
    assert limiter.refused_recently("payment_per_ip", f"ip-{ratelimit.REMEMBER_REFUSED}")
    assert len(limiter._refused) == ratelimit.REMEMBER_REFUSED
