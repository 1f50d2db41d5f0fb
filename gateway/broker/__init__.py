"""Brokers by URL scheme: ``memory://`` (embedded), ``redis://`` and ``rediss://``, and
the same through Sentinel (``redis+sentinel://``, ``rediss+sentinel://``)."""

from __future__ import annotations

from .base import (
    Admission,
    Broker,
    IdempotencyClaim,
    Publication,
    PublishOutcome,
    SessionRecord,
)

__all__ = [
    "Admission",
    "Broker",
    "IdempotencyClaim",
    "Publication",
    "PublishOutcome",
    "SessionRecord",
    "create_broker",
]


def create_broker(
    url: str,
    *,
    timeout_seconds: float,
    sentinel_password: str | None = None,
    min_replicas_acked: int = 0,
    session_ttl_seconds: float = 7 * 24 * 3600,
) -> Broker:
    """Build the broker named by ``url``; backends are imported only when chosen."""
    if url == "memory://":
        from .memory import MemoryBroker

        return MemoryBroker()
    if url.startswith(("redis://", "rediss://", "redis+sentinel://", "rediss+sentinel://")):
        from .redis import RedisBroker

        return RedisBroker(
            url,
            timeout_seconds=timeout_seconds,
            sentinel_password=sentinel_password,
            min_replicas_acked=min_replicas_acked,
            remember_seconds=session_ttl_seconds,
        )
    raise ValueError(f"broker.url: unsupported scheme in {url.split('://')[0]!r}")
