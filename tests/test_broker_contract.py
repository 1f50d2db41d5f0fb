"""One contract for every broker backend: memory and Redis behave alike to the hub."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from gateway.broker import (
    Admission,
    Broker,
    IdempotencyClaim,
    Publication,
    PublishOutcome,
    SessionRecord,
    create_broker,
)
from gateway.errors import Forbidden, IdempotencyConflict, SessionExpired, SessionNotFound
from gateway.wire import Numbered

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
    head = '{"type":"PAYMENT_DATA","payload":{"seq":'
    return Publication(Numbered(head, (data or "}") + "}", data), linger)


async def publish(
    broker: Broker,
    session_id: str,
    publication: Publication | None = None,
    *,
    request_id: str | None = None,
    idempotency: IdempotencyClaim | None = None,
    key_id: str = "owner",
    now: float | None = None,
) -> PublishOutcome | None:
    return await broker.publish(
        session_id,
        publication or message(),
        time.time() if now is None else now,
        key_id=key_id,
        request_id=request_id or uuid.uuid4().hex,
        idempotency=idempotency,
    )


async def admit(
    broker: Broker, session_id: str, limit: int = 100, linger: float = 60
) -> int | None:
    """The total after admitting one viewer, -1 when full, None when the session is gone;
    an admission carries the session's record as the broker holds it."""
    admission = await broker.admit_viewer(
        session_id, max_viewers=limit, now=time.time(), linger_seconds=linger
    )
    if isinstance(admission, Admission):
        assert admission.record.session_id == session_id
        assert admission.record == await broker.get_session(session_id)
        return admission.total
    return admission


async def release(broker: Broker, session_id: str, linger: float = 60) -> None:
    await broker.release_viewer(session_id, now=time.time(), linger_seconds=linger)


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
    outcomes = [await publish(first if i % 2 else second, rec.session_id) for i in range(3)]
    assert outcomes == [PublishOutcome(1, 0), PublishOutcome(2, 0), PublishOutcome(3, 0)]
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
    await publish(broker, rec.session_id)
    assert await publish(broker, rec.session_id, message(None)) == PublishOutcome(2, 0)
    stored = await broker.get_session(rec.session_id)
    assert stored is not None
    assert (stored.seq, stored.data) == (2, None)


async def test_publish_checks_the_session_in_the_same_step(backend: Backend) -> None:
    """publish itself refuses an unknown session (404), an expired one (410) and another
    key's (403), before the idempotency record, and delivers nothing for any of them."""
    broker, got = await backend.new()
    rec = record()
    await broker.create_session(rec, max_sessions=10)
    with pytest.raises(SessionNotFound):
        await publish(broker, str(uuid.uuid4()))
    with pytest.raises(Forbidden):
        await publish(broker, rec.session_id, key_id="intruder", idempotency=claim())
    with pytest.raises(SessionExpired):
        await publish(broker, rec.session_id, now=rec.expires_at, idempotency=claim())
    # None of them spent the key or a seq: the owner's publish is seq 1 and not a replay.
    assert await publish(broker, rec.session_id, idempotency=claim()) == PublishOutcome(1, 0)
    await wait_for(lambda: len(got) == 1)
    assert [seq for _, seq, _ in got] == [1]


async def test_viewer_counts_add_up_across_instances(backend: Backend) -> None:
    """count_viewers sums what every instance admitted; a release takes one away."""
    first, _ = await backend.new()
    second, _ = await backend.new()
    rec = record()
    await first.create_session(rec, max_sessions=10)
    assert await admit(first, rec.session_id) == 1
    assert await admit(first, rec.session_id) == 2
    assert await admit(second, rec.session_id) == 3
    assert await first.count_viewers(rec.session_id) == 3
    await release(first, rec.session_id)
    assert await second.count_viewers(rec.session_id) == 2
    outcome = await publish(second, rec.session_id)
    assert outcome is not None
    assert outcome.delivered == 2


async def test_admission_stops_at_the_limit_across_instances(backend: Backend) -> None:
    """Twenty concurrent joins over two instances admit exactly max_viewers (5)."""
    first, _ = await backend.new()
    second, _ = await backend.new()
    rec = record()
    await first.create_session(rec, max_sessions=10)
    results = await asyncio.gather(
        *(admit(first if i % 2 else second, rec.session_id, limit=5) for i in range(20))
    )
    assert sorted(r for r in results if r is not None and r > 0) == [1, 2, 3, 4, 5]
    assert results.count(-1) == 15
    assert await first.count_viewers(rec.session_id) == 5
    await release(second, rec.session_id)
    assert await admit(first, rec.session_id, limit=5) == 5


async def test_an_admission_carries_the_session_and_its_data(backend: Backend) -> None:
    """The record a viewer is admitted with is read in the same step: seq and data of
    the last publish included (one round trip per join with Redis)."""
    broker, _ = await backend.new()
    rec = record()
    await broker.create_session(rec, max_sessions=10)
    await publish(broker, rec.session_id)
    admission = await broker.admit_viewer(
        rec.session_id, max_viewers=5, now=time.time(), linger_seconds=60
    )
    assert isinstance(admission, Admission)
    assert admission.total == 1
    assert admission.record.seq == 1
    assert admission.record.data is not None
    assert admission.record.key_id == rec.key_id


async def test_admission_to_an_unknown_session_is_none(backend: Backend) -> None:
    """admit_viewer on a session the broker does not hold counts nothing."""
    broker, _ = await backend.new()
    assert await admit(broker, str(uuid.uuid4())) is None


async def test_data_lingers_then_goes_when_nobody_watches(backend: Backend) -> None:
    """Without viewers the data is dropped after the linger (the sweeper's or Redis's TTL)."""
    broker, _ = await backend.new()
    rec = record()
    await broker.create_session(rec, max_sessions=10)
    await publish(broker, rec.session_id, message(linger=0.3))

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
    await admit(broker, rec.session_id, linger=0.2)
    await publish(broker, rec.session_id, message(linger=0.2))
    await asyncio.sleep(0.6)
    await broker.sweep(time.time(), 0.2)
    stored = await broker.get_session(rec.session_id)
    assert stored is not None
    assert stored.data is not None
    await release(broker, rec.session_id, linger=0.2)

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


def claim(body: str = "abc", scope: str = "scope") -> IdempotencyClaim:
    return IdempotencyClaim(scope, hashlib.sha256(body.encode()).hexdigest())


async def test_an_idempotency_key_publishes_once_and_replays_everywhere(backend: Backend) -> None:
    """The first publish with a key broadcasts; repeats on any instance replay its outcome
    and broadcast nothing; another body under the key is a conflict."""
    first, got = await backend.new()
    second, _ = await backend.new()
    rec = record()
    await first.create_session(rec, max_sessions=10)
    assert await publish(first, rec.session_id, idempotency=claim()) == PublishOutcome(1, 0)
    again = await publish(second, rec.session_id, idempotency=claim())
    assert again == PublishOutcome(1, 0, replayed=True)
    with pytest.raises(IdempotencyConflict):
        await publish(second, rec.session_id, idempotency=claim("another body"))
    assert await publish(first, rec.session_id, idempotency=claim(scope="other")) == (
        PublishOutcome(2, 0)
    )
    await wait_for(lambda: len(got) == 2)
    await asyncio.sleep(0.1)
    assert [seq for _, seq, _ in got] == [1, 2]


async def test_concurrent_requests_with_one_key_broadcast_once(backend: Backend) -> None:
    """Ten racing publishes with one key and body: one broadcast, nine replays of it."""
    first, got = await backend.new()
    second, _ = await backend.new()
    rec = record()
    await first.create_session(rec, max_sessions=10)
    outcomes = await asyncio.gather(
        *(
            publish(first if i % 2 else second, rec.session_id, idempotency=claim())
            for i in range(10)
        )
    )
    assert {(o.seq, o.delivered) for o in outcomes if o is not None} == {(1, 0)}
    assert sum(1 for o in outcomes if o is not None and not o.replayed) == 1
    await wait_for(lambda: len(got) >= 1)
    await asyncio.sleep(0.1)
    assert len(got) == 1


async def test_settle_returns_what_a_publish_did(backend: Backend) -> None:
    """settle on a request that ran gives its outcome, on any instance, every time."""
    first, _ = await backend.new()
    second, _ = await backend.new()
    rec = record()
    await first.create_session(rec, max_sessions=10)
    await publish(first, rec.session_id, request_id="r1")
    assert await second.settle(rec.session_id, "r1") == PublishOutcome(1, 0)
    assert await first.settle(rec.session_id, "r1") == PublishOutcome(1, 0)


async def test_a_settled_request_never_runs_afterwards(backend: Backend) -> None:
    """settle on a request that has not run fences it: arriving later, it does nothing."""
    first, got = await backend.new()
    second, _ = await backend.new()
    rec = record()
    await first.create_session(rec, max_sessions=10)
    assert await second.settle(rec.session_id, "late") is None
    assert await publish(first, rec.session_id, request_id="late") is None
    assert await second.settle(rec.session_id, "late") is None
    assert await publish(first, rec.session_id) == PublishOutcome(1, 0)
    await wait_for(lambda: len(got) == 1)


def test_redis_py_packs_and_parses_with_hiredis() -> None:
    """The Redis broker's commands are packed and its replies parsed by hiredis, in C
    (pyproject's redis[hiredis]): redis-py's pure-Python ones cost a Redis-mode publish
    about 16 % more CPU (README, Performance). redis-py quietly falls back to them when
    hiredis is missing or too old; this says so instead."""
    import redis.asyncio.connection
    import redis.utils

    assert redis.utils.HIREDIS_AVAILABLE
    assert redis.asyncio.connection.DefaultParser.__name__ == "_AsyncHiredisParser"


async def test_a_redis_that_lost_its_scripts_loads_them_again(
    redis_server: Callable[..., RedisServer],
) -> None:
    """The publish script goes out as EVALSHA by its own short path (hiredis packs it);
    a Redis that lost its scripts (restarted, or SCRIPT FLUSH) answers NOSCRIPT, and the
    publish goes through redis-py's script call, which loads it: the same outcome, no
    error, and the number after it."""
    store = Backend(redis_server().url)
    broker, got = await store.new()
    try:
        rec = record()
        assert await broker.create_session(rec, max_sessions=10)
        assert await publish(broker, rec.session_id) == PublishOutcome(1, 0)
        control = aioredis.Redis.from_url(store.url)
        try:
            await control.script_flush()
            assert await publish(broker, rec.session_id) == PublishOutcome(2, 0)
            assert await publish(broker, rec.session_id) == PublishOutcome(3, 0)
        finally:
            await control.aclose()
        await wait_for(lambda: [seq for _, seq, _ in got] == [1, 2, 3])
    finally:
        await broker.stop()
