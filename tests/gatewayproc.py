"""A real ``gateway serve`` subprocess over TLS, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import tomli_w
from jwt.warnings import InsecureKeyLengthWarning

from gateway import emvco
from gateway.auth.apikeys import hash_key

JWT_SECRET = "test-secret-" + "s" * 40
KEYS = {
    # name: (key, scopes, allowed_origins)
    "owner": (
        "gw_test_owner_key_0123456789abcdef",
        ["sessions:create", "payments:publish", "stats:read"],
        None,
    ),
    "other": ("gw_test_other_key_0123456789abcdef", ["sessions:create", "payments:publish"], None),
    "stats": ("gw_test_stats_key_0123456789abcdef", ["stats:read"], None),
    "pinned": (
        "gw_test_pinned_key_0123456789abcde",
        ["sessions:create", "payments:publish"],
        ["chrome-extension://abcdefghijklmnop"],
    ),
}
REPO = Path(__file__).resolve().parent.parent

HIGH_LIMITS = {
    "token_generate_per_ip": "100000/minute",
    "token_generate_per_key": "100000/minute",
    "payment_per_ip": "100000/minute",
    "payment_per_token": "100000/minute",
    "ws_connect_per_ip": "100000/minute",
    "ws_messages_per_connection": "100000/minute",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def render_toml(config: dict[str, Any]) -> str:
    """TOML for ``config``; a dotted key ("auth.api_keys") names a nested table, and a
    None value is left out (as an absent key)."""
    nested: dict[str, Any] = {}
    for name, values in config.items():
        *parents, last = name.split(".")
        table = nested
        for parent in parents:
            table = table.setdefault(parent, {})
        if isinstance(values, list):
            table[last] = [{k: v for k, v in entry.items() if v is not None} for entry in values]
        else:
            table.setdefault(last, {}).update(values)
    return tomli_w.dumps(nested)


#: The session a token minted by :func:`mint` names unless told otherwise (none exists).
UNKNOWN_SESSION = "00000000-0000-4000-8000-000000000000"


def mint(
    gw: Gateway,
    sub: str = UNKNOWN_SESSION,
    *,
    secret: str = JWT_SECRET,
    alg: str = "HS256",
    **changes: Any,
) -> str:
    """A token shaped like the gateway's for session ``sub``, with ``changes`` applied to
    its header (``kid``, ``typ``) or claims; a change to None leaves the member out."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": gw.base, "aud": "gw-viewer", "sub": sub, "iat": now}
    claims["exp"] = now + 600
    headers: dict[str, Any] = {"kid": "default", "typ": "gw-view+jwt"}
    for name, value in changes.items():
        target = headers if name in ("kid", "typ") else claims
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    with warnings.catch_warnings():
        # HS512 with the gateway's 52-byte secret is the point of an alg_not_allowed case.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=alg, headers=headers)


def sample_qr(amount: int = 300000) -> str:
    return emvco.build(
        [("00", "01"), ("01", "12"), ("53", "704"), ("54", str(amount)), ("58", "VN"), ("59", "AN")]
    )


def payment(amount: int = 300000, **extra: Any) -> dict[str, Any]:
    return {"qrCode": sample_qr(amount), "merchant": "Cửa hàng An", "amount": amount, **extra}


class GatewayAPI:
    """The requests every test file makes of a gateway, built in one place.

    Each method returns an ``httpx.Request`` that an async client (:class:`GatewayClient`)
    or a sync one (``httpx.Client.send``, for the Playwright tests) sends.
    """

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Request:
        return httpx.Request(method, self.gw.base + path, **kw)

    def generate(self, key: str = "owner", **headers: str) -> httpx.Request:
        return self._request(
            "POST", "/api/token/generate", headers={"X-API-Key": self.gw.key(key), **headers}
        )

    def payment(
        self,
        token: str,
        data: dict[str, Any] | None = None,
        *,
        key: str = "owner",
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> httpx.Request:
        """``POST /api/payment`` of ``data`` (a sample payment by default), or of ``body``."""
        sent = body if body is not None else {"token": token, "data": data or payment()}
        headers = {"X-API-Key": self.gw.key(key), **(headers or {})}
        return self._request("POST", "/api/payment", headers=headers, json=sent)

    def clear(self, token: str, reason: str | None = None, key: str = "owner") -> httpx.Request:
        body: dict[str, Any] = {"token": token}
        if reason is not None:
            body["reason"] = reason
        headers = {"X-API-Key": self.gw.key(key)}
        return self._request("POST", "/api/payment/clear", headers=headers, json=body)

    def session(self, token: str) -> httpx.Request:
        return self._request("GET", f"/api/session/{token}")


def success(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The JSON body of a response that must have ``status``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


class GatewayClient(httpx.AsyncClient):
    """An HTTPS client for one gateway, trusting the test CA, with the calls every test
    makes: ``await client.new_session()``, ``publish(token, data)``, ``clear(token)``."""

    def __init__(self, gw: Gateway, **kw: Any) -> None:
        kw.setdefault("timeout", 15)
        # Hypercorn closes a keep-alive connection after 5 s idle; a client that reuses
        # one at that moment gets "Server disconnected without sending a response"
        # (seen in CI). Drop idle connections before the server does, as browsers do.
        kw.setdefault("limits", httpx.Limits(keepalive_expiry=2))
        verify = gw.ssl_context if gw.tls else False
        super().__init__(base_url=gw.base, verify=verify, **kw)
        self.gw = gw
        self.api = GatewayAPI(gw)

    async def generate(self, key: str = "owner", **headers: str) -> httpx.Response:
        return await self.send(self.api.generate(key, **headers))

    async def new_session(self, key: str = "owner") -> dict[str, Any]:
        return success(await self.generate(key), 201)

    async def post_payment(
        self, token: str, data: dict[str, Any] | None = None, **kw: Any
    ) -> httpx.Response:
        return await self.send(self.api.payment(token, data, **kw))

    async def publish(
        self, token: str, data: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        """Publish ``data`` (a sample payment by default); the 200 body."""
        return success(await self.post_payment(token, data, **kw))

    async def clear(self, token: str, reason: str | None = None) -> dict[str, Any]:
        return success(await self.send(self.api.clear(token, reason)))

    async def session_info(self, token: str) -> dict[str, Any]:
        return success(await self.send(self.api.session(token)))


async def new_session_on(gw: Gateway, key: str = "owner") -> dict[str, Any]:
    """A session created on ``gw`` through a client of its own (for tests that hold
    several gateways)."""
    async with gw.client() as client:
        return await client.new_session(key)


async def post_payment_to(
    gw: Gateway, token: str, data: dict[str, Any] | None = None, **kw: Any
) -> httpx.Response:
    """``POST /api/payment`` to ``gw`` through a client of its own."""
    async with gw.client() as client:
        return await client.post_payment(token, data, **kw)


@dataclass
class Gateway:
    """One running gateway; ``base`` is its https:// URL."""

    port: int
    workdir: Path
    certs: Any
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    #: False: plain HTTP/WS, as behind a TLS-terminating proxy.
    tls: bool = True

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://localhost:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://localhost:{self.port}"

    @property
    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certs.ca_file))

    def key(self, name: str = "owner") -> str:
        return KEYS[name][0]

    def client(self, **kw: Any) -> GatewayClient:
        """An HTTPS client for this gateway (use with ``async with``)."""
        return GatewayClient(self, **kw)

    def config(self) -> dict[str, Any]:
        sections: dict[str, Any] = {
            "server": {"host": "127.0.0.1", "port": self.port, "public_url": self.base},
            "rate_limits": dict(HIGH_LIMITS),
            "logging": {"level": "INFO", "format": "json"},
        }
        if self.tls:
            sections["tls"] = {
                "certfile": str(self.certs.cert_file),
                "keyfile": str(self.certs.key_file),
            }
        for name, values in self.overrides.items():
            sections.setdefault(name, {}).update(values)
        sections["auth.api_keys"] = [
            {"id": name, "sha256": hash_key(key), "scopes": scopes, "allowed_origins": origins}
            for name, (key, scopes, origins) in KEYS.items()
        ]
        return sections

    def start(self, timeout: float = 20.0, *, wait_healthy: bool = True) -> None:
        config_path = self.workdir / f"config-{self.port}.toml"
        config_path.write_text(render_toml(self.config()))
        self.log_path = self.workdir / f"gateway-{self.port}.log"
        env = {**os.environ, "GATEWAY_JWT_SECRET": JWT_SECRET, **self.env}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(config_path)],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}:\n{self.output()}")
            try:
                response = httpx.get(
                    f"{self.base}/health", verify=self.ssl_context if self.tls else False, timeout=1
                )
                if response.status_code == 200 or not wait_healthy:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not answer /health in {timeout} s:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path and self.log_path.exists() else 0

    def errors_logged(self, since: int = 0) -> list[str]:
        """Log lines from byte ``since`` on that report a server error: a traceback, an
        ``exception`` field, or level ERROR/CRITICAL. Client input must never cause one."""
        if self.log_path is None:
            return []
        with self.log_path.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        found = []
        for line in text.splitlines():
            if "Traceback (most recent call last)" in line:
                found.append(line)
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and (
                "exception" in entry or entry.get("level") in ("ERROR", "CRITICAL")
            ):
                found.append(line)
        return found


def run_cli(
    cwd: Path,
    *args: str,
    secret: str | None,
    env: dict[str, str] | None = None,
    unset: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gateway ARGS`` in ``cwd`` with every GATEWAY_* variable (and the
    ``unset`` ones) cleared, then ``GATEWAY_JWT_SECRET`` = ``secret`` (unless None) and
    ``env`` set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k not in unset}
    if secret is not None:
        clean["GATEWAY_JWT_SECRET"] = secret
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def make_gateway(
    certs: Any,
    overrides: dict[str, dict[str, Any]] | None = None,
    workdir: Path | None = None,
    **kw: Any,
) -> Gateway:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="gw-test-"))
    return Gateway(port=free_port(), workdir=workdir, certs=certs, overrides=overrides or {}, **kw)


@dataclass
class RedisServer:
    """A real ``redis-server`` on a free port, owned by one test."""

    workdir: Path
    port: int = field(default_factory=free_port)
    persistent: bool = False
    proc: subprocess.Popen[bytes] | None = None
    #: More command-line options (``--replicaof 127.0.0.1 <port>``).
    extra: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        args = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--logfile", str(self.workdir / "redis.log"),
            *self.extra,
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
