"""End-to-end: every row of SPEC §2's error table against a real `gateway serve` over TLS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect

from .gatewayproc import JWT_SECRET, Gateway, mint, payment

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert "Traceback" not in response.text
    return body


async def still_serving(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """The process answers, and a fresh session's viewer receives a publish."""
    assert (await client.get("/health")).status_code == 200
    session = await client.new_session()
    async with connect(session["wsUrl"], ssl=gateway.ssl_context) as ws:
        assert json.loads(await ws.recv())["type"] == "SESSION_INFO"
        response = await client.post_payment(session["token"])
        assert response.status_code == 200
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["type"] == "PAYMENT_DATA"
        assert message["payload"]["seq"] == response.json()["seq"]


async def test_token_generate_returns_token_urls_and_expiry(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """POST /api/token/generate answers 201 with token, url, wsUrl, sessionId and expiresAt."""
    body = await client.new_session()
    assert set(body) == {"token", "url", "wsUrl", "sessionId", "expiresAt"}
    assert body["url"] == f"{gateway.base}/qr/{body['token']}"
    assert body["wsUrl"] == f"{gateway.ws_base}/?token={body['token']}"
    assert body["expiresAt"].endswith("Z")
    header = jwt.get_unverified_header(body["token"])
    assert header["typ"] == "gw-view+jwt"
    assert header["kid"] == "default"
    claims = jwt.decode(body["token"], JWT_SECRET, algorithms=["HS256"], audience="gw-viewer")
    assert claims["sub"] == body["sessionId"]
    assert claims["iss"] == gateway.base


async def test_token_generate_accepts_an_empty_object_and_refuses_fields(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A body, when sent, must be a JSON object with no fields: {} is 201, {"x": 1} is 422."""
    headers = {"X-API-Key": gateway.key()}
    ok = await client.post("/api/token/generate", headers=headers, json={})
    assert ok.status_code == 201
    bad = await client.post("/api/token/generate", headers=headers, json={"x": 1})
    assert assert_problem(bad, 422)["errors"][0]["loc"] == ["x"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/token/generate"),
        ("POST", "/api/payment"),
        ("POST", "/api/payment/clear"),
        ("GET", "/api/stats"),
    ],
)
@pytest.mark.parametrize("key", [None, "gw_not_a_key", ""])
async def test_missing_or_unknown_api_key_is_401(
    client: httpx.AsyncClient, gateway: Gateway, method: str, path: str, key: str | None
) -> None:
    """A missing or unknown API key gets 401 with WWW-Authenticate: ApiKey."""
    headers = {} if key is None else {"X-API-Key": key}
    response = await client.request(method, path, headers=headers, json={})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("ApiKey")


async def test_key_without_the_scope_is_403(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """A known key without the route's scope gets 403."""
    response = await client.post("/api/token/generate", headers={"X-API-Key": gateway.key("stats")})
    assert_problem(response, 403)
    stats = await client.get("/api/stats", headers={"X-API-Key": gateway.key("other")})
    assert_problem(stats, 403)
    await still_serving(client, gateway)


async def test_session_of_another_key_is_403(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """Publishing or clearing with a key that did not create the session gets 403."""
    session = await client.new_session("owner")
    response = await client.post_payment(session["token"], key="other")
    assert_problem(response, 403)
    clear = await client.post(
        "/api/payment/clear",
        headers={"X-API-Key": gateway.key("other")},
        json={"token": session["token"]},
    )
    assert_problem(clear, 403)
    await still_serving(client, gateway)


async def test_pinned_key_needs_its_origin(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """A key pinned to an Origin is refused (403) without it or from another, accepted from it."""
    headers = {"X-API-Key": gateway.key("pinned")}
    no_origin = await client.post("/api/token/generate", headers=headers)
    assert_problem(no_origin, 403)
    evil = await client.post(
        "/api/token/generate", headers={**headers, "Origin": "https://evil.example"}
    )
    assert_problem(evil, 403)
    good = await client.post(
        "/api/token/generate",
        headers={**headers, "Origin": "chrome-extension://abcdefghijklmnop"},
    )
    assert good.status_code == 201


BAD_TOKENS = {
    "malformed": lambda gw: "not.a.jwt",
    "empty": lambda gw: "",
    "bad_signature": lambda gw: mint(gw, secret="another-secret-" + "x" * 40),
    "unknown_kid": lambda gw: mint(gw, kid="nope"),
    "wrong_typ": lambda gw: mint(gw, typ="JWT"),
    "no_typ": lambda gw: mint(gw, typ=None),
    "wrong_aud": lambda gw: mint(gw, aud="someone-else"),
    "wrong_iss": lambda gw: mint(gw, iss="https://evil.example"),
    "alg_not_allowed": lambda gw: mint(gw, alg="HS512", secret=JWT_SECRET * 2),
    "alg_none": lambda gw: jwt.encode(
        {"sub": "x"}, None, algorithm="none", headers={"kid": "default", "typ": "gw-view+jwt"}
    ),
    "not_yet_valid": lambda gw: mint(gw, iat=int(time.time()) + 120),
    "nbf_future": lambda gw: mint(gw, nbf=int(time.time()) + 120),
    "missing_sub": lambda gw: mint(gw, sub=None),
    "missing_exp": lambda gw: mint(gw, exp=None),
    "missing_iat": lambda gw: mint(gw, iat=None),
    "bad_signature_and_expired": lambda gw: mint(
        gw, secret="another-secret-" + "x" * 40, exp=int(time.time()) - 60
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_invalid_token_is_401_everywhere(
    client: httpx.AsyncClient, gateway: Gateway, case: str
) -> None:
    """Every token failure but expiry is 401, on publish, clear and session info."""
    token = BAD_TOKENS[case](gateway)
    assert_problem(await client.post_payment(token), 401)
    clear = await client.post(
        "/api/payment/clear", headers={"X-API-Key": gateway.key()}, json={"token": token}
    )
    assert_problem(clear, 401)
    if token:
        assert_problem(await client.get(f"/api/session/{token}"), 401)
    bearer = await client.get("/api/session", headers={"Authorization": f"Bearer {token}".strip()})
    assert_problem(bearer, 401)
    assert bearer.headers["www-authenticate"].startswith("Bearer")


async def test_session_info_without_bearer_is_401(client: httpx.AsyncClient) -> None:
    """GET /api/session without Authorization answers 401 with WWW-Authenticate: Bearer."""
    response = await client.get("/api/session")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_valid_token_for_unknown_session_is_404(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A well-signed token naming a session the gateway does not hold gets 404."""
    token = mint(gateway)
    assert_problem(await client.post_payment(token), 404)
    assert_problem(await client.get(f"/api/session/{token}"), 404)
    await still_serving(client, gateway)


async def test_expired_token_is_410(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """A well-signed token whose exp passed gets 410, before any session lookup."""
    token = mint(gateway, iat=int(time.time()) - 120, exp=int(time.time()) - 60)
    assert_problem(await client.post_payment(token), 410)
    assert_problem(await client.get(f"/api/session/{token}"), 410)


async def test_body_that_is_not_json_is_400(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """A JSON content type with a body that does not parse (or is not UTF-8) gets 400."""
    for raw in (b"{", b"\xff\xfe", b'{"token": "a",}'):
        response = await client.post(
            "/api/payment",
            headers={"X-API-Key": gateway.key(), "Content-Type": "application/json"},
            content=raw,
        )
        assert_problem(response, 400)
    await still_serving(client, gateway)


async def test_schema_violation_is_422_naming_each_field(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A body breaking the schema gets 422 with errors naming every bad field, echoing nothing."""
    session = await client.new_session()
    data = payment(merchant="evil\u202e", amount=1000.0, seq=5)
    data["deeplink"] = "javascript:alert(1)"
    response = await client.post_payment(
        session["token"], body={"token": session["token"], "data": data}
    )
    body = assert_problem(response, 422)
    locs = sorted(tuple(e["loc"]) for e in body["errors"])
    assert locs == sorted(
        [("data", "merchant"), ("data", "amount"), ("data", "seq"), ("data", "deeplink")]
    )
    assert "alert(1)" not in response.text
    assert session["token"] not in response.text
    await still_serving(client, gateway)


async def test_non_object_bodies_are_422(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """JSON that is not an object with the required fields gets 422."""
    for body in ([], "x", 1, None, {"token": "t"}, {"data": {}}):
        response = await client.post(
            "/api/payment",
            headers={"X-API-Key": gateway.key(), "Content-Type": "application/json"},
            content=json.dumps(body),
        )
        assert_problem(response, 422)


async def test_idempotency_key_replays_and_conflicts(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A repeated Idempotency-Key replays the first answer silently; another body is 409."""
    session = await client.new_session()
    token = session["token"]
    async with connect(session["wsUrl"], ssl=gateway.ssl_context) as ws:
        await ws.recv()  # SESSION_INFO
        first = await client.post_payment(token, headers={"Idempotency-Key": "order-1"})
        assert first.status_code == 200
        assert "idempotent-replayed" not in first.headers
        again = await client.post_payment(token, headers={"Idempotency-Key": "order-1"})
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        other = await client.post_payment(
            token,
            headers={"Idempotency-Key": "order-1"},
            body={"token": token, "data": payment(amount=5000)},
        )
        assert_problem(other, 409)
        marker = await client.post_payment(token)
        assert marker.json()["seq"] == first.json()["seq"] + 1
        seqs = []
        for _ in range(2):
            seqs.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["payload"]["seq"])
        assert seqs == [first.json()["seq"], marker.json()["seq"]]


@pytest.mark.parametrize("value", ["", "x" * 129, "caf\u00e9", "tab\there"])
async def test_malformed_idempotency_key_is_400(
    client: httpx.AsyncClient, gateway: Gateway, value: str
) -> None:
    """An Idempotency-Key outside 1-128 printable ASCII characters gets 400."""
    session = await client.new_session()
    response = await client.post(
        "/api/payment",
        headers={"X-API-Key": gateway.key(), "Idempotency-Key": value.encode()},
        json={"token": session["token"], "data": payment()},
    )
    assert_problem(response, 400)


async def raw_request(gateway: Gateway, head: str, body: bytes = b"") -> bytes:
    """Send a request by hand on a TLS socket and return the response head and body."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", gateway.port, ssl=gateway.ssl_context, server_hostname="localhost"
    )
    try:
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read(65536)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def test_body_over_the_limit_is_413_before_it_is_read(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A Content-Length over payload.max_body_bytes gets 413 before any body byte is sent."""
    head = (
        "POST /api/payment HTTP/1.1\r\nHost: localhost\r\n"
        f"X-API-Key: {gateway.key()}\r\nContent-Type: application/json\r\n"
        "Content-Length: 400001\r\n"
    )
    # No body follows: the answer must not wait for it.
    response = await raw_request(gateway, head)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"application/problem+json" in response
    await still_serving(client, gateway)


async def test_streamed_body_over_the_limit_is_413(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """A chunked body that grows past payload.max_body_bytes gets 413 once it does."""
    head = (
        "POST /api/payment HTTP/1.1\r\nHost: localhost\r\n"
        f"X-API-Key: {gateway.key()}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n"
    )
    size = 400_001
    chunk = b"%x\r\n" % size + b"a" * size + b"\r\n"  # the final 0-chunk never comes
    response = await raw_request(gateway, head, chunk)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    await still_serving(client, gateway)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, gateway: Gateway, content_type: str
) -> None:
    """A JSON POST with another Content-Type gets 415."""
    session = await client.new_session()
    response = await client.post(
        "/api/payment",
        headers={"X-API-Key": gateway.key(), "Content-Type": content_type},
        content=json.dumps({"token": session["token"], "data": payment()}),
    )
    assert_problem(response, 415)


async def test_publish_and_clear_count_seq_and_viewers(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """seq grows by one per publish or clear from 1; delivered counts connected viewers."""
    session = await client.new_session()
    token = session["token"]
    info = (await client.get(f"/api/session/{token}")).json()
    assert info["hasData"] is False
    assert info["lastPublishedAt"] is None
    assert info["viewers"] == 0
    first = await client.post_payment(token)
    assert first.json() == {"ok": True, "sessionId": session["sessionId"], "delivered": 0, "seq": 1}
    async with connect(session["wsUrl"], ssl=gateway.ssl_context) as ws:
        await ws.recv()
        await ws.recv()  # late-join PAYMENT_DATA
        second = await client.post_payment(token)
        assert second.json()["seq"] == 2
        assert second.json()["delivered"] == 1
        clear = await client.post(
            "/api/payment/clear",
            headers={"X-API-Key": gateway.key()},
            json={"token": token, "reason": "paid"},
        )
        assert clear.status_code == 200
        assert clear.json()["seq"] == 3
    by_bearer = await client.get("/api/session", headers={"Authorization": f"Bearer {token}"})
    assert by_bearer.status_code == 200
    assert by_bearer.json()["hasData"] is False
    assert by_bearer.json()["lastPublishedAt"].endswith("Z")


async def test_clear_refuses_an_unknown_reason(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """POST /api/payment/clear with a reason outside paid/cancelled/replaced gets 422."""
    session = await client.new_session()
    response = await client.post(
        "/api/payment/clear",
        headers={"X-API-Key": gateway.key()},
        json={"token": session["token"], "reason": "stolen"},
    )
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["reason"]


async def test_stats_counts_this_instance(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """GET /api/stats with stats:read returns the SPEC's counters."""
    response = await client.get("/api/stats", headers={"X-API-Key": gateway.key("stats")})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"sessions", "connections", "published", "delivered", "uptimeSeconds"}
    assert body["sessions"] >= 0


async def test_unknown_path_and_method_are_problems(client: httpx.AsyncClient) -> None:
    """An unknown path gets a 404 problem and a wrong method a 405 problem."""
    assert_problem(await client.get("/nope"), 404)
    assert_problem(await client.get("/api/payment"), 405)


async def test_openapi_document_is_generated_from_the_models(client: httpx.AsyncClient) -> None:
    """/openapi.json describes every API route and the payment schema."""
    doc = (await client.get("/openapi.json")).json()
    for path in ("/api/token/generate", "/api/payment", "/api/payment/clear", "/health"):
        assert path in doc["paths"]
    assert "PaymentData" in doc["components"]["schemas"]
    assert (await client.get("/docs")).status_code == 404


async def test_openapi_document_describes_what_viewers_receive(client: httpx.AsyncClient) -> None:
    """The PAYMENT_DATA payload, payee included, is in the document (x-websocket-messages),
    and a payload never carries payee as request input."""
    doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert doc["x-websocket-messages"]["PAYMENT_DATA"]["payload"] == {
        "$ref": "#/components/schemas/PaymentDataPayload"
    }
    assert set(schemas["Payee"]["properties"]) == {
        "provider", "bankBin", "bankName", "account", "merchantName"
    }  # fmt: skip
    assert schemas["Payee"]["properties"]["provider"]["enum"] == [
        "VIETQR", "VNPAY", "MOMO", "ZALOPAY", "EMVCO"
    ]  # fmt: skip
    assert "payee" not in schemas["PaymentData"]["properties"]


async def test_security_headers_on_api_responses(client: httpx.AsyncClient) -> None:
    """API responses carry nosniff, no-referrer, no-store and HSTS over HTTPS."""
    response = await client.get("/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["strict-transport-security"].startswith("max-age=")
