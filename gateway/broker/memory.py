"""The embedded broker: dictionaries in this process (``memory://``).

Sessions live and die with the process, and a publish reaches only this instance's
viewers. Every method completes without awaiting, so a read-modify-write is atomic
under asyncio.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import Broker, Deliver, IdempotencyRecord, Publication, SessionRecord


class MemoryBroker(Broker):
    name = "memory"

    def __init__(self) -> None:
        self._sessions: dict[str, SessionRecord] = {}
        self._viewers: dict[str, int] = {}
        self._idempotency: dict[str, tuple[float, IdempotencyRecord]] = {}
        self._deliver: Deliver | None = None

    async def start(
        self, deliver: Deliver, on_resubscribe: Callable[[], None] | None = None
    ) -> None:
        self._deliver = deliver

    async def stop(self) -> None:
        self._deliver = None

    async def check(self) -> None:
        return None

    async def create_session(self, record: SessionRecord, *, max_sessions: int) -> bool:
        if len(self._sessions) >= max_sessions:
            return False
        self._sessions[record.session_id] = record
        return True

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return self._sessions.get(session_id)

    async def publish(self, session_id: str, message: Publication, now: float) -> int | None:
        record = self._sessions.get(session_id)
        if record is None:
            return None
        seq = record.seq + 1
        self._sessions[session_id] = record.evolve(
            seq=seq, data=message.data(seq), last_published_at=now, linger_from=now
        )
        if self._deliver is not None:
            self._deliver(session_id, seq, message.text(seq))
        return seq

    async def set_viewers(
        self, session_id: str, count: int, now: float, linger_seconds: float
    ) -> None:
        if count:
            self._viewers[session_id] = count
            return
        self._viewers.pop(session_id, None)
        record = self._sessions.get(session_id)
        if record is not None:
            self._sessions[session_id] = record.evolve(linger_from=now)

    async def count_viewers(self, session_id: str) -> int:
        return self._viewers.get(session_id, 0)

    async def claim_idempotency(
        self, scope: str, record: IdempotencyRecord, ttl_seconds: float
    ) -> IdempotencyRecord | None:
        held = self._idempotency.get(scope)
        if held is not None and held[0] > time.time():
            return held[1]
        self._idempotency[scope] = (time.time() + ttl_seconds, record)
        return None

    async def finish_idempotency(
        self, scope: str, record: IdempotencyRecord | None, ttl_seconds: float
    ) -> None:
        if record is None:
            self._idempotency.pop(scope, None)
        else:
            self._idempotency[scope] = (time.time() + ttl_seconds, record)

    async def sweep(self, now: float, linger_seconds: float) -> int:
        removed = 0
        for sid, record in list(self._sessions.items()):
            if record.expires_at <= now:
                del self._sessions[sid]
                self._viewers.pop(sid, None)
                removed += 1
            elif (
                record.data is not None
                and not self._viewers.get(sid)
                and (record.linger_from or 0) + linger_seconds <= now
            ):
                self._sessions[sid] = record.evolve(data=None)
        for scope, (deadline, _) in list(self._idempotency.items()):
            if deadline <= now:
                del self._idempotency[scope]
        return removed

    async def count_sessions(self) -> int:
        return len(self._sessions)
