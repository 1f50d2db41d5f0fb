"""`server.workers`: several processes on one port over a real Redis (docs/protocol.md §11).

Each test starts a real `gateway serve` with two workers. The kernel spreads new
connections over the workers (SO_REUSEPORT); the workers share sessions, publishes and
rate limits through Redis, and /api/stats and /metrics count every worker's work.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from .gatewayproc import (
    Gateway,
    RedisServer,
    free_port,
    new_session_on,
    payment,
    post_payment_to,
    render_toml,
)
from .test_e2e_redis import receive, shared, watch

TWO = {"workers": 2}


def events(gw: Gateway, name: str) -> list[dict[str, Any]]:
    found = []
    for line in gw.output().splitlines():
        if line.startswith("{") and f'"event":"{name}"' in line:
            found.append(json.loads(line))
    return found


async def eventually(check: Callable[[], Any], seconds: float = 10) -> Any:
    """Poll ``check`` until it returns something true: the other worker's counts reach
    the shared files within metrics.SYNC_SECONDS (1 s)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.1)


async def started_workers(gw: Gateway, count: int = 2) -> list[int]:
    """The pids of the workers once all ``count`` have logged their start: /health
    answers as soon as one of them serves."""
    assert await eventually(lambda: len(events(gw, "worker_started")) == count)
    return [e["pid"] for e in events(gw, "worker_started")]


async def stats(gw: Gateway) -> dict[str, Any]:
    async with gw.client() as client:
        response = await client.get("/api/stats", headers={"X-API-Key": gw.key("stats")})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def metric(gw: Gateway, name: str) -> float:
    async with gw.client() as client:
        response = await client.get("/metrics", headers={"X-API-Key": gw.key("stats")})
        assert response.status_code == 200, response.text
    for line in response.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1.0


async def test_two_workers_share_the_port_the_sessions_and_the_counts(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """Connections land on both workers; a publish made on either reaches every viewer
    once, in order; /api/stats and /metrics count both workers' viewers and publishes."""
    gw = start_gateway(shared(redis_server(), server=TWO))
    await started_workers(gw)
    session = await new_session_on(gw)
    viewers = [(await watch(gw, session["token"]))[0] for _ in range(12)]

    def publishers() -> set[int]:
        return {e["worker"] for e in events(gw, "http_request") if e["route"] == "/api/payment"}

    # Each through a new connection, so either worker may answer: at least 8, and on
    # until both have (the kernel picks by a hash: 8 all on one worker is 1 in 128).
    sent = 0
    while sent < 8 or (publishers() != {0, 1} and sent < 64):
        response = await post_payment_to(gw, session["token"], payment(amount=1000 + sent))
        sent += 1
        assert response.status_code == 200, response.text
        assert response.json()["seq"] == sent
        assert response.json()["delivered"] == 12
    for ws in viewers:
        got = [await receive(ws) for _ in range(sent)]
        assert [m["payload"]["seq"] for m in got] == list(range(1, sent + 1))
    assert await eventually(lambda: publishers() == {0, 1}), "every publish went to one worker"

    async def counted() -> bool:
        body = await stats(gw)
        expected = (12, sent, 12 * sent)
        return (body["connections"], body["published"], body["delivered"]) == expected

    assert await eventually(counted), await stats(gw)
    assert await eventually(lambda: _equals(metric(gw, "gateway_publishes_total"), float(sent)))
    assert await metric(gw, "gateway_connections") == 12.0
    for ws in viewers:
        await ws.close()
    assert await eventually(lambda: _equals(metric(gw, "gateway_connections"), 0.0))
    # Both workers' handshakes: every one of them finished (the other worker's count
    # is at most a second old). Some failed: the start-up probe only connects.
    assert await eventually(lambda: _equals(metric(gw, "gateway_tls_handshakes_in_progress"), 0.0))
    assert await metric(gw, "gateway_tls_handshakes_failed_total") >= 0.0  # -1: missing


async def _equals(value: Any, expected: float) -> bool:
    return bool(await value == expected)


async def test_the_metrics_port_is_shared_by_the_workers_too(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """With metrics.bind, each worker serves the scraper's port as well, and whichever
    answers counts every worker's requests."""
    bind = f"127.0.0.1:{free_port()}"
    gw = start_gateway(shared(redis_server(), server=TWO, metrics={"bind": bind}))
    for _ in range(6):
        await new_session_on(gw)

    async def scraped() -> float:
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(f"http://{bind}/metrics")).text
        for line in text.splitlines():
            if line.startswith("gateway_http_request_duration_seconds_count") and (
                'route="/api/token/generate"' in line
            ):
                return float(line.split()[1])
        return 0.0

    for _ in range(4):  # each scrape on a new connection: either worker may answer
        assert await eventually(lambda: _equals(scraped(), 6.0))


async def test_sigterm_drains_every_worker_within_ten_seconds(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """Viewers on both workers get 1001; the parent exits 0 within 10 s of SIGTERM."""
    gw = start_gateway(shared(redis_server(), server=TWO))
    session = await new_session_on(gw)
    viewers = [(await watch(gw, session["token"]))[0] for _ in range(8)]
    assert gw.proc is not None
    started = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    for ws in viewers:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1001
    code = await asyncio.to_thread(gw.proc.wait, 12)
    assert code == 0
    assert time.monotonic() - started < 10
    closed = {e["worker"] for e in events(gw, "drain_done")}
    assert closed == {0, 1}


@pytest.mark.server_errors_expected  # the parent logs the dead worker as an error
async def test_a_worker_that_dies_stops_the_gateway(
    start_gateway: Callable[..., Gateway], redis_server: Callable[..., RedisServer]
) -> None:
    """A worker killed from outside takes the whole gateway down (non-zero exit) rather
    than leaving half a port served: the orchestrator restarts it."""
    gw = start_gateway(shared(redis_server(), server=TWO))
    pids = await started_workers(gw)
    os.kill(pids[0], signal.SIGKILL)
    assert gw.proc is not None
    code = await asyncio.to_thread(gw.proc.wait, 15)
    assert code != 0
    assert not _alive(pids[1])
    assert events(gw, "worker_exited")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("command", ["check-config", "serve"])
@pytest.mark.parametrize("workers", [2, "auto"])
def test_more_than_one_worker_needs_a_shared_broker(
    tmp_path: Path, command: str, workers: int | str
) -> None:
    """check-config and serve refuse workers > 1 with memory:// (exit 2, naming the key)."""
    if workers == "auto" and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: auto is one worker")
    config = tmp_path / "config.toml"
    config.write_text(render_toml({"server": {"workers": workers}}))
    done = subprocess.run(
        [sys.executable, "-m", "gateway", command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GATEWAY_JWT_SECRET": "x" * 64},
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "server.workers" in done.stderr
    assert "shared broker" in done.stderr
