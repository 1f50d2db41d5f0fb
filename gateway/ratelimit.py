"""Rate limits of SPEC §6, a thin layer over ``limits.aio``.

Strategy: moving window. Every quota here is small (tens per minute per IP, token or
connection), so keeping one timestamp per hit costs little, and the moving window is
exact: no burst of twice the quota across a window edge (fixed window), and no
approximation an attacker can probe at the start of a bucket (sliding-window counter
on the memory backend). Per-connection message limits always stay in this process
(no network round trip per message).
"""

from __future__ import annotations

import itertools
import math
import time

import limits
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from .config import RateLimitSettings
from .errors import RateLimited

RULES = (
    "token_generate_per_ip",
    "token_generate_per_key",
    "payment_per_ip",
    "payment_per_token",
    "ws_connect_per_ip",
    "ws_messages_per_connection",
)
LOCAL_RULES = frozenset({"ws_messages_per_connection"})


class RateLimiter:
    """Checks and counts hits per rule and identifier; raises :class:`RateLimited`."""

    def __init__(self, settings: RateLimitSettings, storage: Storage | None = None) -> None:
        self.enabled = settings.enabled
        self._items = {rule: limits.parse(getattr(settings, rule)) for rule in RULES}
        self._shared = MovingWindowRateLimiter(storage or MemoryStorage())
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._connections = itertools.count(1)
        #: Rejections by rule, for metrics.
        self.rejected: dict[str, int] = dict.fromkeys(RULES, 0)

    async def hit(self, rule: str, identifier: str) -> None:
        """Count one hit of ``rule`` for ``identifier``; raise RateLimited when over the quota."""
        if not self.enabled:
            return
        item = self._items[rule]
        limiter = self._local if rule in LOCAL_RULES else self._shared
        if await limiter.hit(item, rule, identifier):
            return
        stats = await limiter.get_window_stats(item, rule, identifier)
        self.rejected[rule] += 1
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(rule, item.amount, item.get_expiry(), retry_after)

    def connection_id(self) -> str:
        """A process-unique identifier for ``ws_messages_per_connection``.

        Never reused (unlike ``id()``), so a new connection cannot inherit a closed
        one's window; the windows expire by themselves after their period.
        """
        return str(next(self._connections))
