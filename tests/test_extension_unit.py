"""The browser extension's own checks, run from pytest: its unit tests and its build.

``extension/`` is a small npm project (TypeScript, esbuild, Vitest). These tests run
``npm ci`` when its dependencies are missing or the lock file changed, then
``npm test`` (adapters, amount parsing, extraction from fixture HTML, the publisher's
retries and idempotency, the gateway client's error words, the manifest's
permissions), and rebuild the extension into a temporary folder to check that the
committed ``extension/dist/`` is what the sources build to. Without npm they skip,
except under CI, where they fail.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .gatewayproc import REPO

EXTENSION = REPO / "extension"
NPM = shutil.which("npm")

pytestmark = pytest.mark.timeout(600)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    assert NPM is not None
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    return subprocess.run(
        [NPM, *args],
        cwd=EXTENSION,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )


@pytest.fixture(scope="module")
def npm_ready() -> None:
    """node_modules installed from the lock file (``npm ci`` when it changed)."""
    if NPM is None:
        if os.environ.get("CI"):
            pytest.fail("npm is not installed, and CI must run the extension's tests")
        pytest.skip("npm is not installed (apt-get install npm, or Node.js 20 with npm)")
    lock = hashlib.sha256((EXTENSION / "package-lock.json").read_bytes()).hexdigest()
    stamp = EXTENSION / "node_modules" / ".installed-from-lock"
    if not stamp.exists() or stamp.read_text() != lock:
        result = run("ci", "--no-audit", "--no-fund")
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
        stamp.write_text(lock)


def test_the_extension_unit_tests_pass(npm_ready: None) -> None:
    result = run("test")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"npm test failed:\n{output}"
    counts = re.search(r"Tests\s+(\d+) passed", output)
    assert counts, f"no test count in:\n{output}"
    assert int(counts.group(1)) >= 100


def differences(left: Path, right: Path) -> list[str]:
    """Files that differ, or exist on one side only, between two trees."""
    compared = filecmp.dircmp(left, right)
    found = [f"only in {left.name}: {n}" for n in compared.left_only]
    found += [f"only in {right.name}: {n}" for n in compared.right_only]
    _, mismatch, errors = filecmp.cmpfiles(left, right, compared.common_files, shallow=False)
    found += [f"differs: {n}" for n in mismatch + errors]
    for sub in compared.common_dirs:
        found += [f"{sub}/{d}" for d in differences(left / sub, right / sub)]
    return found


def test_the_committed_dist_is_what_the_sources_build(npm_ready: None, tmp_path: Path) -> None:
    """``npm run build`` (type check + bundle) reproduces extension/dist exactly."""
    out = tmp_path / "dist"
    result = run("run", "build", "--", "--outdir", str(out))
    assert result.returncode == 0, f"npm run build failed:\n{result.stdout}\n{result.stderr}"
    stale = differences(out, EXTENSION / "dist")
    assert not stale, (
        "extension/dist is stale; rebuild it with: cd extension && npm run build\n"
        + "\n".join(stale)
    )
