"""The gateway's changes to Hypercorn rest on names and shapes of Hypercorn 0.18: these
tests fail when an upgrade moves them, before any behaviour silently comes back.

The behaviour itself (HTTP/1.1 only, the bounded closing handshake, 1009 as the message
arrives, 1002/1007 close frames, no permessage-deflate) is tested from outside against
`gateway serve`: tests/test_e2e_wire.py and tests/test_conformance.py.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from types import ModuleType

import pytest
from hypercorn import protocol as hypercorn_protocol
from hypercorn.asyncio.task_group import TaskGroup
from hypercorn.config import Config
from hypercorn.protocol import h11 as hypercorn_h11
from hypercorn.protocol import ws_stream
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import Handshake, WSStream

from gateway import hypercorn_patches
from gateway.hypercorn_patches import (
    BoundedCloseWSStream,
    DeclinedDeflate,
    HTTP11Only,
    patch_hypercorn,
)

TARGETS: list[tuple[ModuleType, str, type]] = [
    (hypercorn_protocol, "H11Protocol", HTTP11Only),
    (hypercorn_h11, "WSStream", BoundedCloseWSStream),
    (ws_stream, "PerMessageDeflate", DeclinedDeflate),
]


@pytest.fixture
def pristine() -> Iterator[None]:
    """Hypercorn's own names back in place around a test, whatever it patched."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in TARGETS]
    for module, name, replacement in TARGETS:
        setattr(module, name, replacement.__mro__[1])
    yield
    for module, name, value in saved:
        setattr(module, name, value)


@pytest.mark.usefixtures("pristine")
def test_patching_replaces_the_three_names_once_and_again() -> None:
    """patch_hypercorn installs each replacement, and a second call changes nothing."""
    patch_hypercorn()
    patch_hypercorn()
    for module, name, replacement in TARGETS:
        assert getattr(module, name) is replacement


@pytest.mark.usefixtures("pristine")
@pytest.mark.parametrize(("module", "name", "replacement"), TARGETS, ids=lambda t: str(t))
def test_a_name_hypercorn_no_longer_has_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, replacement: type
) -> None:
    """If an upgrade removed or replaced a patched name, start-up fails loudly."""
    monkeypatch.delattr(module, name)
    with pytest.raises(RuntimeError, match="is gone"):
        patch_hypercorn()
    monkeypatch.setattr(module, name, type("Unrelated", (), {}), raising=False)
    with pytest.raises(RuntimeError, match="changed"):
        patch_hypercorn()


def test_the_protocol_wrapper_builds_h11_by_the_module_name() -> None:
    """ProtocolWrapper looks H11Protocol up in hypercorn.protocol when a connection starts."""
    source = inspect.getsource(hypercorn_protocol.ProtocolWrapper)
    assert "self.protocol = H11Protocol(" in source
    assert "H2CProtocolRequiredError" in source  # what HTTP11Only keeps from being raised


def test_h11_checks_the_protocol_and_builds_websocket_streams_by_name() -> None:
    """H11Protocol calls _check_protocol for each request and builds WSStream by name."""
    handle = inspect.getsource(H11Protocol._handle_events)
    assert "await self._check_protocol(event)" in handle
    assert "self.stream = WSStream(" in inspect.getsource(H11Protocol._create_stream)
    assert "error.error_status_hint" in handle  # what _send_error_response receives


def test_the_handshake_builds_permessage_deflate_by_the_module_name() -> None:
    """Handshake.accept instantiates PerMessageDeflate from ws_stream's namespace, so the
    patched class is the one offered to the client, and it declines."""
    assert "[PerMessageDeflate()]" in inspect.getsource(Handshake.accept)
    offer = [
        (b"connection", b"Upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
    ]
    patch_hypercorn()
    _, headers, _ = Handshake(offer, "1.1").accept(None, [])
    assert b"sec-websocket-extensions" not in dict(headers)


def test_the_stream_methods_the_subclass_overrides_still_exist() -> None:
    """BoundedCloseWSStream overrides methods of WSStream with these names and arguments."""
    for name in ("handle", "app_send", "_handle_events", "_send_wsproto_event"):
        ours = inspect.signature(getattr(BoundedCloseWSStream, name))
        theirs = inspect.signature(getattr(WSStream, name))
        assert list(ours.parameters) == list(theirs.parameters), name
    source = inspect.getsource(WSStream)
    for attribute in ("self.buffer", "self.app_put", "self.closed", "self.task_group"):
        assert attribute in source


async def test_the_app_queue_is_reachable_from_the_put_hypercorn_hands_out() -> None:
    """spawn_app returns the bound put of an asyncio.Queue: the finished app's queue is
    emptied through it (BoundedCloseWSStream._release_app_queue)."""
    config = Config()

    async def app(*args: object) -> None:
        return None

    async def send(message: object) -> None:
        return None

    async with TaskGroup(asyncio.get_running_loop()) as group:
        put = await group.spawn_app(app, config, {"type": "websocket"}, send)  # type: ignore[arg-type]
    assert isinstance(getattr(put, "__self__", None), asyncio.Queue)


def test_the_module_documents_each_change() -> None:
    """Each replaced name has its reason in the module docstring."""
    doc = hypercorn_patches.__doc__ or ""
    for topic in ("HTTP/1.1 only", "permessage-deflate", "closing handshake", "1009", "1002"):
        assert topic in doc
