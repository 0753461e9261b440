"""Memory estimate of a profile, and whether it fits the hardware a worker reports.

The model, per device of the tensor-parallel group (vLLM shards weights and KV heads):

- weights = params x bytes per weight / tensor_parallel_size. Unquantised: the dtype's
  size. AWQ / GPTQ: ``bits / 8`` plus, per group of ``group_size`` weights, a float16
  scale (2 bytes) and a packed zero point (``bits / 8`` bytes); GPTQ's per-row ``g_idx``
  (< 0.1 %) is left out. FP8: 1 byte. Embeddings and an untied lm_head stay in the model
  dtype in all three (that is how the published checkpoints store them).
- KV cache per token = 2 (K and V) x layers x KV heads x head_dim x KV dtype bytes. A
  device holds ``max(1, kv_heads / tp)`` heads, so heads are replicated when tp > heads.
  Required: one full ``max_model_len`` sequence (vLLM refuses to start with less). What
  ``max_num_seqs`` full-length sequences would take is reported, not required: vLLM
  schedules fewer at once when the cache is short. Sliding-window layers (Gemma 2 / 3)
  are counted at full length, which overstates their cache.
- overhead per device: ``CUDA_OVERHEAD_GIB`` (activation peak of the profiling run,
  sampler buffers, cuBLAS / NCCL workspaces) plus ``CUDA_GRAPH_GIB`` unless
  ``enforce_eager``; ``CPU_OVERHEAD_GIB`` on the CPU backend.

Available = count x memory each x gpu_memory_utilization, over the ``tensor_parallel_size``
devices the engine uses (vLLM's budget: on CPU, the fraction of one NUMA node's memory).
"""

from __future__ import annotations

import math

import msgspec

from contracts.admin import CompatibilityReport, MemoryBreakdown, ProfileSpec
from contracts.workers import Device
from model_admin.profiles import model_dtype

GIB = 1024**3
CUDA_OVERHEAD_GIB = 1.0
CUDA_GRAPH_GIB = 0.5
CPU_OVERHEAD_GIB = 0.25
_DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}
_FP8_BYTES = 1


class Hardware(msgspec.Struct, frozen=True, kw_only=True):
    """What a worker reports: device kind, how many, memory of each in GiB."""

    device: Device
    count: int
    memory_gib: float

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")
        if not self.memory_gib > 0:
            raise ValueError(f"memory_gib must be > 0, got {self.memory_gib}")


class MemoryEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """Bytes a profile needs; ``*_per_device`` are for one device of the TP group."""

    bytes_per_weight: float
    """Average over the quantised part (all weights when unquantised)."""
    weights_bytes: int
    kv_bytes_per_token: int
    """Whole model, before sharding."""
    kv_bytes_per_token_per_device: int
    kv_one_sequence_bytes_per_device: int
    kv_all_sequences_bytes_per_device: int
    """``max_num_seqs`` sequences at ``max_model_len``: reported, not required."""
    overhead_bytes_per_device: int
    devices: int

    @property
    def weights_bytes_per_device(self) -> int:
        return math.ceil(self.weights_bytes / self.devices)

    @property
    def needed_bytes_per_device(self) -> int:
        return (
            self.weights_bytes_per_device
            + self.kv_one_sequence_bytes_per_device
            + self.overhead_bytes_per_device
        )

    @property
    def needed_bytes(self) -> int:
        return self.needed_bytes_per_device * self.devices


def dtype_bytes(dtype: str) -> int:
    return _DTYPE_BYTES[dtype]


def bytes_per_weight(profile: ProfileSpec) -> float:
    """Bytes per element of the quantised (or, unquantised, of every) weight."""
    quant, size = profile.engine.quantization, profile.size
    if quant in ("awq", "gptq"):
        bits = size.weight_bits or 4
        packed = bits / 8
        group = size.group_size or -1
        if group == -1:  # one scale / zero per output channel: negligible
            return packed
        return packed + (2 + packed) / group
    if quant == "fp8":
        return float(_FP8_BYTES)
    return float(dtype_bytes(model_dtype(profile)))


def weights_bytes(profile: ProfileSpec) -> int:
    size = profile.size
    if profile.engine.quantization == "none":
        return math.ceil(size.params * bytes_per_weight(profile))
    embeddings = size.embedding_params
    quantised = size.params - embeddings
    return math.ceil(
        quantised * bytes_per_weight(profile) + embeddings * dtype_bytes(model_dtype(profile))
    )


def kv_bytes_per_token(profile: ProfileSpec, *, kv_heads: int | None = None) -> int:
    size = profile.size
    heads = size.num_kv_heads if kv_heads is None else kv_heads
    if profile.engine.kv_cache_dtype == "auto":
        element = dtype_bytes(model_dtype(profile))
    else:
        element = _FP8_BYTES
    return 2 * size.num_layers * heads * size.head_dim * element


def estimate_memory(profile: ProfileSpec) -> MemoryEstimate:
    engine = profile.engine
    tp = engine.tensor_parallel_size
    per_device_token = kv_bytes_per_token(profile, kv_heads=max(1, profile.size.num_kv_heads // tp))
    if engine.device == "cuda":
        overhead = CUDA_OVERHEAD_GIB + (0.0 if engine.enforce_eager else CUDA_GRAPH_GIB)
    else:
        overhead = CPU_OVERHEAD_GIB
    return MemoryEstimate(
        bytes_per_weight=bytes_per_weight(profile),
        weights_bytes=weights_bytes(profile),
        kv_bytes_per_token=kv_bytes_per_token(profile),
        kv_bytes_per_token_per_device=per_device_token,
        kv_one_sequence_bytes_per_device=per_device_token * engine.max_model_len,
        kv_all_sequences_bytes_per_device=(
            per_device_token * engine.max_model_len * engine.max_num_seqs
        ),
        overhead_bytes_per_device=math.ceil(overhead * GIB),
        devices=tp,
    )


def check_compatibility(profile: ProfileSpec, hardware: Hardware) -> CompatibilityReport:
    """Will ``profile`` load on ``hardware``? The reason carries the numbers."""
    engine = profile.engine
    est = estimate_memory(profile)
    tp = est.devices
    util = engine.gpu_memory_utilization
    budget_per_device = hardware.memory_gib * GIB * util
    needed_gib = est.needed_bytes / GIB
    available_gib = budget_per_device * tp / GIB
    spare = budget_per_device - est.weights_bytes_per_device - est.overhead_bytes_per_device
    full_seqs = max(0, math.floor(spare / est.kv_one_sequence_bytes_per_device))
    breakdown = MemoryBreakdown(
        weights_gib=_round(est.weights_bytes / GIB),
        kv_cache_gib=_round(est.kv_one_sequence_bytes_per_device * tp / GIB),
        overhead_gib=_round(est.overhead_bytes_per_device * tp / GIB),
        kv_per_token_kib=_round(est.kv_bytes_per_token_per_device * tp / 1024),
        kv_all_sequences_gib=_round(est.kv_all_sequences_bytes_per_device * tp / GIB),
        full_length_sequences=min(full_seqs, engine.max_num_seqs),
    )
    offer = f"{tp}x {hardware.memory_gib:g} GiB at {util:g} gives {available_gib:.1f} GiB"
    needs = f"needs {needed_gib:.1f} GiB"
    if hardware.device != engine.device:
        fits = False
        reason = f"profile runs on {engine.device}, the worker has {hardware.device}"
    elif hardware.count < tp:
        fits = False
        reason = (
            f"needs {tp} {engine.device} devices (tensor_parallel_size {tp}), "
            f"the worker has {hardware.count}"
        )
    elif est.needed_bytes_per_device > budget_per_device:
        fits = False
        reason = f"{needs}, {offer}"
    else:
        fits = True
        reason = (
            f"fits: {needs}, {offer}; room for {breakdown.full_length_sequences} of "
            f"max_num_seqs {engine.max_num_seqs} sequences at {engine.max_model_len} tokens"
        )
    return CompatibilityReport(
        fits=fits,
        needed_gib=_round(needed_gib),
        available_gib=_round(available_gib),
        breakdown=breakdown,
        reason=reason,
        needed_bytes=est.needed_bytes,
        available_bytes=math.floor(budget_per_device * tp),
    )


def _round(value: float) -> float:
    return round(value, 2)
