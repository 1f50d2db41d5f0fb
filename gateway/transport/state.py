"""The services a request handler needs, and the app that holds them.

:func:`gateway.app.create_app` builds a :class:`GatewayApp` with its :class:`Services`;
``gateway serve`` receives that app and reads them from it; handlers reach them through
:func:`services` (Quart's ``current_app`` is the app serving the request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from quart import Quart, current_app

from ..auth.apikeys import KeyRing
from ..auth.tokens import TokenService
from ..config import Settings
from ..hub import Hub
from ..metrics import Metrics
from ..ratelimit import RateLimiter


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    hub: Hub
    tokens: TokenService
    keyring: KeyRing
    limiter: RateLimiter
    metrics: Metrics
    #: Origins a viewer WebSocket may come from (docs/protocol.md §4); "*" allows any.
    ws_origins: frozenset[str]


class GatewayApp(Quart):
    """The Quart app of one gateway, with the services it was built with."""

    services: Services


def services() -> Services:
    """The services of the app serving the current request."""
    return cast(GatewayApp, current_app).services
