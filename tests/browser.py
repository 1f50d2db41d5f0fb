"""Debian's Chromium and the npm projects, as every browser and front-end test uses them.

Chromium is the system's (``apt-get install chromium``), never a downloaded browser,
started with the arguments a root user on a closed network needs; screenshots go to
``tests/artifacts/``. The npm projects (``web/``, ``extension/``) are installed from
their lock files with ``npm ci`` once per lock file. Without Chromium or npm the tests
that need them skip, except in CI, where they fail.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .gatewayproc import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-background-networking",  # the network reaches package registries only
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
ARTIFACTS = REPO / "tests" / "artifacts"
NPM_SECONDS = 600


def require_chromium(what: str) -> str:
    """The Chromium executable; skip (fail in CI) when it is not installed."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"chromium is not installed, and CI must run {what}")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def screenshot(page: Any, name: str) -> Path:
    """A full-page PNG of ``page`` in tests/artifacts/, for a look after the run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def run_in(
    project: Path, *command: str | Path, timeout: float = NPM_SECONDS
) -> subprocess.CompletedProcess[str]:
    """``command`` in ``project`` (npm, or a tool of its node_modules/.bin), output
    captured, without colours."""
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    return subprocess.run(
        [str(part) for part in command],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def npm(
    project: Path, *args: str, timeout: float = NPM_SECONDS
) -> subprocess.CompletedProcess[str]:
    """``npm <args>`` in ``project``."""
    found = shutil.which("npm")
    assert found is not None, "npm_ci() checks for npm first"
    return run_in(project, found, *args, timeout=timeout)


def npm_ci(project: Path, what: str) -> Path:
    """``project/node_modules`` exactly as its lock file says (``npm ci`` again whenever
    package.json or the lock changed); skip (fail in CI) without npm."""
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail(f"npm is not on PATH, and CI must run {what}")
        pytest.skip("npm is not installed (Node.js 20 with npm)")
    digest = hashlib.sha256(
        (project / "package-lock.json").read_bytes() + (project / "package.json").read_bytes()
    ).hexdigest()
    stamp = project / "node_modules" / ".installed-from-lock"
    if not stamp.exists() or stamp.read_text() != digest:
        installed = npm(project, "ci", "--no-audit", "--no-fund")
        assert installed.returncode == 0, installed.stdout + installed.stderr
        stamp.write_text(digest)
    return project / "node_modules"
