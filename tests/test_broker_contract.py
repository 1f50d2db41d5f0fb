"""One contract for every broker backend: memory and Redis behave alike to the hub."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from gateway.broker import Broker, IdempotencyRecord, Publication, SessionRecord, create_broker

from .gatewayproc import RedisServer

Delivered = list[tuple[str, int, str]]


class Backend:
    """Brokers of one kind, sharing one store when the backend can."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.brokers: list[tuple[Broker, Delivered]] = []

    async def new(self) -> tuple[Broker, Delivered]:
        if self.brokers and self.url == "memory://":
            return self.brokers[0]  # one process: one memory broker
        broker = create_broker(self.url, timeout_seconds=2)
        got: Delivered = []
        await broker.start(lambda sid, seq, text: got.append((sid, seq, text)))
        if self.url != "memory://":
            await wait_for(lambda: _healthy(broker))
        self.brokers.append((broker, got))
        return broker, got


async def _healthy(broker: Broker) -> bool:
    try:
        await broker.check()
    except Exception:
        return False
    return True


async def wait_for(condition: Callable[[], object], seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)


@pytest.fixture(params=["memory", "redis"])
async def backend(
    request: pytest.FixtureRequest, redis_server: Callable[..., RedisServer]
) -> AsyncIterator[Backend]:
    url = "memory://" if request.param == "memory" else redis_server().url
    store = Backend(url)
    yield store
    for broker, _ in store.brokers:
        await broker.stop()


def record(ttl: float = 60) -> SessionRecord:
    now = time.time()
    return SessionRecord(str(uuid.uuid4()), "owner", now, now + ttl)


def message(data: str | None = ',"amount":5}', linger: float = 60) -> Publication:
    return Publication(
        '{"type":"PAYMENT_DATA","payload":{"seq":', (data or "}") + "}", data, linger
    )


async def test_a_created_session_reads_back(backend: Backend) -> None:
    """create_session stores a record that get_session returns; unknown ids are None."""
    broker, _ = await backend.new()
    rec = record()
    assert await broker.create_session(rec, max_sessions=10)
    got = await broker.get_session(rec.session_id)
    assert got is not None
    assert (got.key_id, got.seq, got.data) == ("owner", 0, None)
    assert got.expires_at == pytest.approx(rec.expires_at, abs=0.001)
    assert await broker.get_session(str(uuid.uuid4())) is None
    assert await broker.count_sessions() == 1


async def test_max_sessions_is_enforced(backend: Backend) -> None:
    """create_session refuses a session beyond max_sessions."""
    broker, _ = await backend.new()
    assert await broker.create_session(record(), max_sessions=2)
    assert await broker.create_session(record(), max_sessions=2)
    assert not await broker.create_session(record(), max_sessions=2)


async def test_publish_assigns_seq_keeps_data_and_delivers_everywhere(backend: Backend) -> None:
    """publish numbers messages 1, 2, 3, keeps the last data, and reaches every instance."""
    first, got_first = await backend.new()
    second, got_second = await backend.new()
    rec = record()
    await first.create_session(rec, max_sessions=10)
    seqs = [
        await (first if i % 2 else second).publish(rec.session_id, message(), time.time())
        for i in range(3)
    ]
    assert seqs == [1, 2, 3]
    for got in {id(got_first): got_first, id(got_second): got_second}.values():
        await wait_for(lambda got=got: len(got) == 3)
        assert [(sid, seq) for sid, seq, _ in got] == [(rec.session_id, s) for s in (1, 2, 3)]
        assert got[0][2] == '{"type":"PAYMENT_DATA","payload":{"seq":1,"amount":5}}'
    stored = await second.get_session(rec.session_id)
    assert stored is not None
    assert stored.seq == 3
    assert stored.data == '{"seq":3,"amount":5}'
    assert stored.last_published_at is not None


async def test_a_clear_drops_the_data_but_counts_seq(backend: Backend) -> None:
    """A publication without data removes the late-join data and still takes a seq."""
    broker, _ = await backend.new()
    rec = record()
    await broker.create_session(rec, max_sessions=10)
    await broker.publish(rec.session_id, message(), time.time())
    assert await broker.publish(rec.session_id, message(None), time.time()) == 2
    stored = await broker.get_session(rec.session_id)
    assert stored is not None
    assert (stored.seq, stored.data) == (2, None)


async def test_publish_to_an_unknown_session_is_none(backend: Backend) -> None:
    """publish on a session the broker does not hold returns None and delivers nothing."""
    broker, got = await backend.new()
    assert await broker.publish(str(uuid.uuid4()), message(), time.time()) is None
    await asyncio.sleep(0.1)
    assert got == []


async def test_viewer_counts_add_up_across_instances(backend: Backend) -> None:
    """count_viewers sums what every instance registered; 0 removes an instance's share."""
    first, _ = await backend.new()
    second, _ = await backend.new()
    rec = record()
    await first.create_session(rec, max_sessions=10)
    await first.set_viewers(rec.session_id, 2, time.time(), 60)
    if second is not first:
        await second.set_viewers(rec.session_id, 3, time.time(), 60)
    expected = 5 if second is not first else 2
    assert await first.count_viewers(rec.session_id) == expected
    await first.set_viewers(rec.session_id, 0, time.time(), 60)
    assert await second.count_viewers(rec.session_id) == expected - 2


async def test_data_lingers_then_goes_when_nobody_watches(backend: Backend) -> None:
    """Without viewers the data is dropped after the linger (the sweeper's or Redis's TTL)."""
    broker, _ = await backend.new()
    rec = record()
    await broker.create_session(rec, max_sessions=10)
    await broker.publish(rec.session_id, message(linger=0.3), time.time())

    async def gone() -> bool:
        await broker.sweep(time.time(), 0.3)
        stored = await broker.get_session(rec.session_id)
        return stored is not None and stored.data is None

    await wait_for(gone)


async def test_data_stays_while_a_viewer_watches(backend: Backend) -> None:
    """With a viewer registered, the data outlives the linger."""
    broker, _ = await backend.new()
    rec = record()
    await broker.create_session(rec, max_sessions=10)
    await broker.set_viewers(rec.session_id, 1, time.time(), 0.2)
    await broker.publish(rec.session_id, message(linger=0.2), time.time())
    await asyncio.sleep(0.6)
    await broker.sweep(time.time(), 0.2)
    stored = await broker.get_session(rec.session_id)
    assert stored is not None
    assert stored.data is not None
    await broker.set_viewers(rec.session_id, 0, time.time(), 0.2)

    async def gone() -> bool:
        await broker.sweep(time.time(), 0.2)
        after = await broker.get_session(rec.session_id)
        return after is not None and after.data is None

    await wait_for(gone)


async def test_expired_sessions_disappear(backend: Backend) -> None:
    """A session past its expiry is gone after the sweep (memory) or by its TTL (Redis)."""
    broker, _ = await backend.new()
    rec = record(ttl=0.3)
    await broker.create_session(rec, max_sessions=10)

    async def gone() -> bool:
        await broker.sweep(time.time(), 60)
        return await broker.get_session(rec.session_id) is None

    await wait_for(gone)
    assert await broker.count_sessions() == 0


async def test_idempotency_claims_are_exclusive(backend: Backend) -> None:
    """The first claim wins; later ones see the held record, then the finished answer."""
    first, _ = await backend.new()
    second, _ = await backend.new()
    claim = IdempotencyRecord("abc")
    assert await first.claim_idempotency("scope", claim, 60) is None
    assert await second.claim_idempotency("scope", IdempotencyRecord("abc"), 60) == claim
    done = IdempotencyRecord("abc", 200, b'{"ok":true}')
    await first.finish_idempotency("scope", done, 60)
    assert await second.claim_idempotency("scope", IdempotencyRecord("xyz"), 60) == done
    await first.finish_idempotency("scope", None, 60)
    assert await second.claim_idempotency("scope", claim, 60) is None
