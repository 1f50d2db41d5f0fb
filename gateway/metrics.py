"""Prometheus metrics (prometheus-client), read from the hub and the limiter at scrape time.

Counters the hub already keeps are exported by a collector rather than counted twice;
only the request latency histogram is observed as requests finish. Each app has its
own registry, so several apps in one process (tests) do not share numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .hub import Hub
from .ratelimit import RateLimiter

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class GatewayCollector(Collector):
    def __init__(self, hub: Hub, limiter: RateLimiter) -> None:
        self._hub = hub
        self._limiter = limiter

    def collect(self) -> Iterator[Metric]:
        hub = self._hub
        yield GaugeMetricFamily(
            "gateway_connections", "Viewer WebSocket connections open now", value=hub.connections
        )
        yield GaugeMetricFamily(
            "gateway_sessions",
            "Live sessions in the broker at the last scrape",
            value=hub.last_session_count,
        )
        yield CounterMetricFamily(
            "gateway_publishes", "Publishes and clears broadcast", value=hub.published
        )
        yield CounterMetricFamily(
            "gateway_deliveries", "Messages handed to viewers by publishes", value=hub.delivered
        )
        yield CounterMetricFamily(
            "gateway_slow_consumers",
            "Viewers closed with 4408 because their queue overflowed",
            value=hub.slow_consumers,
        )
        rejected = CounterMetricFamily(
            "gateway_rate_limited", "Requests and messages refused by a rate limit", labels=["rule"]
        )
        for rule, count in sorted(self._limiter.rejected.items()):
            rejected.add_metric([rule], count)
        yield rejected


class Metrics:
    """The registry of one app: the collector and the HTTP latency histogram."""

    def __init__(self, hub: Hub, limiter: RateLimiter) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(GatewayCollector(hub, limiter))
        self.request_seconds = Histogram(
            "gateway_http_request_duration_seconds",
            "HTTP request latency by route and status",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self._hub = hub

    async def render(self) -> bytes:
        """Refresh what needs the broker, then the text exposition format."""
        await self._hub.refresh_session_count()
        return generate_latest(self.registry)
