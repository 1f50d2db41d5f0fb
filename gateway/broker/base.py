"""The broker interface: where sessions live and how a publish reaches every instance.

The hub above it owns local viewers and fan-out; a broker only stores session records
and carries each serialized message, once, to every instance's hub (encode/broadcaster's
split). :func:`gateway.broker.create_broker` picks the implementation by URL scheme.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Self

from ..wire import Numbered

if TYPE_CHECKING:
    from ..ratelimit import Quota

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

    Viewers receive ``message.text(seq)``; the late-join payload kept for the session
    is ``message.data(seq)`` (nothing for a clear). Assigning ``seq``, storing the data
    and publishing happen as one step, so every instance sees messages in ``seq`` order.
    """

    message: Numbered
    #: How long the data stays once no viewer watches (``sessions.data_linger_seconds``).
    linger_seconds: float


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """A publish sent with an ``Idempotency-Key``: its scope and the hash of its body.

    The broker checks and records it in the same step as the publish, so two requests
    with one key never both broadcast, whether they race, retry after a 503, or land
    on different instances (docs/protocol.md §10).
    """

    scope: str
    body_sha256: str


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What a publish did: its ``seq``, and the viewers the session had at that moment."""

    seq: int
    delivered: int
    #: An earlier request with the same key and body broadcast this; nothing was sent now.
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Admission:
    """A viewer counted by :meth:`Broker.admit_viewer`, and the session as it was then."""

    #: Viewers of the session on every instance, this one included.
    total: int
    record: SessionRecord


class Broker(ABC):
    """Session storage and cross-instance delivery. Every method may raise BrokerUnavailable."""

    #: A short name for /health and logs ("memory", "redis").
    name: str
    #: Whether every call completes in this process without waiting on a network:
    #: the hub then spares it the timeout a remote broker needs.
    in_process: bool = False
    #: Whether :meth:`publish` and :meth:`admit_viewer` take a rate-limit :class:`Quota`
    #: with keys in their own step; the hub takes any other quota before calling.
    takes_quotas: ClassVar[bool] = False

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
        """Check the session, assign the next ``seq``, keep the late-join data, deliver
        the message to every instance and remember the outcome under ``request_id``,
        as one step (one round trip to a shared broker).

        ``quotas`` (only where :attr:`takes_quotas`) are rate-limit hits taken first, in
        order, in the same step; QuotaRefused names the first one spent, and then
        nothing else happens.

        Raises SessionNotFound when the session is unknown, SessionExpired when its
        ttl ran out at ``now``, Forbidden when it belongs to another key than
        ``key_id``. With ``idempotency``, a key already recorded with the same body
        returns that publish's outcome (``replayed``) and broadcasts nothing; with
        another body it raises IdempotencyConflict; the record lives as long as the
        session. A ``request_id`` that :meth:`settle` has fenced never publishes (None).
        """

    @abstractmethod
    async def settle(self, session_id: str, request_id: str) -> PublishOutcome | None:
        """The outcome of a publish whose answer was lost (a timeout), made final.

        Returns what the publish with ``request_id`` did if it ran; otherwise fences
        ``request_id`` so that it never runs, however late it reaches the broker, and
        returns None. Either way the answer does not change afterwards.
        """

    @abstractmethod
    async def admit_viewer(
        self,
        session_id: str,
        *,
        max_viewers: int,
        now: float,
        linger_seconds: float,
        quotas: tuple[Quota, ...] = (),
    ) -> Admission | int | None:
        """Count one more viewer of the session on this instance, unless the session
        already has ``max_viewers`` on all instances together.

        Checking, counting and reading the session are one step, so concurrent joins
        on any number of instances never admit more than ``max_viewers``, and the
        record returned is the one the viewer was admitted to. Returns the
        :class:`Admission`, -1 when the session is full, None when it is gone.
        ``quotas`` as for :meth:`publish`.
        """

    @abstractmethod
    async def release_viewer(self, session_id: str, *, now: float, linger_seconds: float) -> None:
        """Count one viewer fewer on this instance (the last one leaving starts the linger)."""

    @abstractmethod
    async def count_viewers(self, session_id: str) -> int:
        """Viewers of the session on every live instance."""

    @abstractmethod
    async def sweep(self, now: float, linger_seconds: float) -> int:
        """Free expired sessions and lingering data; return how many sessions were removed."""

    @abstractmethod
    async def count_sessions(self) -> int:
        """Live sessions held by the broker."""
