"""Brokers by URL scheme: ``memory://`` (embedded) and, later, ``redis://``."""

from __future__ import annotations

from .base import Broker, IdempotencyRecord, SessionRecord

__all__ = ["Broker", "IdempotencyRecord", "SessionRecord", "create_broker"]


def create_broker(url: str, *, timeout_seconds: float) -> Broker:
    """Build the broker named by ``url``; backends are imported only when chosen."""
    if url == "memory://":
        from .memory import MemoryBroker

        return MemoryBroker()
    raise ValueError(f"broker.url: unsupported scheme in {url.split('://')[0]!r}")
