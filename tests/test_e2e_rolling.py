"""End-to-end: a rolling restart of three gateways over one Redis, under load.

Viewers are spread over the instances and reconnect as the viewer page does (after
1001, to an instance that is up, after the page's first backoff of 0.5–1 s); a
publisher publishes every 100 ms through whichever instance answers. Each instance is
restarted in turn (SIGTERM, wait for the exit, start again, wait until it is ready).

What a viewer can be promised is what the late join gives (docs/protocol.md §3): on
every (re)connection SESSION_INFO and the session's latest PAYMENT_DATA, then every
publish live, in ``seq`` order, exactly once. A publish made while a viewer was between
two connections reaches it as the late join of the next one if it is still the latest,
and is otherwise superseded by a newer one; the test checks exactly that.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .gatewayproc import Gateway, GatewayAPI, RedisServer, payment
from .test_e2e_redis import shared

#: The viewer page's first retry waits 0.5–1 s (web/src/connection.ts, BACKOFF_BASE_MS).
FIRST_BACKOFF = (0.5, 1.0)
PUBLISH_EVERY = 0.1
VIEWERS_PER_INSTANCE_AND_SESSION = 1
SESSIONS = 2


@dataclass
class Link:
    """One connection of a viewer: the seqs it carried and when it was up."""

    opened_at: float
    seqs: list[int] = field(default_factory=list)
    closed_at: float | None = None
    close_code: int | None = None


@dataclass
class Viewer:
    """A viewer that reconnects like the page: to the next instance that accepts it."""

    token: str
    home: int
    links: list[Link] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set on every message; the test waits on it instead of polling.
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, gateways: list[Gateway], stop: asyncio.Event) -> None:
        order = itertools.cycle(range(len(gateways)))
        for _ in range(self.home):
            next(order)
        while not stop.is_set():
            gw = gateways[next(order)]
            try:
                async with connect(
                    f"{gw.ws_base}/?token={self.token}", ssl=gw.ssl_context, open_timeout=5
                ) as ws:
                    await self._watch(ws)
            except (OSError, InvalidHandshake, InvalidStatus, TimeoutError):
                await asyncio.sleep(0.05)  # that instance is down: try the next one
                continue
            if not stop.is_set():
                await asyncio.sleep(random.uniform(*FIRST_BACKOFF))  # noqa: S311 (jitter)

    async def _watch(self, ws: Any) -> None:
        link: Link | None = None
        try:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "SESSION_INFO":
                    link = Link(time.monotonic())
                    self.links.append(link)
                    self.connected.set()
                elif message["type"] == "PAYMENT_DATA":
                    assert link is not None, "PAYMENT_DATA before SESSION_INFO"
                    link.seqs.append(message["payload"]["seq"])
                    self.progress.set()
        except ConnectionClosed:
            pass
        finally:
            self.connected.clear()
            if link is not None:
                link.closed_at = time.monotonic()
                link.close_code = ws.close_code

    def longest_gap(self) -> float:
        gaps = [
            later.opened_at - earlier.closed_at
            for earlier, later in itertools.pairwise(self.links)
            if earlier.closed_at is not None
        ]
        return max(gaps, default=0.0)


async def publish_forever(
    gateways: list[Gateway],
    tokens: list[str],
    stop: asyncio.Event,
    acked: dict[str, list[int]],
    progress: asyncio.Event,
) -> list[int]:
    """Publish every PUBLISH_EVERY s through whichever instance answers; every answer's
    status is returned (a 503 or a refused connection moves on to the next instance,
    with the same Idempotency-Key)."""
    statuses: list[int] = []
    start = itertools.count()
    async with httpx.AsyncClient(verify=gateways[0].ssl_context, timeout=5) as client:
        for n in itertools.count():
            if stop.is_set():
                return statuses
            token = tokens[n % len(tokens)]
            data = payment(100_000 + n)
            first = next(start)
            for attempt in range(30):
                gw = gateways[(first + attempt) % len(gateways)]
                request = GatewayAPI(gw).payment(token, data, headers={"Idempotency-Key": f"p-{n}"})
                try:
                    response = await client.send(request)
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
                    continue
                statuses.append(response.status_code)
                if response.status_code == 200:
                    acked[token].append(response.json()["seq"])
                    progress.set()
                    break
                assert response.status_code == 503, response.text
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"publish {n} found no instance in 30 tries")
            await asyncio.sleep(PUBLISH_EVERY)
    raise AssertionError("unreachable")


def check_viewer(viewer: Viewer, acked: list[int]) -> int:
    """Check one viewer's links against the acknowledged seqs of its session; return
    how many of those it missed between two connections (a newer one was the late join
    of the next)."""
    links = viewer.links
    assert links, "the viewer never connected"
    for link in links[:-1]:
        assert link.close_code == 1001, f"closed with {link.close_code}, not 1001"
    accepted: list[int] = []
    for link in links:
        assert link.seqs, "a (re)connection without the session's latest PAYMENT_DATA"
        assert link.seqs == sorted(set(link.seqs)), f"out of order or twice: {link.seqs}"
        # The page skips a seq it already has: only the late join may repeat one.
        fresh = [s for s in link.seqs if not accepted or s > accepted[-1]]
        assert fresh == link.seqs or fresh == link.seqs[1:], (accepted[-3:], link.seqs)
        accepted.extend(fresh)
        # Live, nothing is skipped: every acknowledged seq from the late join on.
        live = [s for s in acked if link.seqs[0] <= s <= link.seqs[-1]]
        assert link.seqs == live, f"a gap inside one connection: {link.seqs} vs {live}"
    superseded = 0
    for seq in acked:
        if seq in accepted or seq < links[0].seqs[0]:
            continue
        # Missed only between two connections, the next one starting later.
        assert any(
            earlier.seqs[-1] < seq < later.seqs[0] for earlier, later in itertools.pairwise(links)
        ), f"seq {seq} never reached the viewer"
        superseded += 1
    assert accepted[-1] == acked[-1], "the viewer does not show the last payment"
    return superseded


async def test_a_rolling_restart_loses_no_acknowledged_payment(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    redis = redis_server()
    gateways = [start_gateway(shared(redis)) for _ in range(3)]
    async with gateways[0].client() as api:
        tokens = [(await api.new_session())["token"] for _ in range(SESSIONS)]
        for token in tokens:
            await api.publish(token)  # seq 1: every connection starts with a late join
    acked: dict[str, list[int]] = {token: [1] for token in tokens}
    viewers = [
        Viewer(token, home)
        for token in tokens
        for home in range(len(gateways))
        for _ in range(VIEWERS_PER_INSTANCE_AND_SESSION)
    ]
    stop = asyncio.Event()
    watching = [asyncio.create_task(v.run(gateways, stop)) for v in viewers]
    for viewer in viewers:
        await asyncio.wait_for(viewer.connected.wait(), 20)
    published = asyncio.Event()
    publisher = asyncio.create_task(publish_forever(gateways, tokens, stop, acked, published))

    restart_seconds = []
    for gw in gateways:
        began = time.monotonic()
        assert await asyncio.to_thread(gw.stop) == 0, "the instance did not drain cleanly"
        await asyncio.to_thread(gw.start)
        restart_seconds.append(time.monotonic() - began)
        async with asyncio.timeout(20):
            for viewer in viewers:
                await viewer.connected.wait()
        assert not publisher.done()

    before = {token: len(seqs) for token, seqs in acked.items()}
    async with asyncio.timeout(20):  # a few more publishes with everyone connected
        while any(len(acked[t]) < before[t] + 3 for t in tokens):
            published.clear()
            await published.wait()
    stop.set()
    statuses = await publisher
    async with asyncio.timeout(20):
        for viewer in viewers:
            while not viewer.links[-1].seqs or viewer.links[-1].seqs[-1] < acked[viewer.token][-1]:
                viewer.progress.clear()
                await viewer.progress.wait()
    for gw in gateways:
        await asyncio.to_thread(gw.stop)
    await asyncio.gather(*watching)

    superseded = sum(check_viewer(v, acked[v.token]) for v in viewers)
    assert set(statuses) <= {200, 503}, statuses
    reconnects = sum(len(v.links) - 1 for v in viewers)
    assert reconnects >= len(viewers) // len(gateways) * len(gateways)
    print(
        f"\nrolling restart: {sum(len(s) for s in acked.values())} payments acknowledged, "
        f"{statuses.count(503)} x 503 retried elsewhere; {reconnects} reconnects; longest "
        f"without a connection {max(v.longest_gap() for v in viewers):.2f} s; "
        f"{superseded} times a viewer missed a publish between two connections and got a "
        f"newer one as its late join; restarts took "
        + ", ".join(f"{s:.1f}" for s in restart_seconds)
        + " s"
    )
