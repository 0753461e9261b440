"""CPU time of the stack's processes, read from /proc: the whole stack, or each part apart.

The parts: every service process itself (api, persistence, metering, model-admin, each
worker's main process), nats-server, and ``engine``: the processes a worker started (vLLM's
engine core and its workers), which is the work the platform exists to carry, not its
cost. The stack starts each service in its own session, so a service's group id is its pid
and its children share it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from local_stack.launcher import Stack

ENGINE = "engine"
NATS = "nats-server"


def _ticks_by_pid() -> dict[int, tuple[int, int]]:
    """pid -> (process group id, user + system clock ticks) of every live process."""
    found: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
        found[int(entry.name)] = (int(fields[2]), int(fields[11]) + int(fields[12]))
    return found


def cpu_by_part(leaders: Mapping[str, int], engines: Iterable[int] = ()) -> dict[str, float]:
    """CPU seconds so far of each named process (``leaders``: name -> pid; also the group
    it leads, except for ``engines``: the groups whose other members count as ``ENGINE``)."""
    engine_groups = set(engines)
    name_of_group = {pid: name for name, pid in leaders.items()}
    seconds: dict[str, float] = {name: 0.0 for name in leaders}
    if engine_groups:
        seconds[ENGINE] = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid, (group, ticks) in _ticks_by_pid().items():
        if pid in name_of_group:
            seconds[name_of_group[pid]] += ticks / tick
        elif group in engine_groups:
            seconds[ENGINE] += ticks / tick
        elif group in name_of_group:
            seconds[name_of_group[group]] += ticks / tick
    return seconds


def stack_cpu_by_part(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each part of the stack (see the module docstring)."""
    leaders = {p.name: p.pid for p in stack.processes() if p.pid is not None}
    if stack.nats is not None and stack.nats.process is not None:
        leaders[NATS] = stack.nats.process.pid
    engines = [w.pid for w in stack.workers if w.pid is not None]
    return cpu_by_part(leaders, engines)


def stack_cpu_s(stack: Stack) -> float:
    """CPU seconds so far of the whole stack, engine included."""
    return sum(stack_cpu_by_part(stack).values())


def per_token_ms(
    before: Mapping[str, float], after: Mapping[str, float], tokens: int
) -> dict[str, float]:
    """Each part's CPU milliseconds per token between two readings."""
    if tokens <= 0:
        return {}
    return {name: round((after[name] - before.get(name, 0.0)) * 1000 / tokens, 3) for name in after}
