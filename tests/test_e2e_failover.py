"""End-to-end: a Redis failover under Sentinel, with two gateways and their viewers.

A real master, replica and three Sentinels (``tests/redisha.py``); two ``gateway serve``
processes on ``redis+sentinel://`` with ``broker.min_replicas_acked = 1``. The master
is SIGKILLed while viewers watch on both instances, and the test follows a payment
published with one Idempotency-Key until it answers 200 again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

from .gatewayproc import HIGH_LIMITS, Gateway, GatewayAPI, RedisServer, payment
from .redisha import RedisHA, wait_for

ISSUER = "https://gateway.test"
#: A publish must answer within this, during the failover too ("no hang").
ANSWER_SECONDS = 5.0


@pytest.fixture
def redis_ha(redis_server: Callable[..., RedisServer], tmp_path: Path) -> Iterator[RedisHA]:
    """Master, replica and three Sentinels (``redis_server`` only checks redis-server exists)."""
    ha = RedisHA(tmp_path / "redis")
    try:
        ha.start()
        yield ha
    finally:
        ha.stop()


def cluster_config(url: str, **broker: Any) -> dict[str, dict[str, Any]]:
    return {
        "broker": {"url": url, "timeout_seconds": 1, **broker},
        "auth": {"issuer": ISSUER},
        "rate_limits": dict(HIGH_LIMITS),
    }


class Watcher:
    """A viewer connection that keeps every message it receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, gw: Gateway, token: str) -> Watcher:
        ws = await connect(f"{gw.ws_base}/?token={token}", ssl=gw.ssl_context)
        watcher = cls(ws)
        await watcher.until(lambda: any(m["type"] == "SESSION_INFO" for m in watcher.messages))
        return watcher

    async def _read(self) -> None:
        async for raw in self.ws:
            self.messages.append(json.loads(raw))
            self.changed.set()

    @property
    def seqs(self) -> list[int]:
        return [m["payload"]["seq"] for m in self.messages if m["type"] == "PAYMENT_DATA"]

    async def until(self, check: Callable[[], bool], seconds: float = 20) -> None:
        async with asyncio.timeout(seconds):
            while not check():
                self.changed.clear()
                await self.changed.wait()

    async def close(self) -> None:
        await self.ws.close()
        await self.task


async def publish(
    client: httpx.AsyncClient, gw: Gateway, token: str, data: dict[str, Any], key: str
) -> httpx.Response:
    """POST /api/payment with an Idempotency-Key through ``client``, whose timeout is
    ANSWER_SECONDS."""
    return await client.send(GatewayAPI(gw).payment(token, data, headers={"Idempotency-Key": key}))


async def test_a_failover_loses_no_acknowledged_payment(
    start_gateway: Callable[..., Gateway], redis_ha: RedisHA
) -> None:
    """SIGKILL the master: viewers stay connected, publishes answer 503 (never 500,
    never hang) until the replica is promoted and has a replica of its own again, the
    retried key then answers 200 once, and every acknowledged payment is what viewers on
    both instances and late joiners see."""
    config = cluster_config(redis_ha.url, min_replicas_acked=1)
    a, b = start_gateway(config), start_gateway(config)
    async with a.client() as api:
        token = (await api.new_session())["token"]
    watchers = [await Watcher.open(gw, token) for gw in (a, b, a, b)]
    acknowledged: dict[int, dict[str, Any]] = {}
    async with httpx.AsyncClient(verify=a.ssl_context, timeout=ANSWER_SECONDS) as client:
        for n in range(3):
            data = payment(100_000 + n)
            body = (await publish(client, (a, b)[n % 2], token, data, f"before-{n}")).json()
            acknowledged[body["seq"]] = data
        for watcher in watchers:
            await watcher.until(lambda w=watcher: w.seqs == [1, 2, 3])

        killed_at = time.monotonic()
        redis_ha.master.kill()
        during = payment(200_000)
        statuses: list[int] = []
        restarted = False
        while True:
            response = await publish(client, (a, b)[len(statuses) % 2], token, during, "during")
            statuses.append(response.status_code)
            if response.status_code == 200:
                break
            assert response.status_code == 503, response.text
            assert time.monotonic() - killed_at < 60, f"no 200 within 60 s: {statuses}"
            if not restarted and await asyncio.to_thread(redis_ha.promoted):
                # The orchestrator brings the dead node back as a replica of the master
                # Sentinel names (Sentinel would convert it too, within 10 s); writes can
                # be acknowledged again once it has synced.
                promoted_after = time.monotonic() - killed_at
                redis_ha.restart_master_as_replica()
                restarted = True
            await asyncio.sleep(0.1)
        recovered_after = time.monotonic() - killed_at
        body = response.json()
        acknowledged[body["seq"]] = during
        assert statuses[0] == 503
        assert statuses[-1] == 200
        assert statuses.count(200) == 1
        assert body["seq"] == 4, "the payments acknowledged before the kill survived it"

        # Both instances resubscribed through Sentinel: /health says so.
        for gw in (a, b):
            await asyncio.to_thread(
                wait_for,
                lambda gw=gw: (
                    httpx.get(f"{gw.base}/health", verify=gw.ssl_context).status_code == 200
                ),
                20,
                "the gateway did not report a healthy broker again",
            )
        after = payment(300_000)
        body = (await publish(client, b, token, after, "after")).json()
        assert body["seq"] == 5
        assert body["delivered"] == 4
        acknowledged[5] = after

    for watcher in watchers:
        await watcher.until(lambda w=watcher: 5 in w.seqs)
        # Viewers never closed; each payment once, in order (the catch-up after the
        # resubscription repeats a seq the viewer has; the page skips it).
        assert not watcher.task.done()
        seen = sorted(set(watcher.seqs))
        assert seen == [1, 2, 3, 4, 5], watcher.seqs
        assert watcher.seqs == sorted(watcher.seqs)
        for message in watcher.messages:
            if message["type"] == "PAYMENT_DATA":
                sent = acknowledged[message["payload"]["seq"]]
                assert message["payload"]["qrCode"] == sent["qrCode"]
        await watcher.close()

    for gw in (a, b):
        late = await Watcher.open(gw, token)
        await late.until(lambda w=late: w.seqs == [5])
        assert late.messages[1]["payload"]["amount"] == after["amount"]
        await late.close()
        assert not gw.errors_logged(), gw.errors_logged()
        assert gw.proc is not None
        assert gw.proc.poll() is None

    print(
        f"\nfailover: replica promoted {promoted_after:.2f} s after the kill, first "
        f"acknowledged publish {recovered_after:.2f} s after it ({len(statuses) - 1} x 503)"
    )


async def test_a_seq_lost_in_a_failover_is_never_given_again(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """Replication is asynchronous: a master can die after broadcasting a publish and
    before a replica had it, and the promoted replica then holds a lower ``seq``. The
    next publish still numbers on from the highest seq the instance delivered, so the
    viewer (who ignores a seq it has seen) shows it."""
    redis = redis_server()
    gw = start_gateway(cluster_config(redis.url))
    async with gw.client() as api:
        session = await api.new_session()
        watcher = await Watcher.open(gw, session["token"])
        assert (await api.publish(session["token"], payment(100_000)))["seq"] == 1
        await watcher.until(lambda: watcher.seqs == [1])
        # What the promoted replica holds when the first publish did not reach it.
        lost = await asyncio.to_thread(_forget_seq, redis.port, session["sessionId"])
        assert lost == 1
        second = await api.publish(session["token"], payment(200_000))
    assert second["seq"] == 2
    await watcher.until(lambda: watcher.seqs == [1, 2])
    assert watcher.messages[-1]["payload"]["amount"] == 200_000
    await watcher.close()


def _forget_seq(port: int, session_id: str) -> int:
    with redis.Redis(port=port, decode_responses=True) as client:
        key = f"gw:s:{session_id}"
        held = int(client.hget(key, "seq") or 0)
        client.hset(key, "seq", 0)
        return held


async def test_a_demoted_master_sends_writes_to_the_new_one(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer], tmp_path: Path
) -> None:
    """``SENTINEL FAILOVER``: the master is demoted while it runs (no kill), so pooled
    connections meet ``READONLY`` or are cut; the gateways follow the Sentinels to the
    new master, publishes keep answering 200 or 503 (never 500), and the first publish
    after the switch reaches viewers on both instances. Two replicas: the one not
    promoted acknowledges writes at once (N + 1 replicas for min_replicas_acked = N)."""
    redis_ha = RedisHA(tmp_path / "redis", count=2)
    try:
        redis_ha.start()
        await _demote_under_load(start_gateway, redis_ha)
    finally:
        redis_ha.stop()


async def _demote_under_load(start_gateway: Callable[..., Gateway], redis_ha: RedisHA) -> None:
    config = cluster_config(redis_ha.url, min_replicas_acked=1)
    a, b = start_gateway(config), start_gateway(config)
    async with a.client() as api:
        token = (await api.new_session())["token"]
    watchers = [await Watcher.open(gw, token) for gw in (a, b)]
    async with httpx.AsyncClient(verify=a.ssl_context, timeout=ANSWER_SECONDS) as client:
        first = await publish(client, a, token, payment(100_000), "first")
        assert first.status_code == 200, first.text
        old_master = redis_ha.master.port
        with redis_ha.sentinels[0].client() as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", "gw")
        statuses = []
        n = 0
        while True:  # every 100 ms until the switch is over and a publish succeeds
            n += 1
            response = await publish(client, (a, b)[n % 2], token, payment(200_000 + n), f"p{n}")
            statuses.append(response.status_code)
            assert response.status_code in (200, 503), response.text
            switched = await asyncio.to_thread(
                lambda: all(s.master_port_now() != old_master for s in redis_ha.sentinels)
            )
            if switched and response.status_code == 200:
                break
            assert n < 200, f"no publish succeeded after the switch: {statuses}"
            await asyncio.sleep(0.1)
        last = response.json()["seq"]
    for watcher in watchers:
        await watcher.until(lambda w=watcher: last in w.seqs)
        assert watcher.seqs == sorted(set(watcher.seqs)), watcher.seqs
        assert not watcher.task.done()
        await watcher.close()
    print(f"\nmanual failover: {statuses.count(503)} x 503 of {len(statuses)} publishes")
