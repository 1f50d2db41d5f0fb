"""Sessions and fan-out: the part of the gateway that knows viewers.

Each viewer owns one bounded queue of serialized messages; a broadcast is serialized
once and the same ``str`` is offered to every viewer without awaiting. A viewer whose
connection is idle takes it at once, as one prepared frame written to its transport
(the same bytes for all, as gorilla/websocket's ``PreparedMessage``); otherwise it is
queued for the viewer's writer. A queue that is full means the viewer cannot keep up:
it is closed with 4408 and the others carry on (websockets' broadcast topic ends at the
same answer: disconnect slow clients).

Expiry is exact: every lookup compares ``expires_at`` with the clock. A per-session
timer tells connected viewers when the ttl runs out; the sweeper only frees memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import limits

from . import wire
from .broker import (
    Admission,
    Broker,
    IdempotencyClaim,
    Publication,
    PublishOutcome,
    SessionRecord,
)
from .config import Settings
from .deadlines import Deadlines
from .errors import (
    BrokerUnavailable,
    GatewayError,
    OutcomeUnknown,
    SessionExpired,
    SessionFull,
    SessionNotFound,
    ShuttingDown,
)
from .ratelimit import Quota, QuotaRefused

log = logging.getLogger("gateway.hub")

CLOSE_GOING_AWAY = 1001
CLOSE_SLOW_CONSUMER = 4408
CLOSE_EXPIRED = 4410
#: Publishes whose outcome is being settled at once; beyond this a lost answer is
#: only logged (a broker that never answers would otherwise grow this without end).
MAX_UNSETTLED = 1000
SETTLE_FIRST_RETRY_SECONDS = 0.1
SETTLE_MAX_RETRY_SECONDS = 5.0

#: Told, once, what a publish whose answer was lost did: its outcome, or None when it
#: never ran and never will.
Settled = Callable[[PublishOutcome | None], None]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One serialized server message; ``seq`` orders PAYMENT_DATA/PAYMENT_CLEARED.

    One instance is offered to every viewer of a broadcast, so its WebSocket frame is
    built at most once, by the first viewer written to directly (:attr:`frame`).
    """

    text: str
    seq: int | None = None
    _frame: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def frame(self) -> bytes:
        """The message as a server text frame, the same bytes for every viewer."""
        frame = self._frame
        if frame is None:
            frame = wire.text_frame(self.text)
            object.__setattr__(self, "_frame", frame)  # a cache, not a change of value
        return frame


@dataclass(frozen=True, slots=True)
class Farewell:
    """How a viewer's connection ends: the close code and an optional last message."""

    code: int
    reason: str = ""
    final: str | None = None


class Viewer:
    """One connected viewer: its bounded queue and the future its connection waits on.

    The queue is a plain deque, made when the first message has to wait, plus a
    wake-up future made only while the writer waits; a connection may also start its
    writer task only then (``start_writer``). An idle viewer, whose messages are
    written at once (``direct``), holds none of them (an empty deque alone is 760
    bytes, an ``asyncio.Queue`` four of them, a task and its frames about 1 KiB),
    which matters at thousands of idle screens.

    Two bounds share it. Broadcasts (``offer``) may queue up to
    ``websocket.send_queue_size``: beyond, the viewer cannot keep up and is closed
    4408. Replies to the viewer's own messages (``reply``: PONG, ERROR) are bounded by
    its message quota instead, so a viewer that reads what it is sent but sends a
    burst of PINGs within its quota is never taken for a slow consumer (docs/protocol.md §4.7).
    """

    __slots__ = (
        "_limit",
        "_pending",
        "_replies",
        "_reply_limit",
        "_waiter",
        "_writer_started",
        "connected_at",
        "direct",
        "done",
        "session_id",
        "start_writer",
    )

    def __init__(
        self, session_id: str, limit: int, connected_at: float, reply_limit: int | None = None
    ) -> None:
        self.session_id = session_id
        self.connected_at = connected_at
        self.done: asyncio.Future[Farewell] = asyncio.get_running_loop().create_future()
        self._limit = limit
        self._reply_limit = limit if reply_limit is None else reply_limit
        self._pending: deque[Outgoing] | None = None
        #: Queued items that are replies (``seq`` None), counted apart from broadcasts.
        self._replies = 0
        self._waiter: asyncio.Future[None] | None = None
        #: Set by the connection: sends a message at once, without waiting, and says
        #: whether it did (False: the transport is busy or closing; queue it instead).
        self.direct: Callable[[Outgoing], bool] | None = None
        #: Set by a connection that starts its writer only when a message first has to
        #: wait (an idle viewer, whose messages all go out directly, never has one).
        self.start_writer: Callable[[], None] | None = None
        self._writer_started = False

    def offer(self, item: Outgoing) -> bool:
        """Send a broadcast now or queue it, without waiting; a full queue ends the
        viewer with 4408 (False).

        It is sent at once only while the writer is idle (:meth:`_idle`): nothing is
        queued or being written before it, so the order holds.
        """
        if self.done.done():
            return True
        direct = self.direct
        if direct is not None and self._idle() and direct(item):
            return True
        if self._pending is not None and len(self._pending) - self._replies >= self._limit:
            self.finish(Farewell(CLOSE_SLOW_CONSUMER, "slow consumer"))
            return False
        self._append(item)
        return True

    def reply(self, item: Outgoing) -> None:
        """Send an answer to the viewer's own message (``item.seq`` is None) now, as
        :meth:`offer` does, or queue it.

        More unsent replies than the message quota allows mean the viewer is not
        reading at all: 4408, as for broadcasts.
        """
        if self.done.done():
            return
        direct = self.direct
        if direct is not None and self._idle() and direct(item):
            return
        if self._replies >= self._reply_limit:
            self.finish(Farewell(CLOSE_SLOW_CONSUMER, "slow consumer"))
            return
        self._replies += 1
        self._append(item)

    def start_writer_lazily(self, start: Callable[[], None]) -> None:
        """Let the connection start its writer only when a message has to wait (now, if
        one already does: messages offered while the connection was opening)."""
        self.start_writer = start
        if self._pending and not self._writer_started:
            self._writer_started = True
            start()

    def _idle(self) -> bool:
        """Nothing is queued and nothing is being written: the writer waits on an empty
        queue, or it was never needed and the connection starts it lazily."""
        if self._pending:
            return False
        if self._waiter is not None:
            return True
        return self.start_writer is not None and not self._writer_started

    def _append(self, item: Outgoing) -> None:
        pending = self._pending
        if pending is None:
            pending = self._pending = deque()
        pending.append(item)
        waiter = self._waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
        elif self.start_writer is not None and not self._writer_started:
            self._writer_started = True
            self.start_writer()

    async def next(self) -> Outgoing:
        """The oldest queued message, waiting for one if none is queued."""
        while not self._pending:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._pending.popleft()
        if item.seq is None:
            self._replies -= 1
        return item

    def finish(self, farewell: Farewell) -> None:
        if not self.done.done():
            self.done.set_result(farewell)

    def release(self) -> None:
        """The connection is over: drop what it lent the viewer (``direct``,
        ``start_writer``). Both are closures over the connection, and ``start_writer``
        over this viewer too: a cycle that would keep the connection, its transport and
        its buffers until a full collection. Call after :meth:`finish`."""
        self.direct = None
        self.start_writer = None


class Hub:
    """Creates sessions, publishes to them, and fans messages out to local viewers."""

    def __init__(
        self, settings: Settings, broker: Broker, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.clock = clock
        self.instance_id = uuid.uuid4().hex
        self.started_at = clock()
        self.draining = False
        self.published = 0
        self.delivered = 0
        self.slow_consumers = 0
        #: Viewer connections the server kept after their 101, not handed over to the
        #: gateway's socket (transport/ws.py): served the slower way, over ASGI.
        self.sockets_kept = 0
        self.last_session_count = 0
        self._viewers: dict[str, set[Viewer]] = {}
        self._empty = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._unsettled: set[asyncio.Task[None]] = set()
        self._expiry_timers: dict[str, asyncio.TimerHandle] = {}
        self._sweeper: asyncio.Task[None] | None = None
        #: Bounds each broker call by ``broker.timeout_seconds`` (one lazy timer).
        self._calls = Deadlines(settings.broker.timeout_seconds)
        #: Replies a viewer may have unsent: what its message quota lets it ask for.
        quota = limits.parse(settings.rate_limits.ws_messages_per_connection).amount
        self._reply_limit = max(quota, settings.websocket.send_queue_size)

    # --- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        await self.broker.start(self._deliver, self._resubscribed)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="gateway-sweeper")

    async def stop(self) -> None:
        self.drain()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for task in (*self._background, *self._unsettled):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for timer in self._expiry_timers.values():
            timer.cancel()
        self._expiry_timers.clear()
        await self.broker.stop()

    def drain(self) -> None:
        """Refuse new viewers and close every connected one with 1001."""
        self.draining = True
        for viewers in self._viewers.values():
            for viewer in viewers:
                viewer.finish(Farewell(CLOSE_GOING_AWAY, "server shutting down"))

    async def wait_empty(self, seconds: float) -> bool:
        """Wait until no viewer is connected; False if some remain after ``seconds``."""
        if self._viewers:
            self._empty.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._empty.wait()
        return not self._viewers

    @property
    def connections(self) -> int:
        return sum(len(v) for v in self._viewers.values())

    # --- broker calls, bounded by broker.timeout_seconds ----------------------

    async def _call(self, coro: Any) -> Any:
        if self.broker.in_process:
            return await coro  # nothing to wait for: no timer per call
        try:
            async with self._calls.within():
                return await coro
        except TimeoutError:
            raise BrokerUnavailable("the broker did not answer in time") from None

    async def check_broker(self) -> None:
        await self._call(self.broker.check())

    async def count_sessions(self) -> int:
        count: int = await self._call(self.broker.count_sessions())
        self.last_session_count = count
        return count

    async def refresh_session_count(self) -> None:
        with contextlib.suppress(GatewayError):
            await self.count_sessions()

    # --- sessions --------------------------------------------------------------

    async def create_session(self, key_id: str) -> SessionRecord:
        now = self.clock()
        record = SessionRecord(
            session_id=str(uuid.uuid4()),
            key_id=key_id,
            created_at=now,
            expires_at=now + self.settings.sessions.ttl_seconds,
        )
        created = await self._call(
            self.broker.create_session(record, max_sessions=self.settings.sessions.max_sessions)
        )
        if not created:
            raise BrokerUnavailable("the gateway holds sessions.max_sessions sessions")
        return record

    async def session(self, session_id: str) -> SessionRecord:
        """The live record of ``session_id``; SessionNotFound or SessionExpired otherwise."""
        record: SessionRecord | None = await self._call(self.broker.get_session(session_id))
        if record is None:
            raise SessionNotFound("no such session")
        if record.expires_at <= self.clock():
            raise SessionExpired("the session has expired")
        return record

    async def viewer_count(self, session_id: str) -> int:
        count: int = await self._call(self.broker.count_viewers(session_id))
        return count

    async def publish(
        self,
        session_id: str,
        key_id: str,
        payload: dict[str, Any] | None,
        reason: str = "",
        *,
        idempotency: IdempotencyClaim | None = None,
        on_settled: Settled | None = None,
        quotas: tuple[Quota, ...] = (),
    ) -> PublishOutcome:
        """Store and broadcast one PAYMENT_DATA (``payload``) or PAYMENT_CLEARED (None)
        to the session ``session_id``, which must belong to the API key ``key_id``.

        The broker checks the session (SessionNotFound, SessionExpired, Forbidden) in
        the same step as it publishes: no separate read. ``delivered`` in the outcome
        counts the viewers the session had when the message was published. A key
        already used with this body gives the first outcome, ``replayed``, and
        broadcasts nothing (IdempotencyConflict for another body). When the broker's
        answer does not come in time the publish may or may not have happened: this
        raises OutcomeUnknown (503), and settles the outcome in the background,
        telling ``on_settled`` once it is final. ``quotas`` are taken first, in order
        (RateLimited), by the broker in the same step where it can.
        """
        sid = session_id
        quotas = await self._quotas_for_broker(quotas)
        now = self.clock()
        numbered = (
            wire.payment_data(payload, now)
            if payload is not None
            else wire.payment_cleared(reason, now)
        )
        message = Publication(numbered, self.settings.sessions.data_linger_seconds)
        request_id = os.urandom(16).hex()
        publishing = self.broker.publish(
            sid,
            message,
            self.clock(),
            key_id=key_id,
            request_id=request_id,
            idempotency=idempotency,
            quotas=quotas,
        )
        try:
            outcome: PublishOutcome | None = await self._call(publishing)
        except QuotaRefused as refused:
            raise await refused.quota.refusal() from None
        except BrokerUnavailable:
            self._settle_later(sid, request_id, on_settled)
            raise OutcomeUnknown() from None
        if outcome is None:
            raise SessionExpired("the session has expired")
        if not outcome.replayed:
            self._count(outcome)
        return outcome

    async def _quotas_for_broker(self, quotas: tuple[Quota, ...]) -> tuple[Quota, ...]:
        """``quotas`` if the broker takes them in its own step; else take them here."""
        if self.broker.takes_quotas and all(quota.keys is not None for quota in quotas):
            return quotas
        for quota in quotas:
            await quota.take()
        return ()

    def _count(self, outcome: PublishOutcome) -> None:
        self.published += 1
        self.delivered += outcome.delivered

    def _settle_later(self, session_id: str, request_id: str, report: Settled | None) -> None:
        if len(self._unsettled) >= MAX_UNSETTLED:
            log.error(
                "publish outcome left unsettled",
                extra={"event": "publish_unsettled", "session_id": session_id},
            )
            return
        task = asyncio.create_task(
            self._settle(session_id, request_id, report), name="gateway-settle"
        )
        self._unsettled.add(task)
        task.add_done_callback(self._unsettled.discard)

    async def _settle(self, session_id: str, request_id: str, report: Settled | None) -> None:
        """Ask the broker until it answers: what the publish did, or that it never will."""
        delay = SETTLE_FIRST_RETRY_SECONDS
        while True:
            try:
                outcome: PublishOutcome | None = await self._call(
                    self.broker.settle(session_id, request_id)
                )
                break
            except BrokerUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, SETTLE_MAX_RETRY_SECONDS)
            except asyncio.CancelledError:
                log.warning(
                    "publish outcome unknown at shutdown",
                    extra={"event": "publish_unsettled", "session_id": session_id},
                )
                raise
        if outcome is not None:
            self._count(outcome)
        if report is not None:
            report(outcome)

    # --- viewers -----------------------------------------------------------------

    async def join(
        self, session_id: str, quotas: tuple[Quota, ...] = ()
    ) -> tuple[Viewer, SessionRecord]:
        """Register a viewer and return it with the record its first messages describe.

        The broker admits the viewer against ``max_viewers_per_session``, counts it and
        reads the session in one step, so concurrent joins on any number of instances
        never admit more, and a join is one round trip. The viewer is registered here
        before that step, so a publish racing with the join is either in the record or
        in the viewer's queue; the connection skips queued messages whose ``seq`` the
        record already covers. ``quotas`` are taken first (RateLimited), by the broker
        in the same step where it can.
        """
        if self.draining:
            raise ShuttingDown()
        quotas = await self._quotas_for_broker(quotas)
        limit = self.settings.sessions.max_viewers_per_session
        viewer = Viewer(
            session_id, self.settings.websocket.send_queue_size, self.clock(), self._reply_limit
        )
        self._viewers.setdefault(session_id, set()).add(viewer)
        try:
            admission: Admission | int | None = await self._call(
                self.broker.admit_viewer(
                    session_id,
                    max_viewers=limit,
                    now=self.clock(),
                    linger_seconds=self.settings.sessions.data_linger_seconds,
                    quotas=quotas,
                )
            )
        except QuotaRefused as refused:
            self._forget(viewer)
            raise await refused.quota.refusal() from None
        except BaseException:
            self._forget(viewer)
            raise
        if not isinstance(admission, Admission):
            self._forget(viewer)
            if admission is None:
                raise SessionNotFound("no such session")
            raise SessionFull(f"the session already has {limit} viewers")
        record = admission.record
        if record.expires_at <= self.clock():
            await self.leave(viewer)
            raise SessionExpired("the session has expired")
        self._arm_expiry(session_id, record.expires_at)
        return viewer, record

    def _forget(self, viewer: Viewer) -> bool:
        """Drop ``viewer`` from this instance's set (the broker is not told); False if
        it was not there."""
        local = self._viewers.get(viewer.session_id)
        if local is None or viewer not in local:
            return False
        local.discard(viewer)
        if not local:
            del self._viewers[viewer.session_id]
            if not self._viewers:
                self._empty.set()
            timer = self._expiry_timers.pop(viewer.session_id, None)
            if timer is not None:
                timer.cancel()
        return True

    async def leave(self, viewer: Viewer) -> None:
        if not self._forget(viewer):
            return
        with contextlib.suppress(GatewayError):
            await self._call(
                self.broker.release_viewer(
                    viewer.session_id,
                    now=self.clock(),
                    linger_seconds=self.settings.sessions.data_linger_seconds,
                )
            )

    def _deliver(self, session_id: str, seq: int, text: str) -> None:
        """Called by the broker for each message: offer it to every local viewer."""
        item = Outgoing(text, seq)
        for viewer in tuple(self._viewers.get(session_id, ())):
            if not viewer.offer(item):
                self.slow_consumers += 1

    def _resubscribed(self) -> None:
        """The broker's subscription came back: catch local viewers up from stored data."""
        task = asyncio.create_task(self._catch_up(), name="gateway-catch-up")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _catch_up(self) -> None:
        for session_id in list(self._viewers):
            try:
                record = await self._call(self.broker.get_session(session_id))
            except GatewayError:
                return
            if record is not None and record.data is not None:
                text = wire.late_join(record.data, self.clock())
                self._deliver(session_id, wire.seq_of(record.data), text)

    def _arm_expiry(self, session_id: str, expires_at: float) -> None:
        if session_id in self._expiry_timers:
            return
        delay = max(0.0, expires_at - self.clock())
        loop = asyncio.get_running_loop()
        self._expiry_timers[session_id] = loop.call_later(
            delay, self._expire, session_id, expires_at
        )

    def _expire(self, session_id: str, expires_at: float) -> None:
        self._expiry_timers.pop(session_id, None)
        final = wire.session_expired(session_id, expires_at, self.clock())
        for viewer in tuple(self._viewers.get(session_id, ())):
            viewer.finish(Farewell(CLOSE_EXPIRED, "session expired", final))

    # --- sweeper -------------------------------------------------------------------

    async def sweep(self) -> int:
        now = self.clock()
        removed: int = await self._call(
            self.broker.sweep(now, self.settings.sessions.data_linger_seconds)
        )
        return removed

    async def _sweep_forever(self) -> None:
        interval = self.settings.sessions.sweep_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await self.sweep()
            except GatewayError as exc:
                log.warning("sweep failed", extra={"event": "sweep_failed", "error": exc.detail})
                continue
            if removed:
                log.info("swept sessions", extra={"event": "sweep", "removed": removed})
