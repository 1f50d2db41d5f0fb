"""What every HTTP answer gets, whichever front served it (Quart, or transport/publish.py).

The security headers, a request id, one access-log line and one sample of the request
metric. Metric labels and logged paths come from bounded sets whatever clients send
(docs/security.md §5.1): methods outside :data:`SERVED_METHODS` and paths that match no
route get one value, and only the route words of a path are logged, never its query
string (docs/security.md §5.2).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from ..logs import redact_path, route_words
from ..metrics import Metrics

#: The pages' Content-Security-Policy: nothing but this origin, no inline script.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' wss: ws:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = ("Strict-Transport-Security", "max-age=63072000")
#: The headers every HTTP answer carries unless it set its own (HSTS too, over HTTPS).
_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
SECURITY_HEADERS_PAGE = (*_SECURITY_HEADERS, ("Content-Security-Policy", PAGE_CSP))
SECURITY_HEADERS_API = (*_SECURITY_HEADERS, ("Content-Security-Policy", API_CSP))
SERVED_METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS"})
#: The HTTP versions served (docs/protocol.md §2.1: HTTP/1.1 only, and 1.0).
HTTP1 = ("1.0", "1.1")

#: The most paths :meth:`AccessLog.logged_path` remembers (only those of route words
#: alone), and the longest.
REMEMBERED_PATHS = 256
REMEMBERED_PATH_LENGTH = 64

access = logging.getLogger("gateway.access")


def new_request_id() -> str:
    return os.urandom(16).hex()


class AccessLog:
    """Writes the access-log line and the request metric of each answered request."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        #: The words of every route's path; learned once the routes are all registered.
        self.path_words: frozenset[str] = frozenset()
        #: Paths made of route words alone, which clients send again and again (the
        #: publish routes), checked once; at most :data:`REMEMBERED_PATHS`.
        self._route_paths: set[str] = set()
        #: The request metric's child per (method, route, status), all bounded sets
        #: (prometheus-client's ``labels()`` takes a lock and checks its values per call).
        self._samples: dict[tuple[str, str, int], Any] = {}

    def learn_routes(self, rules: Iterable[str]) -> None:
        self.path_words = route_words(rules)
        self._route_paths.clear()

    def logged_path(self, path: str) -> str:
        """``path`` as the access line shows it (:func:`redact_path`)."""
        if path in self._route_paths:
            return path
        logged = redact_path(path, self.path_words)
        # Only a path made of route words alone (nothing redacted, no query) is
        # remembered: no token, key or other secret is kept past its request.
        if logged == path and len(path) <= REMEMBERED_PATH_LENGTH:
            if len(self._route_paths) >= REMEMBERED_PATHS:
                self._route_paths.clear()  # a client spraying paths: start over
            self._route_paths.add(path)
        return logged

    def record(
        self,
        *,
        request_id: str,
        method: str,
        route: str,
        path: str,
        status: int,
        started: float,
        client_ip: str | None,
    ) -> None:
        duration = time.perf_counter() - started
        method = method if method in SERVED_METHODS else "other"
        sample = self._samples.get((method, route, status))
        if sample is None:
            sample = self.metrics.request_seconds.labels(method, route, str(status))
            self._samples[(method, route, status)] = sample
        sample.observe(duration)
        access.info(
            "request",
            extra={
                "event": "http_request",
                "request_id": request_id,
                "method": method,
                "route": route,
                "path": self.logged_path(path),
                "status": status,
                "duration_ms": round(duration * 1000, 2),
                "client_ip": client_ip,
            },
        )
