"""Schemathesis against the running gateway's /openapi.json: no 5xx, every 4xx a problem.

Every operation of the served OpenAPI document is fuzzed (positive data for all, negative
data too where there is a JSON body to break). Each generated case is sent over TLS
three ways: with the owner API key, without any key, and, where the case carries a
session token, with the token of a live session that key owns. For ``POST /api/payment``
that third request also gets valid required fields (qrCode, merchant, amount) merged
into the generated ``data``, so that the generated optional and extra fields reach the
publish path instead of stopping at the random qrCode. Validation, authentication, token
verification and publishing are all exercised.

``schemathesis.pytest.from_fixture`` (the lazy loader) cannot be used: with pytest 9.2
it fails with ``AttributeError: 'Function' object has no attribute '_nodeid'`` (pytest
renamed the private attribute the loader rewrites), and ``schema.parametrize()`` needs
the schema at import time, before the gateway runs. So the documented Python API drives
it: ``schemathesis.openapi.from_url`` + ``APIOperation.as_strategy`` under ``@given``,
and ``case.call_and_validate`` with the checks below.

Each request goes on a connection of its own. On a shared keep-alive connection the run
depends on a race: after a 413 the gateway closes the connection without announcing it,
and whether the next request lands on the dead connection depends on timing. That
defect, which schemathesis found, has a deterministic test of its own at the end.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from .gatewayproc import Gateway, payment

PROBLEM_JSON = "application/problem+json"
MAX_EXAMPLES = 25

#: Every operation of the gateway's OpenAPI document (checked against it below).
OPERATIONS = [
    ("POST", "/api/token/generate"),
    ("POST", "/api/payment"),
    ("POST", "/api/payment/clear"),
    ("GET", "/api/session/{token}"),
    ("GET", "/api/session"),
    ("GET", "/api/stats"),
    ("GET", "/health"),
    ("GET", "/metrics"),
]
#: Negative data exists only where the schema constrains what a client sends, the JSON
#: bodies: the GETs take nothing but a path string, which no value can violate
#: (Hypothesis would report Unsatisfiable).
FUZZ_RUNS = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if method == "POST" or mode is GenerationMode.POSITIVE
]


@pytest.fixture(scope="module")
def api_schema(shared_gateway: Gateway) -> Any:
    """The OpenAPI document as the running gateway serves it, trusted through the test CA."""
    gateway = shared_gateway
    ca_file = str(gateway.certs.ca_file)
    config = schemathesis.Config.from_dict(
        {
            "base-url": gateway.base,
            "tls-verify": ca_file,
            "request-timeout": 10,
            "suppress-health-check": ["filter_too_much", "too_slow"],
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        }
    )
    return schemathesis.openapi.from_url(
        f"{gateway.base}/openapi.json", config=config, verify=ca_file
    )


@pytest.fixture(scope="module")
def live_token(shared_gateway: Gateway) -> str:
    """The token of a live session created by the owner key."""
    gateway = shared_gateway
    response = httpx.post(
        f"{gateway.base}/api/token/generate",
        headers={"X-API-Key": gateway.key("owner")},
        verify=gateway.ssl_context,
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def problem_json_on_4xx(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is an RFC 9457 problem: application/problem+json, {type, title, status, detail}."""
    if not 400 <= response.status_code < 500:
        return None
    content_types = response.headers.get("content-type", [])
    media_type = content_types[0].split(";")[0].strip().lower() if content_types else ""
    assert media_type == PROBLEM_JSON, (
        f"{response.status_code} answered with Content-Type {content_types!r}, not {PROBLEM_JSON}"
    )
    body = orjson.loads(response.content)
    assert isinstance(body, dict), f"the problem body is not an object: {response.content[:200]!r}"
    missing = {"type", "title", "status", "detail"} - set(body)
    assert not missing, f"the problem body lacks {sorted(missing)}: {response.content[:200]!r}"
    assert body["status"] == response.status_code, "the problem's status differs from HTTP's"
    return None


#: Never a 5xx; only documented statuses and media types; bodies match their schema;
#: every 4xx a problem document.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json_on_4xx,
]


def with_live_token(case: Any, token: str) -> Any | None:
    """A copy of ``case`` carrying ``token`` wherever it carries a session token, else None."""
    if case.path == "/api/session/{token}":
        derived = case.derive()
        derived.path_parameters = {**case.path_parameters, "token": token}
        return derived
    if case.path == "/api/session":
        headers = case.headers.copy()
        headers["Authorization"] = f"Bearer {token}"
        return case.derive(headers=headers)
    if not isinstance(case.body, dict) or "token" not in case.body:
        return None
    body = {**case.body, "token": token}
    if case.path == "/api/payment" and isinstance(body.get("data"), dict):
        body["data"] = {**body["data"], **payment(150000)}
    derived = case.derive()
    derived.body = body
    return derived


def test_the_fuzzed_operations_are_every_operation_of_the_schema(api_schema: Any) -> None:
    """OPERATIONS lists exactly the operations /openapi.json documents, so none goes unfuzzed."""
    documented = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path", "mode"), FUZZ_RUNS)
def test_no_generated_request_gets_a_5xx_or_a_4xx_that_is_not_a_problem(
    api_schema: Any,
    gateway: Gateway,
    live_token: str,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    """Generated requests, keyed, unkeyed or with a live token, get no 5xx and only problem 4xx."""
    operation = api_schema[path][method]
    owner = {"X-API-Key": gateway.key("owner")}

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=owner, checks=CHECKS)
        case.call_and_validate(checks=CHECKS)
        live = with_live_token(case, live_token)
        if live is not None:
            live.call_and_validate(headers=owner, checks=CHECKS)

    fuzz()


def read_response(tls: ssl.SSLSocket) -> tuple[int, dict[str, str], bytes] | None:
    """One HTTP/1.1 response (status, lowercased headers, body) from ``tls``; None on EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def test_a_413_for_an_oversized_body_leaves_the_keep_alive_connection_usable_or_says_close(
    gateway: Gateway,
) -> None:
    """After a 413 the connection answers the next request, or the 413 said Connection: close."""
    # Schemathesis' find, minimized: a body just over payload.max_body_bytes (400000),
    # then the next request of a keep-alive client on the same connection.
    body = orjson.dumps(
        {"token": "x", "data": {"qrCode": "0" * 400_050, "merchant": "", "amount": 0}}
    )
    head = (
        f"POST /api/payment HTTP/1.1\r\nHost: localhost:{gateway.port}\r\n"
        f"X-API-Key: {gateway.key('owner')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with (
        socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as raw,
        gateway.ssl_context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        with contextlib.suppress(OSError):  # the answer may come before the body is sent
            tls.sendall(head + body)
        first = read_response(tls)
        assert first is not None, "no answer at all to an oversized body"
        status, headers, content = first
        assert status == 413
        assert headers["content-type"] == PROBLEM_JSON
        assert orjson.loads(content)["status"] == 413
        if headers.get("connection", "").lower() == "close":
            return
        try:
            tls.sendall(f"GET /health HTTP/1.1\r\nHost: localhost:{gateway.port}\r\n\r\n".encode())
            second = read_response(tls)
            failure = "EOF"
        except OSError as exc:
            second, failure = None, f"{type(exc).__name__}: {exc}"
        assert second is not None, (
            "the gateway closed the connection after its 413 without Connection: close, so a "
            f"keep-alive client's next request on it gets no response ({failure}); "
            f"413 headers: {headers}"
        )
        assert second[0] == 200
