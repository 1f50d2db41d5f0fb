#!/usr/bin/env python3
"""What one rate-limit hit costs in process, by how many keys the storage holds.

    python bench/ratelimit_keys.py                        # 100, 10,000, 100,000 keys
    python bench/ratelimit_keys.py --keys 100,1000 --json-out bench/results/x.json

The in-process storage holds one key per client address, token or connection with a
live window (two for a sliding-window counter). For each count, each storage is filled
with that many keys, then takes hits on 50 other keys with a loop turn between hits, as
requests come, until its last sweep is done; the figure is CPU time per hit. Beside it,
the CPU time of one sweep of ``SweptMemoryStorage`` over those keys, which it makes at
most every ``SWEEP_SECONDS``. Storages:
``limits`` (limits' own ``MemoryStorage``) and ``gateway`` (``SweptMemoryStorage``,
gateway/ratelimit.py), each under both strategies the limiter uses (the moving window
for quotas up to 1,000, the sliding-window counter above).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import limits
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.aio.strategies import RateLimiter as Strategy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's gateway

from gateway.ratelimit import SWEEP_SECONDS, SweptMemoryStorage

STRATEGIES = {
    "moving": (MovingWindowRateLimiter, "1000/minute"),
    "counter": (SlidingWindowCounterRateLimiter, "10000000/minute"),
}
STORAGES: dict[str, type[MemoryStorage]] = {
    "limits": MemoryStorage,
    "gateway": SweptMemoryStorage,
}


async def filled(
    storage_cls: type[MemoryStorage], strategy: str, keys: int
) -> tuple[MemoryStorage, Strategy, limits.RateLimitItem]:
    """A storage holding ``keys`` keys of ``strategy``, its limiter, and the rule."""
    storage = storage_cls()
    limiter_cls, rule = STRATEGIES[strategy]
    limiter = limiter_cls(storage)
    item = limits.parse(rule)
    for i in range(keys):
        await limiter.hit(item, "held", str(i))
    return storage, limiter, item


async def per_hit(storage_cls: type[MemoryStorage], strategy: str, keys: int) -> float:
    """CPU microseconds per hit with ``keys`` keys held."""
    storage, limiter, item = await filled(storage_cls, strategy, keys)
    await asyncio.sleep(0.2)  # the fill's own sweeps end
    # limits' storage at 100,000 keys takes ~0.1 s a hit: fewer hits there.
    hits = 100 if storage_cls is MemoryStorage and keys >= 100_000 else 2000
    started = time.process_time()
    for i in range(hits):
        await limiter.hit(item, "hot", str(i % 50))
        await asyncio.sleep(0)
    if storage.timer is not None:
        await storage.timer  # its last sweep counts too
    return (time.process_time() - started) / hits * 1e6


async def sweep_ms(strategy: str, keys: int) -> float:
    """CPU milliseconds of one SweptMemoryStorage sweep over ``keys`` live keys, which
    it makes at most every SWEEP_SECONDS (spread over loop turns of SWEEP_SLICE keys)."""
    storage, _, _ = await filled(SweptMemoryStorage, strategy, keys)
    assert isinstance(storage, SweptMemoryStorage)
    started = time.process_time()
    await storage.sweep()
    return (time.process_time() - started) * 1e3


async def run(counts: Sequence[int]) -> list[dict[str, Any]]:
    rows = []
    for strategy in STRATEGIES:
        for keys in counts:
            row: dict[str, Any] = {"strategy": strategy, "keys": keys}
            for name, cls in STORAGES.items():
                row[f"{name}UsPerHit"] = round(await per_hit(cls, strategy, keys), 1)
            row["gatewaySweepMs"] = round(await sweep_ms(strategy, keys), 2)
            rows.append(row)
            print(
                f"{strategy:8} {keys:>7,} keys: limits {row['limitsUsPerHit']:>10,.1f} µs, "
                f"gateway {row['gatewayUsPerHit']:>6,.1f} µs CPU per hit "
                f"(+ {row['gatewaySweepMs']:,.2f} ms per sweep, every {SWEEP_SECONDS:g} s at most)",
                flush=True,
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", default="100,10000,100000", help="comma-separated key counts")
    parser.add_argument("--json-out", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.keys.split(",")]
    rows = asyncio.run(run(counts))
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "limits": limits.__version__,
                    "cpus": os.cpu_count(),
                    "rows": rows,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
