"""End-to-end: malformed tokens and bodies of every class get their one answer (SPEC §11.1,
§11.2) wherever they are presented, against a real `gateway serve`; a bystander viewer of
another session keeps receiving, and the ``gateway`` fixture checks the log holds no
traceback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from .gatewayproc import JWT_SECRET, Gateway, payment
from .wsclient import bystander, close_code, viewer

PROBLEM = "application/problem+json"


def forge(header: dict[str, Any], claims: dict[str, Any], secret: str = JWT_SECRET) -> str:
    """A compact JWS with any header and claims, HMAC-SHA256-signed with ``secret``.

    By hand, because no JWT library writes a lone surrogate or a string ``iat``.
    """

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def claims_for(gw: Gateway, sub: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": gw.base, "aud": "gw-viewer", "sub": sub, "iat": now, "exp": now + 600}
    claims.update(changes)
    return claims


HEADER = {"alg": "HS256", "kid": "default", "typ": "gw-view+jwt"}

#: Each class of malformed token, as a function of the gateway and a live session id.
MALFORMED: dict[str, Callable[[Gateway, str], str]] = {
    "kid lone surrogate": lambda gw, sid: forge({**HEADER, "kid": "\ud800"}, claims_for(gw, sid)),
    "alg lone surrogate": lambda gw, sid: forge({**HEADER, "alg": "\udfff"}, claims_for(gw, sid)),
    "typ with NUL": lambda gw, sid: forge(
        {**HEADER, "typ": "gw-view+jwt\x00"}, claims_for(gw, sid)
    ),
    "kid NUL": lambda gw, sid: forge({**HEADER, "kid": "\x00"}, claims_for(gw, sid)),
    "iat string": lambda gw, sid: forge(HEADER, claims_for(gw, sid, iat=str(int(time.time())))),
    "iat float": lambda gw, sid: forge(HEADER, claims_for(gw, sid, iat=time.time())),
    "exp float": lambda gw, sid: forge(HEADER, claims_for(gw, sid, exp=time.time() + 600.5)),
    "nbf string": lambda gw, sid: forge(HEADER, claims_for(gw, sid, nbf="0")),
    "exp boolean": lambda gw, sid: forge(HEADER, claims_for(gw, sid, exp=True)),
    "4097 characters": lambda gw, sid: (
        forge(HEADER, claims_for(gw, sid, pad="p" * 3000)) + "A" * 4097
    ),
    "not base64url": lambda gw, sid: "a.b.c" + "é",
    "four parts": lambda gw, sid: forge(HEADER, claims_for(gw, sid)) + ".x",
}


@pytest.fixture
async def live(client: httpx.AsyncClient, gateway: Gateway) -> dict[str, Any]:
    """A live session whose id the malformed tokens name (so only the token is wrong)."""
    return await client.new_session()


async def present(client: httpx.AsyncClient, gw: Gateway, where: str, token: str) -> httpx.Response:
    key = {"X-API-Key": gw.key()}
    if where == "publish":
        return await client.post(
            "/api/payment", headers=key, json={"token": token, "data": payment()}
        )
    if where == "clear":
        return await client.post("/api/payment/clear", headers=key, json={"token": token})
    if where == "path":
        return await client.get(f"/api/session/{quote(token, safe='')}")
    return await client.get(
        "/api/session", headers={"Authorization": f"Bearer {quote(token, safe='.')}"}
    )


@pytest.mark.parametrize("malformation", sorted(MALFORMED))
@pytest.mark.parametrize("where", ["publish", "clear", "path", "bearer"])
async def test_a_malformed_token_is_401_wherever_it_is_presented(
    client: httpx.AsyncClient,
    gateway: Gateway,
    live: dict[str, Any],
    where: str,
    malformation: str,
) -> None:
    """kid/alg/typ that are not UTF-8 strings, time claims that are not integers, 4097
    characters, a foreign alphabet: 401 in a publish or clear body, in the path and as a
    Bearer token (with its challenge), never 422 or 500."""
    token = MALFORMED[malformation](gateway, live["sessionId"])
    async with bystander(gateway, client):
        response = await present(client, gateway, where, token)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["title"] == "Invalid session token"
        if where == "bearer":
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("malformation", sorted(MALFORMED))
async def test_a_malformed_token_closes_the_viewer_socket_4401(
    client: httpx.AsyncClient, gateway: Gateway, live: dict[str, Any], malformation: str
) -> None:
    """The same tokens in the WebSocket query close with 4401 after the handshake, not 1011."""
    token = MALFORMED[malformation](gateway, live["sessionId"])
    async with bystander(gateway, client):
        async with viewer(gateway, token) as ws:
            code, received = await close_code(ws)
        assert code == 4401
        assert received == []


async def test_a_body_token_with_a_lone_surrogate_escape_is_401(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """`"token": "\\ud800"` parses as JSON (a lone surrogate escape is grammar) and is a
    malformed token: 401, not 400 or 500."""
    body = b'{"token": "\\ud800", "data": ' + json.dumps(payment()).encode() + b"}"
    response = await client.post(
        "/api/payment",
        headers={"X-API-Key": gateway.key(), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 401, response.text


# --- bodies (§11.2) -------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"null", b"0", b"[]", b'"x"', b"true", b"[{}]"])
async def test_token_generate_with_a_body_that_is_not_an_object_is_422(
    client: httpx.AsyncClient, gateway: Gateway, body: bytes
) -> None:
    """No body, or a JSON object, creates a session; any other JSON value is 422."""
    response = await client.post(
        "/api/token/generate",
        headers={"X-API-Key": gateway.key(), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


def with_duplicate(where: str, token: str) -> bytes:
    data = json.dumps(payment())[1:-1]
    if where == "top level":
        return f'{{"token": "{token}", "token": "{token}", "data": {{{data}}}}}'.encode()
    if where == "in data":
        return f'{{"token": "{token}", "data": {{{data}, "amount": 1000}}}}'.encode()
    return f'{{"token": "{token}", "data": {{{data}, "x": {{"a": 1, "a": 1}}}}}}'.encode()


@pytest.mark.parametrize("where", ["top level", "in data", "nested"])
@pytest.mark.parametrize("path", ["/api/payment", "/api/payment/clear", "/api/token/generate"])
async def test_a_member_named_twice_is_400(
    client: httpx.AsyncClient, gateway: Gateway, where: str, path: str
) -> None:
    """An object naming a member twice, at any depth, is 400 before validation: which
    value counts would be ambiguous (the last one used to win)."""
    session = await client.new_session()
    async with bystander(gateway, client):
        response = await client.post(
            path,
            headers={"X-API-Key": gateway.key(), "Content-Type": "application/json"},
            content=with_duplicate(where, session["token"]),
        )
        assert response.status_code == 400, response.text
        assert "twice" in response.json()["detail"]
        assert (await client.get(f"/api/session/{session['token']}")).json()["hasData"] is False


@pytest.mark.parametrize("field", ["merchant", "description", "orderId", "currency", "qrCode"])
async def test_a_lone_surrogate_escape_in_a_text_field_is_422_naming_it(
    client: httpx.AsyncClient, gateway: Gateway, field: str
) -> None:
    """A lone surrogate escape is JSON grammar, so it reaches the field's character rules:
    422 naming the field (it used to be 400 for the whole body)."""
    session = await client.new_session()
    data = payment(description="Bàn 7", orderId="A-1")
    encoded = json.dumps({"token": session["token"], "data": data}, ensure_ascii=False)
    value = json.dumps(data[field], ensure_ascii=False)[1:-1] if field in data else "VND"
    spoiled = encoded.replace(
        f'"{field}": "{value}"', f'"{field}": "{value[:2]}\\ud800{value[2:]}"', 1
    )
    if field == "currency":
        spoiled = encoded.replace('"data": {', '"data": {"currency": "VN\\ud800D", ', 1)
    assert spoiled != encoded
    response = await client.post(
        "/api/payment",
        headers={"X-API-Key": gateway.key(), "Content-Type": "application/json"},
        content=spoiled.encode(),
    )
    assert response.status_code == 422, response.text
    assert ["data", field] in [error["loc"] for error in response.json()["errors"]]


async def test_an_unknown_field_named_with_a_lone_surrogate_is_422(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """The 422 names the field in an encodable form; the answer itself never fails."""
    session = await client.new_session()
    body = json.dumps({"token": session["token"], "data": payment()})
    body = body.replace('"data": {', '"data": {"x\\ud800": 1, ', 1)
    response = await client.post(
        "/api/payment",
        headers={"X-API-Key": gateway.key(), "Content-Type": "application/json"},
        content=body.encode(),
    )
    assert response.status_code == 422, response.text
    assert ["data", "x\\ud800"] in [error["loc"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    "name", ["a" * 256, "a" * 4096, "index-XXXX.js", "..%2F..%2Fconfig.toml", "%00", "x" * 300]
)
async def test_an_asset_that_is_not_in_the_build_is_404(
    client: httpx.AsyncClient, gateway: Gateway, name: str
) -> None:
    """Over-long names (once a 500: File name too long), tokens and traversals are 404."""
    response = await client.get(f"/qr-assets/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
