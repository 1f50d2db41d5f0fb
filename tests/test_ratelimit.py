"""The rate limiter in process, with a fake clock: which strategy counts which quota.

``limits`` reads ``time.time()``; the tests replace it (a fake for time only) so that a
hit can be placed exactly before and after a window edge. The end-to-end tests
(``test_e2e_ratelimit.py``) check the answers a client gets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import limits
import pytest
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from gateway.config import RateLimitSettings
from gateway.errors import RateLimited
from gateway.ratelimit import EXACT_UP_TO, SWEEP_SLICE, RateLimiter, SweptMemoryStorage


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Set the wall clock ``limits`` and the limiter read to an absolute epoch second."""
    now = [1_800_000_000.0]  # a multiple of 6 and of 60: windows start here
    monkeypatch.setattr(time, "time", lambda: now[0])

    def set_to(value: float) -> None:
        now[0] = value

    return set_to


def limiter(**rules: str) -> RateLimiter:
    return RateLimiter(RateLimitSettings(**rules))  # type: ignore[arg-type]


async def test_a_small_quota_is_exact_across_a_window_edge(
    clock: Callable[[float], None],
) -> None:
    """1 per 6 s: a second publish 0.2 s after the first is refused, window edge or not.

    The sliding-window counter let it through (0.97 of the previous window's hit rounds
    down to 0), as an extension test saw: two 200s 0.44 s apart.
    """
    rate = limiter(payment_per_token="1/6 seconds")
    clock(1_800_000_005.9)
    await rate.hit("payment_per_token", "session")
    clock(1_800_000_006.1)  # the next 6 s window has begun
    with pytest.raises(RateLimited) as refused:
        await rate.hit("payment_per_token", "session")
    assert refused.value.retry_after == 6  # 5.8 s until the first hit leaves, rounded up
    assert rate.rejected["payment_per_token"] == 1
    clock(1_800_000_012.0)  # 6.1 s after the first hit: a slot again
    await rate.hit("payment_per_token", "session")
    await rate.hit("payment_per_token", "another session")


async def test_the_quota_holds_exactly_over_any_window(clock: Callable[[float], None]) -> None:
    """N hits in any window of the period, wherever the window edges fall."""
    rate = limiter(payment_per_ip="3/minute")
    for at in (1_800_000_058.0, 1_800_000_059.0, 1_800_000_059.5):
        clock(at)
        await rate.hit("payment_per_ip", "10.0.0.1")
    for at in (1_800_000_060.5, 1_800_000_100.0, 1_800_000_117.9):
        clock(at)
        with pytest.raises(RateLimited):
            await rate.hit("payment_per_ip", "10.0.0.1")
    clock(1_800_000_118.1)  # 60.1 s after the first
    await rate.hit("payment_per_ip", "10.0.0.1")


async def test_a_large_quota_is_counted_in_constant_space(clock: Callable[[float], None]) -> None:
    """Above EXACT_UP_TO the counter counts: the quota, then 429 within the window."""
    quota = EXACT_UP_TO * 10
    rate = limiter(payment_per_ip=f"{quota}/minute")
    clock(1_800_000_001.0)
    for _ in range(quota):
        await rate.hit("payment_per_ip", "10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        await rate.hit("payment_per_ip", "10.0.0.1")
    assert 1 <= refused.value.retry_after <= 60
    # Two integers per key, not one timestamp per hit.
    storage = rate._shared_counter.storage
    assert sum(len(v) for v in getattr(storage, "events", {}).values()) == 0


async def test_limits_off_count_nothing(clock: Callable[[float], None]) -> None:
    rate = RateLimiter(RateLimitSettings(enabled=False, payment_per_ip="1/minute"))
    for _ in range(5):
        await rate.hit("payment_per_ip", "10.0.0.1")
    assert rate.rejected["payment_per_ip"] == 0


def test_a_connection_closed_under_uvloop_counts_as_a_lost_connection() -> None:
    """uvloop raises RuntimeError, not OSError, for a write on a transport its peer
    closed; the redis driver passes it through. The limiter and the broker treat it as
    a lost connection (retried, then 503), any other RuntimeError as a bug."""
    from gateway.broker.redis import _failing_over
    from gateway.ratelimit import _is_storage_error

    closed = RuntimeError(
        "unable to perform operation on <TCPTransport closed=True reading=False 0x1>; "
        "the handler is closed"
    )
    assert _is_storage_error(closed)
    assert _failing_over(closed)
    assert not _is_storage_error(RuntimeError("something else"))
    assert not _failing_over(RuntimeError("something else"))


# --- the in-process storage's sweep ---------------------------------------------------------


async def test_hits_do_not_each_start_a_sweep_of_every_key() -> None:
    """limits' memory storage starts a task that walks every key at nearly every hit (a hit
    cost O(keys)); here 200 hits, with loop turns between them as between requests, start
    one sweep, the first. Fails if limits stops calling the method this class replaces."""
    storage = SweptMemoryStorage()
    moving = MovingWindowRateLimiter(storage)
    counter = SlidingWindowCounterRateLimiter(storage)
    sweeps = set()
    for i in range(100):
        assert await moving.hit(limits.parse("1000/minute"), "ip", str(i))
        assert await counter.hit(limits.parse("100000/minute"), "token", str(i))
        if storage.timer is not None:
            sweeps.add(storage.timer)
        await asyncio.sleep(0)
    assert len(sweeps) == 1


async def test_the_sweep_drops_expired_windows_and_keeps_live_ones(
    clock: Callable[[float], None],
) -> None:
    """A sweep returns the memory of what expired, and changes no count: a live window
    still counts its hits after it."""
    storage = SweptMemoryStorage()
    moving = MovingWindowRateLimiter(storage)
    counter = SlidingWindowCounterRateLimiter(storage)
    short, long = limits.parse("2/second"), limits.parse("2/hour")
    big_short, big_long = limits.parse("5000/second"), limits.parse("5000/hour")
    for strategy, lapses, lasts in ((moving, short, long), (counter, big_short, big_long)):
        assert await strategy.hit(lapses, "gone")
        assert await strategy.hit(lasts, "kept")
        assert await strategy.hit(lasts, "kept")
    assert not await moving.hit(long, "kept")  # 2/hour: spent
    minute = limits.parse("3/minute")
    assert await moving.hit(minute, "half")
    clock(1_800_000_000.0 + 40)
    assert await moving.hit(minute, "half")

    clock(1_800_000_000.0 + 70)
    await storage.sweep()
    (half,) = [events for key, events in storage.events.items() if "half" in key]
    assert [entry.atime for entry in half] == [1_800_000_000.0 + 40]
    await storage.clear(next(key for key in storage.events if "half" in key))
    kept = [key for key in (*storage.events, *storage.storage) if "kept" in key]
    assert kept
    assert len(kept) == len(storage.events) + len(storage.storage)
    assert set(storage.expirations) <= set(storage.storage)
    assert set(storage.locks) <= set(storage.events) | set(storage.storage)
    assert not await moving.hit(long, "kept")  # still spent after the sweep
    assert (await counter.get_window_stats(big_long, "kept")).remaining == 4998


async def test_a_sweep_of_many_keys_gives_other_tasks_turns() -> None:
    """A sweep looks at SWEEP_SLICE keys per loop turn: 2.5 slices of keys, 2 turns for
    another task in between."""
    storage = SweptMemoryStorage()
    moving = MovingWindowRateLimiter(storage)
    for i in range(SWEEP_SLICE * 5 // 2):
        await moving.hit(limits.parse("1000/minute"), "ip", str(i))
    sweep = asyncio.create_task(storage.sweep())
    turns = 0
    while not sweep.done():
        await asyncio.sleep(0)
        turns += 1
    assert turns >= 3  # 2 turns inside the sweep, 1 to see it done
    assert len(storage.events) == SWEEP_SLICE * 5 // 2  # nothing had expired
