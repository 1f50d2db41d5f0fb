"""What ``gateway check-config`` calls dangerous or weak (docs/security.md §3.9)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .config import SCOPES, SentinelURL, Settings, is_loopback

SAFE_ALGORITHMS = frozenset({"HS256", "HS384", "HS512", "ES256", "EdDSA"})


@dataclass
class Findings:
    dangers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def review(settings: Settings) -> Findings:
    found = Findings()
    danger, warn = found.dangers.append, found.warnings.append
    origin_lists = {
        "cors.allowed_origins": settings.cors.allowed_origins,
        "websocket.allowed_origins": settings.websocket.allowed_origins,
    }
    for key in settings.auth.api_keys:
        origin_lists[f"auth.api_keys[{key.id}].allowed_origins"] = key.allowed_origins or ()
    for name, origins in origin_lists.items():
        if "*" in origins:
            danger(f"{name} contains '*': any web page may use it")
    if not settings.rate_limits.enabled:
        danger("rate_limits.enabled = false: every rate limit is off (benchmarks only)")
    for alg in settings.auth.algorithms:
        if alg not in SAFE_ALGORITHMS:
            danger(f"auth.algorithms: {alg} is not one of {', '.join(sorted(SAFE_ALGORITHMS))}")
    host_loopback = is_loopback(settings.server.host)
    if not settings.tls.enabled:
        if not host_loopback and settings.proxy.trusted_hops == 0:
            danger(
                f"TLS is off and server.host = {settings.server.host} is not loopback, "
                "with no trusted proxy (proxy.trusted_hops = 0): tokens and keys travel in clear"
            )
        elif settings.proxy.trusted_hops > 0:
            warn("TLS is off: the TLS-terminating proxy in front must be the only way in")
        else:
            warn("TLS is off (tls.certfile/tls.keyfile unset): plain HTTP on loopback only")
    public = urlsplit(settings.server.public_url)
    if public.scheme == "http" and not is_loopback(public.hostname or ""):
        danger(f"server.public_url {settings.server.public_url} is plain http on a public host")
    if is_loopback(public.hostname or "") and not host_loopback:
        warn(
            f"server.public_url {settings.server.public_url} is loopback but server.host "
            f"{settings.server.host} is not: viewer links will not work from other machines"
        )
    for key in settings.auth.api_keys:
        if set(key.scopes) >= set(SCOPES) and not key.allowed_origins:
            warn(f"API key {key.id} holds every scope and pins no Origin")
    if urlsplit(settings.broker.url).password is not None:
        danger(
            "broker.url holds a password: secrets never live in the file (use broker.password_env)"
        )
    if settings.broker.url.startswith("redis://") and not is_loopback(
        urlsplit(settings.broker.url).hostname or ""
    ):
        warn("broker.url uses redis:// to another host: rediss:// encrypts the connection")
    if settings.broker.url.startswith("redis+sentinel://") and not all(
        is_loopback(host) for host, _ in SentinelURL.parse(settings.broker.url).sentinels
    ):
        warn(
            "broker.url uses redis+sentinel:// to other hosts: rediss+sentinel:// encrypts "
            "the connections"
        )
    return found
