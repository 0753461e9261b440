"""Model administration on the wire (issue 5): profiles, commands, swaps, desired state.

Who speaks what (subjects in ``contracts.subjects``, "model admin" section):

- model-admin answers the request-reply subjects ``ADMIN_*`` (queue group
  ``MODEL_ADMIN_QUEUE``; every reply is a ``contracts.rpc.Reply``). The api calls them;
  an operator can too (``nats req``).
- ``ActivateProfile`` goes on ``command_subject(group)`` (JetStream ``ADMIN_STREAM``,
  ``Nats-Msg-Id`` = ``command_id``): published by model-admin after its compatibility
  check, or by an operator with the NATS CLI; consumed by every worker of the group.
- ``SwapStatus`` goes on ``swap_status_subject(worker_id)`` (JetStream ``ADMIN_STREAM``):
  published by the worker at each phase of a swap; model-admin (and the api's SSE
  stream) watch it.
- ``DesiredState`` is the value of ``DESIRED_STATE_BUCKET`` (KV) under the group's key;
  written by model-admin only. A worker reads its group's entry at start.
- ``WorkerStatus`` (``contracts.workers``) is the value of ``WORKER_STATUS_BUCKET``.
- ``AdminChange`` goes on the core subject ``ADMIN_CHANGES`` (model-admin publishes; the
  api relays it as the admin SSE stream).

``ProfileSpec`` mirrors ``model_admin.profiles.Profile`` field for field (a test keeps
them equal) but does not validate: model-admin validated the profile before it sent it,
and a worker must not refuse a command because it is older than the profile schema.
Times are UNIX seconds (float).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from contracts.subjects import SCHEMA_VERSION
from contracts.workers import Device, WorkerHardware, WorkerStatus

__all__ = [
    "ActivateAccepted",
    "ActivateProfile",
    "ActivateRequest",
    "AddProfile",
    "AdminChange",
    "AliasOverrides",
    "CheckProfile",
    "CheckResult",
    "CompatibilityReport",
    "DesiredState",
    "GetProfile",
    "HardwareCheck",
    "ListProfiles",
    "ListWorkers",
    "MemoryBreakdown",
    "ModelState",
    "ProfileDetail",
    "ProfileEngine",
    "ProfileList",
    "ProfileSampling",
    "ProfileSize",
    "ProfileSpec",
    "ProfileSummary",
    "ResolveModel",
    "ResolvedModel",
    "SetAlias",
    "SwapPhase",
    "SwapReport",
    "SwapReportList",
    "SwapStatus",
    "SwapStatusQuery",
    "WorkerHardware",
    "WorkerList",
    "WorkerView",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
GroupName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""A worker group is one subject token (it names ``request_subject(group)``)."""

SwapPhase = Literal["draining", "unloading", "loading", "ready", "failed", "rolled_back"]
"""``ready``, ``failed`` (no rollback possible: the worker serves nothing) and
``rolled_back`` (the previous profile serves again) end a swap on that worker."""

SWAP_FINAL_PHASES: frozenset[str] = frozenset({"ready", "failed", "rolled_back"})

ModelState = Literal["ready", "loading", "draining", "failed", "offline"]
"""A profile's live state over the workers running it: ``ready`` if one is ready."""

ProfileSource = Literal["shipped", "added"]
"""``shipped``: version-controlled file (read-only); ``added``: by an admin (data dir)."""


# --- the profile as a worker needs it ---------------------------------------------------
class ProfileEngine(msgspec.Struct, frozen=True, kw_only=True):
    """vLLM engine arguments (``model_admin.profiles.EngineArgs``)."""

    device: Device = "cuda"
    tensor_parallel_size: int = 1
    dtype: str = "auto"
    max_model_len: int
    gpu_memory_utilization: float = 0.9
    swap_space_gb: float = 4.0
    max_num_seqs: int = 256
    quantization: str = "none"
    kv_cache_dtype: str = "auto"
    enforce_eager: bool = False


class ProfileSize(msgspec.Struct, frozen=True, kw_only=True):
    """Size facts from config.json (``model_admin.profiles.ModelSize``)."""

    params: int
    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    tie_word_embeddings: bool = False
    max_position_embeddings: int
    checkpoint_dtype: str = "bfloat16"
    weight_bits: int | None = None
    group_size: int | None = None


class ProfileSampling(msgspec.Struct, frozen=True, kw_only=True):
    """Defaults for requests that do not set them (FR-3)."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512


class ProfileSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A whole, validated profile (``model_admin.profiles.Profile``)."""

    id: str
    display_name: str
    hf_model: str
    aliases: tuple[str, ...] = ()
    whitelisted: bool = False
    chat_template: str | None = None
    engine: ProfileEngine
    size: ProfileSize
    sampling: ProfileSampling = msgspec.field(default_factory=ProfileSampling)


# --- commands, swaps, desired state ----------------------------------------------------
class ActivateProfile(msgspec.Struct, frozen=True, kw_only=True):
    """Command to every worker of ``group``: serve ``profile`` from now on.

    On ``command_subject(group)`` with ``Nats-Msg-Id`` = ``command_id``. A worker that
    already runs ``profile.id`` for this ``command_id`` ignores a redelivery."""

    command_id: str
    group: GroupName
    profile: ProfileSpec
    drain_timeout_s: float = 30.0
    """How long in-flight requests may run on before they are cancelled (shutting_down)."""
    issued_by: str = "operator"
    at: float
    previous_profile_id: str | None = None
    """What the group's desired state named before (the rollback target); informational."""
    v: int = SCHEMA_VERSION


class SwapStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A worker's progress through one ``ActivateProfile`` (``swap_status_subject``)."""

    command_id: str
    worker_id: str
    group: str = ""
    profile_id: str = ""
    """The profile being activated."""
    phase: SwapPhase
    detail: str = ""
    """Failed / rolled_back: why; otherwise free text (``3 in flight``, ...)."""
    at: float
    swap_s: float | None = None
    """Final phases: seconds from receiving the command to this report."""
    v: int = SCHEMA_VERSION


class DesiredState(msgspec.Struct, frozen=True, kw_only=True):
    """What ``group`` should serve (``DESIRED_STATE_BUCKET``, key ``subject_token(group)``)."""

    group: str
    profile_id: str
    command_id: str
    set_at: float
    set_by: str
    previous_profile_id: str | None = None
    reverted: bool = False
    """True when model-admin set it back after a worker reported ``rolled_back``."""
    v: int = SCHEMA_VERSION


class AliasOverrides(msgspec.Struct, frozen=True, kw_only=True):
    """Aliases an admin re-pointed: alias -> profile id (``MODEL_ALIASES_BUCKET``)."""

    aliases: dict[str, str] = msgspec.field(default_factory=dict)
    updated_at: float = 0.0
    updated_by: str = ""


# --- compatibility ---------------------------------------------------------------------
class MemoryBreakdown(msgspec.Struct, frozen=True, kw_only=True):
    """GiB over all devices of the tensor-parallel group."""

    weights_gib: float
    kv_cache_gib: float
    """One full ``max_model_len`` sequence."""
    overhead_gib: float
    kv_per_token_kib: float
    kv_all_sequences_gib: float
    full_length_sequences: int


class CompatibilityReport(msgspec.Struct, frozen=True, kw_only=True):
    fits: bool
    needed_gib: float
    available_gib: float
    breakdown: MemoryBreakdown
    reason: str
    """``needs 32.0 GiB, 2x 24 GiB at 0.55 gives 26.4 GiB`` (or ``fits: ...``)."""


class HardwareCheck(msgspec.Struct, frozen=True, kw_only=True):
    """The check against one hardware kind, and which live workers have it."""

    hardware: WorkerHardware
    worker_ids: list[str] = msgspec.field(default_factory=list)
    """Empty: hardware given in the request, not reported by a worker."""
    report: CompatibilityReport


# --- request-reply: profiles -----------------------------------------------------------
class ListProfiles(msgspec.Struct, frozen=True, kw_only=True):
    """``ADMIN_PROFILES_LIST``. ``admin`` False: whitelisted profiles only (users)."""

    admin: bool = False


class ProfileSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    display_name: str
    hf_model: str
    aliases: list[str]
    """Every name that resolves to this profile now (file aliases + re-pointed ones)."""
    whitelisted: bool
    source: ProfileSource
    device: Device
    tensor_parallel_size: int
    quantization: str
    max_model_len: int
    sampling: ProfileSampling
    state: ModelState
    groups: list[str]
    """Groups whose desired state (or live workers) is this profile."""
    workers: int
    ready_workers: int


class ProfileList(msgspec.Struct, frozen=True, kw_only=True):
    profiles: list[ProfileSummary]


class GetProfile(msgspec.Struct, frozen=True, kw_only=True):
    """``ADMIN_PROFILES_GET``: by id or alias."""

    name: Name


class ProfileDetail(msgspec.Struct, frozen=True, kw_only=True):
    summary: ProfileSummary
    spec: ProfileSpec


class AddProfile(msgspec.Struct, frozen=True, kw_only=True):
    """``ADMIN_PROFILES_ADD``: ``profile`` is the profile as a JSON object (the fields of
    ``ProfileSpec``); refused with ``profile_invalid`` and every problem found."""

    profile: msgspec.Raw
    added_by: str = "admin"


class CheckProfile(msgspec.Struct, frozen=True, kw_only=True):
    """``ADMIN_PROFILES_CHECK`` (dry run): against ``hardware``, or else the hardware the
    live workers of ``group`` report (``group`` None: the default group)."""

    profile: Name
    group: GroupName | None = None
    hardware: WorkerHardware | None = None


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    profile_id: str
    group: str | None
    fits: bool
    """Every check fits."""
    checks: list[HardwareCheck]
    reason: str
    """The first refusal's reason, or the first fit's."""


# --- request-reply: activate, aliases, workers, swaps ------------------------------------
class ActivateRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``ADMIN_ACTIVATE``: check, then set the desired state and send ``ActivateProfile``.

    ``hardware`` is used only when no live worker of the group reports its hardware (a
    group that has not started yet)."""

    profile: Name
    group: GroupName | None = None
    drain_timeout_s: float | None = None
    issued_by: str = "admin"
    hardware: WorkerHardware | None = None
    command_id: str | None = None
    """Given: idempotent retries (same id, same command). None: model-admin makes one."""


class ActivateAccepted(msgspec.Struct, frozen=True, kw_only=True):
    command_id: str
    group: str
    profile_id: str
    desired: DesiredState
    checks: list[HardwareCheck]
    subject: str
    """Where the command went (``command_subject(group)``)."""


class ResolveModel(msgspec.Struct, frozen=True, kw_only=True):
    """``ADMIN_ALIAS_RESOLVE``: what a request's ``model`` names."""

    name: Name


class ResolvedModel(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    profile_id: str
    group: str
    """Publish the request on ``request_subject(group)``."""
    served: bool
    """A group's desired state (or a live worker) is this profile."""
    ready_workers: int
    sampling: ProfileSampling
    max_model_len: int
    whitelisted: bool = True
    """False: the profile is not offered to users (FR-3); the api refuses chats for it."""


class SetAlias(msgspec.Struct, frozen=True, kw_only=True):
    """``ADMIN_ALIAS_SET``: point ``alias`` at ``profile`` (id or alias); ``profile`` None
    removes the override (the alias falls back to its profile file, if any)."""

    alias: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}$")]
    profile: Name | None
    set_by: str = "admin"


class ListWorkers(msgspec.Struct, frozen=True, kw_only=True):
    """``ADMIN_WORKERS_LIST``; ``group`` None: every group."""

    group: str | None = None
    include_gone: bool = True


class WorkerView(msgspec.Struct, frozen=True, kw_only=True):
    status: WorkerStatus
    gone: bool
    """Silent for more than 3 heartbeat intervals (and its last state was not ``stopped``)."""
    age_s: float
    """Seconds since its last heartbeat (by model-admin's clock)."""


class WorkerList(msgspec.Struct, frozen=True, kw_only=True):
    workers: list[WorkerView]


class SwapStatusQuery(msgspec.Struct, frozen=True, kw_only=True):
    """``ADMIN_SWAPS_STATUS``: one command, or the latest ``limit`` (of ``group``)."""

    command_id: str | None = None
    group: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 20


class SwapReport(msgspec.Struct, frozen=True, kw_only=True):
    command_id: str
    group: str
    profile_id: str
    issued_by: str
    at: float
    workers: list[SwapStatus]
    """The latest status of each worker that reported on this command."""


class SwapReportList(msgspec.Struct, frozen=True, kw_only=True):
    swaps: list[SwapReport]


class AdminChange(msgspec.Struct, frozen=True, kw_only=True):
    """On ``ADMIN_CHANGES`` (core): exactly the field named by ``kind`` is set."""

    kind: Literal["worker", "swap", "desired", "aliases"]
    worker: WorkerView | None = None
    swap: SwapStatus | None = None
    desired: DesiredState | None = None
    aliases: AliasOverrides | None = None
    at: float
    v: int = SCHEMA_VERSION
