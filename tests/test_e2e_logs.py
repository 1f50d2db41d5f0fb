"""End-to-end: logs are JSON lines that never hold a secret or payment content (SPEC §9)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import connect

from .gatewayproc import Gateway, payment


def canonical_sha256(value: Any) -> str:
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


async def test_a_full_session_logs_no_secret_and_one_audit_event_per_publish(
    start_gateway: Callable[..., Gateway],
) -> None:
    """Tokens, keys, query strings and payment contents never reach the logs; audits do."""
    gw = start_gateway()
    data = payment(orderId="A-1024", description="Bàn số 7")
    async with gw.client() as client:
        headers = {"X-API-Key": gw.key()}
        session = (await client.post("/api/token/generate", headers=headers)).json()
        token = session["token"]
        async with connect(session["wsUrl"], ssl=gw.ssl_context) as ws:
            await ws.recv()
            published = await client.post(
                "/api/payment", headers=headers, json={"token": token, "data": data}
            )
            await ws.recv()
            cleared = await client.post(
                "/api/payment/clear", headers=headers, json={"token": token, "reason": "paid"}
            )
            await ws.recv()
        await client.get(f"/api/session/{token}")
        await client.get("/api/session", headers={"Authorization": f"Bearer {token}"})
        await client.get(f"/api/session/{token}?token={token}")
        await client.post("/api/payment", headers={"X-API-Key": "gw_wrong_key_secret"}, json={})
        await client.post("/api/payment", headers=headers, json={"token": token + "x"})
    assert gw.stop() == 0
    output = gw.output()

    for secret in (token, token.split(".")[2], gw.key(), "gw_wrong_key_secret"):
        assert secret not in output
    for content in (data["qrCode"], data["merchant"], "Bàn số 7", '"amount"'):
        assert content not in output

    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert all({"time", "level", "event"} <= e.keys() for e in events)
    requests = [e for e in events if e["event"] == "http_request"]
    assert {"/api/session/[redacted]", "/api/payment", "/api/token/generate"} <= {
        e["path"] for e in requests
    }
    assert all({"request_id", "status", "duration_ms", "client_ip"} <= e.keys() for e in requests)

    audits = {e["event"]: e for e in events if e.get("logger") == "gateway.audit"}
    publish, clear = audits["publish"], audits["clear"]
    assert publish["session_id"] == session["sessionId"]
    assert publish["key_id"] == "owner"
    assert publish["seq"] == published.json()["seq"]
    assert publish["delivered"] == 1
    assert publish["client_ip"] == "127.0.0.1"
    assert publish["payload_sha256"] == canonical_sha256({**data, "currency": "VND"})
    assert clear["seq"] == cleared.json()["seq"]
    assert clear["payload_sha256"] == canonical_sha256({"reason": "paid"})
