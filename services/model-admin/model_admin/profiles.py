"""The model profile: what a worker needs to serve a model, and what it costs in memory.

A ``Profile`` is frozen and validates itself when built or decoded: a bad value raises
``ValueError`` (``msgspec.ValidationError`` when decoding) listing every problem found,
each naming the field and the value. Checks that need more than one profile (unique ids
and aliases) live in ``model_admin.registry``.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

Device = Literal["cpu", "cuda"]
Dtype = Literal["auto", "half", "float16", "bfloat16", "float", "float32"]
CheckpointDtype = Literal["float16", "bfloat16", "float32"]
Quantization = Literal["none", "awq", "gptq", "fp8"]
KvCacheDtype = Literal["auto", "fp8", "fp8_e4m3", "fp8_e5m2"]

FALLBACK_TEMPLATE_NAMES: frozenset[str] = frozenset({"gemma"})
"""Chat templates a worker has built in for models whose tokenizer has none.

Mirrors ``inference_worker.prompt.FALLBACK_TEMPLATES`` (a test keeps the two equal); a
name here that a worker lacks would fail only at load time."""

_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}")
_HALF = frozenset({"half", "float16"})
_FLOAT32 = frozenset({"float", "float32"})
_GPTQ_BITS = frozenset({2, 3, 4, 8})


class EngineArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
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


class ModelSize(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
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


class SamplingDefaults(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
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


class Profile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One servable model configuration; requests name it by ``id`` or an alias."""

    id: str
    display_name: str
    hf_model: str
    aliases: tuple[str, ...] = ()
    whitelisted: bool = False
    chat_template: str | None = None
    """Built-in template used when the tokenizer has none; None = the tokenizer's own."""
    engine: EngineArgs
    size: ModelSize
    sampling: SamplingDefaults = msgspec.field(default_factory=SamplingDefaults)

    def __post_init__(self) -> None:
        _raise(self.problems())

    @property
    def names(self) -> tuple[str, ...]:
        """The id and every alias: what a request may call this profile."""
        return (self.id, *self.aliases)

    @property
    def model_dtype(self) -> CheckpointDtype:
        """The dtype the engine runs in (``auto`` resolved as vLLM does)."""
        dtype = self.engine.dtype
        if dtype in _HALF:
            return "float16"
        if dtype == "bfloat16":
            return "bfloat16"
        if dtype in _FLOAT32:
            return "float32"
        # auto: the checkpoint's dtype, except float32 checkpoints, which vLLM runs in 16 bit
        checkpoint = self.size.checkpoint_dtype
        if checkpoint == "float32":
            return "float16" if self.engine.quantization in ("awq", "gptq") else "bfloat16"
        return checkpoint

    def problems(self) -> list[str]:
        found: list[str] = []
        if not _ID.fullmatch(self.id):
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
