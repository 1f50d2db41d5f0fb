#!/usr/bin/env python3
"""The Quickstart's two commands, on a machine with only Python 3.11+.

    python3 dev.py serve    # the gateway on the embedded default (memory broker, dev TLS, dev key)
    python3 dev.py test     # the whole test suite

Each makes `.venv` on first use and installs the project with its test extras there
(again whenever pyproject.toml changes); extra arguments go to `gateway serve --dev`
or to pytest. The whole suite runs in two processes (pytest-xdist, a test file per
process at a time) where two CPUs are available: most tests wait on real servers, and
the suite must stay under 10 minutes on a 2-core machine. With arguments (a file, `-k`)
pytest runs as given.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("GATEWAY_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed (this is {sys.version.split()[0]})")
    stamp = VENV / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"dev.py: creating {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing the gateway and its test tools", file=sys.stderr)
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True
    )
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test]"],
        check=True,
    )
    stamp.write_text(wanted)


def parallel() -> list[str]:
    """pytest-xdist options for the whole suite: two workers, each taking whole files."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(2, cpus or 1)
    return ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("serve", "test"):
        print(__doc__, file=sys.stderr)
        return 2
    ensure_venv()
    os.chdir(ROOT)
    if argv[0] == "serve":
        command = [str(BIN / "gateway"), "serve", "--dev", *argv[1:]]
    else:
        command = [str(BIN / "python"), "-m", "pytest", *(argv[1:] or parallel())]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
