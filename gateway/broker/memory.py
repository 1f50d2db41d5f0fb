"""The embedded broker: dictionaries in this process (``memory://``).

Sessions live and die with the process, and a publish reaches only this instance's
viewers. Every method completes without awaiting, so a read-modify-write is atomic
under asyncio.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import Forbidden, IdempotencyConflict, SessionExpired, SessionNotFound
from .base import (
    Admission,
    Broker,
    Deliver,
    IdempotencyClaim,
    Publication,
    PublishOutcome,
    SessionRecord,
)

if TYPE_CHECKING:
    from ..ratelimit import Quota


class MemoryBroker(Broker):
    name = "memory"
    in_process = True

    def __init__(self) -> None:
        self._sessions: dict[str, SessionRecord] = {}
        self._viewers: dict[str, int] = {}
        #: Idempotency records by scope: (deadline, body hash, outcome).
        self._idempotency: dict[str, tuple[float, str, PublishOutcome]] = {}
        #: Outcomes of each session's publishes by request id, kept with the session.
        self._outcomes: dict[str, dict[str, PublishOutcome]] = {}
        #: Request ids settled as never published.
        self._fenced: set[str] = set()
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
        assert not quotas, "the hub takes the quotas of a broker without takes_quotas"
        if request_id in self._fenced:
            return None
        record = self._sessions.get(session_id)
        if record is None:
            raise SessionNotFound("no such session")
        if record.expires_at <= now:
            raise SessionExpired("the session has expired")
        if record.key_id != key_id:
            raise Forbidden("the session belongs to another API key")
        if idempotency is not None:
            held = self._idempotency.get(idempotency.scope)
            if held is not None and held[0] > now:
                if held[1] != idempotency.body_sha256:
                    raise IdempotencyConflict("this Idempotency-Key was used with another body")
                return PublishOutcome(held[2].seq, held[2].delivered, replayed=True)
        seq = record.seq + 1
        outcome = PublishOutcome(seq, self._viewers.get(session_id, 0))
        self._sessions[session_id] = record.evolve(
            seq=seq, data=message.message.data(seq), last_published_at=now, linger_from=now
        )
        self._outcomes.setdefault(session_id, {})[request_id] = outcome
        if idempotency is not None:
            deadline = max(record.expires_at, now + 1)
            self._idempotency[idempotency.scope] = (deadline, idempotency.body_sha256, outcome)
        if self._deliver is not None:
            self._deliver(session_id, seq, message.message.text(seq))
        return outcome

    async def settle(self, session_id: str, request_id: str) -> PublishOutcome | None:
        found = self._outcomes.get(session_id, {}).get(request_id)
        if found is None:
            self._fenced.add(request_id)
        return found

    async def admit_viewer(
        self,
        session_id: str,
        *,
        max_viewers: int,
        now: float,
        linger_seconds: float,
        quotas: tuple[Quota, ...] = (),
    ) -> Admission | int | None:
        assert not quotas, "the hub takes the quotas of a broker without takes_quotas"
        record = self._sessions.get(session_id)
        if record is None:
            return None
        count = self._viewers.get(session_id, 0)
        if count >= max_viewers:
            return -1
        self._viewers[session_id] = count + 1
        return Admission(count + 1, record)

    async def release_viewer(self, session_id: str, *, now: float, linger_seconds: float) -> None:
        count = self._viewers.get(session_id, 0) - 1
        if count > 0:
            self._viewers[session_id] = count
            return
        self._viewers.pop(session_id, None)
        record = self._sessions.get(session_id)
        if record is not None:
            self._sessions[session_id] = record.evolve(linger_from=now)

    async def count_viewers(self, session_id: str) -> int:
        return self._viewers.get(session_id, 0)

    async def sweep(self, now: float, linger_seconds: float) -> int:
        removed = 0
        for sid, record in list(self._sessions.items()):
            if record.expires_at <= now:
                del self._sessions[sid]
                self._viewers.pop(sid, None)
                self._outcomes.pop(sid, None)
                removed += 1
            elif (
                record.data is not None
                and not self._viewers.get(sid)
                and (record.linger_from or 0) + linger_seconds <= now
            ):
                self._sessions[sid] = record.evolve(data=None)
        for scope, (deadline, _, _) in list(self._idempotency.items()):
            if deadline <= now:
                del self._idempotency[scope]
        return removed

    async def count_sessions(self) -> int:
        return len(self._sessions)
