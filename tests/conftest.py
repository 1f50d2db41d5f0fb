"""Fixtures: a TLS certificate, running gateways, and clients for them."""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.certs import DevCertificate, make_dev_certificate

from .gatewayproc import Gateway, GatewayClient, RedisServer, make_gateway


@pytest.fixture(autouse=True, scope="module")
def collect_what_the_file_left() -> Iterator[None]:
    """Collect garbage at the end of every test file.

    A socket or transport left open warns (ResourceWarning, an error here) only when the
    collector frees it. Collecting here names the file that left it, where otherwise
    the warning lands on whichever test happens to run when the collector next runs."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> DevCertificate:
    """A local CA and a localhost certificate, made once per run."""
    return make_dev_certificate(Path(tmp_path_factory.mktemp("certs")))


@pytest.fixture(scope="session")
def shared_gateway(
    certs: DevCertificate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    gw = make_gateway(certs, workdir=tmp_path_factory.mktemp("gateway"))
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def gateway(shared_gateway: Gateway, request: pytest.FixtureRequest) -> Iterator[Gateway]:
    """A gateway with the default policy (and high rate limits), shared by the run.

    Whatever a test sends it, the gateway must not log a server error meanwhile.
    """
    since = shared_gateway.log_size()
    yield shared_gateway
    check_no_server_errors(shared_gateway, request, since)


def check_no_server_errors(gw: Gateway, request: pytest.FixtureRequest, since: int = 0) -> None:
    """Fail the test if ``gw`` logged a traceback or an error (client input never causes one)."""
    if request.node.get_closest_marker("server_errors_expected") is not None:
        return
    errors = gw.errors_logged(since)
    assert not errors, "the gateway logged a server error:\n" + "\n".join(errors)[-3000:]


@pytest.fixture
def start_gateway(
    certs: DevCertificate, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Gateway]]:
    """Start a gateway with config overrides for one test; stopped after it."""
    started: list[Gateway] = []

    def start(
        overrides: dict[str, dict[str, Any]] | None = None,
        *,
        wait_healthy: bool = True,
        **kw: Any,
    ) -> Gateway:
        kw.setdefault("workdir", tmp_path_factory.mktemp("gateway"))
        gw = make_gateway(certs, overrides, **kw)
        gw.start(wait_healthy=wait_healthy)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()
    for gw in started:
        check_no_server_errors(gw, request)


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[GatewayClient]:
    """An HTTPS client for the shared gateway, trusting the test CA."""
    async with gateway.client() as c:
        yield c


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RedisServer]]:
    """Start real ``redis-server`` processes on free ports; skipped (never in CI) without one."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not on PATH, and CI must run the Redis tests")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    started: list[RedisServer] = []

    def start(persistent: bool = False) -> RedisServer:
        server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=persistent)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc is not None:
            server.resume()
        server.kill()
