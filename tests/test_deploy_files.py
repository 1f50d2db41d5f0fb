"""The deployment examples stay valid: the cluster config loads, compose names real files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from gateway.config import parse_settings

REPO = Path(__file__).resolve().parent.parent


def test_cluster_config_is_valid_and_uses_redis() -> None:
    """deploy/cluster.toml passes validation and points every instance at Redis."""
    settings = parse_settings(tomllib.loads((REPO / "deploy/cluster.toml").read_text()))
    assert settings.broker.url.startswith("redis://")
    assert settings.server.host == "0.0.0.0"  # noqa: S104 (a container listens on all)
    assert settings.server.workers == "auto"  # one worker per CPU the container is given


def test_compose_runs_two_instances_on_one_redis() -> None:
    """compose.yaml has Redis and two gateway services mounting files that exist."""
    text = (REPO / "compose.yaml").read_text()
    assert re.search(r"^  redis:$", text, re.M)
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
