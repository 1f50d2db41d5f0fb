"""Import arrows point down only (STYLE.md): cli → app → transport → hub → broker.base.

The test reads every module of ``gateway/`` with :mod:`ast` (imports inside functions
and ``TYPE_CHECKING`` blocks included) and checks the edges, so a shortcut through
the layers fails here instead of in review.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gateway"

#: Modules anyone may import; they import only each other (and libraries).
LEAVES = (
    "gateway.config",
    "gateway.errors",
    "gateway.schemas",
    "gateway.emvco",
    "gateway.vietqr",
    "gateway.wire",
    "gateway.auth",
)
#: The layers from the top down; a module may import its own layer or lower ones.
LAYERS = (
    ("gateway.cli", "gateway.__main__", "gateway.workers"),
    ("gateway.app", "gateway.server"),
    ("gateway.transport",),
    ("gateway.hub",),
    ("gateway.broker",),
)
#: Backends chosen by URL in gateway.broker.create_broker; nobody else names them.
CONCRETE_BROKERS = ("gateway.broker.memory", "gateway.broker.redis")


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``module`` is one of ``prefixes`` or inside one of those packages."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the gateway package by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def imports_of(module: str) -> frozenset[str]:
    """The gateway modules that ``module`` imports, relative imports resolved."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.add(base)
            # `from . import logs` imports the module gateway.logs.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(name for name in found if name in modules())


def edges() -> list[tuple[str, str]]:
    return sorted((src, dst) for src in modules() for dst in imports_of(src) if src != dst)


def layer_of(module: str) -> int | None:
    for rank, layer in enumerate(LAYERS):
        if within(module, layer):
            return rank
    return None


def test_the_walker_sees_the_known_edges() -> None:
    """The import walk finds real edges, so the checks below are not vacuous."""
    assert "gateway.hub" in modules()
    assert "gateway.broker.memory" in modules()
    found = set(edges())
    assert ("gateway.app", "gateway.hub") in found
    assert ("gateway.schemas", "gateway.emvco") in found
    assert ("gateway.auth.tokens", "gateway.config") in found
    assert ("gateway.broker", "gateway.broker.memory") in found  # lazy, inside a function
    assert any(src.startswith("gateway.transport.") and dst == "gateway.hub" for src, dst in found)


TRANSPORT = sorted(m for m in modules() if within(m, ("gateway.transport",)))
BROKERS = sorted(m for m in modules() if within(m, ("gateway.broker",)))
LEAF_MODULES = sorted(m for m in modules() if within(m, LEAVES))


@pytest.mark.parametrize("module", TRANSPORT)
def test_transport_never_imports_a_concrete_broker(module: str) -> None:
    """Transport reaches brokers only through gateway.broker / gateway.broker.base."""
    assert not [m for m in imports_of(module) if within(m, CONCRETE_BROKERS)]


def test_only_the_broker_factory_imports_a_concrete_broker() -> None:
    """Concrete backends are named only by gateway.broker (create_broker) and each other."""
    offenders = [
        (src, dst)
        for src, dst in edges()
        if within(dst, CONCRETE_BROKERS) and src != "gateway.broker" and not within(src, (dst,))
    ]
    assert offenders == []


def test_the_hub_never_imports_transport() -> None:
    """The hub knows nothing of HTTP or WebSocket handlers, nor of the app or the CLI."""
    upward = ("gateway.transport", "gateway.app", "gateway.server", "gateway.cli")
    assert not [m for m in imports_of("gateway.hub") if within(m, upward)]


@pytest.mark.parametrize("module", BROKERS)
def test_brokers_never_import_the_layers_above(module: str) -> None:
    """Brokers import nothing from the hub, transport, the app or the CLI."""
    upward = ("gateway.hub", "gateway.transport", "gateway.app", "gateway.server", "gateway.cli")
    assert not [m for m in imports_of(module) if within(m, upward)]


@pytest.mark.parametrize("module", LEAF_MODULES)
def test_leaves_import_nothing_from_the_layers(module: str) -> None:
    """config, errors, schemas, emvco and auth import nothing from hub/transport/app/cli."""
    upward = (
        "gateway.hub",
        "gateway.transport",
        "gateway.app",
        "gateway.server",
        "gateway.cli",
        "gateway.broker",
    )
    assert not [m for m in imports_of(module) if within(m, upward)]


@pytest.mark.parametrize("module", LEAF_MODULES)
def test_leaves_import_only_leaves(module: str) -> None:
    """A leaf's gateway imports are other leaves (or the package itself)."""
    strays = [m for m in imports_of(module) if m != "gateway" and not within(m, LEAVES)]
    assert strays == []


def test_arrows_point_down_only() -> None:
    """No module of the cli → app → transport → hub → broker chain imports a higher layer."""
    upward = []
    for src, dst in edges():
        src_rank, dst_rank = layer_of(src), layer_of(dst)
        if src_rank is not None and dst_rank is not None and dst_rank < src_rank:
            upward.append((src, dst))
    assert upward == []


def test_nothing_imports_the_cli_but_main() -> None:
    """The CLI is the top: only gateway.__main__ imports it."""
    assert [src for src, dst in edges() if dst == "gateway.cli"] == ["gateway.__main__"]


def test_no_module_imports_the_app_factory_but_the_cli() -> None:
    """create_app is wired in one place and called from the CLI or the worker processes
    it starts (and tests), not from below."""
    importers = {src for src, dst in edges() if dst == "gateway.app"}
    assert importers <= {"gateway.cli", "gateway.workers"}
