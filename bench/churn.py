#!/usr/bin/env python3
"""Churn soak: the gateway's resident memory under many short connections.

    python bench/churn.py                                  # fresh gateway (TLS), bad-token churn
    python bench/churn.py --kinds badtoken,silent,session,idle
    python bench/churn.py --checkpoints 300,1500,10000 --concurrency 20 --json-out FILE
    python bench/churn.py --variant uvloop --variant asyncio GATEWAY_LOOP=asyncio \\
        --variant jemalloc LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
    python bench/churn.py --attach https://127.0.0.1:3001 --pid 1234 \\
        --cacert certs/dev-ca.pem --api-key gw_...

Each variant × kind gets a fresh gateway, started like bench/run.py starts it (the same
bench config: TLS with a throwaway certificate, an API key, JWT tokens, every
protection on) with the variant's environment on top (``GATEWAY_LOOP``,
``MALLOC_ARENA_MAX``, ``LD_PRELOAD``, ``PYTHONPATH``…). ``--attach`` measures a
gateway that is already running instead (every kind against that one process).

Kinds of short connection, ``--concurrency`` of them in flight at a time:

- ``badtoken``: TLS handshake, upgrade to ``/?token=<bad>``; the gateway accepts and
  closes with 4401, the client answers the close and disconnects.
- ``silent``: a TCP connection that never sends a ClientHello, closed after
  ``--silent-hold`` seconds.
- ``session``: a valid token; the client waits for ``SESSION_INFO``, closes with
  1000, waits for the gateway's close and disconnects.
- ``idle``: not churn: ``--idle`` viewers with valid tokens held open, measured the
  way ``loadgen.py connections`` measures them (KiB of RSS per viewer).

The gateway's RSS (``VmRSS`` of ``/proc/PID/status``) is read fresh, after
``--warmup`` connections, and at every checkpoint (connections after the warm-up):
once at once ("now") and once after ``--settle`` seconds ("settled": a little over
``websocket.ping_interval_seconds``, 20 s, which Hypercorn's keep-alive task could hold
a closed connection for, so that a settled figure is memory kept, not connections still
on their way out). The SPEC target is checked between the first two checkpoints (300 → 1,500: 1,200
more connections must grow the settled RSS by less than ``--limit-mib`` 12 MiB).

Output: a table on stdout, progress on stderr, and with ``--json-out`` every reading.
Exit 1 when a run could not complete or a limit was exceeded, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import platform
import secrets
import signal
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

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

KINDS = ("badtoken", "silent", "session", "idle")
DEFAULT_CHECKPOINTS = (300, 1500, 10_000)
#: A little over the gateway's default websocket.ping_interval_seconds (20 s).
DEFAULT_SETTLE = 22.0
CONNECT_TIMEOUT = 15.0
MAX_CONNECTIONS = 1_000_000
MIB = 1024


# ------------------------------------------------------------------ measurement


@dataclass(frozen=True)
class Reading:
    """The gateway process tree's memory and open files at one moment."""

    rss_kib: int
    anon_kib: int
    hwm_kib: int
    fds: int

    @classmethod
    def take(cls, pid: int) -> Reading:
        mem = procstat.tree_memory(pid)
        if mem is None:
            raise RuntimeError(f"no /proc/{pid}/status: the gateway is gone")
        anon = fds = 0
        for p in procstat.process_tree(pid):
            with contextlib.suppress(OSError):
                with open(f"/proc/{p}/status", encoding="ascii", errors="replace") as fh:
                    for line in fh:
                        if line.startswith("RssAnon:"):
                            anon += int(line.split()[1])
                fds += len(os.listdir(f"/proc/{p}/fd"))
        return cls(mem.rss_kib, anon, mem.hwm_kib, fds)


@dataclass
class Point:
    """One checkpoint: connections made so far (after the warm-up) and the readings."""

    label: str
    connections: int
    now: Reading
    settled: Reading
    secs: float  # time to make this checkpoint's connections
    outcomes: dict[str, int]


@dataclass
class RunResult:
    variant: str
    env: dict[str, str]
    kind: str
    pid: int | None
    fresh: Reading | None = None
    points: list[Point] = field(default_factory=list)
    idle: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    def settled(self, label: str) -> int | None:
        for p in self.points:
            if p.label == label:
                return p.settled.rss_kib
        return None

    def spec_growth_kib(self) -> int | None:
        """Settled RSS growth between the first two checkpoints (SPEC: 300 → 1,500)."""
        cps = [p for p in self.points if p.label != "warm-up"]
        if len(cps) < 2:
            return None
        return cps[1].settled.rss_kib - cps[0].settled.rss_kib

    def spec_met(self, limit_mib: float) -> bool | None:
        growth = self.spec_growth_kib()
        return None if growth is None else growth < limit_mib * MIB


# ----------------------------------------------------------------- the clients


class ShortViewer(asyncio.Protocol):
    """One short WebSocket connection: upgrade, the close exchange, disconnect.

    ``close_after_info``: answer ``SESSION_INFO`` with a close (1000); otherwise
    wait for the server to close. Whoever closes first, the client answers (or waits
    for the answer to) the close frame and then closes its side. ``outcome`` resolves
    when the connection is gone: the server's close code, or what went wrong.
    """

    def __init__(self, host_header: str, path: str, *, close_after_info: bool) -> None:
        self.host_header = host_header
        self.path = path
        self.close_after_info = close_after_info
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.sent_close = False
        self.result: str | None = None
        self.accept = b""
        self.outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16))
        self.accept = base64.b64encode(hashlib.sha1(key + netio.WS_GUID).digest())  # noqa: S324 (RFC 6455)
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.transport.write(request.encode("latin-1"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            del self.buf[: end + 4]
            status = head.split(b" ", 2)[1:2]
            if status != [b"101"] or self.accept not in head:
                self._finish(f"http {status[0].decode(errors='replace') if status else '?'}")
                return
            self.upgraded = True
        self._frames()

    def _frames(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            length = buf[1] & 0x7F
            head = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, head = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, head = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < head + length:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[head : head + length])
            del buf[: head + length]
            if opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not self.sent_close:
                    self._send_close(payload[:2])
                self._finish(str(code))
                return
            if opcode == 0x9:
                self._write(netio.client_frame(0xA, payload))
            elif opcode == 0x1 and self.close_after_info and not self.sent_close:
                self._close_after_info(payload)

    def _close_after_info(self, payload: bytes) -> None:
        if b'"SESSION_INFO"' in payload:
            self._send_close((1000).to_bytes(2, "big"))

    def _send_close(self, code: bytes) -> None:
        self.sent_close = True
        self._write(netio.client_frame(0x8, code))

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _finish(self, result: str) -> None:
        """Record the outcome and close our side (the outcome resolves when it is gone)."""
        if self.result is None:
            self.result = result
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.outcome.done():
            if self.result is None:
                self.result = f"lost: {type(exc).__name__}" if exc else "1006"
            self.outcome.set_result(self.result)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Silent(asyncio.Protocol):
    """A TCP connection that sends nothing; resolves ``gone`` when it is closed."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed_by_server = False
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def eof_received(self) -> bool | None:
        self.closed_by_server = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.gone.done():
            self.gone.set_result(None)


@dataclass
class Churn:
    """Makes short connections of one kind against one gateway, counting outcomes."""

    endpoint: netio.Endpoint
    kind: str
    paths: list[str]  # the viewer paths to upgrade to, used in turn
    concurrency: int
    silent_hold: float
    made: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    async def one(self) -> str:
        loop = asyncio.get_running_loop()
        if self.kind == "silent":
            silent = Silent()
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await loop.create_connection(
                        lambda: silent, self.endpoint.host, self.endpoint.port
                    )
                    await asyncio.sleep(self.silent_hold)
                    if silent.transport is not None:
                        silent.transport.close()
                    await silent.gone
            except (OSError, TimeoutError) as exc:
                if silent.transport is not None:
                    silent.transport.abort()
                return f"error: {type(exc).__name__}"
            return "closed by server" if silent.closed_by_server else "closed"
        path = self.paths[self.made % len(self.paths)]
        viewer = ShortViewer(
            self.endpoint.host_header, path, close_after_info=self.kind == "session"
        )
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self.endpoint.connect(lambda: viewer)
                return await viewer.outcome
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            viewer.abort()
            return f"error: {type(exc).__name__}"

    async def make(self, count: int) -> dict[str, int]:
        """Make ``count`` connections, ``concurrency`` at a time; their outcomes."""
        todo = iter(range(count))
        outcomes: dict[str, int] = {}

        async def worker() -> None:
            for _ in todo:
                result = await self.one()
                self.made += 1
                outcomes[result] = outcomes.get(result, 0) + 1
                self.outcomes[result] = self.outcomes.get(result, 0) + 1

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, count) or 1)))
        return outcomes


# ------------------------------------------------------------------------ runs


EXPECTED = {"badtoken": "4401", "session": "1000"}


@dataclass(frozen=True)
class Target:
    """A running gateway: where it is, its PID, and how to authenticate."""

    base: str
    pid: int
    cacert: str | None
    insecure: bool
    api_key: str | None

    def endpoint(self) -> netio.Endpoint:
        ctx = netio.client_ssl_context(insecure=self.insecure, cafile=self.cacert)
        return netio.Endpoint.parse(self.base, ctx)

    def loadgen_options(self, **scenario: Any) -> argparse.Namespace:
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        return argparse.Namespace(
            base=self.base,
            insecure=self.insecure,
            cacert=self.cacert,
            headers=headers,
            server_pid=self.pid,
            **scenario,
        )


def log(text: str) -> None:
    print(f"churn: {text}", file=sys.stderr, flush=True)


async def viewer_paths(target: Target, kind: str, sessions: int) -> list[str]:
    """Paths to upgrade to: a bad token, or the ``wsUrl`` of new sessions."""
    if kind in ("badtoken", "silent"):  # silent ones never get as far as a path
        return [f"/?token=bad-{secrets.token_urlsafe(16)}"]
    if not target.api_key:
        raise RuntimeError(f"kind {kind!r} needs --api-key (sessions are created with it)")
    run = loadgen.Run(target.loadgen_options())
    api = run.api(8)
    try:
        return [s.ws_path for s in await loadgen.new_sessions(api, sessions)]
    finally:
        api.close()


async def churn_run(target: Target, opt: argparse.Namespace, result: RunResult) -> None:
    paths = await viewer_paths(target, result.kind, opt.sessions)
    churn = Churn(target.endpoint(), result.kind, paths, opt.concurrency, opt.silent_hold)
    result.fresh = Reading.take(target.pid)
    stages = [("warm-up", opt.warmup)] if opt.warmup else []
    stages += [(f"{c:,}", c) for c in opt.checkpoints]
    made = 0  # connections after the warm-up
    for label, total in stages:
        warm = label == "warm-up"
        count = total if warm else total - made
        t0 = time.monotonic()
        outcomes = await churn.make(count)
        secs = time.monotonic() - t0
        if not warm:
            made = total
        now = Reading.take(target.pid)
        await asyncio.sleep(opt.settle)
        settled = Reading.take(target.pid)
        result.points.append(Point(label, total, now, settled, round(secs, 2), outcomes))
        rate = f"{count / secs:,.0f}/s" if secs else "-"
        log(
            f"  {result.variant}/{result.kind} {label}: +{count:,} in {secs:.1f} s ({rate}), "
            f"RSS now {now.rss_kib / MIB:.1f} MiB, settled {settled.rss_kib / MIB:.1f} MiB, "
            f"fds {settled.fds}, {outcomes}"
        )
        expected = EXPECTED.get(result.kind)
        unexpected = {k: v for k, v in outcomes.items() if expected and k != expected}
        if result.kind == "silent":
            unexpected = {k: v for k, v in outcomes.items() if k.startswith("error")}
        if unexpected:
            result.problems.append(f"{label}: unexpected outcomes {unexpected}")


async def idle_run(target: Target, opt: argparse.Namespace, result: RunResult) -> None:
    """``loadgen.py connections``: KiB of RSS per idle viewer, the standard bench figure."""
    result.fresh = Reading.take(target.pid)
    run = loadgen.Run(
        target.loadgen_options(count=opt.idle, sessions=opt.sessions, ramp=100, hold=opt.hold)
    )
    result.idle = await loadgen.connections(run)
    result.problems += run.problems
    figures = result.idle["figures"]
    log(
        f"  {result.variant}/idle: {figures.get('opened')} viewers, "
        f"{figures.get('kibPerConnection')} KiB each "
        f"(RSS {figures.get('rssBeforeKib')} → {figures.get('rssAfterKib')} KiB)"
    )


def measure(target: Target, opt: argparse.Namespace, result: RunResult) -> None:
    work = idle_run if result.kind == "idle" else churn_run
    runner: Callable[[Any], Any] = uvloop.run if uvloop is not None else asyncio.run
    try:
        runner(work(target, opt, result))
    except (RuntimeError, OSError, netio.HttpError) as exc:
        result.problems.append(f"error: {exc}")


# ---------------------------------------------------------------- the gateway


def variant_env(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """The gateway's environment with a variant's on top (PYTHONPATH after the checkout's)."""
    env = dict(base)
    for name, value in extra.items():
        if name == "PYTHONPATH" and env.get("PYTHONPATH"):
            repo, _, rest = env["PYTHONPATH"].partition(os.pathsep)
            env[name] = os.pathsep.join(p for p in (repo, value, rest) if p)
        else:
            env[name] = value
    return env


def run_fresh(
    targets: bench_run.Targets, opt: argparse.Namespace, variant: str, env: dict[str, str]
) -> list[RunResult]:
    results = []
    for kind in opt.kind_list:
        server = targets.server("gateway")
        server.env = variant_env(server.env, env)
        result = RunResult(variant, env, kind, None)
        log(f"{variant}/{kind}: fresh gateway on {server.base} {env or ''}")
        try:
            server.start()
        except (RuntimeError, OSError) as exc:
            result.problems.append(f"gateway did not start: {exc}")
            results.append(result)
            continue
        assert server.proc is not None
        result.pid = server.proc.pid
        target = Target(
            server.base,
            server.proc.pid,
            str(server.cafile) if server.cafile else None,
            False,
            targets.api_key,
        )
        try:
            measure(target, opt, result)
        finally:
            stop = server.stop()
            if stop.get("exitCode") not in (0, -signal.SIGTERM):
                result.problems.append(f"gateway stop: {stop}\n{server.tail()}")
        results.append(result)
    return results


# ---------------------------------------------------------------------- output


def _mib(kib: int | None) -> str:
    return "" if kib is None else f"{kib / MIB:,.1f}"


def render_table(results: list[RunResult], opt: argparse.Namespace) -> str:
    cps = [f"{c:,}" for c in opt.checkpoints]
    labels = (["warm-up"] if opt.warmup else []) + cps
    head = [
        "variant",
        "kind",
        "fresh",
        *labels,
        f"Δ {cps[0]}→{cps[1]}" if len(cps) > 1 else "Δ",
        "target",
        "conn/s",
        "idle KiB/viewer",
    ]
    rows = [head]
    for r in results:
        growth = r.spec_growth_kib()
        met = {None: "", True: "met", False: "NOT met"}[r.spec_met(opt.limit_mib)]
        made = sum(p.connections for p in r.points if p.label != "warm-up")
        secs = [p.secs for p in r.points if p.label != "warm-up"]
        rate = f"{opt.checkpoints[-1] / sum(secs):,.0f}" if secs and sum(secs) and made else ""
        idle = r.idle["figures"].get("kibPerConnection") if r.idle else None
        rows.append(
            [
                r.variant,
                r.kind,
                _mib(r.fresh.rss_kib if r.fresh else None),
                *[_mib(r.settled(label)) for label in labels],
                "" if growth is None else f"{growth / MIB:+,.1f}",
                met,
                rate,
                "" if idle is None else f"{idle:,.1f}",
            ]
        )
    return bench_run.text_table(rows)


def to_json(results: list[RunResult], opt: argparse.Namespace, started: datetime) -> dict[str, Any]:
    runs = []
    for r in results:
        record = asdict(r)
        record["specGrowthKib"] = r.spec_growth_kib()
        record["specMet"] = r.spec_met(opt.limit_mib)
        runs.append(record)
    return {
        "date": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "name": "churn",
        "rev": bench_run.git_rev(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "params": {
            "kinds": opt.kind_list,
            "warmup": opt.warmup,
            "checkpoints": opt.checkpoints,
            "concurrency": opt.concurrency,
            "settleSecs": opt.settle,
            "silentHoldSecs": opt.silent_hold,
            "idle": opt.idle,
            "sessions": opt.sessions,
            "limitMib": opt.limit_mib,
            "tls": not opt.plain,
            "attach": opt.attach,
            "clientLoop": "uvloop" if uvloop is not None else "asyncio",
        },
        "runs": runs,
    }


# ------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="churn.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument(
        "--kinds", default="badtoken", help=f"comma-separated, of {', '.join(KINDS)}"
    )
    parser.add_argument(
        "--checkpoints",
        default=",".join(str(c) for c in DEFAULT_CHECKPOINTS),
        help="connections after the warm-up at which to read RSS (ascending)",
    )
    parser.add_argument("--warmup", type=int, default=100, help="connections before the first")
    parser.add_argument("--concurrency", type=int, default=20, help="connections in flight")
    parser.add_argument(
        "--settle", type=float, default=DEFAULT_SETTLE, help="s to wait before a settled reading"
    )
    parser.add_argument("--silent-hold", type=float, default=0.1, help="s a silent one stays")
    parser.add_argument("--idle", type=int, default=2000, help="viewers the idle kind holds")
    parser.add_argument("--hold", type=float, default=2.0, help="s the idle viewers are held")
    parser.add_argument("--sessions", type=int, default=50, help="sessions for valid tokens")
    parser.add_argument(
        "--limit-mib", type=float, default=12.0, help="SPEC: growth allowed between checkpoints 1-2"
    )
    parser.add_argument(
        "--variant",
        nargs="+",
        action="append",
        metavar=("NAME", "VAR=VALUE"),
        help="a fresh gateway with these environment variables; repeatable",
    )
    parser.add_argument("--plain", action="store_true", help="no TLS (as behind a proxy)")
    parser.add_argument("--attach", metavar="URL", help="measure this running gateway instead")
    parser.add_argument("--pid", type=int, help="with --attach: the gateway's PID")
    parser.add_argument("--cacert", help="with --attach: CA file for its certificate")
    parser.add_argument("--insecure", action="store_true", help="with --attach: accept any")
    parser.add_argument("--api-key", help="with --attach: for the session and idle kinds")
    parser.add_argument("--json-out", type=Path, help="write every reading here")
    opt = parser.parse_args(argv)
    opt.kind_list = [k.strip() for k in opt.kinds.split(",") if k.strip()]
    if not opt.kind_list or set(opt.kind_list) - set(KINDS):
        parser.error(f"--kinds: choose from {', '.join(KINDS)}")
    try:
        opt.checkpoints = [int(c.replace("_", "")) for c in opt.checkpoints.split(",") if c]
    except ValueError:
        parser.error("--checkpoints: comma-separated whole numbers")
    cps = opt.checkpoints
    if not cps or cps != sorted(set(cps)) or cps[0] < 1 or cps[-1] > MAX_CONNECTIONS:
        parser.error(f"--checkpoints: ascending, distinct, in [1, {MAX_CONNECTIONS:,}]")
    if not 1 <= opt.concurrency <= 1000 or opt.warmup < 0 or opt.settle < 0:
        parser.error("--concurrency in [1, 1000]; --warmup and --settle not negative")
    if not 1 <= opt.idle <= loadgen.MAX_VIEWERS or not 1 <= opt.sessions <= 10_000:
        parser.error(f"--idle in [1, {loadgen.MAX_VIEWERS:,}], --sessions in [1, 10,000]")
    opt.variants = []
    for spec in opt.variant or []:
        name, *assignments = spec
        env = {}
        for item in assignments:
            var, sep, value = item.partition("=")
            if not sep or not var:
                parser.error(f"--variant {name}: {item!r} is not VAR=VALUE")
            env[var] = value
        opt.variants.append((name, env))
    if opt.attach:
        if opt.variants or opt.pid is None:
            parser.error("--attach wants --pid and no --variant (it measures one process)")
    elif not opt.variants:
        opt.variants = [("default", {})]
    return opt


def main(argv: Sequence[str] | None = None) -> int:
    opt = parse_args(sys.argv[1:] if argv is None else argv)
    procstat.raise_open_files_limit()  # the gateways inherit it
    started = datetime.now(UTC)
    results: list[RunResult] = []
    if opt.attach:
        target = Target(opt.attach, opt.pid, opt.cacert, opt.insecure, opt.api_key)
        for kind in opt.kind_list:
            result = RunResult("attached", {}, kind, opt.pid)
            measure(target, opt, result)
            results.append(result)
    else:
        with tempfile.TemporaryDirectory(prefix="gw-churn-") as tmp:
            targets = bench_run.Targets(Path(tmp), not opt.plain, ["gateway"])
            for name, env in opt.variants:
                results += run_fresh(targets, opt, name, env)
    what = "plain" if opt.plain else "TLS"
    print(
        f"gateway ({what}, rev {bench_run.git_rev()}): settled RSS in MiB after the warm-up "
        f"({opt.warmup}) and after each checkpoint (connections after the warm-up), "
        f"{opt.concurrency} in flight, {opt.settle:g} s settle; target: < {opt.limit_mib:g} MiB "
        "between the first two checkpoints"
    )
    print(render_table(results, opt))
    problems = [f"{r.variant}/{r.kind}: {p}" for r in results for p in r.problems]
    for p in problems:
        print(f"problem: {p}")
    if opt.json_out:
        opt.json_out.parent.mkdir(parents=True, exist_ok=True)
        opt.json_out.write_text(json.dumps(to_json(results, opt, started), indent=1) + "\n")
        print(f"results: {opt.json_out}")
    missed = any(r.spec_met(opt.limit_mib) is False for r in results)
    return 1 if problems or missed else 0


if __name__ == "__main__":
    sys.exit(main())
