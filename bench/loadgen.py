#!/usr/bin/env python3
"""Load generator for the payment QR gateway and the baseline (bench/README.md).

    python bench/loadgen.py fanout      --base URL --sessions S --viewers V --rate R --duration T
    python bench/loadgen.py throughput  --base URL --sessions S --concurrency K --duration T
    python bench/loadgen.py connections --base URL --count N --sessions S [--ramp K] [--hold S]
    python bench/loadgen.py correctness --base URL
    python bench/loadgen.py qr          (prints the PNG data URI every publish carries)

Common options: --insecure or --cacert FILE (https), --api-key KEY (sent as X-API-Key),
--header 'Name: value', --server-pid PID (CPU and memory from /proc), --json-out FILE,
--quiet. A readable table goes to stderr and one JSON object to stdout (and FILE).
Exit codes: 0 measured, 1 a correctness check failed, 2 usage, 3 could not run.

Latency = from just before a publish POST is handed to the HTTP pool (body already
serialized) to the moment a viewer's socket hands over the PAYMENT_DATA frame with
that publish's orderId (``b-<n>``); one sample per delivery, nearest-rank percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import sys
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import netio  # sibling modules of this script, found through sys.path[0]
import procstat
from qrpng import QR_DATA_URI

try:
    import uvloop
except ImportError:  # plain asyncio works too, at a higher CPU cost per message
    uvloop = None  # type: ignore[assignment]

SCENARIOS = ("fanout", "throughput", "connections", "correctness")
# option: (type, low, high); every number the load generator takes is bounded
BOUNDS: dict[str, tuple[type, float, float]] = {
    "sessions": (int, 1, 10_000),
    "viewers": (int, 1, 100_000),
    "rate": (float, 0.1, 50_000),
    "duration": (float, 0.5, 600),
    "concurrency": (int, 1, 1024),
    "count": (int, 1, 100_000),
    "drain": (float, 0, 120),
    "ramp": (int, 1, 2000),
    "hold": (float, 0, 600),
}
MAX_VIEWERS = 100_000
MAX_IN_FLIGHT = 1024  # open loop: a stalled server stops the schedule here, not memory
SESSION_DEFAULT = {"fanout": 1, "throughput": 100, "connections": 50, "correctness": 2}
QUIET_S = 0.5  # correctness: how long "receives nothing" is watched
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


class UsageError(Exception):
    pass


# ------------------------------------------------------------------------ options


def _bounded(name: str) -> Callable[[str], float | int]:
    kind, low, high = BOUNDS[name]

    def parse(text: str) -> float | int:
        try:
            value: float | int = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (low <= value <= high) or (isinstance(value, float) and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}]")
        return value

    return parse


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="loadgen.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", choices=(*SCENARIOS, "qr"))
    parser.add_argument("--base", default="http://127.0.0.1:3001", help="http(s)://host:port")
    parser.add_argument("--insecure", action="store_true", help="accept any TLS certificate")
    parser.add_argument("--cacert", help="CA file to verify the server's certificate")
    parser.add_argument("--api-key", help="sent as X-API-Key on every HTTP request")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--server-pid", type=int, help="the server's PID, for CPU and memory")
    parser.add_argument("--json-out", type=Path, help="also write the JSON result here")
    parser.add_argument("--quiet", action="store_true", help="no table on stderr")
    parser.add_argument("--sessions", type=_bounded("sessions"))
    parser.add_argument("--viewers", type=_bounded("viewers"), default=10)
    parser.add_argument("--rate", type=_bounded("rate"), default=20.0, help="publishes/s")
    parser.add_argument("--duration", type=_bounded("duration"), default=10.0, help="seconds")
    parser.add_argument("--concurrency", type=_bounded("concurrency"), default=32)
    parser.add_argument("--count", type=_bounded("count"), default=1000)
    parser.add_argument(
        "--drain", type=_bounded("drain"), default=10.0, help="s to wait for late deliveries"
    )
    parser.add_argument(
        "--ramp", type=_bounded("ramp"), default=100, help="WebSocket handshakes in flight"
    )
    parser.add_argument(
        "--hold", type=_bounded("hold"), default=2.0, help="s to hold before reading memory"
    )
    opt = parser.parse_args(argv)
    if opt.scenario == "qr":
        return opt
    if opt.sessions is None:
        opt.sessions = SESSION_DEFAULT[opt.scenario]
    opt.headers = {}
    for header in opt.header:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            parser.error(f"--header wants 'Name: value', got {header!r}")
        opt.headers[name.strip()] = value.strip()
    if opt.api_key:
        opt.headers["X-API-Key"] = opt.api_key
    sockets = {
        "fanout": opt.sessions * opt.viewers,
        "throughput": opt.sessions,
        "connections": opt.count,
        "correctness": 4,
    }[opt.scenario]
    if sockets > MAX_VIEWERS:
        parser.error(f"{sockets} viewers: at most {MAX_VIEWERS}")
    opt.sockets = sockets
    return opt


# ------------------------------------------------------------------------ figures


def pct(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def rnd(x: float | None, digits: int = 2) -> float | None:
    return None if x is None or math.isnan(x) else round(x, digits)


def latency_figures(seconds: Sequence[float], prefix: str = "") -> dict[str, float | None]:
    values = sorted(seconds)
    ms = {p: pct(values, p) for p in (50, 95, 99)}
    top = values[-1] if values else None

    def f(x: float | None) -> float | None:
        return rnd(x * 1000 if x is not None else None)

    if prefix:
        return {f"{prefix}P50ms": f(ms[50]), f"{prefix}P99ms": f(ms[99])}
    return {"p50ms": f(ms[50]), "p95ms": f(ms[95]), "p99ms": f(ms[99]), "maxms": f(top)}


class CpuMeter:
    """CPU used by the server's process tree and by this process, in % of one core."""

    def __init__(self, server_pid: int | None) -> None:
        self.pid = server_pid
        self.t0 = perf_counter()
        self.server0 = procstat.tree_cpu_seconds(server_pid)
        self.self0 = procstat.self_cpu_seconds()

    def read(self) -> dict[str, float | None]:
        wall = perf_counter() - self.t0
        server1 = procstat.tree_cpu_seconds(self.pid)
        server = None
        if self.server0 is not None and server1 is not None and wall > 0:
            server = round((server1 - self.server0) / wall * 100)
        own = round((procstat.self_cpu_seconds() - self.self0) / wall * 100) if wall > 0 else None
        return {"serverCpuPct": server, "loadgenCpuPct": own}


# ------------------------------------------------------------------- API and load


@dataclass
class Session:
    index: int
    token: str
    ws_path: str
    body_prefix: bytes  # the publish body up to the orderId's number

    def body(self, n: int) -> bytes:
        return self.body_prefix + str(n).encode() + b'"}}'


def publish_data(order_id: str) -> dict[str, Any]:
    """The ``data`` of every publish: no other field, so strict validation passes."""
    return {"qrCode": QR_DATA_URI, "merchant": "Tiki", "amount": 300000, "orderId": order_id}


def _prefix(token: str) -> bytes:
    whole = orjson.dumps({"token": token, "data": publish_data("b-0")})
    cut = whole.rindex(b'b-0"}}')
    return whole[: cut + 2]


async def new_session(api: netio.HttpPool, index: int) -> Session:
    status, body, raw = await api.json("POST", "/api/token/generate", {})
    if not 200 <= status < 300 or not isinstance(body, dict) or "wsUrl" not in body:
        text = raw[:200].decode(errors="replace")
        raise RuntimeError(f"POST /api/token/generate -> {status} {text}")
    token = str(body["token"])
    return Session(index, token, netio.ws_path(str(body["wsUrl"])), _prefix(token))


async def new_sessions(api: netio.HttpPool, count: int, parallel: int = 16) -> list[Session]:
    out: list[Session | None] = [None] * count
    indexes = iter(range(count))

    async def worker() -> None:
        for i in indexes:
            out[i] = await new_session(api, i)

    await asyncio.gather(*(worker() for _ in range(min(parallel, count))))
    return [s for s in out if s is not None]


@dataclass
class Publisher:
    """Numbers every publish (orderId ``b-<n>``), times it and counts its outcome."""

    api: netio.HttpPool
    viewers: netio.ViewerPool | None
    send_times: array[float] = field(default_factory=lambda: array("d", [0.0]))
    published: int = 0  # 2xx answers
    expected: int = 0  # Σ over 2xx publishes of the session's connected viewers at send time
    http_errors: int = 0
    errors_by_status: dict[str, int] = field(default_factory=dict)
    error_sample: str | None = None
    post_seconds: array[float] = field(default_factory=lambda: array("d"))

    async def publish(self, session: Session) -> None:
        n = len(self.send_times)
        body = session.body(n)
        watching = self.viewers.live[session.index] if self.viewers else 0
        if self.viewers is not None:
            self.viewers.max_seq = n
        t = perf_counter()
        self.send_times.append(t)
        try:
            status, text = await self.api.request("POST", "/api/payment", body)
        except netio.HttpError as exc:
            status, text = 0, str(exc).encode()
            key = "transport"
        else:
            key = str(status)
        self.post_seconds.append(perf_counter() - t)
        if 200 <= status < 300:
            self.published += 1
            self.expected += watching
            return
        self.http_errors += 1
        self.errors_by_status[key] = self.errors_by_status.get(key, 0) + 1
        if self.error_sample is None:
            self.error_sample = f"{key} {text[:200].decode(errors='replace')}"

    def figures(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "httpErrors": self.http_errors,
            "httpErrorsByStatus": self.errors_by_status,
            "httpErrorSample": self.error_sample,
            **latency_figures(self.post_seconds, "post"),
        }


class Run:
    """One scenario run: options, the endpoint, and the clients it opened."""

    def __init__(self, opt: argparse.Namespace) -> None:
        self.opt = opt
        ctx = netio.client_ssl_context(insecure=opt.insecure, cafile=opt.cacert)
        self.endpoint = netio.Endpoint.parse(opt.base, ctx)
        self.problems: list[str] = []

    def api(self, size: int) -> netio.HttpPool:
        return netio.HttpPool(self.endpoint, size, self.opt.headers)

    async def viewers_for(
        self, sessions: list[Session], per_session: int
    ) -> tuple[netio.ViewerPool, int, float]:
        pool = netio.ViewerPool(self.endpoint, len(sessions))
        targets = [
            (sessions[i].index, sessions[i].ws_path)
            for i in netio.spread(len(sessions), per_session)
        ]
        t = perf_counter()
        opened = await pool.open_many(targets, self.opt.ramp)
        if pool.connect_errors:
            self.problems.append(
                f"{pool.connect_errors} of {len(targets)} viewers failed to connect "
                f"({pool.connect_error_sample})"
            )
        return pool, opened, perf_counter() - t

    async def drain(self, pool: netio.ViewerPool, publisher: Publisher) -> None:
        deadline = perf_counter() + self.opt.drain
        # polled: the viewers' protocols count in data_received, without waking anyone
        while perf_counter() < deadline and pool.received < publisher.expected:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    def deliveries(self, pool: netio.ViewerPool, publisher: Publisher, t0: float) -> dict[str, Any]:
        times = publisher.send_times
        lat = [t - times[n] for n, t in zip(pool.rec.seqs, pool.rec.times, strict=True)]
        span = pool.last_recv - t0 if pool.last_recv > t0 else 0.0
        figures: dict[str, Any] = {
            **latency_figures(lat),
            "deliveriesPerSec": round(len(lat) / span) if span else 0,
            "expected": publisher.expected,
            "received": pool.received,
            "lost": publisher.expected - pool.received,
            "unexpected": pool.unexpected,
            "closes": pool.closes,
            "closeCodes": pool.close_codes,
            "badFrames": pool.bad_frames,
            "otherMessages": pool.other,
        }
        if pool.received > publisher.expected:
            self.problems.append(
                f"{pool.received - publisher.expected} deliveries more than expected "
                "(duplicates, or viewers the server counted that we did not)"
            )
        if pool.first_not_info:
            self.problems.append(
                f"{pool.first_not_info} viewers' first message was not SESSION_INFO"
            )
        return figures


def _settle() -> None:
    """Collect garbage once and freeze the survivors: the measured phase scans less."""
    gc.collect()
    gc.freeze()


async def fanout(run: Run) -> dict[str, Any]:
    opt = run.opt
    api = run.api(64)
    try:
        sessions = await new_sessions(api, opt.sessions)
        pool, opened, connect_s = await run.viewers_for(sessions, opt.viewers)
        publisher = Publisher(api, pool)
        await asyncio.sleep(0.3)
        _settle()
        total = max(1, round(opt.rate * opt.duration))
        lags = array("d")
        in_flight: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        cpu = CpuMeter(opt.server_pid)
        t0 = perf_counter()
        for i in range(total):
            due = t0 + i / opt.rate
            wait = due - perf_counter()
            if wait > 0.001:
                await asyncio.sleep(wait)
            else:
                await asyncio.sleep(0)
            while len(in_flight) >= MAX_IN_FLIGHT:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            lags.append(perf_counter() - due)
            task = loop.create_task(publisher.publish(sessions[i % len(sessions)]))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.gather(*in_flight)
        publish_s = perf_counter() - t0
        await run.drain(pool, publisher)
        cpu_use = cpu.read()
        memory = procstat.tree_memory(opt.server_pid)
        figures = run.deliveries(pool, publisher, t0)
        pool.close_all()
        await pool.wait_closed()
    finally:
        api.close()
    lag = latency_figures(lags)
    if lag["p99ms"] is not None and lag["p99ms"] > 50:
        run.problems.append(
            f"load generator fell behind its schedule (p99 lag {lag['p99ms']} ms, its CPU "
            f"{cpu_use['loadgenCpuPct']}% of a core: if low, the machine was busy)"
        )
    return {
        "params": {k: getattr(opt, k) for k in ("sessions", "viewers", "rate", "duration")},
        "figures": {
            **figures,
            "offeredDeliveriesPerSec": round(opt.rate * opt.viewers),
            "publishesPerSec": rnd(publisher.published / publish_s, 1),
            **publisher.figures(),
            "schedLagP99ms": lag["p99ms"],
            **cpu_use,
            "serverRssKib": memory.rss_kib if memory else None,
            "viewers": opened,
            "connectSecs": rnd(connect_s),
        },
    }


async def throughput(run: Run) -> dict[str, Any]:
    opt = run.opt
    api = run.api(opt.concurrency)
    try:
        sessions = await new_sessions(api, opt.sessions)
        pool, opened, connect_s = await run.viewers_for(sessions, 1)
        publisher = Publisher(api, pool)
        await asyncio.sleep(0.3)
        _settle()
        counter = iter(range(1 << 62))
        cpu = CpuMeter(opt.server_pid)
        t0 = perf_counter()
        end = t0 + opt.duration

        async def worker() -> None:
            while perf_counter() < end:
                await publisher.publish(sessions[next(counter) % len(sessions)])

        await asyncio.gather(*(worker() for _ in range(opt.concurrency)))
        publish_s = perf_counter() - t0
        await run.drain(pool, publisher)
        cpu_use = cpu.read()
        memory = procstat.tree_memory(opt.server_pid)
        figures = run.deliveries(pool, publisher, t0)
        pool.close_all()
        await pool.wait_closed()
    finally:
        api.close()
    return {
        "params": {k: getattr(opt, k) for k in ("sessions", "concurrency", "duration")},
        "figures": {
            "publishesPerSec": round(publisher.published / publish_s),
            **figures,
            **publisher.figures(),
            **cpu_use,
            "serverRssKib": memory.rss_kib if memory else None,
            "viewers": opened,
            "connectSecs": rnd(connect_s),
        },
    }


async def connections(run: Run) -> dict[str, Any]:
    opt = run.opt
    api = run.api(16)
    try:
        sessions = await new_sessions(api, opt.sessions)
    finally:
        api.close()
    # Warm-up: the server loads whatever it loads on its first connections.
    warm = netio.ViewerPool(run.endpoint, len(sessions))
    n_warm = min(20, opt.count)
    await warm.open_many(
        [(i % len(sessions), sessions[i % len(sessions)].ws_path) for i in range(n_warm)], n_warm
    )
    warm.close_all()
    await warm.wait_closed()
    await asyncio.sleep(0.5)
    before = procstat.tree_memory(opt.server_pid)
    pool = netio.ViewerPool(run.endpoint, len(sessions))
    targets = [(i % len(sessions), sessions[i % len(sessions)].ws_path) for i in range(opt.count)]
    cpu = CpuMeter(opt.server_pid)
    t0 = perf_counter()
    opened = await pool.open_many(targets, opt.ramp)
    connect_s = perf_counter() - t0
    cpu_use = cpu.read()  # while connecting: which side limited the connect rate
    if pool.connect_errors:
        run.problems.append(
            f"{pool.connect_errors} of {opt.count} viewers failed to connect "
            f"({pool.connect_error_sample})"
        )
    await asyncio.sleep(opt.hold)
    after = procstat.tree_memory(opt.server_pid)
    closes = pool.closes
    pool.close_all()
    await pool.wait_closed()
    if opt.server_pid and after is None:
        run.problems.append(f"no /proc/{opt.server_pid}/status: is --server-pid the server?")

    def per(attr: str) -> float | None:
        if before is None or after is None or not opened:
            return None
        return rnd((getattr(after, attr) - getattr(before, attr)) / opened, 1)

    return {
        "params": {k: getattr(opt, k) for k in ("count", "sessions", "ramp", "hold")},
        "figures": {
            "opened": opened,
            "failed": pool.connect_errors,
            "connectPerSec": round(opened / connect_s) if connect_s else None,
            "connectSecs": rnd(connect_s),
            "closesDuringHold": closes,
            **cpu_use,
            "closeCodes": pool.close_codes,
            "kibPerConnection": per("rss_kib"),
            "hwmKibPerConnection": per("hwm_kib"),
            "rssBeforeKib": before.rss_kib if before else None,
            "rssAfterKib": after.rss_kib if after else None,
            "hwmAfterKib": after.hwm_kib if after else None,
            "serverProcesses": after.processes if after else None,
        },
    }


# --------------------------------------------------------------------- correctness


class Probe:
    """A viewer for the correctness checks, on the ``websockets`` client (an independent
    implementation from the load generator's own, so a failure is the server's)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, run: Run, session: Session) -> Probe:
        from websockets.asyncio.client import connect

        ep = run.endpoint
        url = f"{ep.ws_scheme}://{ep.host_header}{session.ws_path}"
        ws = await connect(
            url, ssl=ep.tls, compression=None, open_timeout=10, close_timeout=2, max_size=2**22
        )
        return cls(ws)

    async def next(self, within: float = 3.0) -> dict[str, Any] | None:
        """The next message, or None when none comes ``within`` seconds (or it closed)."""
        from websockets.exceptions import ConnectionClosed

        try:
            async with asyncio.timeout(within):
                raw = await self.ws.recv()
        except (TimeoutError, ConnectionClosed):
            return None
        try:
            msg = json.loads(raw)
        except ValueError:
            return {"type": "(not JSON)", "raw": str(raw)[:80]}
        return msg if isinstance(msg, dict) else {"type": "(not an object)"}

    @property
    def close_code(self) -> int | None:
        code = self.ws.close_code
        return None if code is None else int(code)


def _describe(m: dict[str, Any] | None) -> str:
    if m is None:
        return "nothing"
    payload = m.get("payload")
    oid = payload.get("orderId") if isinstance(payload, dict) else None
    return f"{m.get('type')}{' ' + str(oid) if oid else ''}"


async def correctness(run: Run) -> dict[str, Any]:
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str = "") -> bool:
        checks.append({"name": name, "ok": bool(ok), "detail": "" if ok else detail})
        return ok

    api = run.api(4)
    publisher = Publisher(api, None)
    probes: list[Probe] = []

    async def connect(s: Session) -> Probe:
        p = await Probe.open(run, s)
        probes.append(p)
        return p

    async def publish(s: Session) -> str:
        before = publisher.http_errors
        n = len(publisher.send_times)
        await publisher.publish(s)
        if publisher.http_errors > before:
            raise RuntimeError(f"POST /api/payment failed: {publisher.error_sample}")
        return f"b-{n}"

    def is_payment(m: dict[str, Any] | None, order_id: str) -> bool:
        return (
            m is not None
            and m.get("type") == "PAYMENT_DATA"
            and isinstance(m.get("payload"), dict)
            and m["payload"].get("orderId") == order_id
        )

    def info(m: dict[str, Any] | None, has_data: bool) -> bool:
        p = m.get("payload") if m else None
        return bool(
            m
            and m.get("type") == "SESSION_INFO"
            and isinstance(p, dict)
            and p.get("hasData") is has_data
        )

    try:
        status, _, _ = await api.json("GET", "/health")
        check("GET /health answers 200", status == 200, f"got {status}")
        a = await new_session(api, 0)
        b = await new_session(api, 1)
        check("POST /api/token/generate gives distinct tokens", a.token != b.token)

        a1 = await connect(a)
        first_msg = await a1.next()
        check(
            "first message is SESSION_INFO, hasData false on a new session",
            info(first_msg, False),
            f"got {json.dumps(first_msg)[:120]}",
        )
        extra = await a1.next(QUIET_S)
        check(
            "nothing else is sent to a viewer of a session without data",
            extra is None,
            f"got {_describe(extra)}",
        )

        first = await publish(a)
        live = await a1.next()
        check(
            "a publish reaches the connected viewer",
            is_payment(live, first),
            f"got {_describe(live)}",
        )
        p = (live or {}).get("payload") or {}
        check(
            "PAYMENT_DATA carries qrCode, merchant and amount unchanged",
            p.get("qrCode") == QR_DATA_URI
            and p.get("merchant") == "Tiki"
            and p.get("amount") == 300000,
            f"got merchant {p.get('merchant')!r}, amount {p.get('amount')!r}, "
            f"qrCode {'equal' if p.get('qrCode') == QR_DATA_URI else 'changed'}",
        )

        second = await publish(a)
        await a1.next()  # a1's copy of the second publish
        a2 = await connect(a)
        late1 = await a2.next()
        late2 = await a2.next()
        check(
            "late join: SESSION_INFO (hasData true) first",
            info(late1, True),
            f"got {json.dumps(late1)[:120]}",
        )
        check(
            "late join: then PAYMENT_DATA with the latest data",
            is_payment(late2, second),
            f"got {_describe(late2)}",
        )

        await a2.ws.send(json.dumps({"type": "PING"}))
        pong = await a2.next(2.0)
        check(
            "PING gets PONG",
            pong is not None and pong.get("type") == "PONG",
            f"got {_describe(pong)}",
        )

        third = await publish(a)
        x1, x2 = await asyncio.gather(a1.next(), a2.next())
        check(
            "every viewer of a session receives each publish",
            is_payment(x1, third) and is_payment(x2, third),
            f"viewer 1 got {_describe(x1)}, viewer 2 got {_describe(x2)}",
        )

        b1 = await connect(b)
        b_info = await b1.next()
        check(
            "a second session's viewer starts with SESSION_INFO, hasData false",
            info(b_info, False),
            f"got {_describe(b_info)}",
        )
        await publish(a)
        await asyncio.gather(a1.next(), a2.next())
        leak_to_b = await b1.next(QUIET_S)
        check(
            "isolation: a viewer of session B never receives session A's data",
            leak_to_b is None,
            f"B got {_describe(leak_to_b)}",
        )

        fifth = await publish(b)
        b_got = await b1.next()
        check(
            "session B's publish reaches B's viewer",
            is_payment(b_got, fifth),
            f"got {_describe(b_got)}",
        )
        leak1, leak2 = await asyncio.gather(a1.next(QUIET_S), a2.next(QUIET_S))
        check(
            "isolation: viewers of session A never receive session B's data",
            leak1 is None and leak2 is None,
            f"A got {_describe(leak1)} / {_describe(leak2)}",
        )

        closed = [pr.close_code for pr in probes if pr.close_code is not None]
        check("no viewer was closed by the server", not closed, f"close codes {closed}")
    except Exception as exc:  # any failure to run is a failed check, named
        check("the scenario ran to the end", False, f"{type(exc).__name__}: {exc}")
    finally:
        for pr in probes:
            await pr.ws.close()
        api.close()
    failed = [c for c in checks if not c["ok"]]
    return {
        "params": {},
        "figures": {"checks": len(checks), "passed": len(checks) - len(failed)},
        "checks": checks,
        "failures": [f"{c['name']}: {c['detail']}" for c in failed],
        "failed": bool(failed),
    }


# ----------------------------------------------------------------------- report


def _num(x: Any, digits: int = 0) -> str:
    if x is None:
        return "-"
    if isinstance(x, int | float):
        return f"{x:,.{digits}f}"
    return str(x)


def table(r: dict[str, Any], opt: argparse.Namespace) -> str:
    f = r.get("figures", {})
    rows: list[tuple[str, str]] = []

    def lat() -> None:
        rows.append(
            (
                "latency ms",
                f"p50 {_num(f.get('p50ms'), 2)}   p95 {_num(f.get('p95ms'), 2)}   "
                f"p99 {_num(f.get('p99ms'), 2)}   max {_num(f.get('maxms'), 2)}",
            )
        )

    def pub() -> None:
        errs = f.get("httpErrors")
        by = f" {json.dumps(f.get('httpErrorsByStatus'))}" if errs else ""
        rows.append(
            (
                "publishes",
                f"{_num(f.get('published'))} ok, {_num(errs)} HTTP errors{by}, "
                f"{_num(f.get('publishesPerSec'), 1)}/s; POST p50 {_num(f.get('postP50ms'), 2)} ms,"
                f" p99 {_num(f.get('postP99ms'), 2)} ms",
            )
        )

    def dels() -> None:
        rows.append(
            (
                "deliveries",
                f"{_num(f.get('received'))} of {_num(f.get('expected'))} expected "
                f"(lost {_num(f.get('lost'))}, unexpected {_num(f.get('unexpected'))}), "
                f"{_num(f.get('deliveriesPerSec'))}/s",
            )
        )

    def closes(extra: str = "") -> None:
        codes = f" {json.dumps(f.get('closeCodes'))}" if f.get("closes") else ""
        rows.append(("ws closes", f"{_num(f.get('closes'))}{codes}{extra}"))

    def cpu() -> None:
        rows.append(
            (
                "CPU % of a core",
                f"server {_num(f.get('serverCpuPct'))}, "
                f"load generator {_num(f.get('loadgenCpuPct'))}"
                f"; server RSS {_num(f.get('serverRssKib'))} KiB",
            )
        )

    scenario = r["scenario"]
    if scenario == "fanout":
        rows.append(
            (
                "load",
                f"{opt.sessions} session(s) x {opt.viewers} viewers, {opt.rate:g} publishes/s for "
                f"{opt.duration:g} s (offered "
                f"{_num(f.get('offeredDeliveriesPerSec'))} deliveries/s)",
            )
        )
        pub()
        dels()
        lat()
        closes(f"; schedule lag p99 {_num(f.get('schedLagP99ms'), 2)} ms")
        cpu()
    elif scenario == "throughput":
        rows.append(
            (
                "load",
                f"{opt.sessions} sessions x 1 viewer, {opt.concurrency} POSTs in flight for "
                f"{opt.duration:g} s",
            )
        )
        pub()
        dels()
        lat()
        closes()
        cpu()
    elif scenario == "connections":
        rows.append(
            (
                "viewers",
                f"{_num(f.get('opened'))} open, {_num(f.get('failed'))} failed, "
                f"{_num(f.get('connectPerSec'))} connects/s, {_num(f.get('closesDuringHold'))} "
                "closed while held",
            )
        )
        rows.append(
            (
                "server RSS KiB",
                f"{_num(f.get('rssBeforeKib'))} -> {_num(f.get('rssAfterKib'))} (peak "
                f"{_num(f.get('hwmAfterKib'))}, {_num(f.get('serverProcesses'))} process(es))",
            )
        )
        rows.append(
            (
                "CPU % of a core",
                f"while connecting: server {_num(f.get('serverCpuPct'))}, "
                f"load generator {_num(f.get('loadgenCpuPct'))}",
            )
        )
        rows.append(
            (
                "KiB/connection",
                f"{_num(f.get('kibPerConnection'), 1)} (peak-based "
                f"{_num(f.get('hwmKibPerConnection'), 1)})",
            )
        )
    else:
        for c in r.get("checks", []):
            rows.append(
                (
                    "ok" if c["ok"] else "FAIL",
                    c["name"] + (f" - {c['detail']}" if c["detail"] else ""),
                )
            )
    for p in r.get("problems", []):
        rows.append(("problem", p))
    width = max((len(k) for k, _ in rows), default=0)
    lines = [f"{scenario} against {r['base']}"] + [f"  {k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------- main


def budget_seconds(opt: argparse.Namespace) -> float:
    """Set-up + measured time + drain + a margin; past it the run gives up (exit 3)."""
    return float(120 + opt.duration + opt.drain + opt.hold + opt.sockets / 50)


async def main_async(opt: argparse.Namespace) -> tuple[dict[str, Any], int]:
    run = Run(opt)
    scenarios: dict[str, Callable[[Run], Awaitable[dict[str, Any]]]] = {
        "fanout": fanout,
        "throughput": throughput,
        "connections": connections,
        "correctness": correctness,
    }
    try:
        async with asyncio.timeout(budget_seconds(opt)):
            result = await scenarios[opt.scenario](run)
    except TimeoutError:
        return {
            "figures": {},
            "problems": [f"watchdog: no result in {budget_seconds(opt):.0f} s"],
        }, (EXIT_ERROR)
    except (RuntimeError, netio.HttpError, OSError, ValueError) as exc:
        return {"figures": {}, "problems": [*run.problems, f"error: {exc}"]}, EXIT_ERROR
    result["problems"] = run.problems + result.get("problems", [])
    return result, EXIT_FAILED if result.pop("failed", False) else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        opt = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse: usage errors exit 2 after printing
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if opt.scenario == "qr":
        print(QR_DATA_URI)
        return EXIT_OK
    limit = procstat.raise_open_files_limit()
    if opt.sockets + 200 > limit:
        print(
            f"loadgen: {opt.sockets} viewers need more open files than this process may have "
            f"({limit}); raise the hard limit (ulimit -Hn)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    started = datetime.now(UTC)
    runner = uvloop.run if uvloop is not None else asyncio.run
    result, code = runner(main_async(opt))
    out = {
        "scenario": opt.scenario,
        "base": opt.base,
        "ok": code == EXIT_OK,
        **result,
        "date": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "loadgen": {
            "python": platform.python_version(),
            "loop": "uvloop" if uvloop is not None else "asyncio",
            "pid": os.getpid(),
            "openFiles": limit,
        },
    }
    if not opt.quiet:
        sys.stderr.write(table(out, opt))
        sys.stderr.flush()
    text = json.dumps(out)
    if opt.json_out:
        opt.json_out.write_text(text + "\n")
    print(text, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
