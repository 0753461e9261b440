"""Bodies of ``/api/models`` and ``/api/admin/models*`` (profiles and workers themselves are
the contract Structs ``ProfileSummary`` / ``WorkerHardware`` of ``contracts.admin``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from contracts.admin import (
    ActivateAccepted,
    HardwareCheck,
    ModelState,
    ProfileSampling,
    ProfileSummary,
    WorkerHardware,
)

GroupName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
ProfileName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class UserModel(msgspec.Struct, kw_only=True):
    """A model users may pick: its names, defaults and live state."""

    id: str
    display_name: str
    aliases: list[str]
    defaults: ProfileSampling | None
    """The profile's default sampling (None: a ``MODELS`` name without a profile)."""
    max_model_len: int | None
    state: ModelState
    ready_workers: int


class UserModelList(msgspec.Struct, kw_only=True):
    source: Literal["model-admin", "whitelist"]
    """``whitelist``: model-admin did not answer (or routing is off); the ``MODELS`` names."""
    default_model: str
    models: list[UserModel]


class AdminWorker(msgspec.Struct, kw_only=True):
    worker_id: str
    group: str
    """The served model name (the worker's request consumer group)."""
    profile_id: str | None
    state: str
    in_flight: int
    capacity: int
    queue_depth: int | None
    hardware: WorkerHardware | None
    engine: str
    detail: str
    command_id: str | None
    last_seen_s: float
    """Seconds since its last heartbeat."""
    gone: bool
    engine_stats: dict[str, float]


class AdminModels(msgspec.Struct, kw_only=True):
    profiles: list[ProfileSummary]
    workers: list[AdminWorker]


class ActivateBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    group: GroupName | None = None
    drain_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] | None = None
    dry_run: bool = False
    hardware: WorkerHardware | None = None
    """Check against this hardware (dry run), or use it when no live worker of the group
    reports its own (activate)."""


class DryRun(msgspec.Struct, kw_only=True):
    """The compatibility estimate; nothing changed."""

    dry_run: Literal[True] = True
    profile_id: str
    group: str | None
    fits: bool
    needed_gib: float
    available_gib: float
    reason: str
    checks: list[HardwareCheck]


class Activated(msgspec.Struct, kw_only=True):
    dry_run: Literal[False] = False
    accepted: ActivateAccepted


class AliasBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    profile: ProfileName | None
    """Profile id or alias to point at; null drops the override."""
