"""The shared gateway starts and answers."""

import subprocess
import sys

import httpx


async def test_health_answers_ok_over_tls(client: httpx.AsyncClient) -> None:
    """GET /health answers 200 {"status": "ok"} over HTTPS."""
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_tune_gc_freezes_start_up_and_raises_the_young_threshold() -> None:
    """``gateway serve`` freezes what start-up left and collects the young less often.

    Run in a child process: freezing changes the process it runs in for good.
    """
    script = (
        "import gc\n"
        "import gateway.app\n"
        "from gateway.server import GC_YOUNG_THRESHOLD, tune_gc\n"
        "tune_gc()\n"
        "young = gc.get_threshold()[0] == GC_YOUNG_THRESHOLD\n"
        "print(gc.get_freeze_count(), young, gc.isenabled())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[0]) > 10_000  # the imported modules, the app's dependencies
    assert out[1:] == ["True", "True"]  # cycles are still collected
