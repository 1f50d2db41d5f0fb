"""CPU and memory of a process tree from Linux ``/proc``, and the open-files limit."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # the process went away
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children = _children()
    pids = [pid]
    for p in pids:
        pids.extend(children.get(p, ()))
    return pids


def tree_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds used so far by ``pid`` and its descendants."""
    if not pid:
        return None
    ticks = 0
    found = False
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        found = True
    return ticks / CLOCK_TICKS if found else None


@dataclass(frozen=True)
class Memory:
    rss_kib: int
    hwm_kib: int
    processes: int


def tree_memory(pid: int | None) -> Memory | None:
    """VmRSS and VmHWM (peak) summed over ``pid`` and its descendants, in KiB."""
    if not pid:
        return None
    rss = hwm = count = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status", encoding="ascii", errors="replace") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1])
        count += 1
    return Memory(rss, hwm, count) if count else None


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else target
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target
