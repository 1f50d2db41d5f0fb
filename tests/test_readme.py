"""The README's walkthrough runs: its shell blocks, as written, against a started gateway.

The `curl` steps are taken from the README itself (so an example that stops working
fails here) and run by bash with the walkthrough's variables set; only the address
changes, from `https://localhost:3001` to the test gateway's. Each step's expected
status is the `# NNN` comment under its command. The browser console of step 2 is
played by a WebSocket client, which must see what the walkthrough says it shows.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import connect

from .gatewayproc import REPO, Gateway

README = REPO / "README.md"
#: Makes every curl of a block print its body, then a line with its status.
CURL_STATUS = "curl() { command curl -sS -w '\\n%{http_code}\\n' \"$@\"; }\n"


@dataclass
class Step:
    """One shell block of the walkthrough and the statuses its comments promise."""

    script: str
    statuses: list[int]


def walkthrough() -> tuple[list[Step], str]:
    """The walkthrough's shell blocks after the first (which starts the gateway), and the
    inline command of its last step."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Walkthrough", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    steps = []
    for block in blocks[1:]:
        lines = [line.strip() for line in block.splitlines()]
        statuses = [int(m.group(1)) for line in lines if (m := re.match(r"# (\d{3}) ", line))]
        script = "\n".join(line for line in lines if not line.startswith("export TOKEN="))
        steps.append(Step(script, statuses))
    inline = re.findall(r"`(curl [^`]+)`", section)
    return steps, inline[-1]


def run(gw: Gateway, script: str, env: dict[str, str]) -> list[tuple[dict[str, Any], int]]:
    """Run ``script`` with bash against ``gw``; each curl's JSON body and status."""
    local = script.replace("https://localhost:3001", gw.base)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", CURL_STATUS + local],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return [(json.loads(lines[i]), int(lines[i + 1])) for i in range(0, len(lines), 2)]


@pytest.fixture
def readme_env(gateway: Gateway) -> dict[str, str]:
    return {"KEY": gateway.key(), "CA": str(gateway.certs.ca_file)}


async def test_the_walkthrough_runs_as_written(
    gateway: Gateway, readme_env: dict[str, str]
) -> None:
    """Session, viewer, publish (twice: replayed), clear and session state, each answering
    what the README says, and the viewer seeing what the README says it shows."""
    steps, session_command = walkthrough()
    create, publish, clear = steps
    assert [create.statuses, publish.statuses, clear.statuses] == [[201], [200], [200]]

    [(created, status)] = await asyncio.to_thread(run, gateway, create.script, readme_env)
    assert status == 201
    env = {**readme_env, "TOKEN": created["token"]}
    url = created["wsUrl"]
    assert url == f"{gateway.ws_base}/?token={created['token']}"

    async with connect(url, ssl=gateway.ssl_context) as ws:
        info = json.loads(await ws.recv())
        assert (info["type"], info["payload"]["hasData"]) == ("SESSION_INFO", False)

        [(published, status)] = await asyncio.to_thread(run, gateway, publish.script, env)
        assert status == 200, published
        assert (published["ok"], published["delivered"], published["seq"]) == (True, 1, 1)
        shown = json.loads(await ws.recv())
        assert shown["type"] == "PAYMENT_DATA"
        assert shown["payload"]["seq"] == 1
        assert shown["payload"]["amount"] == 300000
        assert shown["payload"]["payee"]["bankName"] == "Vietcombank"

        [(again, status)] = await asyncio.to_thread(run, gateway, publish.script, env)
        assert (status, again) == (200, published)  # replayed, nothing broadcast

        [(cleared, status)] = await asyncio.to_thread(run, gateway, clear.script, env)
        assert (status, cleared["seq"]) == (200, 2)
        gone = json.loads(await ws.recv())
        assert gone["type"] == "PAYMENT_CLEARED"
        assert gone["payload"] == {"seq": 2, "reason": "paid"}

    [(state, status)] = await asyncio.to_thread(run, gateway, session_command, env)
    assert status == 200
    assert (state["sessionId"], state["hasData"]) == (created["sessionId"], False)
