"""Properties of a running gateway under generated input (SPEC §11.5): whatever method,
path, header or frame a client sends, the answer is never a 5xx, the log never holds a
traceback (checked for every test by the ``gateway`` fixture), metric labels come from
bounded sets, and no part of a token reaches the log however its path is spelled.

Requests go over hand-made TLS connections so that the exact bytes reach the gateway:
HTTP clients normalize methods, dot segments and percent-escapes.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import struct
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .gatewayproc import Gateway, payment
from .wsclient import RawViewer, client_frame

#: Examples per property: enough to cover the classes below, quick on two cores.
EXAMPLES = 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: The gateway's route words and a few that attackers try.
WORDS = [
    "api", "session", "payment", "clear", "token", "generate", "stats", "health", "metrics",
    "qr", "qr-assets", "openapi.json", "ws", "QR", "Session", "API", ".", "..", "", "%2e%2e",
    "%2F", "%00", "%ff", "%", "index.html", "docs", "admin", "..%2f", "~", "*",
]  # fmt: skip
SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%"
METHODS = [
    "GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "PRI", "PROPFIND",
    "get", "Post", "M-SEARCH", "BREW",
]  # fmt: skip
SERVED = {"GET", "HEAD", "POST", "OPTIONS", "other"}

segments = st.one_of(
    st.sampled_from(WORDS),
    st.text(alphabet=SAFE, min_size=1, max_size=40),
    st.text(alphabet=SAFE, min_size=250, max_size=400),
)
paths = st.builds(
    lambda parts, query: "/" + "/".join(parts) + query,
    st.lists(segments, min_size=0, max_size=6),
    st.sampled_from(["", "?token=x", "?a=%ff&b", "?" + "q" * 300]),
)
methods = st.one_of(
    st.sampled_from(METHODS), st.from_regex(r"[A-Z][A-Z0-9_-]{0,19}", fullmatch=True)
)
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=200),
    st.sampled_from([b"null", b"{}", b'{"token": "\\ud800"}', b'{"a":1,"a":2}', b"[[[[[[]]]]]]"]),
    st.builds(
        lambda d: json.dumps(d).encode(), st.dictionaries(st.text(max_size=8), st.integers())
    ),
)
content_types = st.sampled_from(
    [None, "application/json", "text/plain", "application/json; charset=latin-1", "x/\x7f"]
)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(
    gw: Gateway,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Answer:
    """One request with exactly these bytes on a fresh TLS connection (Connection: close)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: localhost:{gw.port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    raw = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    try:
        sock = gw.ssl_context.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise
    with sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (ssl.SSLError, ConnectionError):
            pass
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.1 (\d{3})", status_line)
    assert match, f"not an HTTP/1.1 answer: {received[:200]!r}"
    parsed = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    return Answer(int(match.group(1)), parsed, rest)


def assert_client_error_at_most(answer: Answer, method: str) -> None:
    """Never a 5xx; every error is a problem document, whoever answers it (the app, or the
    HTTP layer for a request it cannot parse)."""
    assert answer.status < 500, answer
    if answer.status >= 400 and method != "HEAD":
        assert answer.headers.get("content-type") == "application/problem+json", answer
        assert json.loads(answer.body)["status"] == answer.status, answer


@FUZZ
@given(method=methods, path=paths, key=st.booleans(), content_type=content_types, body=bodies)
@example(method="GET", path="/qr-assets/" + "a" * 300, key=False, content_type=None, body=b"")
@example(
    method="GET", path="/qr-assets/..%2f..%2fconfig.toml", key=False, content_type=None, body=b""
)
@example(
    method="POST",
    path="/api/token/generate",
    key=True,
    content_type="application/json",
    body=b"null",
)
@example(
    method="POST",
    path="/api/payment",
    key=True,
    content_type="application/json",
    body=b'{"token":"\\ud800","data":{}}',
)
def test_no_request_line_or_body_gets_a_5xx(
    gateway: Gateway, method: str, path: str, key: bool, content_type: str | None, body: bytes
) -> None:
    """Any method on any path, with or without a key, any Content-Type and body: a 2xx,
    3xx or 4xx, never a 5xx nor a traceback in the log."""
    headers: dict[str, str] = {}
    if key:
        headers["X-API-Key"] = gateway.key()
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = raw_request(gateway, method, path, headers, body)
    assert_client_error_at_most(answer, method)


header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300),
    st.sampled_from(["Bearer", "Bearer ", "bearer a.b.c", "Bearer \x7f", "Basic x", "Bearer ."]),
)


@FUZZ
@given(
    name=st.sampled_from(
        ["Authorization", "X-API-Key", "Idempotency-Key", "Origin", "Content-Type",
         "X-Forwarded-For", "Content-Length", "Transfer-Encoding", "Expect", "Cookie"]
    ),
    value=header_values,
    target=st.sampled_from(["/api/session", "/api/payment", "/api/token/generate", "/health"]),
)  # fmt: skip
def test_no_header_value_gets_a_5xx(gateway: Gateway, name: str, value: str, target: str) -> None:
    """Odd values of the headers the gateway reads, on the routes that read them."""
    headers = {"X-API-Key": gateway.key(), name: value}
    method = "GET" if target in ("/api/session", "/health") else "POST"
    answer = raw_request(gateway, method, target, headers, b"{}")
    assert_client_error_at_most(answer, method)


def metric_labels(gw: Gateway) -> list[dict[str, str]]:
    response = httpx.get(
        f"{gw.base}/metrics", headers={"X-API-Key": gw.key()}, verify=gw.ssl_context
    )
    assert response.status_code == 200
    labels = []
    for line in response.text.splitlines():
        if line.startswith("gateway_http_request_duration_seconds_count{"):
            inside = line[line.index("{") + 1 : line.index("}")]
            labels.append(dict(re.findall(r'(\w+)="([^"]*)"', inside)))
    return labels


ROUTES = {
    "/api/token/generate", "/api/payment", "/api/payment/clear", "/api/session/<path:token>",
    "/api/session", "/api/stats", "/metrics", "/health", "/qr/<path:token>",
    "/qr-assets/<path:filename>", "/openapi.json", "/qr/", "unmatched",
}  # fmt: skip


@settings(max_examples=60, deadline=None, derandomize=True, parent=FUZZ)
@given(method=methods, path=paths)
def test_metric_labels_stay_in_bounded_sets(gateway: Gateway, method: str, path: str) -> None:
    """Invented methods count as `other`, paths that match no route as `unmatched`; so
    /metrics cannot grow with what clients send."""
    raw_request(gateway, method, path)
    for labels in metric_labels(gateway):
        assert labels["method"] in SERVED, labels
        assert labels["route"] in ROUTES, labels


def test_a_thousand_invented_methods_leave_metrics_as_they_were(gateway: Gateway) -> None:
    """The attack that found this: 1,000 invented methods on /health no longer add series."""
    with httpx.Client(base_url=gateway.base, verify=gateway.ssl_context) as client:
        assert client.request("INVENTED", "/health").status_code == 405
        before = metric_labels(gateway)
        for n in range(1000):
            assert client.request(f"X{n}", "/health").status_code == 405
    assert len(metric_labels(gateway)) == len(before)


SPELLINGS = [
    "/qr/{t}", "/qr//{t}", "//qr/{t}", "/QR/{t}", "/Qr/{t}/", "/qr/./{t}", "/qr/../qr/{t}",
    "/./qr/{t}", "/api/session/{t}", "/api//session/{t}", "/api/Session/{t}",
    "/API/SESSION/{t}", "/api/session/../session/{t}", "/qr-assets/{t}", "/qr/{t}/x",
    "/qr/{a}/{b}", "/{t}", "/health/{t}", "/api/payment/{t}", "/qr/{t}?token={t}",
    "/qr%2F{t}", "/api/session%2F{t}", "/ws/{t}",
]  # fmt: skip


def test_no_part_of_a_token_is_logged_however_the_path_is_spelled(gateway: Gateway) -> None:
    """Every spelling of a token path, on every method: the log holds no part of it."""
    response = httpx.post(
        f"{gateway.base}/api/token/generate",
        headers={"X-API-Key": gateway.key()},
        verify=gateway.ssl_context,
    )
    token = response.json()["token"]
    head, claims, signature = token.split(".")
    since = gateway.log_size()
    for spelling in SPELLINGS:
        target = spelling.format(t=token, a=token[:40], b=token[40:])
        for method in ("GET", "HEAD", "POST", "DELETE", "BREW"):
            answer = raw_request(gateway, method, target)
            assert_client_error_at_most(answer, method)
    with gateway.log_path.open("rb") as log:  # type: ignore[union-attr]
        log.seek(since)
        logged = log.read().decode()
    assert logged.count('"event":"http_request"') >= len(SPELLINGS) * 5 - 5
    for part in (head, claims, signature, token[30:50], signature[:10], claims[-10:]):
        assert part not in logged, f"a part of the token was logged: {part}"


# --- WebSocket frames -----------------------------------------------------------------------

CLOSES = {1002, 1003, 1007, 1009, 4429}

frames = st.one_of(
    st.builds(
        client_frame,
        st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB, 0xF]),
        st.one_of(
            st.binary(max_size=300),
            st.sampled_from([b'{"type":"PING"}', b"{}", b"[]", b"null", b'{"type":1}']),
            st.builds(lambda n: struct.pack(">H", n), st.integers(0, 65535)),
        ),
        fin=st.booleans(),
    ),
    st.binary(min_size=1, max_size=40),  # not even a frame
)


@pytest.fixture
def ws_token(gateway: Gateway) -> str:
    response = httpx.post(
        f"{gateway.base}/api/token/generate",
        headers={"X-API-Key": gateway.key()},
        verify=gateway.ssl_context,
    )
    token: str = response.json()["token"]
    return token


def exchange_frames(gw: Gateway, token: str, data: bytes) -> int | None:
    """Open a viewer, send ``data``, then answer the server's close if one comes within
    a second; return its close code (None: the connection stayed open)."""
    raw = RawViewer(gw, token)
    try:
        raw.open()
        raw.sock.sendall(data)
        raw.sock.settimeout(1.0)
        try:
            code = raw.read_until_close(1.0)
        except (TimeoutError, EOFError, AssertionError, ssl.SSLError, ConnectionError):
            return None
        return code
    finally:
        raw.close()


@settings(max_examples=80, deadline=None, derandomize=True, parent=FUZZ)
@given(sequence=st.lists(frames, min_size=1, max_size=4))
def test_no_frame_sequence_gets_an_internal_error(
    gateway: Gateway, ws_token: str, sequence: list[bytes]
) -> None:
    """Whatever frames a viewer sends, the gateway answers or closes with a protocol code
    (1002, 1003, 1007, 1009, 4429), never 1011; the log holds no traceback."""
    code = exchange_frames(gateway, ws_token, b"".join(sequence))
    assert code is None or code in CLOSES or 1000 <= code <= 1001, code


def test_the_session_still_serves_after_the_fuzzing(gateway: Gateway, ws_token: str) -> None:
    """A publish after the fuzzing answers 200: the process and its sessions carried on."""
    response = httpx.post(
        f"{gateway.base}/api/payment",
        headers={"X-API-Key": gateway.key()},
        json={"token": ws_token, "data": payment()},
        verify=gateway.ssl_context,
    )
    assert response.status_code == 200, response.text
