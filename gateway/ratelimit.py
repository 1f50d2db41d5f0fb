"""Rate limits (docs/protocol.md §6), a thin layer over ``limits.aio``.

Strategy: the exact moving window for every quota of up to ``EXACT_UP_TO`` hits (the
shipped defaults and the per-connection message quota), a sliding-window counter for
larger ones. The moving window keeps one timestamp per hit (limits inserts it at the
head of a list, and its memory backend rescans those lists to expire them: O(quota);
measured, that scan alone took 40 % of a core at 200 publishes/s with a 10-million
quota, as a benchmark sets). The counter keeps two integers per key, so a check is
O(1) whatever the quota; it weighs the previous window's hits by how much of it still
overlaps and rounds that down, so right after a window edge it admits one hit more
than an exact window would: nothing at 100,000 a minute, but a quota of 1 per 6 s let
two publishes through 0.44 s apart. With a Redis broker the HTTP and connect limits
live in that Redis, so a quota holds across instances; per-connection message limits
always stay in this process (no network round trip per message).

A hit that comes right before a broker write (``ws_connect_per_ip`` before a viewer's
admission, ``payment_per_token`` before a publish) is a :class:`Quota`: over Redis the
broker's script takes it in its own round trip, with limits' own acquire scripts
(:data:`QUOTA_LUA`) on limits' own keys, so it is the same count as a hit through
limits; anywhere else :meth:`Quota.take` counts it through limits first. A publish
takes its ``payment_per_ip`` hit in that script too, after reading and checking the
request; so that a client over that quota cannot make every refused request cost a
parse, a key check and a validation, the limiter remembers the identifiers that rule
refused until their Retry-After (:data:`REMEMBERED_RULES`,
:meth:`RateLimiter.refused_recently`), and the handler then counts the next hit
first, through limits, as it did before the hit moved into the script.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

import limits
from limits.aio.storage import MemoryStorage, RedisSentinelStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.aio.strategies import RateLimiter as Strategy
from limits.storage import storage_from_string

from .config import RateLimitSettings, SentinelURL, is_sentinel_url
from .errors import BrokerUnavailable, RateLimited, is_closed_transport

T = TypeVar("T")

#: Pauses between tries of a shared storage that failed (as the Redis broker retries).
RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 0.5

RULES = (
    "token_generate_per_ip",
    "token_generate_per_key",
    "payment_per_ip",
    "payment_per_token",
    "ws_connect_per_ip",
    "ws_messages_per_connection",
)
LOCAL_RULES = frozenset({"ws_messages_per_connection"})
#: Quotas of at most this many hits per window are counted exactly (moving window).
EXACT_UP_TO = 1000
#: Rules whose refusals a limiter remembers (:meth:`RateLimiter.refused_recently`), and
#: how many identifiers it remembers at most; the oldest refusals are forgotten first.
REMEMBERED_RULES = frozenset({"payment_per_ip"})
REMEMBER_REFUSED = 4096


def _lua_function(name: str) -> str:
    """One of limits' Redis scripts as a Lua function of (KEYS, ARGV), unchanged."""
    source = resources.files("limits") / "resources" / "redis" / "lua_scripts" / f"{name}.lua"
    return f"local function {name}(KEYS, ARGV)\n{source.read_text()}\nend\n"


#: Prepended to a broker script that takes quotas: ``take_quotas(k, a)`` takes one hit
#: of each quota in order, with ARGV from ``a`` (their number, then 4 per quota) and
#: KEYS from ``k`` (:func:`quotas_input`). It returns 0 when every one had room, else
#: the position of the first one spent; the hits before it stay counted, as when the
#: rules are checked one after the other through limits.
QUOTA_LUA = (
    _lua_function("acquire_moving_window")
    + _lua_function("acquire_sliding_window")
    + """
local function take_quotas(k, a)
  for i = 1, tonumber(ARGV[a]) do
    local b = a + 4 * i - 3
    local taken
    if ARGV[b] == 'moving' then
      taken = acquire_moving_window({KEYS[k]}, {ARGV[b + 3], ARGV[b + 1], ARGV[b + 2], 1})
      k = k + 1
    else
      taken = acquire_sliding_window({KEYS[k], KEYS[k + 1]}, {ARGV[b + 1], ARGV[b + 2], 1})
      k = k + 2
    end
    if not taken then return i end
  end
  return 0
end
"""
)


def quotas_input(
    quotas: Sequence[Quota],
) -> tuple[tuple[str, ...], tuple[str | int | float, ...]]:
    """The KEYS and ARGV with which a script passes ``quotas`` to ``take_quotas``."""
    keys: list[str] = []
    args: list[str | int | float] = [len(quotas)]
    now = time.time()
    for quota in quotas:
        assert quota.keys is not None
        item = quota.limiter.item(quota.rule)
        keys.extend(quota.keys)
        strategy = "sliding" if len(quota.keys) == 2 else "moving"
        args.extend((strategy, item.amount, item.get_expiry(), now))
    return tuple(keys), tuple(args)


class QuotaRefused(Exception):
    """A broker script found ``quota`` spent; :meth:`Quota.refusal` gives the 429."""

    def __init__(self, quota: Quota) -> None:
        super().__init__(quota.rule)
        self.quota = quota


#: How often at most the in-process storage drops expired windows, and how many keys
#: it looks at per event-loop turn while it does (:class:`SweptMemoryStorage`).
SWEEP_SECONDS = 5.0
SWEEP_SLICE = 1000


class SweptMemoryStorage(MemoryStorage):
    """limits' in-process storage, its expired windows dropped every ``SWEEP_SECONDS``.

    limits' own storage starts a task to drop them at every hit that finds the last one
    finished, which is nearly every hit, and that task walks every key it holds, with a
    hop to a worker thread for each moving window: a hit costs O(keys). Measured on this
    project's 2-core machine with sliding-window counters: 30 µs a hit with 100 keys,
    1.5 ms with 10,000, 22 ms with 100,000 (keys a client makes from many addresses, or
    that 10,000 open checkouts make). Here one task sweeps at most every
    ``SWEEP_SECONDS``, ``SWEEP_SLICE`` keys per loop turn, with limits' own rule; a hit
    costs what its counting costs. The counts themselves are limits' unchanged: an
    expired window counts for nothing whether or not it was dropped yet (limits
    checks every entry's time), so the sweep only returns memory.

    limits' methods call their ``__schedule_expiry``, which is private to its class;
    this class replaces it under its mangled name (``tests/test_ratelimit.py`` fails
    if a hit still starts limits' own sweep).
    """

    def __init__(self) -> None:
        super().__init__()
        self._swept_at = -math.inf

    async def _MemoryStorage__schedule_expiry(self) -> None:
        if self.timer is not None and not self.timer.done():
            return
        now = time.monotonic()
        if now - self._swept_at >= SWEEP_SECONDS:
            self._swept_at = now
            self.timer = asyncio.create_task(self.sweep(), name="rate-limit-sweep")

    async def sweep(self, now: float | None = None) -> None:
        """Drop what expired by ``now`` (``time.time()``, limits' clock)."""
        moment = time.time() if now is None else now
        async for key in _in_slices(self.events):
            events = self.events.get(key)
            # Newest first (limits inserts at the head): keep those not yet expired.
            if events and events[-1].expiry <= moment:
                if events[0].expiry <= moment:
                    events.clear()
                else:
                    del events[bisect.bisect_left(events, -moment, key=lambda e: -e.expiry) :]
            if not events:
                self.events.pop(key, None)
                self.locks.pop(key, None)
        async for key in _in_slices(self.expirations):
            if self.expirations.get(key, math.inf) <= moment:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)


async def _in_slices(keys: Iterable[str]) -> AsyncIterator[str]:
    """The keys there are now, with a turn for other tasks every ``SWEEP_SLICE``."""
    for done, key in enumerate(list(keys)):
        if done and done % SWEEP_SLICE == 0:
            await asyncio.sleep(0)
        yield key


@dataclass(frozen=True, slots=True, eq=False)
class Quota:
    """One hit of ``rule`` for ``identifier``, not yet counted.

    ``keys`` are limits' storage keys for it when a broker script on the limiter's Redis
    can take it (:data:`QUOTA_LUA`); None when :meth:`take` must count it.
    """

    limiter: RateLimiter
    rule: str
    identifier: str
    keys: tuple[str, ...] | None

    async def take(self) -> None:
        """Count the hit through limits; raise RateLimited when over the quota."""
        await self.limiter.hit(self.rule, self.identifier)

    async def refusal(self) -> RateLimited:
        """The 429 for a hit a broker script refused (counted as a rejection)."""
        return await self.limiter.refusal(self.rule, self.identifier)

    def refused_recently(self) -> bool:
        """Whether this quota was found spent less than its Retry-After ago."""
        return self.limiter.refused_recently(self.rule, self.identifier)


class RateLimiter:
    """Checks and counts hits per rule and identifier; raises :class:`RateLimited`."""

    def __init__(
        self,
        settings: RateLimitSettings,
        storage: Storage | None = None,
        timeout: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = settings.enabled
        self._timeout = timeout
        self._items = {rule: limits.parse(getattr(settings, rule)) for rule in RULES}
        shared = storage or SweptMemoryStorage()
        #: A Redis storage is bounded by a timeout and retried once; memory is not.
        self._remote = storage is not None
        self._shared_exact = MovingWindowRateLimiter(shared)
        self._shared_counter = SlidingWindowCounterRateLimiter(shared)
        self._local = MovingWindowRateLimiter(SweptMemoryStorage())
        self._redis = shared if isinstance(shared, RedisStorage) else None
        self._connections = itertools.count(1)
        #: Rejections by rule, for metrics.
        self.rejected: dict[str, int] = dict.fromkeys(RULES, 0)
        #: (rule, identifier) refused, for REMEMBERED_RULES, with the ``clock()`` until
        #: which the refusal's Retry-After runs; in the order they were last refused.
        self._refused: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._clock = clock

    async def hit(self, rule: str, identifier: str) -> None:
        """Count one hit of ``rule`` for ``identifier``; raise RateLimited when over the quota."""
        if not self.enabled:
            return
        item = self._items[rule]
        limiter: Strategy
        if rule in LOCAL_RULES:
            limiter = self._local
            allowed = await limiter.hit(item, rule, identifier)
        else:
            limiter = self._shared(item)
            allowed = await self._shared_call(lambda: limiter.hit(item, rule, identifier))
        if not allowed:
            raise await self.refusal(rule, identifier)

    def item(self, rule: str) -> limits.RateLimitItem:
        return self._items[rule]

    def quota(self, rule: str, identifier: str) -> Quota:
        """The hit of a shared ``rule`` for ``identifier``, for a broker script to take
        in its own round trip when it runs on this limiter's Redis (keys), or for
        :meth:`Quota.take` (no keys: limits disabled, or not Redis)."""
        if not self.enabled or self._redis is None or rule in LOCAL_RULES:
            return Quota(self, rule, identifier, None)
        item = self._items[rule]
        key = item.key_for(rule, identifier)
        prefixed = self._redis.bridge.prefixed_key
        if item.amount <= EXACT_UP_TO:
            return Quota(self, rule, identifier, (prefixed(key),))
        # limits' sliding-window keys: previous window, then current window.
        current = self._redis._current_window_key(key)
        previous = self._redis._previous_window_key(key)
        return Quota(self, rule, identifier, (prefixed(previous), prefixed(current)))

    async def refusal(self, rule: str, identifier: str) -> RateLimited:
        """The 429 for a hit over ``rule``'s quota, with the wait until it has room."""
        item = self._items[rule]
        limiter = self._local if rule in LOCAL_RULES else self._shared(item)
        stats = await self._shared_call(lambda: limiter.get_window_stats(item, rule, identifier))
        self.rejected[rule] += 1
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        if rule in REMEMBERED_RULES:
            self._remember_refused((rule, identifier), retry_after)
        return RateLimited(rule, item.amount, item.get_expiry(), retry_after)

    def refused_recently(self, rule: str, identifier: str) -> bool:
        """Whether ``rule`` (one of REMEMBERED_RULES) refused ``identifier`` less than
        that refusal's Retry-After ago, in this process: a hint for the order of
        checks, never a refusal itself."""
        until = self._refused.get((rule, identifier))
        if until is None:
            return False
        if until > self._clock():
            return True
        del self._refused[(rule, identifier)]
        return False

    def _remember_refused(self, entry: tuple[str, str], retry_after: int) -> None:
        refused = self._refused
        now = self._clock()
        refused[entry] = now + retry_after
        refused.move_to_end(entry)  # the order is that of the last refusal
        # Forget from the oldest: those whose wait is over, and any over the bound.
        while len(refused) > REMEMBER_REFUSED or next(iter(refused.values())) <= now:
            refused.popitem(last=False)

    def _shared(self, item: limits.RateLimitItem) -> Strategy:
        return self._shared_exact if item.amount <= EXACT_UP_TO else self._shared_counter

    async def _shared_call(self, call: Callable[[], Awaitable[T]]) -> T:
        """A call to the shared storage: a Redis that fails or hangs becomes a 503.

        Retried on connection errors until ``broker.timeout_seconds``: after a Redis
        restart the first command on each pooled connection fails, and after a
        failover a connection to the demoted master does. The in-process storage
        needs neither (and no timer per hit).
        """
        if not self._remote:
            return await call()
        last: Exception | None = None
        try:
            async with asyncio.timeout(self._timeout):
                delay = RETRY_FIRST_SECONDS
                while True:
                    try:
                        return await call()
                    except Exception as exc:
                        if not _is_storage_error(exc):
                            raise
                        last = exc
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
        except TimeoutError:
            if last is not None:
                raise BrokerUnavailable("the rate limit storage is unreachable") from last
            raise BrokerUnavailable("the rate limit storage did not answer in time") from None
        except Exception as exc:
            if _is_storage_error(exc):
                raise BrokerUnavailable("the rate limit storage is unreachable") from exc
            raise

    def connection_id(self) -> str:
        """A process-unique identifier for ``ws_messages_per_connection``.

        Never reused (unlike ``id()``), so a new connection cannot inherit a closed
        one's window; the windows expire by themselves after their period.
        """
        return str(next(self._connections))


def storage_for(
    broker_url: str, timeout: float, *, sentinel_password: str | None = None
) -> Storage | None:
    """Shared storage for the HTTP and connect limits: the broker's Redis, if any.

    Through Sentinel, ``limits`` asks for the master as the broker does, and never
    reads a replica (a count read there could be behind).
    """
    options: dict[str, float | str | bool] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    if is_sentinel_url(broker_url):
        target = SentinelURL.parse(broker_url)
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in target.sentinels)
        # limits would hand the master's username and password to the Sentinels too:
        # name the Sentinels' own (none, or sentinel_password) so that they win.
        sentinel_options: dict[str, Any] = {
            **options,
            "ssl": target.tls,
            "username": None,
            "password": sentinel_password,
        }
        master: dict[str, Any] = {**options, "db": target.db, "ssl": target.tls}
        if target.username is not None:
            master["username"] = target.username
        if target.password is not None:
            master["password"] = target.password
        return RedisSentinelStorage(
            f"async+redis+sentinel://{hosts}/{target.service}",
            implementation="redispy",
            use_replicas=False,
            sentinel_kwargs=sentinel_options,
            **master,
        )
    if broker_url.startswith(("redis://", "rediss://")):
        storage = storage_from_string("async+" + broker_url, implementation="redispy", **options)
    else:
        return None
    assert isinstance(storage, Storage)
    return storage


def _is_storage_error(exc: BaseException) -> bool:
    # limits passes the driver's own errors through (redis.exceptions.*).
    return (
        isinstance(exc, ConnectionError | OSError)
        or type(exc).__module__.startswith("redis")
        or is_closed_transport(exc)
    )
