"""A real Redis master, its replica and three Sentinels, for failover tests.

Everything is a ``redis-server`` process on a free port of 127.0.0.1 (``--sentinel``
for the Sentinels), so a failover here is the one Redis performs in production:
Sentinels agree that the master is down, elect a leader, promote the replica and
announce it; a restarted old master is turned into a replica of the new one.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from .gatewayproc import RedisServer, free_port

SERVICE = "gw"
#: How long a master may be silent before a Sentinel holds it down (production: 5–30 s).
DOWN_AFTER_MS = 500
#: After a failed election a Sentinel waits twice this before it tries again.
FAILOVER_TIMEOUT_MS = 2000

#: A full resync starts at once (Redis waits 5 s by default for more replicas to join).
QUICK_SYNC = ("--repl-diskless-sync-delay", "0")


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll ``check`` until it holds; return the seconds it took (fail after ``seconds``)."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            if check():
                return time.monotonic() - start
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {seconds} s")


@dataclass
class SentinelProcess:
    """``redis-server <conf> --sentinel``, watching the service ``SERVICE``."""

    workdir: Path
    master_port: int
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conf = self.workdir / f"sentinel-{self.port}.conf"
        # Sentinel rewrites its own file: it must be writable and its own.
        conf.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.workdir}\n"
            f"logfile {self.workdir / f'sentinel-{self.port}.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        self.proc = subprocess.Popen(
            ["redis-server", str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1, decode_responses=True)

    def master(self) -> dict[str, str]:
        with self.client() as client:
            state: dict[str, str] = client.execute_command("SENTINEL", "MASTER", SERVICE)
            return state

    def master_port_now(self) -> int:
        with self.client() as client:
            _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            return int(port)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@dataclass
class RedisHA:
    """A master, its replicas (one unless told) and three Sentinels."""

    workdir: Path
    count: int = 1
    master: RedisServer = field(init=False)
    replicas: list[RedisServer] = field(init=False)
    sentinels: list[SentinelProcess] = field(init=False)
    last_state: str = ""

    def __post_init__(self) -> None:
        self.master = RedisServer(self.workdir / "master", extra=QUICK_SYNC)
        self.replicas = [
            RedisServer(
                self.workdir / f"replica{i}",
                extra=(*QUICK_SYNC, "--replicaof", "127.0.0.1", str(self.master.port)),
            )
            for i in range(self.count)
        ]
        self.sentinels = [
            SentinelProcess(self.workdir / f"sentinel{i}", self.master.port) for i in range(3)
        ]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    @property
    def replica(self) -> RedisServer:
        return self.replicas[0]

    def start(self) -> None:
        for server in (self.master, *self.replicas):
            server.workdir.mkdir(parents=True, exist_ok=True)
            server.start()
        for sentinel in self.sentinels:
            sentinel.workdir.mkdir(parents=True, exist_ok=True)
            sentinel.start()
        wait_for(self._replica_in_sync, 20, "a replica did not sync")
        # Sentinels find each other and the replica through the master (every 1–2 s).
        try:
            wait_for(self._sentinels_agree, 30, "the Sentinels did not find each other")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last: {self.last_state}") from None

    def _replica_in_sync(self) -> bool:
        for replica in self.replicas:
            with redis.Redis(port=replica.port, socket_timeout=1) as client:
                if client.info("replication").get("master_link_status") != "up":
                    return False
        return True

    def _sentinels_agree(self) -> bool:
        for sentinel in self.sentinels:
            state = sentinel.master()
            self.last_state = f"Sentinel {sentinel.port}: {state}"
            if int(state["num-slaves"]) != self.count or int(state["num-other-sentinels"]) != 2:
                return False
        return True

    def promoted(self) -> bool:
        """Whether every Sentinel names the replica as the master now."""
        return all(s.master_port_now() == self.replica.port for s in self.sentinels)

    def restart_master_as_replica(self) -> None:
        """Start the killed master again, replicating the master Sentinel names now."""
        port = self.sentinels[0].master_port_now()
        self.master.extra = (*QUICK_SYNC, "--replicaof", "127.0.0.1", str(port))
        self.master.start()

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.kill()
        for server in (self.master, *self.replicas):
            if server.proc is not None:
                server.resume()
            server.kill()
