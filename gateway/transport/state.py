"""The services a request handler needs, held on the app by :func:`gateway.app.create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from quart import current_app

from ..auth.apikeys import KeyRing
from ..auth.tokens import TokenService
from ..config import Settings
from ..hub import Hub
from ..metrics import Metrics
from ..ratelimit import RateLimiter

EXTENSION = "gateway"


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    hub: Hub
    tokens: TokenService
    keyring: KeyRing
    limiter: RateLimiter
    metrics: Metrics
    #: Origins a viewer WebSocket may come from (SPEC §4); "*" allows any.
    ws_origins: frozenset[str]


def services() -> Services:
    svc: Services = current_app.extensions[EXTENSION]
    return svc
