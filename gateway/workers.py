"""Several processes on one port (``server.workers``, docs/protocol.md §11).

The parent binds the listening sockets, starts the workers and then only supervises:
it forwards SIGTERM/SIGINT, and stops every worker as soon as one of them dies (a
half-served port is worse than a restart by the orchestrator). Each worker is a full
gateway — its own hub, viewers, rate-limit windows per connection, and one pub/sub
connection — sharing sessions, publishes and the HTTP rate limits through the Redis
broker, which is why more than one worker needs one (``config.Settings``).

On Linux each worker gets its own socket bound with ``SO_REUSEPORT``, so the kernel
spreads new connections evenly over the workers (a single shared socket lets the
least busy process win the accepts, and one worker can end up with most connections).
Elsewhere the workers share one socket. Metrics are kept in prometheus-client's
multiprocess files, in a directory the parent creates and removes (gateway.metrics).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from hypercorn.config import Sockets

from .config import ConfigError, JWTKey, Settings
from .server import BACKLOG, SHUTDOWN_DEADLINE_SECONDS

log = logging.getLogger("gateway.workers")

#: The variable prometheus-client reads, at import, to keep metrics in shared files.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: How long the parent waits after SIGTERM before it kills what is left: the workers
#: cut themselves off at SHUTDOWN_DEADLINE_SECONDS, and the whole stops within 10 s.
STOP_GRACE_SECONDS = SHUTDOWN_DEADLINE_SECONDS + 0.5


@dataclass(frozen=True)
class WorkerSockets:
    """What one worker serves: the main port, and the metrics port if configured."""

    main: Sockets
    metrics: Sockets | None


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


def bind(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets on one port (SO_REUSEPORT), or one shared socket where the
    platform has no SO_REUSEPORT. Port 0 takes a free port, the same for all."""
    reuse = hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")
    first = listening_socket(host, port, reuse_port=reuse)
    if not reuse:
        return [first] * count
    port = first.getsockname()[1]
    return [first] + [listening_socket(host, port, reuse_port=True) for _ in range(count - 1)]


def worker_sockets(settings: Settings, count: int) -> list[WorkerSockets]:
    server = settings.server
    main = bind(server.host.strip("[]"), server.port, count)
    metrics: list[socket.socket | None] = [None] * count
    if settings.metrics.bind is not None:
        host, _, port = settings.metrics.bind.rpartition(":")
        metrics = list(bind(host, int(port), count))
    out = []
    for sock, metrics_sock in zip(main, metrics, strict=True):
        tls = settings.tls.enabled
        served = Sockets([sock] if tls else [], [] if tls else [sock], [])
        extra = None if metrics_sock is None else Sockets([], [metrics_sock], [])
        out.append(WorkerSockets(served, extra))
    return out


def run_worker(
    settings: Settings, keys: Sequence[JWTKey], sockets: WorkerSockets, index: int
) -> None:
    """One worker process: a whole gateway on the sockets its parent bound."""
    from . import logs
    from .app import create_app
    from .server import run_loop, serve

    logs.configure(settings.logging.level, settings.logging.format, worker=index)
    log.info(
        "worker started", extra={"event": "worker_started", "worker": index, "pid": os.getpid()}
    )
    app = create_app(settings, tuple(keys))
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(app, settings, sockets=sockets.main, metrics_sockets=sockets.metrics))


def run_workers(settings: Settings, keys: Sequence[JWTKey]) -> int:
    """Serve with ``settings.server.worker_count`` processes until SIGTERM/SIGINT.

    Returns 0 when every worker drained and exited 0; otherwise the first failing
    worker's exit code (1 if it was killed by a signal).
    """
    count = settings.server.worker_count
    try:
        metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
    except OSError as exc:
        raise ConfigError(
            f"server.workers: {count} workers need a writable temporary directory for "
            f"their shared metrics ({exc.strerror}); set TMPDIR or mount a tmpfs on /tmp"
        ) from None
    try:
        sockets = worker_sockets(settings, count)
    except OSError as exc:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        where = f"{settings.server.host}:{settings.server.port}"
        raise ConfigError(f"server.port: cannot listen on {where}: {exc.strerror}") from None
    os.environ[METRICS_DIR_ENV] = metrics_dir  # read by every worker at import
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    stopping: list[float] = []  # the deadline, once a stop began

    def stop(signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        if not stopping:
            stopping.append(time.monotonic() + STOP_GRACE_SECONDS)
            log.info("stopping workers", extra={"event": "workers_stopping", "signal": signum})
        for process in processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    # Ctrl-C reaches every process of the group; the workers drain on it by themselves.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exit_code = 0
    try:
        for index, served in enumerate(sockets):
            process: BaseProcess = context.Process(
                target=run_worker,
                args=(settings, tuple(keys), served, index),
                name=f"gateway-worker-{index}",
            )
            process.start()
            processes.append(process)
        log.info("workers running", extra={"event": "workers_started", "workers": count})
        exit_code = _supervise(processes, stopping, stop)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join(1)
        for served in sockets:
            for sock in (*served.main.secure_sockets, *served.main.insecure_sockets):
                sock.close()
            if served.metrics is not None:
                for sock in served.metrics.insecure_sockets:
                    sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return exit_code


def _supervise(
    processes: list[BaseProcess], stopping: list[float], stop: Callable[[], None]
) -> int:
    """Wait for the workers; the first one to exit uninvited stops the others."""
    exit_code = 0
    running = {p.sentinel: p for p in processes}
    while running:
        timeout = None if not stopping else max(0.0, stopping[0] - time.monotonic())
        ready = wait(list(running), timeout)
        if not ready:  # the deadline passed
            for process in running.values():
                log.warning(
                    "worker killed at the deadline",
                    extra={"event": "worker_killed", "pid": process.pid},
                )
                process.kill()
            stopping[0] = time.monotonic() + 2
            continue
        for sentinel in ready:
            assert isinstance(sentinel, int)
            process = running.pop(sentinel)
            process.join()
            code = process.exitcode if process.exitcode is not None else 1
            _mark_dead(process.pid)
            if not stopping and code == 0:
                code = 1  # a worker that leaves uninvited has failed, whatever it says
            if code != 0 and exit_code == 0:
                exit_code = code if code > 0 else 1
            if not stopping:
                log.error(
                    "worker exited; stopping the others",
                    extra={"event": "worker_exited", "pid": process.pid, "exit_code": code},
                )
                stop()
    return exit_code


def _mark_dead(pid: int | None) -> None:
    """Drop a dead worker's live gauges from the shared metrics files."""
    if pid is None:
        return
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call, unused-ignore]
