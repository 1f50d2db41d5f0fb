"""The broker interface: where sessions live and how a publish reaches every instance.

The hub above it owns local viewers and fan-out; a broker only stores session records
and carries each serialized message, once, to every instance's hub (encode/broadcaster's
split). :func:`gateway.broker.create_broker` picks the implementation by URL scheme.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Self

#: Called by the broker for every message published to any instance: (session id, seq, text).
Deliver = Callable[[str, int, str], None]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session as the broker stores it. Times are UNIX seconds."""

    session_id: str
    key_id: str
    created_at: float
    expires_at: float
    seq: int = 0
    #: The last ``PAYMENT_DATA`` payload as JSON text (``seq`` included), or None.
    data: str | None = None
    last_published_at: float | None = None
    #: Start of the data linger: the later of the last publish and the last viewer leaving.
    linger_from: float | None = None

    def evolve(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What a first request with an ``Idempotency-Key`` answered (``status`` 0: in flight)."""

    body_sha256: str
    status: int = 0
    body: bytes = b""


class Broker(ABC):
    """Session storage and cross-instance delivery. Every method may raise BrokerUnavailable."""

    #: A short name for /health and logs ("memory", "redis").
    name: str

    @abstractmethod
    async def start(self, deliver: Deliver) -> None:
        """Connect, and call ``deliver`` for every message any instance publishes."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect; no ``deliver`` calls after this returns."""

    @abstractmethod
    async def check(self) -> None:
        """Return when the broker answers; raise BrokerUnavailable otherwise."""

    @abstractmethod
    async def create_session(self, record: SessionRecord, *, max_sessions: int) -> bool:
        """Store a new session; False when ``max_sessions`` live sessions exist already."""

    @abstractmethod
    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The stored record, or None when unknown or swept."""

    @abstractmethod
    async def next_seq(self, session_id: str) -> int:
        """Increment and return the session's ``seq`` (monotonic across instances)."""

    @abstractmethod
    async def store_data(self, session_id: str, seq: int, data: str | None, now: float) -> None:
        """Keep ``data`` (None clears it) as the late-join payload, unless a newer seq is stored."""

    @abstractmethod
    async def publish(self, session_id: str, seq: int, text: str) -> None:
        """Carry one serialized server message to every instance's ``deliver``."""

    @abstractmethod
    async def set_viewers(self, session_id: str, count: int, now: float) -> None:
        """Record how many viewers this instance holds for the session (0 starts the linger)."""

    @abstractmethod
    async def count_viewers(self, session_id: str) -> int:
        """Viewers of the session on every live instance."""

    @abstractmethod
    async def claim_idempotency(
        self, scope: str, record: IdempotencyRecord, ttl_seconds: float
    ) -> IdempotencyRecord | None:
        """Store ``record`` under ``scope`` if absent and return None; else the stored one."""

    @abstractmethod
    async def finish_idempotency(
        self, scope: str, record: IdempotencyRecord | None, ttl_seconds: float
    ) -> None:
        """Replace the in-flight claim with the final answer, or drop it (None)."""

    @abstractmethod
    async def sweep(self, now: float, linger_seconds: float) -> int:
        """Free expired sessions and lingering data; return how many sessions were removed."""

    @abstractmethod
    async def count_sessions(self) -> int:
        """Live sessions held by the broker."""
