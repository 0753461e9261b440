"""Worker heartbeat: what a worker is serving and how busy it is."""

from __future__ import annotations

from typing import Literal

import msgspec

from contracts.subjects import SCHEMA_VERSION

WorkerState = Literal["starting", "loading", "ready", "draining", "stopped", "failed"]


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
