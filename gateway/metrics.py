"""Prometheus metrics (prometheus-client), read from the hub and the limiter.

One process: counters the hub already keeps are exported by a collector at scrape
time rather than counted twice; only the request latency histogram is observed as
requests finish. Each app has its own registry, so several apps in one process
(tests) do not share numbers.

Several workers (``server.workers``, gateway.workers): prometheus-client's
multiprocess mode. The parent names a directory in ``PROMETHEUS_MULTIPROC_DIR``
before the workers start; each worker's histogram writes there as it observes, and
each worker copies its hub's counters there every :data:`SYNC_SECONDS` and just
before it answers a scrape or ``/api/stats``. Whichever worker answers reads every
worker's files: its own numbers exact, the others' at most ``SYNC_SECONDS`` old.
Counters keep what exited workers counted; the connections gauge sums live workers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from . import accept
from .hub import Hub
from .ratelimit import RateLimiter

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Set by gateway.workers for its workers: metrics live in files shared by all of them.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: How often a worker copies its counters to the shared files.
SYNC_SECONDS = 1.0
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

HELP = {
    "gateway_connections": "Viewer WebSocket connections open now",
    "gateway_sessions": "Live sessions in the broker at the last scrape",
    "gateway_publishes": "Publishes and clears broadcast",
    "gateway_deliveries": "Messages handed to viewers by publishes",
    "gateway_slow_consumers": "Viewers closed with 4408 because their queue overflowed",
    "gateway_viewer_sockets_kept": (
        "Viewer connections the server kept after the 101 instead of handing them over"
    ),
    "gateway_rate_limited": "Requests and messages refused by a rate limit",
    "gateway_tls_handshakes_in_progress": "TLS handshakes accepted and not yet finished",
    "gateway_tls_handshakes_failed": "TLS handshakes that ended without a session",
}


@dataclass(frozen=True)
class Totals:
    """What ``/api/stats`` reports: this process's counts, or every worker's."""

    connections: int
    published: int
    delivered: int


class GatewayCollector(Collector):
    """The hub's and the limiter's counts of this process, read at scrape time."""

    def __init__(self, hub: Hub, limiter: RateLimiter) -> None:
        self._hub = hub
        self._limiter = limiter

    def collect(self) -> Iterator[Metric]:
        hub = self._hub
        yield GaugeMetricFamily(
            "gateway_connections", HELP["gateway_connections"], value=hub.connections
        )
        yield SessionsCollector(hub).gauge()
        yield CounterMetricFamily(
            "gateway_publishes", HELP["gateway_publishes"], value=hub.published
        )
        yield CounterMetricFamily(
            "gateway_deliveries", HELP["gateway_deliveries"], value=hub.delivered
        )
        yield CounterMetricFamily(
            "gateway_slow_consumers", HELP["gateway_slow_consumers"], value=hub.slow_consumers
        )
        yield CounterMetricFamily(
            "gateway_viewer_sockets_kept",
            HELP["gateway_viewer_sockets_kept"],
            value=hub.sockets_kept,
        )
        rejected = CounterMetricFamily(
            "gateway_rate_limited", HELP["gateway_rate_limited"], labels=["rule"]
        )
        for rule, count in sorted(self._limiter.rejected.items()):
            rejected.add_metric([rule], count)
        yield rejected
        yield GaugeMetricFamily(
            "gateway_tls_handshakes_in_progress",
            HELP["gateway_tls_handshakes_in_progress"],
            value=accept.counts.in_progress,
        )
        yield CounterMetricFamily(
            "gateway_tls_handshakes_failed",
            HELP["gateway_tls_handshakes_failed"],
            value=accept.counts.failed,
        )


class SessionsCollector(Collector):
    """Live sessions: one number in the shared broker, the same for every worker."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def gauge(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "gateway_sessions", HELP["gateway_sessions"], value=self._hub.last_session_count
        )

    def collect(self) -> Iterator[Metric]:
        yield self.gauge()


class SharedCounts:
    """This worker's counts in the multiprocess files, copied from the hub and limiter."""

    def __init__(self, hub: Hub, limiter: RateLimiter) -> None:
        self._hub = hub
        self._limiter = limiter
        self._gauges = {
            name: Gauge(name, HELP[name], registry=None, multiprocess_mode="livesum")
            for name in ("gateway_connections", "gateway_tls_handshakes_in_progress")
        }
        self._counters = {
            name: Counter(name, HELP[name], registry=None)
            for name in (
                "gateway_publishes",
                "gateway_deliveries",
                "gateway_slow_consumers",
                "gateway_viewer_sockets_kept",
                "gateway_tls_handshakes_failed",
            )
        }
        self._rejected = Counter(
            "gateway_rate_limited", HELP["gateway_rate_limited"], ["rule"], registry=None
        )
        self._copied: dict[str, int] = {}

    def sync(self) -> None:
        hub = self._hub
        self._gauges["gateway_connections"].set(hub.connections)
        self._gauges["gateway_tls_handshakes_in_progress"].set(accept.counts.in_progress)
        now = {
            "gateway_publishes": hub.published,
            "gateway_deliveries": hub.delivered,
            "gateway_slow_consumers": hub.slow_consumers,
            "gateway_viewer_sockets_kept": hub.sockets_kept,
            "gateway_tls_handshakes_failed": accept.counts.failed,
        }
        for name, value in now.items():
            self._add(self._counters[name], name, value)
        for rule, count in self._limiter.rejected.items():
            self._add(self._rejected.labels(rule), "rule:" + rule, count)

    def _add(self, counter: Counter, key: str, value: int) -> None:
        delta = value - self._copied.get(key, 0)
        if delta > 0:
            counter.inc(delta)
            self._copied[key] = value


class Metrics:
    """The registry of one app: its counts and the HTTP latency histogram."""

    def __init__(self, hub: Hub, limiter: RateLimiter) -> None:
        self._hub = hub
        self.registry = CollectorRegistry(auto_describe=True)
        self.shared: SharedCounts | None = None
        if os.environ.get(MULTIPROCESS_ENV):
            self.shared = SharedCounts(hub, limiter)
            self._files = MultiProcessCollector(None)  # type: ignore[no-untyped-call, unused-ignore]
            self.registry.register(self._files)
            self.registry.register(SessionsCollector(hub))
        else:
            self.registry.register(GatewayCollector(hub, limiter))
        self.request_seconds = Histogram(
            "gateway_http_request_duration_seconds",
            "HTTP request latency by route and status",
            ["method", "route", "status"],
            # In multiprocess mode the value lives in the shared files, not a registry.
            registry=None if self.shared is not None else self.registry,
            buckets=BUCKETS,
        )

    async def render(self) -> bytes:
        """Refresh what needs the broker, then the text exposition format."""
        await self._hub.refresh_session_count()
        if self.shared is not None:
            self.shared.sync()
        return generate_latest(self.registry)

    def totals(self) -> Totals:
        """Connections, publishes and deliveries: of every worker when there are several."""
        hub = self._hub
        if self.shared is None:
            return Totals(hub.connections, hub.published, hub.delivered)
        self.shared.sync()
        sums = {"gateway_connections": 0.0, "gateway_publishes": 0.0, "gateway_deliveries": 0.0}
        for family in self._files.collect():  # type: ignore[no-untyped-call, unused-ignore]
            if family.name in sums:
                for sample in family.samples:
                    if sample.name in (family.name, family.name + "_total"):
                        sums[family.name] += sample.value
        return Totals(
            int(sums["gateway_connections"]),
            int(sums["gateway_publishes"]),
            int(sums["gateway_deliveries"]),
        )

    async def sync_forever(self) -> None:
        """Copy this worker's counts to the shared files every SYNC_SECONDS."""
        if self.shared is None:
            return
        while True:
            self.shared.sync()
            await asyncio.sleep(SYNC_SECONDS)
