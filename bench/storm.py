#!/usr/bin/env python3
"""Reconnect storm: the viewers of a killed instance all come back to the one left.

    python bench/storm.py                       # 5,000 viewers of 2,500 sessions
    python bench/storm.py --viewers 1000 --sessions 500 --json-out FILE

Two gateway instances (the bench config of ``run.py``: TLS, API key, JWT tokens,
every protection on, one issuer) share a ``redis-server`` that this script starts on a
free port. Every session gets a payment; every viewer connects to instance A, and
holds ``SESSION_INFO`` and its ``PAYMENT_DATA``. Then A is SIGKILLed: every viewer's
connection drops at once, and each reconnects to B the way the viewer page does
(web/src/connection.ts: the first retry after 0.5–1 s, then doubling, capped at
15–30 s, "equal jitter"), until it holds ``SESSION_INFO`` and the session's
``PAYMENT_DATA`` again.

Reported: the time from the kill until every viewer holds both again (and the 50th and
99th percentiles), the retries, B's peak resident memory and its CPU during the
storm, and the load generator's own CPU (it shares the machine's cores). Exit 1 when
a viewer does not come back within ``--deadline`` seconds or any payment is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import loadgen  # noqa: E402  (bench/ is not a package: its scripts import by path)
import netio  # noqa: E402
import procstat  # noqa: E402
import run as bench_run  # noqa: E402

try:
    import uvloop
except ImportError:  # the client works on asyncio's loop too
    uvloop = None  # type: ignore[assignment]

#: The viewer page's backoff (web/src/connection.ts): base 1 s, cap 30 s, equal jitter.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
ISSUER = "https://storm.bench.invalid"


def backoff(attempt: int) -> float:
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + random.random() * ceiling / 2  # noqa: S311 (jitter)


class Storm:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.targets = bench_run.Targets(workdir, tls=True, names=["gateway-redis"])
        self.a = self._server("gateway-redis")
        self.b = self._server("gateway-redis-w2" if args.workers == 2 else "gateway-redis")
        self.retries = 0
        self.done_at: list[float] = []
        self.timeline: list[dict[str, float]] = []

    def _server(self, target: str) -> bench_run.Server:
        server = self.targets.server(target)
        config = Path(server.command[-1])
        # One issuer for both instances: a token minted by one is valid on the other.
        text = config.read_text() + f'\n[auth]\nissuer = "{ISSUER}"\n'
        if self.args.handshakes is not None:
            text = text.replace(
                "[tls]\n", f"[tls]\nhandshakes_in_flight = {self.args.handshakes}\n"
            )
        if self.args.broker_timeout is not None:
            text = text.replace(
                "[broker]\n", f"[broker]\ntimeout_seconds = {self.args.broker_timeout}\n"
            )
        config.write_text(text)
        return server

    def endpoint(self, server: bench_run.Server) -> netio.Endpoint:
        assert server.cafile is not None
        return netio.Endpoint.parse(
            server.base, netio.client_ssl_context(cafile=str(server.cafile))
        )

    async def prepare(self) -> list[str]:
        """Sessions with a payment each (``orderId`` b-<n>), made through B."""
        http = netio.HttpPool(self.endpoint(self.b), 32, {"X-API-Key": self.targets.api_key})
        tokens: list[str] = [""] * self.args.sessions

        async def make(i: int) -> None:
            status, body, raw = await http.json("POST", "/api/token/generate")
            assert status == 201, raw[:200]
            tokens[i] = body["token"]
            data = loadgen.publish_data(f"b-{i + 1}")
            status, _, raw = await http.json(
                "POST", "/api/payment", {"token": tokens[i], "data": data}
            )
            assert status == 200, raw[:200]

        queue = iter(range(self.args.sessions))

        async def worker() -> None:
            for i in queue:
                await make(i)

        await asyncio.gather(*(worker() for _ in range(32)))
        http.close()
        return tokens

    async def run(self) -> dict[str, Any]:
        for server in (self.a, self.b):
            server.start()
        tokens = await self.prepare()
        targets = [
            (i % len(tokens), f"/?token={tokens[i % len(tokens)]}")
            for i in range(self.args.viewers)
        ]
        pool_a = netio.ViewerPool(self.endpoint(self.a), len(tokens))
        pool_a.max_seq = len(tokens)
        opened = await pool_a.open_many(targets, self.args.in_flight)
        assert opened == len(targets), f"only {opened} of {len(targets)} viewers opened on A"
        await self._until(lambda: pool_a.received >= len(targets), 60, "late joins on A")
        log(f"{opened} viewers hold their payment on A; killing A")

        pool_b = netio.ViewerPool(self.endpoint(self.b), len(tokens), connect_timeout=30)
        pool_b.max_seq = len(tokens)
        assert self.b.proc is not None
        cpu_before = procstat.tree_cpu_seconds(self.b.proc.pid) or 0.0
        own_before = procstat.self_cpu_seconds()
        peak = [0]
        sampling = asyncio.create_task(self._sample_rss(self.b.proc.pid, peak))
        spy = None
        if self.args.profile:
            spy = subprocess.Popen(  # noqa: S603, ASYNC220 (started, not waited for, here)
                [shutil.which("py-spy") or "py-spy", "record", "-p", str(self.b.proc.pid),
                 "-o", str(self.args.profile), "-f", "raw", "-d", "15", "--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(1)  # py-spy attaches
        assert self.a.proc is not None
        self.a.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        progress = asyncio.create_task(self._progress(pool_b, killed, len(targets)))
        await asyncio.gather(*(self._come_back(pool_b, t, killed) for t in targets))
        progress.cancel()
        took = time.monotonic() - killed
        await self._until(lambda: pool_b.received >= len(targets), 30, "late joins on B")
        took_data = time.monotonic() - killed
        cpu = (procstat.tree_cpu_seconds(self.b.proc.pid) or 0.0) - cpu_before
        own = procstat.self_cpu_seconds() - own_before
        sampling.cancel()
        if spy is not None:
            await asyncio.to_thread(spy.wait)
        times = sorted(self.done_at)
        result = {
            "viewers": len(targets),
            "sessions": len(tokens),
            "allBackSeconds": round(took, 2),
            "allWithDataSeconds": round(took_data, 2),
            "p50Seconds": round(times[len(times) // 2], 2),
            "p99Seconds": round(times[int(len(times) * 0.99) - 1], 2),
            "retries": self.retries,
            "paymentsReceived": pool_b.received,
            "unexpected": pool_b.unexpected,
            "peakRssMiB": round(peak[0] / 1024, 1),
            "cpuSeconds": round(cpu, 2),
            "cpuPercent": round(100 * cpu / took_data, 1),
            "loadgenCpuPercent": round(100 * own / took_data, 1),
            "deadlineSeconds": self.args.deadline,
            "workersOfB": self.args.workers,
            "handshakesInFlight": self.args.handshakes or 64,
            "timeline": self.timeline,
        }
        pool_b.close_all()
        await pool_b.wait_closed()
        return result

    async def _come_back(
        self, pool: netio.ViewerPool, target: tuple[int, str], since: float
    ) -> None:
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(backoff(attempt))
            if await pool.open(*target):
                self.done_at.append(time.monotonic() - since)
                return
            self.retries += 1
            if time.monotonic() - since > self.args.deadline:
                raise SystemExit(f"a viewer was not back within {self.args.deadline} s")

    async def _progress(self, pool: netio.ViewerPool, since: float, total: int) -> None:
        """Every second: viewers back, and the CPU of B and of this load generator over
        that second (``self.timeline``), to show which of them the storm waits for."""
        assert self.b.proc is not None
        b_cpu = procstat.tree_cpu_seconds(self.b.proc.pid) or 0.0
        own_cpu = procstat.self_cpu_seconds()
        at = time.monotonic()
        while True:
            await asyncio.sleep(1)
            now = time.monotonic()
            b_now = procstat.tree_cpu_seconds(self.b.proc.pid) or 0.0
            own_now = procstat.self_cpu_seconds()
            point = {
                "t": round(now - since, 1),
                "back": len(self.done_at),
                "bCpuPercent": round(100 * (b_now - b_cpu) / (now - at)),
                "loadgenCpuPercent": round(100 * (own_now - own_cpu) / (now - at)),
            }
            self.timeline.append(point)
            b_cpu, own_cpu, at = b_now, own_now, now
            log(
                f"{point['t']:5.1f} s: {point['back']}/{total} back, B {point['bCpuPercent']} % "
                f"CPU, load generator {point['loadgenCpuPercent']} %, {self.retries} retries, "
                f"{pool.connect_errors} connect errors ({pool.connect_error_sample})"
            )

    @staticmethod
    async def _sample_rss(pid: int, peak: list[int]) -> None:
        while True:
            memory = procstat.tree_memory(pid)
            if memory is not None:
                peak[0] = max(peak[0], memory.rss_kib)
            await asyncio.sleep(0.1)

    @staticmethod
    async def _until(check: Any, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                raise SystemExit(f"{what}: not within {seconds} s")
            await asyncio.sleep(0.05)

    def close(self) -> None:
        for server in (self.a, self.b):
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
            else:
                server.proc = None
        self.targets.close()


def log(text: str) -> None:
    print(f"[storm] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=2500)
    parser.add_argument("--in-flight", type=int, default=100, help="handshakes at once on A")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds for all to return")
    parser.add_argument(
        "--workers", type=int, choices=(1, 2), default=1, help="server.workers of B"
    )
    parser.add_argument(
        "--broker-timeout", type=float, help="broker.timeout_seconds of both (default 2)"
    )
    parser.add_argument(
        "--handshakes",
        type=int,
        help="tls.handshakes_in_flight of both (default 64, at most 1024)",
    )
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--profile", type=Path, help="py-spy B for 15 s from the kill (folded stacks)"
    )
    args = parser.parse_args(argv)
    procstat.raise_open_files_limit()
    if uvloop is not None:
        uvloop.install()
    with tempfile.TemporaryDirectory(prefix="storm-") as tmp:
        storm = Storm(args, Path(tmp))
        try:
            result = asyncio.run(storm.run())
        finally:
            storm.close()
    print(json.dumps(result, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    ok = result["paymentsReceived"] == result["viewers"] and not result["unexpected"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
