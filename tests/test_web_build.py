"""The viewer page ships built (``gateway/web_dist``): fresh, light, and unit-tested.

The gateway serves the page from the package, so a machine with Python only runs it
as committed. These tests keep that copy honest: it must be byte for byte what
``npm run build`` makes of ``web/`` now (Vite's output is deterministic for one lock
file), its JavaScript must stay under 100 KB gzipped, and the page's Vitest suite
(message and state handling) must pass. Without npm they skip, except in CI.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from .browser import NPM_SECONDS, npm_ci, run_in
from .gatewayproc import REPO

WEB = REPO / "web"
DIST = REPO / "gateway" / "web_dist"
ASSETS = DIST / "qr-assets"
JS_GZIP_BUDGET = 100 * 1024


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """``web/node_modules`` exactly as the lock file says."""
    return npm_ci(WEB, "the check of the shipped viewer build")


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.timeout(NPM_SECONDS)
def test_the_shipped_page_is_what_web_builds_to(node_modules: Path, tmp_path: Path) -> None:
    """``gateway/web_dist`` equals a fresh type-checked build of ``web/``: a stale one fails CI."""
    typed = run_in(WEB, node_modules / ".bin" / "tsc", "--noEmit")
    assert typed.returncode == 0, typed.stdout + typed.stderr
    out = tmp_path / "web_dist"
    built = run_in(WEB, node_modules / ".bin" / "vite", "build", "--outDir", out, "--emptyOutDir")
    assert built.returncode == 0, built.stdout + built.stderr
    fresh, shipped = tree(out), tree(DIST)
    stale = sorted(
        name for name in fresh.keys() | shipped.keys() if fresh.get(name) != shipped.get(name)
    )
    assert stale == [], (
        f"gateway/web_dist is stale ({', '.join(stale)}): "
        "run `cd web && npm ci && npm run build` and commit gateway/web_dist"
    )


@pytest.mark.timeout(NPM_SECONDS)
def test_the_page_unit_tests_pass(node_modules: Path) -> None:
    """Vitest: parsing server messages, the state machine, reconnects, formats, the QR."""
    result = run_in(WEB, node_modules / ".bin" / "vitest", "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Tests\s+\d+ passed", result.stdout), result.stdout


def test_the_page_is_light_and_has_nothing_inline() -> None:
    """One script and one stylesheet of this origin; the JavaScript under 100 KB gzipped."""
    index = (DIST / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b[^>]*>.*?</script>", index, flags=re.S)
    assert len(scripts) == 1
    assert re.fullmatch(
        r'<script type="module" crossorigin src="/qr-assets/[^"]+\.js"></script>', scripts[0]
    )
    assert re.findall(r'<link rel="stylesheet"[^>]*href="(/qr-assets/[^"]+\.css)"', index)
    assert " style=" not in index
    assert "://" not in re.sub(r"<!--.*?-->", "", index, flags=re.S)  # no other origin named
    js = sorted(ASSETS.glob("*.js"))
    assert js
    gzipped = sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in js)
    assert gzipped < JS_GZIP_BUDGET, f"{gzipped} bytes of gzipped JavaScript"
