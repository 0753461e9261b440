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

``ProfileSpec`` is THE model profile: the profile files of model-admin, ``AddProfile``
and every message that carries one decode into it, and it validates itself (its
``problems()``). It ignores unknown fields, so a field added later does not make an older
reader drop a message; model-admin refuses unknown fields in the files it reads.
``ActivateProfile.checks`` carries model-admin's compatibility verdict to the workers.
Times are UNIX seconds (float).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from contracts.subjects import SCHEMA_VERSION
from contracts.workers import Device, WorkerHardware, WorkerStatus

__all__ = [
    "FALLBACK_TEMPLATE_NAMES",
    "ActivateAccepted",
    "ActivateProfile",
    "ActivateRequest",
    "AddProfile",
    "AdminChange",
    "AliasOverrides",
    "CheckProfile",
    "CheckResult",
    "CheckpointDtype",
    "CompatibilityReport",
    "DesiredState",
    "Dtype",
    "GetProfile",
    "HardwareCheck",
    "KvCacheDtype",
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
    "Quantization",
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


# --- the profile: one schema, validated where it is built or decoded -------------------
Dtype = Literal["auto", "half", "float16", "bfloat16", "float", "float32"]
CheckpointDtype = Literal["float16", "bfloat16", "float32"]
Quantization = Literal["none", "awq", "gptq", "fp8"]
KvCacheDtype = Literal["auto", "fp8", "fp8_e4m3", "fp8_e5m2"]

FALLBACK_TEMPLATE_NAMES: frozenset[str] = frozenset({"gemma"})
"""Chat templates a worker has built in for models whose tokenizer has none.

Mirrors ``inference_worker.prompt.FALLBACK_TEMPLATES`` (a test keeps the two equal); a
name here that a worker lacks would fail only at load time."""

_PROFILE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}")
_HALF = frozenset({"half", "float16"})
_GPTQ_BITS = frozenset({2, 3, 4, 8})


class ProfileEngine(msgspec.Struct, frozen=True, kw_only=True):
    """vLLM engine arguments (names as in ``vllm serve``; swap space in GiB per GPU)."""

    device: Device = "cuda"
    tensor_parallel_size: int = 1
    dtype: Dtype = "auto"
    max_model_len: int
    gpu_memory_utilization: float = 0.9
    swap_space_gb: float = 4.0
    max_num_seqs: int = 256
    quantization: Quantization = "none"
    kv_cache_dtype: KvCacheDtype = "auto"
    enforce_eager: bool = False

    def __post_init__(self) -> None:
        _raise(self.problems())

    def problems(self) -> list[str]:
        found: list[str] = []
        tp = self.tensor_parallel_size
        if tp < 1 or tp & (tp - 1):
            found.append(f"tensor_parallel_size {tp} is not a power of two (1, 2, 4, 8, ...)")
        if self.max_model_len < 1:
            found.append(f"max_model_len must be >= 1, got {self.max_model_len}")
        util = self.gpu_memory_utilization
        if not 0.0 < util <= 1.0:  # also refuses NaN
            found.append(f"gpu_memory_utilization {util} is outside (0, 1]")
        if not self.swap_space_gb >= 0.0:
            found.append(f"swap_space_gb must be >= 0, got {self.swap_space_gb}")
        if self.max_num_seqs < 1:
            found.append(f"max_num_seqs must be >= 1, got {self.max_num_seqs}")
        if self.quantization in ("awq", "gptq") and self.dtype not in _HALF | {"auto"}:
            found.append(
                f"quantization {self.quantization} runs in float16; dtype {self.dtype} "
                "is not supported (use float16)"
            )
        return found


class ProfileSize(msgspec.Struct, frozen=True, kw_only=True):
    """Size facts from the checkpoint's config.json, enough for a memory estimate.

    ``params`` is the total parameter count (embeddings included; a tied lm_head counted
    once). For AWQ / GPTQ checkpoints ``weight_bits`` and ``group_size`` come from the
    quantization config (``group_size`` -1 means one scale per output channel)."""

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
    checkpoint_dtype: CheckpointDtype = "bfloat16"
    weight_bits: int | None = None
    group_size: int | None = None

    def __post_init__(self) -> None:
        _raise(self.problems())

    @property
    def embedding_params(self) -> int:
        """Input embeddings plus an untied lm_head: left unquantised by AWQ / GPTQ / FP8."""
        per_matrix = self.vocab_size * self.hidden_size
        return per_matrix if self.tie_word_embeddings else 2 * per_matrix

    def problems(self) -> list[str]:
        found: list[str] = []
        for name in (
            "params",
            "num_layers",
            "hidden_size",
            "intermediate_size",
            "num_attention_heads",
            "num_kv_heads",
            "head_dim",
            "vocab_size",
            "max_position_embeddings",
        ):
            value = getattr(self, name)
            if value < 1:
                found.append(f"{name} must be >= 1, got {value}")
        if self.num_kv_heads > self.num_attention_heads >= 1:
            found.append(
                f"num_kv_heads {self.num_kv_heads} exceeds num_attention_heads "
                f"{self.num_attention_heads}"
            )
        if self.params >= 1 and self.embedding_params >= self.params:
            found.append(
                f"params {self.params} is not more than the embeddings alone "
                f"({self.embedding_params} = vocab_size x hidden_size"
                f"{'' if self.tie_word_embeddings else ' x 2 (untied)'})"
            )
        if self.weight_bits is not None and not 1 <= self.weight_bits <= 8:
            found.append(f"weight_bits must be 1..8, got {self.weight_bits}")
        if self.group_size is not None and self.group_size != -1 and self.group_size < 1:
            found.append(f"group_size must be -1 (per channel) or >= 1, got {self.group_size}")
        return found


class ProfileSampling(msgspec.Struct, frozen=True, kw_only=True):
    """Used when a request does not set them (FR-3)."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512

    def __post_init__(self) -> None:
        _raise(self.problems())

    def problems(self) -> list[str]:
        found: list[str] = []
        if not 0.0 <= self.temperature <= 2.0:
            found.append(f"temperature {self.temperature} is outside [0, 2]")
        if not 0.0 < self.top_p <= 1.0:
            found.append(f"top_p {self.top_p} is outside (0, 1]")
        if self.max_tokens < 1:
            found.append(f"max_tokens must be >= 1, got {self.max_tokens}")
        return found


class ProfileSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One servable model configuration; requests name it by ``id`` or an alias.

    The profile files, ``AddProfile`` and every message that carries a profile decode
    into it, and it validates itself then: a bad value raises ``ValueError``
    (``msgspec.ValidationError`` when decoding) listing every problem found, each naming
    the field and the value. Checks that need more than one profile (unique ids and
    aliases) are model-admin's registry's. Unknown fields are ignored here, so a field
    added later does not break an older reader; model-admin refuses them in files."""

    id: str
    display_name: str
    hf_model: str
    aliases: tuple[str, ...] = ()
    whitelisted: bool = False
    chat_template: str | None = None
    """Built-in template used when the tokenizer has none; None = the tokenizer's own."""
    engine: ProfileEngine
    size: ProfileSize
    sampling: ProfileSampling = msgspec.field(default_factory=ProfileSampling)

    def __post_init__(self) -> None:
        _raise(self.problems())

    @property
    def names(self) -> tuple[str, ...]:
        """The id and every alias: what a request may call this profile."""
        return (self.id, *self.aliases)

    def problems(self) -> list[str]:
        found: list[str] = []
        if not _PROFILE_ID.fullmatch(self.id):
            found.append(
                f"id {self.id!r} must be 1-64 characters of a-z, 0-9, '.', '_', '-', "
                "starting with a letter or digit"
            )
        if not self.display_name.strip():
            found.append("display_name is empty")
        if not self.hf_model.strip():
            found.append("hf_model is empty")
        seen: set[str] = set()
        for alias in self.aliases:
            if not _ALIAS.fullmatch(alias):
                found.append(
                    f"alias {alias!r} must be 1-128 characters of letters, digits and . _ / : -"
                )
            if alias == self.id:
                found.append(f"alias {alias!r} repeats the profile id")
            elif alias in seen:
                found.append(f"alias {alias!r} is listed twice")
            seen.add(alias)
        if self.chat_template is not None and self.chat_template not in FALLBACK_TEMPLATE_NAMES:
            found.append(
                f"chat_template {self.chat_template!r} is not built in "
                f"(built-in: {', '.join(sorted(FALLBACK_TEMPLATE_NAMES))})"
            )
        found.extend(self._quantization_problems())
        found.extend(self._shape_problems())
        return found

    def _quantization_problems(self) -> list[str]:
        engine, size = self.engine, self.size
        quant = engine.quantization
        found: list[str] = []
        if quant in ("awq", "gptq"):
            if size.weight_bits is None or size.group_size is None:
                found.append(f"quantization {quant} needs size.weight_bits and size.group_size")
            elif quant == "awq" and size.weight_bits != 4:
                found.append(
                    f"quantization awq stores 4-bit weights, size.weight_bits is {size.weight_bits}"
                )
            elif quant == "gptq" and size.weight_bits not in _GPTQ_BITS:
                found.append(
                    f"quantization gptq supports 2, 3, 4 or 8-bit weights, "
                    f"size.weight_bits is {size.weight_bits}"
                )
            if engine.dtype == "auto" and size.checkpoint_dtype != "float16":
                found.append(
                    f"quantization {quant} runs in float16; dtype auto would pick the "
                    f"checkpoint's {size.checkpoint_dtype} (set dtype = float16)"
                )
        elif size.weight_bits is not None or size.group_size is not None:
            found.append(
                f"size.weight_bits / size.group_size describe an AWQ or GPTQ checkpoint, "
                f"but quantization is {quant}"
            )
        return found

    def _shape_problems(self) -> list[str]:
        engine, size = self.engine, self.size
        tp = engine.tensor_parallel_size
        found: list[str] = []
        if tp >= 1 and size.num_attention_heads >= 1 and size.num_attention_heads % tp:
            found.append(
                f"num_attention_heads {size.num_attention_heads} is not divisible by "
                f"tensor_parallel_size {tp}"
            )
        kv = size.num_kv_heads
        if tp >= 1 and kv >= 1 and (kv % tp if kv >= tp else tp % kv):
            found.append(
                f"num_kv_heads {kv} and tensor_parallel_size {tp}: one must divide the other"
            )
        if engine.max_model_len > size.max_position_embeddings >= 1:
            found.append(
                f"max_model_len {engine.max_model_len} exceeds the model's "
                f"max_position_embeddings {size.max_position_embeddings}"
            )
        if self.sampling.max_tokens > engine.max_model_len >= 1:
            found.append(
                f"sampling.max_tokens {self.sampling.max_tokens} exceeds max_model_len "
                f"{engine.max_model_len}"
            )
        return found


def _raise(problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(problems))


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
    checks: list[HardwareCheck] = msgspec.field(default_factory=list)
    """model-admin's compatibility verdict, one per hardware kind the group's live workers
    reported (or the hardware the request gave). A worker takes the one for its own
    hardware; empty (an operator's ``nats pub``, an older model-admin) or none for its
    hardware: it asks model-admin (``ADMIN_PROFILES_CHECK``)."""
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
    """GiB over all devices of the tensor-parallel group; rounded to 0.01 for display."""

    weights_gib: float
    kv_cache_gib: float
    """One full ``max_model_len`` sequence."""
    overhead_gib: float
    kv_per_token_kib: float
    kv_all_sequences_gib: float
    full_length_sequences: int
    """How many full-length sequences the KV space left in the budget holds (>= 0)."""


class CompatibilityReport(msgspec.Struct, frozen=True, kw_only=True):
    """Will a profile load on one hardware kind? (model-admin's memory estimate)"""

    fits: bool
    needed_gib: float
    available_gib: float
    """Rounded to 0.01 for display; the bytes are exact."""
    breakdown: MemoryBreakdown
    reason: str
    """``needs 32.0 GiB, 2x 24 GiB at 0.55 gives 26.4 GiB`` (or ``fits: ...``)."""
    needed_bytes: int = 0
    """Over the tensor-parallel group (0: from a model-admin older than the field)."""
    available_bytes: int = 0
    """``tensor_parallel_size`` x memory of each device x ``gpu_memory_utilization``."""


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


class ActivationRefusal(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    """An ``ErrorCode`` value, as the request-reply answer would carry it."""
    message: str


class ActivationOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """On ``ADMIN_ACTIVATIONS`` (core): what became of an ``ActivateRequest``, however it
    came (admin API, ``nats req``, or ``nats pub`` with no one to answer): exactly one of
    ``accepted`` and ``refused`` is set."""

    request: ActivateRequest
    accepted: ActivateAccepted | None = None
    refused: ActivationRefusal | None = None
    at: float
    v: int = SCHEMA_VERSION


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
