"""Worker heartbeat: what a worker is serving and how busy it is."""

from __future__ import annotations

from typing import Literal

import msgspec

from contracts.subjects import SCHEMA_VERSION

WorkerState = Literal["starting", "loading", "ready", "draining", "stopped", "failed"]
Device = Literal["cpu", "cuda"]


class WorkerHardware(msgspec.Struct, frozen=True, kw_only=True):
    """What a worker can give an engine (issue 5): the input of the compatibility check.

    ``memory_gib`` is the memory of ONE device: a GPU's total memory on ``cuda``; on
    ``cpu`` the memory of one NUMA node (vLLM's CPU budget is a fraction of one node),
    with ``count`` 1."""

    device: Device
    count: int
    memory_gib: float
    name: str = ""
    """For people: ``NVIDIA GeForce RTX 3090``, the CPU model, ..."""
    numa_nodes: int | None = None
    cpu_count: int | None = None


class WorkerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Published on ``heartbeat_subject(worker_id)`` every ``interval_s`` seconds.

    A worker whose last heartbeat is older than ``3 * interval_s`` is gone; a worker
    that stops cleanly sends a last heartbeat with state ``stopped``."""

    worker_id: str
    model: str
    state: WorkerState
    in_flight: int
    capacity: int
    engine: str
    detail: str = ""
    interval_s: float
    sent_at: float
    v: int = SCHEMA_VERSION
    # --- issue 5 (additive; a worker that does not send them is read with the defaults) ---
    profile_id: str | None = None
    """The model-admin profile the engine runs (None: a worker configured by env only)."""
    queue_depth: int | None = None
    """Requests waiting in the group's consumer (num_pending), if the worker knows."""
    hardware: WorkerHardware | None = None
    engine_stats: dict[str, float] = msgspec.field(default_factory=dict)
    """Free-form engine gauges (kv_cache_usage, tokens_per_s, ...)."""
    command_id: str | None = None
    """The last ``ActivateProfile`` this worker applied (or is applying)."""
    swapping: bool = False
    """A profile swap is under way (draining / loading for ``command_id``): requests sent
    meanwhile wait in the queue for the new engine. False in a shutdown drain."""
