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
class Publication:
    """A server message whose ``seq`` the broker assigns when it publishes it.

    The text viewers receive is ``text_head + str(seq) + text_tail``; the late-join
    payload kept for the session is ``'{"seq":' + str(seq) + data_tail``, or nothing
    when ``data_tail`` is None (a clear). Assigning ``seq``, storing the data and
    publishing happen as one step, so every instance sees messages in ``seq`` order.
    """

    text_head: str
    text_tail: str
    data_tail: str | None
    #: How long the data stays once no viewer watches (``sessions.data_linger_seconds``).
    linger_seconds: float

    def text(self, seq: int) -> str:
        return f"{self.text_head}{seq}{self.text_tail}"

    def data(self, seq: int) -> str | None:
        return None if self.data_tail is None else f'{{"seq":{seq}{self.data_tail}'


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
    async def start(
        self, deliver: Deliver, on_resubscribe: Callable[[], None] | None = None
    ) -> None:
        """Connect, and call ``deliver`` for every message any instance publishes.

        ``on_resubscribe`` is called after a lost subscription is restored, since
        messages published meanwhile never arrive.
        """

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
    async def publish(self, session_id: str, message: Publication, now: float) -> int | None:
        """Assign the next ``seq``, keep the late-join data and deliver the message to
        every instance, as one step; return the ``seq``, or None if the session is gone."""

    @abstractmethod
    async def set_viewers(
        self, session_id: str, count: int, now: float, linger_seconds: float
    ) -> None:
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
