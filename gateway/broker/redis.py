"""The Redis broker (``redis://``, ``rediss://``): sessions shared by every instance.

Keys (``gw:`` prefix): ``s:<id>`` the session hash, expiring at the session's end;
``d:<id>`` the late-join data, expiring ``data_linger_seconds`` after the last viewer
left or the last publish (extended while viewers watch); ``v:<id>`` viewers per
instance as ``count:deadline_ms``, so a dead instance stops counting once its
deadline passes; ``o:<id>`` the outcome (``seq:delivered``) of each publish by
request id, living as long as the session; ``f:<request id>`` a publish settled as
never run; ``i:<scope>`` idempotency records (``body hash:seq:delivered``);
``sessions`` a sorted set by expiry for counting and capacity.

One Lua script per publish, one round trip, checks the session's owner and expiry and
the idempotency record, assigns ``seq``, stores the data, ``PUBLISH``es, counts the
viewers and records the outcome, so every instance receives a
session's messages in ``seq`` order and a key never broadcasts twice. Admitting a
viewer is one script too: the check against ``max_viewers_per_session`` and the
count cannot be split by another instance's join. Each instance holds one pub/sub
connection on one channel.

A reply that does not come within ``broker.timeout_seconds`` says nothing about
whether Redis ran the command (it runs what it has read): the hub then asks
:meth:`RedisBroker.settle`, which returns the recorded outcome or fences the request
so that it can never run later.

Every Redis failure surfaces as :class:`BrokerUnavailable` (503); the subscriber
reconnects by itself, and /health reports it while it is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    MasterDownError,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..config import SentinelURL, is_sentinel_url
from ..deadlines import Deadlines, LazyTimer
from ..errors import (
    BrokerUnavailable,
    Forbidden,
    IdempotencyConflict,
    SessionExpired,
    SessionNotFound,
    is_closed_transport,
)
from ..ratelimit import QUOTA_LUA, Quota, QuotaRefused, quotas_input
from ..wire import DATA_HEAD
from .base import (
    Admission,
    Broker,
    Deliver,
    IdempotencyClaim,
    Publication,
    PublishOutcome,
    SessionRecord,
)

log = logging.getLogger("gateway.broker.redis")

P = ParamSpec("P")
T = TypeVar("T")

#: How often this instance re-asserts its viewer counts; a count lives three times this.
REFRESH_SECONDS = 5.0
#: How long a fence keeps a publish whose answer was lost from ever running: far longer
#: than a command can sit in a socket buffer or in flight on the network.
FENCE_SECONDS = 24 * 3600

_COUNT_LIVE = """
local function count_live(key, now_ms, skip)
  local total = 0
  local entries = redis.call('HGETALL', key)
  for i = 2, #entries, 2 do
    local count, deadline = string.match(entries[i], '^(%d+):(%d+)$')
    if count and tonumber(deadline) > now_ms and entries[i - 1] ~= skip then
      total = total + tonumber(count)
    end
  end
  return total
end
"""

# KEYS: session, sessions-zset. ARGV: id, key_id, created_at, expires_at,
# expires_at_ms, now_ms, max_sessions.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  -- This create, retried after its answer was lost: written again for WAIT.
  redis.call('PEXPIREAT', KEYS[1], ARGV[5])
  return 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[7]) then return 0 end
redis.call('HSET', KEYS[1], 'key_id', ARGV[2], 'created_at', ARGV[3],
           'expires_at', ARGV[4], 'seq', 0)
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return 1
"""

# KEYS: session, data, viewers, outcomes, fence, idempotency. ARGV: channel, id,
# text_head, text_tail, data_tail, has_data, now, now_ms, linger_ms, keep_ms,
# request_id, idem ('1' or '0'), body_sha256, key_id, data_head, seq_floor, then the
# rate-limit quotas (gateway/ratelimit.py; their KEYS follow the 6). The texts come
# whole from gateway/wire.py: the script only puts the seq between head and tail. The
# quotas (payment_per_ip, payment_per_token) and the session's owner and expiry are
# checked here too, so a publish is one round trip.
# Returns {seq, delivered, replayed}, or {-1} unknown, {-2} fenced, {-3} idempotency
# conflict, {-4} another key's session, {-5} expired, {-6, i} quota i spent.
_PUBLISH = (
    _COUNT_LIVE
    + QUOTA_LUA
    + """
if redis.call('EXISTS', KEYS[5]) == 1 then return {-2} end
local done = redis.call('HGET', KEYS[4], ARGV[11])
if done then
  -- This request, retried after its answer was lost: written again so that WAIT
  -- counts the replicas that hold it.
  redis.call('HSET', KEYS[4], ARGV[11], done)
  local seq, delivered = string.match(done, '^(%d+):(%d+)$')
  return {tonumber(seq), tonumber(delivered), 0}
end
local spent = take_quotas(7, 17)
if spent > 0 then return {-6, spent} end
local session = redis.call('HMGET', KEYS[1], 'key_id', 'expires_at')
if not session[1] then return {-1} end
local left_ms = math.floor((tonumber(session[2]) - tonumber(ARGV[7])) * 1000)
if left_ms <= 0 then return {-5} end
if session[1] ~= ARGV[14] then return {-4} end
if ARGV[12] == '1' then
  local held = redis.call('GET', KEYS[6])
  if held then
    local hash, seq, delivered = string.match(held, '^(%x+):(%d+):(%d+)$')
    if hash ~= ARGV[13] then return {-3} end
    redis.call('SET', KEYS[6], held, 'KEEPTTL')  -- for WAIT, as above
    return {tonumber(seq), tonumber(delivered), 1}
  end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
if seq <= tonumber(ARGV[16]) then
  -- A failover lost publishes that viewers saw: number on from the highest seen.
  seq = tonumber(ARGV[16]) + 1
  redis.call('HSET', KEYS[1], 'seq', seq)
end
local delivered = count_live(KEYS[3], tonumber(ARGV[8]), '')
redis.call('HSET', KEYS[1], 'last_published_at', ARGV[7], 'linger_from', ARGV[7])
if ARGV[6] == '1' then
  local ttl = tonumber(ARGV[9])
  if delivered > 0 then ttl = math.max(ttl, tonumber(ARGV[10])) end
  if ttl > 0 then
    redis.call('SET', KEYS[2], ARGV[15] .. seq .. ARGV[5], 'PX', ttl)
  else
    redis.call('DEL', KEYS[2])
  end
else
  redis.call('DEL', KEYS[2])
end
redis.call('PUBLISH', ARGV[1], ARGV[2] .. '\\n' .. seq .. '\\n' .. ARGV[3] .. seq .. ARGV[4])
redis.call('HSET', KEYS[4], ARGV[11], seq .. ':' .. delivered)
local pttl = redis.call('PTTL', KEYS[1])
if pttl > 0 then redis.call('PEXPIRE', KEYS[4], pttl) end
if ARGV[12] == '1' then
  -- The record lives as long as the session (at least a second).
  redis.call('SET', KEYS[6], ARGV[13] .. ':' .. seq .. ':' .. delivered,
             'PX', math.max(1000, left_ms))
end
return {seq, delivered, 0}
"""
)

# KEYS: outcomes, fence. ARGV: request_id, fence_ttl_ms.
# Returns {seq, delivered} when the publish ran; else fences it and returns {}.
_SETTLE = """
local found = redis.call('HGET', KEYS[1], ARGV[1])
if found then
  local seq, delivered = string.match(found, '^(%d+):(%d+)$')
  return {tonumber(seq), tonumber(delivered)}
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return {}
"""

# KEYS: viewers, data, session, the quotas'. ARGV: instance, count, deadline_ms, now_ms,
# linger_ms, keep_ms, max_viewers, the quotas (ws_connect_per_ip).
# Returns {total with this instance's new count, the data (or nil), the session's
# fields...}; {-1} when that is over max_viewers (nothing written), {-2} when the
# session is gone, {-3, i} when quota i is spent (nothing else done).
_ADMIT = (
    _COUNT_LIVE
    + QUOTA_LUA
    + """
local spent = take_quotas(4, 8)
if spent > 0 then return {-3, spent} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {-2} end
local total = count_live(KEYS[1], tonumber(ARGV[4]), ARGV[1]) + tonumber(ARGV[2])
if total > tonumber(ARGV[7]) then return {-1} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
local pttl = redis.call('PTTL', KEYS[3])
if pttl > 0 then redis.call('PEXPIRE', KEYS[1], pttl) end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local keep = math.max(tonumber(ARGV[5]), tonumber(ARGV[6]))
  if redis.call('PTTL', KEYS[2]) < keep then redis.call('PEXPIRE', KEYS[2], keep) end
end
local reply = {total, redis.call('GET', KEYS[2])}
for _, item in ipairs(redis.call('HGETALL', KEYS[3])) do reply[#reply + 1] = item end
return reply
"""
)

# KEYS: viewers, data, session. ARGV: instance, count, deadline_ms, now_ms, linger_ms,
# keep_ms, now.
_SET_VIEWERS = (
    _COUNT_LIVE
    + """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
  local pttl = redis.call('PTTL', KEYS[3])
  if pttl > 0 then redis.call('PEXPIRE', KEYS[1], pttl) end
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local total = count_live(KEYS[1], tonumber(ARGV[4]), '')
if total > 0 then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    local keep = math.max(tonumber(ARGV[5]), tonumber(ARGV[6]))
    if redis.call('PTTL', KEYS[2]) < keep then redis.call('PEXPIRE', KEYS[2], keep) end
  end
elseif tonumber(ARGV[2]) == 0 then
  -- The last viewer left: the linger starts now.
  redis.call('HSET', KEYS[3], 'linger_from', ARGV[7])
  if redis.call('EXISTS', KEYS[2]) == 1 then
    if tonumber(ARGV[5]) > 0 then
      redis.call('PEXPIRE', KEYS[2], ARGV[5])
    else
      redis.call('DEL', KEYS[2])
    end
  end
end
return total
"""
)


_PUBLISH_REFUSED: dict[int, Callable[[], Exception]] = {
    -1: lambda: SessionNotFound("no such session"),
    -3: lambda: IdempotencyConflict("this Idempotency-Key was used with another body"),
    -4: lambda: Forbidden("the session belongs to another API key"),
    -5: lambda: SessionExpired("the session has expired"),
}


def _publish_wrote(answer: list[Any]) -> bool:
    """Whether _PUBLISH wrote (or wrote again, for a replay): not a refusal."""
    return int(answer[0]) >= 0


class NotReplicated(BrokerUnavailable):
    """Fewer than ``broker.min_replicas_acked`` replicas acknowledged a write in time."""


def connect(
    url: str,
    *,
    timeout: float,
    sentinel_password: str | None = None,
    **options: Any,
) -> aioredis.Redis:
    """A client of the Redis master named by ``url``.

    ``redis://`` and ``rediss://`` connect to that address. ``redis+sentinel://`` asks
    the Sentinels for the master of its service before each new connection, so
    connections made after a failover reach the new master; a connection still open
    to a demoted master fails on its first write (READONLY), and the retry of
    :func:`_redis_call` reconnects. The client itself never retries: that loop does,
    within ``broker.timeout_seconds``.
    """
    options = {
        "decode_responses": True,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        **options,
    }
    if not is_sentinel_url(url):
        return aioredis.Redis.from_url(url, **options)
    target = SentinelURL.parse(url)
    sentinel = Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
        list(target.sentinels),
        sentinel_kwargs={
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
            "password": sentinel_password,
            "ssl": target.tls,
        },
    )
    client: aioredis.Redis = sentinel.master_for(
        target.service,
        db=target.db,
        username=target.username,
        password=target.password,
        ssl=target.tls,
        **options,
    )
    return client


#: How often, through Sentinel, this instance asks where the master is.
FOLLOW_SECONDS = 1.0

#: The first pause before a command that met a failing or demoted Redis is sent again,
#: and the longest; the tries stop at ``broker.timeout_seconds``.
RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 0.5

#: Replies that mean "this node cannot take the command now, another soon will":
#: READONLY, MASTERDOWN, TRYAGAIN (LOADING is a ConnectionError). redis-py takes the
#: code off the message and names it by the class, so the class is what to test.
_FAILOVER_REPLIES = (ReadOnlyError, MasterDownError, TryAgainError)


def _failing_over(exc: BaseException) -> bool:
    """Whether ``exc`` is one that a failover or restart of Redis produces."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
        return True
    if is_closed_transport(exc):
        return True
    return isinstance(exc, _FAILOVER_REPLIES)


def _redis_call(
    method: Callable[Concatenate[RedisBroker, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[RedisBroker, P], Coroutine[Any, Any, T]]:
    """Retry what a failover breaks, within ``broker.timeout_seconds``; callers see
    BrokerUnavailable only. The call, its retries included, is cancelled at that
    deadline: the client has no socket timeout of its own.

    Every script may run twice this way: each one finds its own earlier run (the
    request id of a publish, the id of a new session) or writes absolute values. The
    rate-limit hits a script takes are the exception: an admission sent again, or a
    publish whose first run was refused, counts its hits again (a publish that ran
    finds its outcome before it takes any), as a client's own retry would.
    """

    @functools.wraps(method)
    async def wrapper(self: RedisBroker, /, *args: P.args, **kwargs: P.kwargs) -> T:
        deadline = time.monotonic() + self._timeout
        delay = RETRY_FIRST_SECONDS
        try:
            async with self._calls.within():
                while True:
                    try:
                        return await method(self, *args, **kwargs)
                    except (RedisError, OSError, RuntimeError) as exc:
                        if isinstance(exc, RuntimeError) and not is_closed_transport(exc):
                            raise
                        if not _failing_over(exc) or time.monotonic() + delay >= deadline:
                            name = type(exc).__name__
                            raise BrokerUnavailable(f"Redis is unreachable ({name})") from exc
                        if isinstance(exc, ResponseError):
                            # A demoted master behind a fixed address: connect afresh.
                            await self._client.connection_pool.disconnect(inuse_connections=False)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
        except TimeoutError:
            # The deadline cancelled a command still waiting for Redis (redis-py drops
            # that connection on the cancel, so no late reply is read as another's).
            raise BrokerUnavailable("Redis did not answer in time") from None

    return wrapper


class SubscriptionWatch:
    """Watches a subscription whose reads block with no timer of their own (redis-py's
    per-read timeout cost an ``asyncio.timeout`` for every message received).

    After ``seconds`` without a message it sends redis-py's own health check (``PING
    redis-py-health-check``, whose answer redis-py's reader drops), which keeps
    middleboxes from dropping an idle connection. After as long again with nothing at
    all, not even that answer, it takes the connection for dead and closes it: the
    blocked read ends with an error, and the subscriber reconnects and catches its
    viewers up. (A blocked read alone would wait for the kernel to give up on the peer:
    many minutes without deliveries on this instance.)
    """

    def __init__(self, pubsub: PubSub, seconds: float) -> None:
        self._pubsub = pubsub
        self._timer = LazyTimer(seconds, self._due)
        #: A health check was sent and nothing came since.
        self._checking = False
        self._task: asyncio.Task[None] | None = None

    def heard(self) -> None:
        """Something arrived (a message, or the health check's answer)."""
        self._checking = False
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()

    def _due(self) -> None:
        connection = self._pubsub.connection
        self._timer.start()  # look again later, whatever happens now
        if connection is None or not connection.is_connected or self._task is not None:
            return
        if self._checking:
            log.warning("subscription silent", extra={"event": "redis_subscription_silent"})
            step = functools.partial(connection.disconnect, nowait=True)
        else:
            self._checking = True
            step = functools.partial(
                connection.send_command, "PING", PubSub.HEALTH_CHECK_MESSAGE, check_health=False
            )
        self._task = asyncio.create_task(self._run(step))

    async def _run(self, step: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            with contextlib.suppress(RedisError, OSError, RuntimeError):
                await step()  # a send that fails disconnects too, and the read ends
        finally:
            self._task = None


class RedisBroker(Broker):
    name = "redis"
    takes_quotas = True

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float,
        prefix: str = "gw:",
        sentinel_password: str | None = None,
        min_replicas_acked: int = 0,
        remember_seconds: float = 7 * 24 * 3600,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._channel = prefix + "events"
        self._instance = uuid.uuid4().hex
        self._timeout = timeout_seconds
        self._sentinel_password = sentinel_password
        #: Replicas that must hold a new session or a publish before it is answered.
        self._replicas = min_replicas_acked
        #: How long WAIT may block: half the budget, the rest is for the round trip.
        self._wait_ms = max(1, int(timeout_seconds * 500))
        #: Bounds each call, retries included, by ``timeout_seconds`` (_redis_call):
        #: one lazy timer instead of redis-py's ``socket_timeout`` (5 s unless set),
        #: which puts a ``wait_for`` task around every send and an ``asyncio.timeout``
        #: around every read.
        self._calls = Deadlines(timeout_seconds)
        self._client = connect(
            url, timeout=timeout_seconds, sentinel_password=sentinel_password, socket_timeout=None
        )
        self._create = self._client.register_script(_CREATE)
        self._publish = self._client.register_script(_PUBLISH)
        self._settle = self._client.register_script(_SETTLE)
        self._admit = self._client.register_script(_ADMIT)
        self._set_viewers = self._client.register_script(_SET_VIEWERS)
        self._deliver: Deliver | None = None
        self._on_resubscribe: Callable[[], None] | None = None
        self._subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriber: asyncio.Task[None] | None = None
        #: This instance's viewers per session (and the linger), re-asserted every
        #: REFRESH_SECONDS. Changed only under the session's lock, so Redis sees this
        #: instance's writes for a session in the order they were made here.
        self._reported: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        #: The highest seq received per session and when (monotonic); kept for a
        #: session's lifetime (``remember_seconds``), then swept.
        self._seen: dict[str, tuple[int, float]] = {}
        self._remember = remember_seconds

    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}{kind}:{name}"

    # --- lifecycle -------------------------------------------------------------

    async def start(
        self, deliver: Deliver, on_resubscribe: Callable[[], None] | None = None
    ) -> None:
        """Start the subscriber and the refresher; a Redis that is down now is not fatal.

        Messages published while the subscription was down are not replayed by Redis;
        ``on_resubscribe`` lets the hub catch its viewers up from the stored data.
        """
        self._deliver = deliver
        self._on_resubscribe = on_resubscribe
        self._subscriber = asyncio.create_task(self._listen(), name="redis-subscriber")
        self._tasks = [
            asyncio.create_task(self._refresh_forever(), name="redis-viewer-refresh"),
        ]
        if is_sentinel_url(self._url):
            self._tasks.append(
                asyncio.create_task(self._follow_master(), name="redis-follow-master")
            )

    async def stop(self) -> None:
        self._deliver = None
        if self._subscriber is not None:
            self._tasks.append(self._subscriber)
            self._subscriber = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()

    @_redis_call
    async def check(self) -> None:
        await self._client.ping()
        if not self._subscribed.is_set():
            raise BrokerUnavailable("the Redis subscription is down (reconnecting)")

    # --- the subscriber ----------------------------------------------------------

    async def _follow_master(self) -> None:
        """Ask the Sentinels every FOLLOW_SECONDS where the master is.

        A master demoted while it runs (``SENTINEL FAILOVER``, a network split) keeps
        serving whoever is still connected to it until Sentinel turns it into a
        replica, which can take 10 s. On a change, redis-py drops the idle connections
        to the old master (and each busy one when it is released), and the
        subscription moves now, with a catch-up of this instance's viewers.
        """
        pool = self._client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        known = None
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            try:
                address = await pool.get_master_address()  # type: ignore[no-untyped-call, unused-ignore]
            except (RedisError, OSError):
                continue  # no master known right now: the next round asks again
            if known is not None and address != known:
                log.warning("master moved", extra={"event": "redis_master_moved"})
                if self._subscriber is not None:
                    self._subscriber.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._subscriber
                self._subscribed.clear()
                self._subscriber = asyncio.create_task(
                    self._listen(first=False), name="redis-subscriber"
                )
            known = address

    async def _listen(self, *, first: bool = True) -> None:
        """Hold one pub/sub connection; reconnect with backoff while Redis is away."""
        backoff = 0.1
        while True:
            # Its reads wait for messages indefinitely (SubscriptionWatch keeps an eye on
            # them), its sends (SUBSCRIBE, the health checks) within
            # broker.timeout_seconds; a closed connection ends the read, and the loop
            # reconnects.
            client = connect(
                self._url,
                timeout=self._timeout,
                sentinel_password=self._sentinel_password,
                health_check_interval=REFRESH_SECONDS,
                socket_timeout=self._timeout,
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            watch = SubscriptionWatch(pubsub, REFRESH_SECONDS)
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                if not first:
                    log.info("resubscribed", extra={"event": "redis_resubscribed"})
                    if self._on_resubscribe is not None:
                        self._on_resubscribe()
                first = False
                backoff = 0.1
                while True:
                    watch.heard()
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message.get("type") == "message":
                        self._dispatch(message["data"])
            except (RedisError, OSError, RuntimeError) as exc:
                if isinstance(exc, RuntimeError) and not is_closed_transport(exc):
                    raise
                if self._subscribed.is_set():
                    log.warning(
                        "subscription lost",
                        extra={"event": "redis_subscription_lost", "error": type(exc).__name__},
                    )
                self._subscribed.clear()
                first = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                watch.cancel()
                with contextlib.suppress(RedisError, OSError, RuntimeError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
                with contextlib.suppress(RedisError, OSError, RuntimeError):
                    await client.aclose()

    def _dispatch(self, raw: str) -> None:
        session_id, seq_text, text = raw.split("\n", 2)
        seq = int(seq_text)
        if seq > self._seen.get(session_id, (0, 0.0))[0]:
            self._seen[session_id] = (seq, time.monotonic())
        if self._deliver is not None:
            self._deliver(session_id, seq, text)

    def _highest_seen(self, session_id: str) -> int:
        """The highest ``seq`` of the session this instance received, so that a publish
        never takes a number viewers have seen: Redis replicates asynchronously, and a
        master that dies right after a publish can take it (and its ``seq``) with it,
        while every instance already broadcast it."""
        return self._seen.get(session_id, (0, 0.0))[0]

    async def _refresh_forever(self) -> None:
        """Re-assert this instance's viewer counts before they lapse.

        Each count is written whole, under its session's lock: this also repairs a
        count that a timed-out admission left one too high in Redis.
        """
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            for session_id in list(self._reported):
                async with self._lock(session_id):
                    reported = self._reported.get(session_id)
                    if reported is None:
                        continue
                    with contextlib.suppress(BrokerUnavailable):
                        await self._write_viewers(session_id, *reported)
                self._drop_lock(session_id)

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    def _drop_lock(self, session_id: str) -> None:
        lock = self._locks.get(session_id)
        if lock is not None and not lock.locked() and session_id not in self._reported:
            del self._locks[session_id]

    # --- writes that replicas must hold ------------------------------------------------

    async def _write(
        self,
        script: AsyncScript,
        *,
        keys: list[str],
        args: list[Any],
        wrote: Callable[[Any], bool],
    ) -> Any:
        """Run ``script``; with ``min_replicas_acked``, answer only once that many
        replicas hold what it wrote, when ``wrote(answer)`` says it wrote. A refusal
        (403, 404, 409, 410, 429, a full session table) is answered at once: there is
        nothing for replicas to hold.

        The script and then ``WAIT`` go down one connection, held for both: ``WAIT``
        counts the replicas that acknowledged that connection's writes. Too few
        replicas raises BrokerUnavailable, and what the script did stands: a retry with
        the same Idempotency-Key finds it, writes it again and waits for the replicas
        again.
        """
        if not self._replicas:
            return await self._evalsha(script, keys, args)
        async with self._client.client() as connection:
            answer = await script(keys=keys, args=args, client=connection)
            if not wrote(answer):
                return answer
            acked = await connection.wait(self._replicas, self._wait_ms)
        if int(acked) < self._replicas:
            raise NotReplicated(
                f"{acked} of broker.min_replicas_acked = {self._replicas} replicas "
                "acknowledged in time"
            )
        return answer

    async def _evalsha(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """``script(keys=keys, args=args)``, packed by hiredis in one C call and sent on a
        pooled connection. The publish runs a script of 35 arguments: redis-py's own
        path encodes each one in Python and wraps the command in its retry and
        observability layers (about 8 % of a Redis-mode publish's CPU, profiled). The
        connection is handled as redis-py handles it: dropped by ``send_packed_command``
        or ``read_response`` on any failure or cancel, returned to the pool after. A
        Redis that lost the script (restarted, flushed) gets it through redis-py's own
        path, which loads it.
        """
        pool = self._client.connection_pool
        command = hiredis.pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))
        connection = await pool.get_connection()  # type: ignore[no-untyped-call, unused-ignore]
        try:
            await connection.send_packed_command(command)
            return await connection.read_response()
        except NoScriptError:
            pass
        finally:
            await pool.release(connection)
        return await script(keys=keys, args=args)

    # --- sessions ------------------------------------------------------------------

    async def create_session(self, record: SessionRecord, *, max_sessions: int) -> bool:
        try:
            return await self._create_session(record, max_sessions)
        except NotReplicated:
            # Nobody got its token: take it back rather than let it count against
            # sessions.max_sessions for its whole ttl.
            with contextlib.suppress(BrokerUnavailable):
                await self._drop_session(record.session_id)
            raise

    @_redis_call
    async def _create_session(self, record: SessionRecord, max_sessions: int) -> bool:
        created = await self._write(
            self._create,
            wrote=bool,
            keys=[self._key("s", record.session_id), self._prefix + "sessions"],
            args=[
                record.session_id,
                record.key_id,
                repr(record.created_at),
                repr(record.expires_at),
                int(record.expires_at * 1000),
                _now_ms(record.created_at),
                max_sessions,
            ],
        )
        return bool(created)

    @_redis_call
    async def _drop_session(self, session_id: str) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key("s", session_id))
            pipe.zrem(self._prefix + "sessions", session_id)
            await pipe.execute()

    @_redis_call
    async def get_session(self, session_id: str) -> SessionRecord | None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key("s", session_id))
            pipe.get(self._key("d", session_id))
            fields, data = await pipe.execute()
        if not fields:
            return None
        return _record(session_id, fields, data)

    @_redis_call
    async def publish(
        self,
        session_id: str,
        message: Publication,
        now: float,
        *,
        key_id: str,
        request_id: str,
        idempotency: IdempotencyClaim | None = None,
        quotas: tuple[Quota, ...] = (),
    ) -> PublishOutcome | None:
        idem = idempotency
        numbered = message.message
        quota_keys, quota_args = quotas_input(quotas)
        answer = await self._write(
            self._publish,
            wrote=_publish_wrote,
            keys=[
                self._key("s", session_id),
                self._key("d", session_id),
                self._key("v", session_id),
                self._key("o", session_id),
                self._key("f", request_id),
                self._key("i", idem.scope if idem is not None else "-"),
                *quota_keys,
            ],
            args=[
                self._channel,
                session_id,
                numbered.head,
                numbered.tail,
                numbered.data_tail or "",
                "0" if numbered.data_tail is None else "1",
                repr(now),
                _now_ms(now),
                int(message.linger_seconds * 1000),
                int(3 * REFRESH_SECONDS * 1000),
                request_id,
                "0" if idem is None else "1",
                "" if idem is None else idem.body_sha256,
                key_id,
                DATA_HEAD,
                self._highest_seen(session_id),
                *quota_args,
            ],
        )
        first = int(answer[0])
        if first == -6:
            raise QuotaRefused(quotas[int(answer[1]) - 1])
        if first < 0:
            refusal = _PUBLISH_REFUSED.get(first)
            if refusal is None:
                return None  # fenced
            raise refusal()
        return PublishOutcome(first, int(answer[1]), replayed=int(answer[2]) == 1)

    @_redis_call
    async def settle(self, session_id: str, request_id: str) -> PublishOutcome | None:
        answer = await self._settle(
            keys=[self._key("o", session_id), self._key("f", request_id)],
            args=[request_id, FENCE_SECONDS * 1000],
        )
        if not answer:
            return None
        return PublishOutcome(int(answer[0]), int(answer[1]))

    async def admit_viewer(
        self,
        session_id: str,
        *,
        max_viewers: int,
        now: float,
        linger_seconds: float,
        quotas: tuple[Quota, ...] = (),
    ) -> Admission | int | None:
        try:
            async with self._lock(session_id):
                count = self._reported.get(session_id, (0, linger_seconds))[0] + 1
                answer = await self._admit_script(
                    session_id, count, now, linger_seconds, max_viewers, quotas
                )
                total = int(answer[0])
                if total >= 0:
                    self._reported[session_id] = (count, linger_seconds)
        finally:
            self._drop_lock(session_id)
        if total == -3:
            raise QuotaRefused(quotas[int(answer[1]) - 1])
        if total == -2:
            return None
        if total < 0:
            return -1
        fields = dict(zip(answer[2::2], answer[3::2], strict=True))
        return Admission(total, _record(session_id, fields, answer[1]))

    @_redis_call
    async def _admit_script(
        self,
        session_id: str,
        count: int,
        now: float,
        linger_seconds: float,
        max_viewers: int,
        quotas: tuple[Quota, ...],
    ) -> list[Any]:
        keys, args = self._viewer_script_input(session_id, count, now, linger_seconds)
        quota_keys, quota_args = quotas_input(quotas)
        answer: list[Any] = await self._admit(
            keys=[*keys, *quota_keys], args=[*args, max_viewers, *quota_args]
        )
        return answer

    def _viewer_script_input(
        self, session_id: str, count: int, now: float, linger_seconds: float
    ) -> tuple[list[str], list[str | int]]:
        """KEYS and the shared ARGV of _ADMIT and _SET_VIEWERS: viewers, data, session;
        instance, count, deadline_ms, now_ms, linger_ms, keep_ms."""
        keep_ms = int(3 * REFRESH_SECONDS * 1000)
        keys = [self._key("v", session_id), self._key("d", session_id), self._key("s", session_id)]
        args: list[str | int] = [
            self._instance,
            count,
            _now_ms(now) + keep_ms,
            _now_ms(now),
            int(linger_seconds * 1000),
            keep_ms,
        ]
        return keys, args

    async def release_viewer(self, session_id: str, *, now: float, linger_seconds: float) -> None:
        try:
            async with self._lock(session_id):
                count = max(0, self._reported.get(session_id, (1, linger_seconds))[0] - 1)
                if count:
                    self._reported[session_id] = (count, linger_seconds)
                else:
                    self._reported.pop(session_id, None)
                await self._write_viewers(session_id, count, linger_seconds, now)
        finally:
            self._drop_lock(session_id)

    @_redis_call
    async def _write_viewers(
        self, session_id: str, count: int, linger_seconds: float, now: float | None = None
    ) -> None:
        moment = _clock() if now is None else now
        keys, args = self._viewer_script_input(session_id, count, moment, linger_seconds)
        total = await self._set_viewers(keys=keys, args=[*args, repr(moment)])
        if int(total) < 0:
            self._reported.pop(session_id, None)  # the session is gone

    @_redis_call
    async def count_viewers(self, session_id: str) -> int:
        entries = await self._client.hgetall(self._key("v", session_id))
        now_ms = _now_ms(_clock())
        total = 0
        for raw in entries.values():
            value = raw if isinstance(raw, str) else raw.decode()
            count, _, deadline = value.partition(":")
            if count.isdigit() and deadline.isdigit() and int(deadline) > now_ms:
                total += int(count)
        return total

    # --- housekeeping ------------------------------------------------------------------

    @_redis_call
    async def sweep(self, now: float, linger_seconds: float) -> int:
        horizon = time.monotonic() - self._remember
        for session_id, (_, at) in list(self._seen.items()):
            if at < horizon:
                del self._seen[session_id]
        # Redis expires sessions and data by itself; only the index needs trimming.
        removed: int = await self._client.zremrangebyscore(
            self._prefix + "sessions", "-inf", _now_ms(now)
        )
        return removed

    @_redis_call
    async def count_sessions(self) -> int:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(self._prefix + "sessions", "-inf", _now_ms(_clock()))
            pipe.zcard(self._prefix + "sessions")
            _, count = await pipe.execute()
        return int(count)


def _record(session_id: str, fields: dict[str, str], data: str | None) -> SessionRecord:
    """A session as the hash ``s:<id>`` and the data ``d:<id>`` hold it."""
    return SessionRecord(
        session_id=session_id,
        key_id=fields["key_id"],
        created_at=float(fields["created_at"]),
        expires_at=float(fields["expires_at"]),
        seq=int(fields.get("seq", 0)),
        data=data,
        last_published_at=_float(fields.get("last_published_at")),
        linger_from=_float(fields.get("linger_from")),
    )


def _clock() -> float:
    return time.time()


def _now_ms(seconds: float) -> int:
    return int(seconds * 1000)


def _float(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)
