"""The deployment examples stay valid: the cluster config loads, compose names real files."""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import redis

from gateway.config import SentinelURL, parse_settings

from .gatewayproc import RedisServer, free_port
from .redisha import wait_for

REPO = Path(__file__).resolve().parent.parent


def test_cluster_config_is_valid_and_uses_redis() -> None:
    """deploy/cluster.toml passes validation and points every instance at Redis, through
    compose.yaml's three Sentinels, with each write held by the replica before 200."""
    settings = parse_settings(tomllib.loads((REPO / "deploy/cluster.toml").read_text()))
    target = SentinelURL.parse(settings.broker.url)
    assert target.sentinels == tuple((f"sentinel-{i}", 26379) for i in (1, 2, 3))
    assert target.service == "gw"
    assert settings.broker.min_replicas_acked == 1
    assert settings.server.host == "0.0.0.0"  # noqa: S104 (a container listens on all)
    assert settings.server.workers == "auto"  # one worker per CPU the container is given


def test_compose_runs_two_instances_on_one_redis() -> None:
    """compose.yaml has Redis, its replica, three Sentinels and two gateway services
    mounting files that exist."""
    text = (REPO / "compose.yaml").read_text()
    assert re.search(r"^  redis: &redis$", text, re.M)
    assert re.search(
        r'^\s+"--replica-announce-ip", "redis-replica", "--replicaof", "redis"', text, re.M
    )
    for n in (1, 2, 3):
        assert re.search(rf"^  sentinel-{n}:", text, re.M)
    assert re.search(r"^  gateway-a:", text, re.M)
    assert re.search(r"^  gateway-b:", text, re.M)
    for mount in re.findall(r"- \./([\w./-]+):", text):
        assert (REPO / mount).exists() or mount == "certs", mount
    # A read-only root needs a writable /tmp for several workers (gateway.workers).
    assert "tmpfs: [/tmp]" in text
    # The secret is passed through from the environment, never written in the file.
    assert re.findall(r"GATEWAY_JWT_SECRET: (.*)", text) == [
        "${GATEWAY_JWT_SECRET:?set GATEWAY_JWT_SECRET (at least 32 bytes)}"
    ]


def test_the_sentinel_config_runs_a_sentinel(
    redis_server: Callable[..., RedisServer], tmp_path: Path
) -> None:
    """deploy/sentinel.conf starts a real Sentinel (its master's address made local)
    that watches the service "gw" with the documented timings."""
    master = redis_server()
    text = (REPO / "deploy/sentinel.conf").read_text()
    assert "sentinel monitor gw redis 6379 2" in text
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        text.replace("port 26379", f"port {port}\nbind 127.0.0.1").replace(
            "gw redis 6379", f"gw 127.0.0.1 {master.port}"
        )
    )
    proc = subprocess.Popen(
        ["redis-server", str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
        wait_for(lambda: bool(client.ping()), 10, "the Sentinel did not start")
        state = client.execute_command("SENTINEL", "MASTER", "gw")
        assert int(state["port"]) == master.port
        assert int(state["quorum"]) == 2
        assert int(state["down-after-milliseconds"]) == 5000
        assert int(state["failover-timeout"]) == 60000
        client.close()
    finally:
        proc.kill()
        proc.wait()
